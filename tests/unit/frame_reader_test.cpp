// The shared receive path (transport/frame_reader.*) through a real StreamConnection over a
// Unix socket pair: frames small and large, written by the peer in random pieces, arrive whole
// and in order; large payloads arrive in strings of their own that the receiver may keep.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_kit.hpp"
#include "transport/stream/stream_connection.hpp"
#include "wire/metadata.hpp"

namespace plexus::transport {
namespace {

using Local = asio::local::stream_protocol;

struct Received {
  std::uint64_t id;
  std::string method;
  std::string payload;
  bool owned;
};

class ReaderRecorder final : public ConnectionDelegate {
 public:
  void on_frame(const wire::FrameView& frame) override {
    auto md = wire::decode_metadata(frame.metadata);
    ASSERT_TRUE(md) << md.error().to_string();
    Received r{frame.header.id, std::string(md->method), {}, frame.owned_payload != nullptr};
    if (frame.owned_payload) {
      EXPECT_EQ(frame.owned_payload->data(), frame.payload.data());
      r.payload = std::move(*frame.owned_payload);  // kept without a copy
    } else {
      r.payload = std::string(frame.payload);
    }
    frames.push_back(std::move(r));
  }
  void on_frame_too_large(const wire::FrameHeader&, const Error& e, bool) override {
    errors.push_back(e.to_string());
  }
  void on_malformed(const Error& e) override { errors.push_back(e.to_string()); }
  void on_closed(const Error&) override { closed = true; }

  std::vector<Received> frames;
  std::vector<std::string> errors;
  bool closed = false;
};

// Runs the connection's handlers until `done()`, waiting on events (at most 5 s in all).
template <typename Done>
void run_until(asio::io_context& io, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(50));
  }
}

// A StreamConnection on one end of a socket pair, recording what it receives; the test writes
// into the other end.
struct Pair {
  Pair() {
    Local::socket ours(io);
    asio::local::connect_pair(ours, peer);
    connection =
        std::make_shared<StreamConnection<Local>>(std::move(ours), ConnectionOptions{}, "pair");
    connection->start(recorder);
  }
  asio::io_context io;
  Local::socket peer{io};
  std::shared_ptr<StreamConnection<Local>> connection;
  std::shared_ptr<ReaderRecorder> recorder = std::make_shared<ReaderRecorder>();
};

// Writes `pieces` in order from another thread with blocking writes, so the reader (the test's
// io_context) and the writer run at once, as two processes would.
std::thread write_pieces(int fd, std::vector<std::string_view> pieces) {
  return std::thread([fd, pieces = std::move(pieces)] {
    for (auto piece : pieces) {
      while (!piece.empty()) {
        const auto n = ::write(fd, piece.data(), piece.size());
        if (n <= 0) return;
        piece.remove_prefix(static_cast<std::size_t>(n));
      }
    }
  });
}

using plexus::test::pattern_bytes;

TEST(FrameReaderTest, SmallAndLargeFramesInRandomPiecesArriveWholeAndInOrder) {
  const std::vector<std::size_t> sizes = {
      10, kOwnReadPayload - 1, 5, kOwnReadPayload, 0, 1u << 20, 300000, 17, 70000};
  std::string stream;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string method = "m" + std::to_string(i);  // md.method is a view of it
    wire::Metadata md;
    md.method = method;
    ASSERT_TRUE(wire::encode_frame(wire::FrameKind::notify, 0, md, pattern_bytes(sizes[i], i),
                                   wire::kDefaultMaxMessageSize, stream));
  }

  for (unsigned seed : {1u, 2u, 3u}) {
    Pair pair;
    auto& [io, peer, connection, recorder] = pair;

    // The peer writes in pieces of 1 byte to 100 KiB, so headers, metadata and payloads are
    // cut everywhere; the connection reads them as they come.
    std::mt19937 rng(seed);
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < stream.size();) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % (100 << 10));
      pieces.push_back(std::string_view(stream).substr(at, n));
      at += n;
    }
    auto writer = write_pieces(peer.native_handle(), std::move(pieces));
    run_until(io, [&] { return recorder->frames.size() >= sizes.size(); });
    writer.join();

    ASSERT_EQ(recorder->frames.size(), sizes.size()) << "seed " << seed;
    EXPECT_TRUE(recorder->errors.empty());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const auto& f = recorder->frames[i];
      EXPECT_EQ(f.method, "m" + std::to_string(i));
      EXPECT_EQ(f.payload.size(), sizes[i]);
      EXPECT_TRUE(f.payload == pattern_bytes(sizes[i], i)) << "frame " << i << " seed " << seed;
      // Large payloads come in their own string, unless the whole frame was already buffered.
      if (sizes[i] < kOwnReadPayload) {
        EXPECT_FALSE(f.owned) << "frame " << i;
      }
    }
    EXPECT_EQ(connection->stats().frames_in, sizes.size());
    connection->close(Error{StatusCode::cancelled, "done", {}}, false);
    io.poll();
  }
}

