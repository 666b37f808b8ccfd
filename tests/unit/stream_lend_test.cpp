// StreamConnection lending its writing side (Connection::borrow on a Unix socket): a thread
// that makes a call writes its frame itself only while nothing waits to be written; a frame the
// socket cuts short is finished before anything the executor queued meanwhile; a close while a
// borrower hands over does not hang; and a borrower racing the executor for many frames never
// interleaves bytes of two frames (checked byte for byte by the peer, and under TSan).
#include <gtest/gtest.h>

#include <asio/read.hpp>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "stream_pair.hpp"

namespace plexus::transport {
namespace {

using test_support::frame;
using test_support::StreamPair;

wire::Metadata md_m() {
  wire::Metadata md;
  md.method = "m";  // as test_support::frame() encodes
  return md;
}

// Sends `payload` through the executor's path and runs until it is written: the writing side
// is idle again afterwards, so it may be lent.
void send_and_write(StreamPair& p, const std::string& payload) {
  ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, md_m(), payload));
  p.poll();
}

// The whole frames in `bytes`, as payloads; fails on anything that is not a frame.
std::vector<std::string> payloads_in(std::string_view bytes) {
  std::vector<std::string> out;
  wire::Limits limits;
  limits.max_message_size = 64u << 20;
  while (!bytes.empty()) {
    wire::FrameView f;
    if (!wire::complete_frame_at(bytes, limits, f)) {
      ADD_FAILURE() << "not a whole frame at " << out.size();
      break;
    }
    out.emplace_back(f.payload);
    bytes.remove_prefix(wire::kHeaderSize + f.header.body_length);
  }
  return out;
}

TEST(StreamLendTest, ABorrowerWritesItsFrameItselfOnlyWhileNothingWaitsToBeWritten) {
  StreamPair p(/*with_hot_read=*/false);
  EXPECT_FALSE(p.connection->borrow(std::chrono::nanoseconds(0)));  // nothing written yet
  send_and_write(p, "first");
  ASSERT_TRUE(p.connection->borrow(std::chrono::nanoseconds(0)));
  EXPECT_FALSE(p.connection->borrow(std::chrono::nanoseconds(0)));  // one borrower at a time
  const wire::Metadata md = md_m();
  ASSERT_TRUE(p.connection->borrowed_send(OutFrame::with(wire::FrameKind::notify, 0, md, "lent")));
  p.connection->give_back();
  // A frame queued by the executor keeps the next borrower out until it is written.
  ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, md, "queued"));
  p.connection->hold_writes();
  ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, md, "held"));
  EXPECT_FALSE(p.connection->borrow(std::chrono::nanoseconds(0)));
  p.connection->release_writes();
  p.poll();
  EXPECT_TRUE(p.connection->borrow(std::chrono::nanoseconds(0)));
  p.connection->give_back();

  const std::string expected = frame("first") + frame("lent") + frame("queued") + frame("held");
  std::string got(expected.size(), '\0');
  ASSERT_EQ(asio::read(p.peer, asio::buffer(got)), got.size());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(p.connection->stats().frames_out, 4u);
  EXPECT_EQ(p.connection->stats().borrowed_requests, 1u);
}

