// StreamConnection when a write fails because the peer closed: the frames the peer sent before
// closing (a draining server's last responses) still reach the delegate, whether the socket's
// next read waited in the reactor, in the hot-read slot, or was paused; then it closes with the
// write's error, and refuses sends meanwhile.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stream_pair.hpp"

namespace plexus::transport {
namespace {

using test_support::frame;
using test_support::Local;
using test_support::StreamPair;

wire::Metadata notify_md() {
  wire::Metadata md;
  md.method = "reply";
  return md;
}

// The peer sends "one", which the connection reads through the reactor.
void read_one_frame(StreamPair& p) {
  p.write(frame("one"));
  p.poll_until_payloads(1);
  ASSERT_EQ(p.recorder->payloads.size(), 1u);
}

// A send to a peer that stopped reading: queued, and written at once; the write fails (EPIPE)
// and its completion is posted.
void send_to_a_peer_that_stopped_reading(StreamPair& p) {
  ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, notify_md(), "fails: EPIPE"));
}

// The peer sends "one" (read), then "last" and closes; the connection then writes.
void peer_sends_last_frame_and_closes(StreamPair& p) {
  read_one_frame(p);
  p.write(frame("last"));
  p.peer.close();
  send_to_a_peer_that_stopped_reading(p);
}

void expect_closed_by_the_failed_write(const StreamPair& p) {
  EXPECT_NE(p.recorder->closed_reason.find("write failed"), std::string::npos)
      << p.recorder->closed_reason;
}

void run_until_closed(StreamPair& p) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (p.recorder->closed_reason.empty() && std::chrono::steady_clock::now() < deadline) {
    p.io.restart();
    p.io.run_one_for(std::chrono::milliseconds(10));
  }
}

TEST(StreamConnectionTest, AFailedWriteStillDeliversWhatArrivedWhileAReadWaitedInTheReactor) {
  StreamPair p(/*with_hot_read=*/false);
  peer_sends_last_frame_and_closes(p);
  // The reactor's read and the failed write complete in either order; both end the same way.
  run_until_closed(p);
  EXPECT_EQ(p.recorder->payloads, (std::vector<std::string>{"one", "last"}));
  EXPECT_NE(p.recorder->closed_reason, "");
  EXPECT_TRUE(p.recorder->errors.empty());
}

TEST(StreamConnectionTest, AFailedWriteStillDeliversWhatArrivedWhileTheSocketWasHot) {
  StreamPair p(/*with_hot_read=*/true);
  peer_sends_last_frame_and_closes(p);
  ASSERT_TRUE(p.slot.occupied());  // no read waits in the reactor: only a look would read
  p.poll();                        // the failed write's completion, no look
  EXPECT_EQ(p.recorder->payloads, (std::vector<std::string>{"one", "last"}));
  expect_closed_by_the_failed_write(p);
  EXPECT_FALSE(p.slot.occupied());
}

TEST(StreamConnectionTest, AFailedWriteWhileReadingIsPausedDeliversTheRestOnResume) {
  StreamPair p(/*with_hot_read=*/false);
  p.recorder->pause_at = 1;  // paused inside the delivery of "one"
  peer_sends_last_frame_and_closes(p);
  for (int i = 0; i < 5; ++i) p.poll();
  // Still paused: nothing more delivered, not closed, but the connection is no longer open
  // for sends.
  EXPECT_EQ(p.recorder->payloads.size(), 1u);
  EXPECT_EQ(p.recorder->closed_reason, "");
  EXPECT_FALSE(p.connection->is_open());
  auto refused = p.connection->send(wire::FrameKind::notify, 0, notify_md(), "more");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::unavailable);

  p.connection->resume_reading();
  run_until_closed(p);
  EXPECT_EQ(p.recorder->payloads, (std::vector<std::string>{"one", "last"}));
  expect_closed_by_the_failed_write(p);
}

// The peer stopped reading but neither wrote nor closed: the read waiting in the reactor would
// never complete by itself. The failed write cancels it and the connection closes at once.
TEST(StreamConnectionTest, AFailedWriteCancelsTheReadWaitingInTheReactor) {
  StreamPair p(/*with_hot_read=*/false);
  read_one_frame(p);
  p.peer.shutdown(Local::socket::shutdown_receive);
  send_to_a_peer_that_stopped_reading(p);
  run_until_closed(p);
  EXPECT_EQ(p.recorder->payloads, std::vector<std::string>{"one"});
  expect_closed_by_the_failed_write(p);
}

// A peer that shut down only its reading side (our writes fail) but goes on writing: the
// connection hands over what was there when the write failed and closes, rather than reading
// for as long as the peer writes.
TEST(StreamConnectionTest, AfterAFailedWriteOnlyWhatHadArrivedIsRead) {
  StreamPair p(/*with_hot_read=*/false);
  read_one_frame(p);
  p.peer.shutdown(Local::socket::shutdown_receive);
  p.write(frame("two"));
  int written_during_drain = 0;
  p.recorder->on_each_frame = [&] {
    if (written_during_drain < 1000) {  // bounded, so that a failure ends instead of hanging
      ++written_during_drain;
      p.write(frame("more"));
    }
  };
  send_to_a_peer_that_stopped_reading(p);
  run_until_closed(p);
  // "two", and at most the one "more" its delivery wrote if the reactor read "two" before the
  // failed write was handled (then that one was there when the connection looked).
  ASSERT_GE(p.recorder->payloads.size(), 2u);
  EXPECT_LE(p.recorder->payloads.size(), 3u);
  EXPECT_EQ(p.recorder->payloads[1], "two");
  expect_closed_by_the_failed_write(p);
}

}  // namespace
}  // namespace plexus::transport