TEST(FrameReaderTest, ALargePayloadWrittenAfterItsHeadIsReceivedIntoItsOwnString) {
  Pair pair;
  auto& [io, peer, connection, recorder] = pair;

  std::string frame;
  wire::Metadata md;
  md.method = "big";
  const std::string payload = pattern_bytes(1u << 20, 9);
  ASSERT_TRUE(wire::encode_frame(wire::FrameKind::notify, 0, md, payload,
                                 wire::kDefaultMaxMessageSize, frame));
  // Header and metadata first, then the payload in 4 pieces, then garbage: the large frame
  // arrives whole in its own string, and the garbage after it is still caught.
  const std::size_t head = frame.size() - payload.size();
  const std::string garbage(16, '\xff');
  std::vector<std::string_view> pieces = {std::string_view(frame).substr(0, head)};
  for (std::size_t i = 0; i < 4; ++i) {
    pieces.push_back(
        std::string_view(frame).substr(head + i * (payload.size() / 4), payload.size() / 4));
  }
  pieces.push_back(garbage);
  auto writer = write_pieces(peer.native_handle(), std::move(pieces));
  run_until(io, [&] { return !recorder->errors.empty(); });
  writer.join();

  ASSERT_EQ(recorder->frames.size(), 1u);
  EXPECT_TRUE(recorder->frames[0].owned);
  EXPECT_EQ(recorder->frames[0].method, "big");
  EXPECT_TRUE(recorder->frames[0].payload == payload);
  ASSERT_EQ(recorder->errors.size(), 1u);
  EXPECT_NE(recorder->errors[0].find("protocol_error"), std::string::npos) << recorder->errors[0];
}

// Answers every frame at once with a 100-byte frame of the same id, as a server answers calls.
class Answerer final : public ConnectionDelegate {
 public:
  void on_frame(const wire::FrameView& frame) override {
    ++received;
    ASSERT_TRUE(connection->send(
        OutFrame::plain(wire::FrameKind::response, frame.header.id, std::string(100, 'a'))));
  }
  void on_frame_too_large(const wire::FrameHeader&, const Error&, bool) override {}
  void on_malformed(const Error&) override {}
  void on_closed(const Error&) override {}

  Connection* connection = nullptr;
  std::size_t received = 0;
};

// 200 requests that arrive in one read: their answers do not all wait for the last one (the
// peer could work on the first while this side makes the rest), nor leave one write each.
// An idle connection holds one page; reads that fill what they were offered double the offer
// up to 64 KiB, small reads shrink it again, and an emptied buffer a burst grew is given back.
TEST(FrameReaderTest, TheReadOfferStartsAtAPageAndFollowsHowMuchReadsBring) {
  FrameReader reader;
  EXPECT_EQ(reader.space().size(), FrameReader::kMinReadChunk);
  std::vector<std::size_t> offers;
  for (int i = 0; i < 6; ++i) {
    const auto room = reader.space();
    offers.push_back(room.size());
    std::fill(room.begin(), room.end(), '\0');  // not a frame: this test only reads
    reader.filled(room.size());
    reader.consume(reader.input().size());
  }
  EXPECT_EQ(offers, (std::vector<std::size_t>{4096, 8192, 16384, 32768, 65536, 65536}));
  // Small reads (an idle chat) bring the offer back down to a page.
  for (int i = 0; i < 8; ++i) {
    reader.space();
    reader.filled(16);
    reader.consume(16);
  }
  EXPECT_EQ(reader.space().size(), FrameReader::kMinReadChunk);
}

TEST(StreamConnectionTest, AnswersToALongReadBatchStartLeavingBeforeItEnds) {
  constexpr std::size_t kFrames = 200;
  std::string requests;
  for (std::size_t i = 1; i <= kFrames; ++i) {
    wire::Metadata md;
    md.method = "m";
    ASSERT_TRUE(wire::encode_frame(wire::FrameKind::request, i, md, "ping",
                                   wire::kDefaultMaxMessageSize, requests));
  }
  asio::io_context io;
  Local::socket ours(io);
  Local::socket peer(io);
  asio::local::connect_pair(ours, peer);
  // All of it is in the socket before the connection reads: one read takes the whole batch.
  ASSERT_EQ(asio::write(peer, asio::buffer(requests)), requests.size());
  auto connection =
      std::make_shared<StreamConnection<Local>>(std::move(ours), ConnectionOptions{}, "pair");
  auto answerer = std::make_shared<Answerer>();
  answerer->connection = connection.get();
  connection->start(answerer);
  run_until(io, [&] { return answerer->received == kFrames; });
  ASSERT_EQ(answerer->received, kFrames);
  run_until(io, [&] { return connection->stats().frames_out == kFrames; });

  const auto writes = connection->stats().write_batches;
  EXPECT_GE(writes, 5u) << "answers waited for the whole batch";
  EXPECT_LE(writes, kFrames / 10) << "answers left one by one";
  // And they arrive whole and in order.
  std::string answers((16 + 100) * kFrames, '\0');
  ASSERT_EQ(asio::read(peer, asio::buffer(answers)), answers.size());
  for (std::size_t i = 0; i < kFrames; ++i) {
    auto parsed = wire::parse_frame(std::string_view(answers).substr(i * 116, 116), {});
    ASSERT_EQ(parsed.state, wire::ParseResult::State::frame) << i;
    EXPECT_EQ(parsed.frame.header.id, i + 1);
    EXPECT_EQ(parsed.frame.payload, std::string(100, 'a'));
  }
  connection->close(Error{StatusCode::cancelled, "done", {}}, false);
}

}  // namespace
}  // namespace plexus::transport