TEST(StreamLendTest, AFrameTheSocketCutsShortIsFinishedBeforeWhatTheExecutorQueuedMeanwhile) {
  StreamPair p(/*with_hot_read=*/false);
  send_and_write(p, "first");
  // Far more than a socket buffer holds: the non-blocking write takes only part of it.
  std::string big(8u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + i / 4093);
  ASSERT_TRUE(p.connection->borrow(std::chrono::nanoseconds(0)));
  const wire::Metadata md = md_m();
  ASSERT_TRUE(p.connection->borrowed_send(OutFrame::with(wire::FrameKind::notify, 0, md, big)));
  // The executor sends while the borrower still holds the connection: this frame must follow
  // the whole of the borrowed one.
  ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, md, "after"));
  p.connection->give_back();

  const std::string expected = frame("first") + frame(big) + frame("after");
  std::string got(expected.size(), '\0');
  std::thread reader([&] { asio::read(p.peer, asio::buffer(got)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (p.connection->pending_write_bytes() > 0 || !p.connection->borrow({})) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    p.io.restart();
    p.io.run_one_for(std::chrono::milliseconds(10));
  }
  p.connection->give_back();
  reader.join();
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "the stream's bytes differ";
  EXPECT_EQ(payloads_in(got), (std::vector<std::string>{"first", big, "after"}));
  EXPECT_EQ(p.connection->stats().frames_out, 3u);
}

TEST(StreamLendTest, AClosePendingAHandOverNeitherHangsNorWritesTheRest) {
  StreamPair p(/*with_hot_read=*/false);
  send_and_write(p, "first");
  ASSERT_TRUE(p.connection->borrow(std::chrono::nanoseconds(0)));
  const wire::Metadata md = md_m();
  const std::string big(8u << 20, 'x');
  ASSERT_TRUE(p.connection->borrowed_send(OutFrame::with(wire::FrameKind::notify, 0, md, big)));
  p.connection->give_back();  // the rest is posted to the executor
  p.connection->close(Error{StatusCode::cancelled, "closed", {}}, /*flush=*/false);
  EXPECT_NE(p.recorder->closed_reason.find("closed"), std::string::npos);
  p.poll();  // the posted hand-over finds the connection closed
  EXPECT_FALSE(p.connection->borrow(std::chrono::nanoseconds(0)));
  p.connection.reset();
}

TEST(StreamLendTest, ABorrowerRacingTheExecutorNeverInterleavesTwoFrames) {
  StreamPair p(/*with_hot_read=*/false);
  send_and_write(p, "start");
  constexpr int kEach = 3000;
  const wire::Metadata md = md_m();
  std::atomic<bool> done{false};
  std::atomic<int> lent{0};
  // The peer reads everything and counts the frames of each side, in order.
  std::string received;
  std::thread reader([&] {
    char buf[65536];
    std::error_code ec;
    std::size_t offset = 0, whole = 0;  // frames parsed so far, and where the next one starts
    wire::Limits limits;
    while (whole < static_cast<std::size_t>(2 * kEach + 1)) {
      const std::size_t n = p.peer.read_some(asio::buffer(buf), ec);
      if (ec) return;
      received.append(buf, n);
      wire::FrameView f;
      while (wire::complete_frame_at(std::string_view(received).substr(offset), limits, f)) {
        offset += wire::kHeaderSize + f.header.body_length;
        ++whole;
      }
    }
  });
  std::thread borrower([&] {
    for (int i = 0; i < kEach; ++i) {
      const std::string payload =
          "b" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 700), 'b');
      for (;;) {
        if (p.connection->borrow({})) {
          auto sent =
              p.connection->borrowed_send(OutFrame::with(wire::FrameKind::notify, 0, md, payload));
          p.connection->give_back();
          if (sent) {
            ++lent;
            break;
          }
        }
        std::this_thread::yield();
      }
    }
  });
  // The executor's side: its own frames, sent from handlers while the borrower works.
  int sent_here = 0;
  while (sent_here < kEach || !done) {
    if (sent_here < kEach) {
      const std::string payload = "e" + std::to_string(sent_here) +
                                  std::string(static_cast<std::size_t>(sent_here % 900), 'e');
      asio::post(p.io, [&, payload] {
        ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, md, payload));
      });
      ++sent_here;
    }
    p.io.restart();
    p.io.poll();
    if (lent == kEach && sent_here == kEach) done = true;
  }
  borrower.join();
  // Everything queued leaves, then the peer has it all.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (p.connection->pending_write_bytes() > 0 && std::chrono::steady_clock::now() < deadline) {
    p.io.restart();
    p.io.run_one_for(std::chrono::milliseconds(5));
  }
  reader.join();
  const auto frames = payloads_in(received);
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(2 * kEach + 1));
  int next_b = 0, next_e = 0;
  for (std::size_t i = 1; i < frames.size(); ++i) {
    const auto& f = frames[i];
    if (f[0] == 'b') {
      EXPECT_EQ(f, "b" + std::to_string(next_b) +
                       std::string(static_cast<std::size_t>(next_b % 700), 'b'));
      ++next_b;
    } else {
      EXPECT_EQ(f, "e" + std::to_string(next_e) +
                       std::string(static_cast<std::size_t>(next_e % 900), 'e'));
      ++next_e;
    }
  }
  EXPECT_EQ(next_b, kEach);
  EXPECT_EQ(next_e, kEach);
  EXPECT_EQ(p.connection->stats().borrowed_requests, static_cast<std::uint64_t>(kEach));
}

}  // namespace
}  // namespace plexus::transport
