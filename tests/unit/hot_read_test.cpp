// The hot-read slot (transport/hot_read.hpp): its bookkeeping with stand-in readers, then real
// StreamConnections over Unix socket pairs: while a connection holds the slot its input comes
// only through a look (no read waits in the reactor), a parked one reads through the reactor
// again, and the end of the stream, pausing and closing all leave the slot as they should.
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stream_pair.hpp"
#include "transport/hot_read.hpp"

namespace plexus::transport {
namespace {

using namespace std::chrono_literals;
using Local = test_support::Local;
using test_support::frame;
using test_support::Recorder;
using HotPair = test_support::StreamPair;

class FakeReader final : public HotReader {
 public:
  bool read_until(std::chrono::steady_clock::time_point) override {
    ++reads;
    if (on_read) on_read();
    return brings_input;
  }
  void park() override { ++parks; }

  int reads = 0;
  int parks = 0;
  bool brings_input = false;
  std::function<void()> on_read;
};

TEST(HotReadSlotTest, TakingParksThePreviousHolderOnly) {
  HotReadSlot slot;
  auto a = std::make_shared<FakeReader>();
  auto b = std::make_shared<FakeReader>();
  EXPECT_FALSE(slot.occupied());
  EXPECT_FALSE(slot.poll_for(1us));  // nothing to look at

  slot.take(a);
  EXPECT_TRUE(slot.occupied());
  slot.take(a);  // the holder again: not parked, but counted
  EXPECT_EQ(a->parks, 0);
  EXPECT_EQ(slot.takes_since_last_look(), 2u);
  EXPECT_EQ(slot.takes_since_last_look(), 0u);  // the look resets it

  slot.take(b);
  EXPECT_EQ(a->parks, 1);
  EXPECT_EQ(b->parks, 0);
  slot.release(a.get());  // no longer the holder: nothing happens
  EXPECT_TRUE(slot.occupied());

  b->brings_input = true;
  EXPECT_TRUE(slot.poll_for(1us));
  EXPECT_EQ(b->reads, 1);
  EXPECT_EQ(a->reads, 0);

  slot.park();
  EXPECT_EQ(b->parks, 1);
  EXPECT_FALSE(slot.occupied());
  slot.park();  // empty: nothing to park
  EXPECT_EQ(b->parks, 1);
}

TEST(HotReadSlotTest, AHolderThatLeavesWhileReadStaysAliveUntilTheReadReturns) {
  HotReadSlot slot;
  auto a = std::make_shared<FakeReader>();
  std::weak_ptr<FakeReader> watch = a;
  a->on_read = [&slot, raw = a.get()] { slot.release(raw); };  // it closed while reading
  slot.take(std::move(a));
  EXPECT_FALSE(slot.poll_for(1us));
  EXPECT_FALSE(slot.occupied());
  EXPECT_TRUE(watch.expired());  // the slot's copy went with the look
}

TEST(HotReadSlotTest, ClearDropsTheHolderWithoutParkingIt) {
  HotReadSlot slot;
  auto a = std::make_shared<FakeReader>();
  slot.take(a);
  slot.clear();
  EXPECT_FALSE(slot.occupied());
  EXPECT_EQ(a->parks, 0);
}

TEST(HotReadTest, AfterItsFirstInputAConnectionIsReadOnlyByLooks) {
  HotPair p;
  EXPECT_FALSE(p.slot.occupied());  // nothing read yet: it waits in the reactor
  p.write(frame("one"));
  p.poll_until_payloads(1);
  ASSERT_EQ(p.recorder->payloads, std::vector<std::string>{"one"});
  EXPECT_TRUE(p.slot.occupied());
  EXPECT_EQ(p.slot.takes_since_last_look(), 1u);

  p.write(frame("two"));
  // No read waits in the reactor: running it delivers nothing...
  for (int i = 0; i < 5; ++i) p.poll();
  EXPECT_EQ(p.recorder->payloads.size(), 1u);
  // ...a look does, and keeps the slot.
  EXPECT_EQ(p.connection->stats().hot_reads, 0u);
  EXPECT_TRUE(p.look());
  EXPECT_EQ(p.recorder->payloads, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(p.connection->stats().hot_reads, 1u);
  EXPECT_TRUE(p.slot.occupied());
  EXPECT_EQ(p.slot.takes_since_last_look(), 1u);
  // A look with nothing to read comes back empty-handed when its window is over.
  EXPECT_FALSE(p.look(50us));
  EXPECT_TRUE(p.slot.occupied());
  EXPECT_EQ(p.slot.takes_since_last_look(), 0u);
  EXPECT_TRUE(p.recorder->errors.empty());
}

TEST(HotReadTest, AParkedConnectionReadsThroughTheReactorAgain) {
  HotPair p;
  p.write(frame("one"));
  p.poll_until_payloads(1);
  ASSERT_TRUE(p.slot.occupied());
  p.slot.park();
  EXPECT_FALSE(p.slot.occupied());
  p.write(frame("two"));
  p.poll_until_payloads(2);
  EXPECT_EQ(p.recorder->payloads, (std::vector<std::string>{"one", "two"}));
  EXPECT_TRUE(p.slot.occupied());  // and that input made it the holder again
}

TEST(HotReadTest, TheEndOfTheStreamSeenByALookClosesTheConnection) {
  HotPair p;
  p.write(frame("one"));
  p.poll_until_payloads(1);
  ASSERT_TRUE(p.slot.occupied());
  // Half a frame and the end of the stream at once: the look reads the half, the next one
  // meets the end and closes the connection.
  const std::string two = frame("two");
  p.write(two.substr(0, 10));
  p.peer.close();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (p.recorder->closed_reason.empty() && std::chrono::steady_clock::now() < deadline) {
    p.look(1ms);
  }
  EXPECT_NE(p.recorder->closed_reason.find("peer closed"), std::string::npos)
      << p.recorder->closed_reason;
  EXPECT_FALSE(p.slot.occupied());
  EXPECT_EQ(p.recorder->payloads.size(), 1u);
}

TEST(HotReadTest, PausingLeavesTheSlotAndResumingReadsOn) {
  // Paused inside a frame the reactor read, and inside one a look read.
  for (std::size_t pause_at : {1u, 2u}) {
    SCOPED_TRACE(pause_at);
    HotPair p;
    p.recorder->pause_at = pause_at;
    p.write(frame("one"));
    p.poll_until_payloads(1);
    if (pause_at == 2) {
      ASSERT_TRUE(p.slot.occupied());
      p.write(frame("two"));
      EXPECT_TRUE(p.look());
    }
    EXPECT_FALSE(p.slot.occupied());  // paused inside its input: no slot, no read
    const auto bytes_in = p.connection->stats().bytes_in.get();
    p.write(frame("three"));
    EXPECT_FALSE(p.look());
    for (int i = 0; i < 5; ++i) p.poll();
    EXPECT_EQ(p.recorder->payloads.size(), pause_at);
    EXPECT_EQ(p.connection->stats().bytes_in.get(), bytes_in);  // not even read into a buffer
    p.recorder->pause_at = 0;
    p.connection->resume_reading();
    p.poll_until_payloads(pause_at + 1);
    EXPECT_EQ(p.recorder->payloads.size(), pause_at + 1);
    EXPECT_EQ(p.recorder->payloads.back(), "three");
  }
}

TEST(HotReadTest, AConnectionClosingAfterItsWritesLeavesTheSlotAtTheNextLook) {
  HotPair p;
  p.write(frame("one"));
  p.poll_until_payloads(1);
  ASSERT_TRUE(p.slot.occupied());
  // More than the socket takes at once (the peer reads nothing yet): a write stays in flight,
  // so close(flush) waits for it.
  const std::string big(8u << 20, 'b');
  ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, {}, big));
  p.connection->close(Error{StatusCode::cancelled, "bye", {}}, /*flush=*/true);
  ASSERT_TRUE(p.recorder->closed_reason.empty()) << "the write finished at once";
  p.write(frame("after close"));
  EXPECT_FALSE(p.look());  // reads nothing more, and leaves the slot
  EXPECT_FALSE(p.slot.occupied());
  // The peer reads; once the write is done the connection closes, "after close" never read.
  std::string sink(64 << 10, '\0');
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (p.recorder->closed_reason.empty() && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    p.peer.non_blocking(true);
    got += p.peer.read_some(asio::buffer(sink), ec);
    p.poll();
  }
  ASSERT_FALSE(p.recorder->closed_reason.empty()) << "still open 5 s after its writes";
  EXPECT_NE(p.recorder->closed_reason.find("bye"), std::string::npos) << p.recorder->closed_reason;
  // Everything that was queued left before the close: the peer reads all of it, then the end.
  p.peer.non_blocking(false);
  for (std::error_code ec; !ec;) got += p.peer.read_some(asio::buffer(sink), ec);
  EXPECT_EQ(got, wire::kHeaderSize + big.size());
  EXPECT_EQ(p.recorder->payloads.size(), 1u);
}

TEST(HotReadTest, ClosingLeavesTheSlot) {
  HotPair p;
  p.write(frame("one"));
  p.poll_until_payloads(1);
  ASSERT_TRUE(p.slot.occupied());
  p.connection->close(Error{StatusCode::cancelled, "bye", {}}, false);
  EXPECT_FALSE(p.slot.occupied());
  EXPECT_FALSE(p.look());
}

TEST(HotReadTest, TheLatestInputTakesTheSlotAndTheOtherReadsThroughTheReactor) {
  asio::io_context io;
  HotReadSlot slot;
  struct End {
    Local::socket peer;
    std::shared_ptr<StreamConnection<Local>> connection;
    std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  };
  std::vector<End> ends;
  for (int i = 0; i < 2; ++i) {
    Local::socket ours(io);
    End e{Local::socket(io), nullptr};
    asio::local::connect_pair(ours, e.peer);
    ConnectionOptions options;
    options.hot_read = &slot;
    e.connection = std::make_shared<StreamConnection<Local>>(std::move(ours), options, "end");
    e.connection->start(e.recorder);
    ends.push_back(std::move(e));
  }
  const auto run_until = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(10ms);
    }
  };
  const std::string f = frame("x");
  ASSERT_EQ(asio::write(ends[0].peer, asio::buffer(f)), f.size());
  run_until([&] { return ends[0].recorder->payloads.size() == 1; });
  ASSERT_EQ(ends[0].recorder->payloads.size(), 1u);
  ASSERT_EQ(asio::write(ends[1].peer, asio::buffer(f)), f.size());
  run_until([&] { return ends[1].recorder->payloads.size() == 1; });
  ASSERT_EQ(ends[1].recorder->payloads.size(), 1u);
  // The first was parked when the second took the slot: the reactor reads it again.
  ASSERT_EQ(asio::write(ends[0].peer, asio::buffer(f)), f.size());
  run_until([&] { return ends[0].recorder->payloads.size() == 2; });
  EXPECT_EQ(ends[0].recorder->payloads.size(), 2u);
  for (auto& e : ends) e.connection->close(Error{StatusCode::cancelled, "over", {}}, false);
  io.restart();
  io.poll();
  EXPECT_FALSE(slot.occupied());
}

}  // namespace
}  // namespace plexus::transport
