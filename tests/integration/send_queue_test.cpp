// One-way sends from application threads against a receiver that reads slower than they send
// (rpc/outbox.hpp): every send that returned ok arrives, in order; past the bound a send waits
// for room or fails at once with resource_exhausted, as the caller chose; a sender waiting when
// the connection drops learns it. The receiver is the child test server, made slow by stopping
// it (SIGSTOP) or by a handler that takes its time, over every transport.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kMessageSize = 64;

// "i" padded with spaces to kMessageSize bytes: the server's "seq" handler checks the number.
std::string numbered(std::uint64_t i) {
  std::string s = std::to_string(i);
  s.resize(kMessageSize, ' ');
  return s;
}

class SendQueueTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
  }

  void TearDown() override {
    if (stopped_) server_.signal(SIGCONT);
  }

  // Small bounds, so that a stopped server fills them in a few thousand messages whatever the
  // transport (TCP's kernel buffers hold megabytes on their own).
  void connect_small() {
    ClientOptions options;
    options.name = "send-queue-test";
    options.max_queued_send_bytes = 256u << 10;
    options.max_write_queue_bytes = 256u << 10;
    client_ = connect_client(runtime_, server_.address(), options);
    ASSERT_TRUE(client_);
  }

  void stop_server() {
    server_.signal(SIGSTOP);
    stopped_ = true;
  }
  void continue_server() {
    server_.signal(SIGCONT);
    stopped_ = false;
  }

  // What "seq" received since the last report (a call: it follows the messages sent before it).
  json report() {
    auto r = client_->call("seq.report", "");
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? json::parse(*r) : json();
  }

  // Sends numbered messages with `send(i)` until one fails (bounded); returns how many were
  // accepted and the first failure.
  template <typename Send>
  std::pair<std::uint64_t, std::optional<Error>> fill(Send&& send) {
    std::uint64_t accepted = 0;
    constexpr std::uint64_t kBound = 20'000'000;
    while (accepted < kBound) {
      auto sent = send(accepted);
      if (!sent) return {accepted, sent.error()};
      ++accepted;
    }
    return {accepted, std::nullopt};
  }

  // Waits (bounded) until a sender of this client is waiting for room: no event tells it, so
  // the client's counter is read every millisecond.
  bool wait_for_waiting_sender() {
    const auto until = SteadyClock::now() + std::chrono::seconds(20);
    while (SteadyClock::now() < until) {
      if (client_->stats().senders_waiting > 0) return true;
      std::this_thread::sleep_for(Millis{1});
    }
    return false;
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
  bool stopped_ = false;
};

TEST_P(SendQueueTest, PastTheBoundALaneSendFailsAtOnceAndNothingAcceptedIsLost) {
  connect_small();
  auto lane = client_->open_lane("seq");
  ASSERT_TRUE(lane);
  ASSERT_TRUE(lane->send(numbered(0)));
  report();  // the lane is open and the counter starts again at 0

  stop_server();
  // Until the first send of a round, after waiting 20 ms for room, failed: the queues and the
  // transport (a shm ring holds megabytes) are full then. A failure later in a round may only
  // mean that the I/O thread was slow to move the outbox on (a sanitizer build).
  SendOptions some_wait;
  some_wait.wait_for_room = Millis{20};
  std::uint64_t accepted = 0;
  std::optional<Error> failure;
  for (int round = 0; round < 10000; ++round) {
    auto [more, refused] =
        fill([&](std::uint64_t i) { return lane->send(numbered(accepted + i), some_wait); });
    accepted += more;
    failure = refused;
    if (!refused || more == 0) break;
  }
  ASSERT_TRUE(failure) << "no send was refused in " << accepted;
  EXPECT_EQ(failure->code, StatusCode::resource_exhausted) << failure->to_string();
  EXPECT_GT(accepted, 0u);

  // Without a wait, the refusal comes at once.
  SendOptions no_wait;
  no_wait.wait_for_room = Millis{0};
  const auto refusals = client_->stats().send_refusals;
  auto [more, refused] =
      fill([&](std::uint64_t i) { return lane->send(numbered(accepted + i), no_wait); });
  accepted += more;
  ASSERT_TRUE(refused) << "no send was refused in " << more;
  EXPECT_EQ(refused->code, StatusCode::resource_exhausted);
  EXPECT_EQ(client_->stats().send_refusals, refusals + 1);

  // A sender that waits a little fails after that wait, not before. Under a sanitizer the I/O
  // thread may still be moving the outbox into a shm ring with room left, so a wait can find
  // room again: the loop goes on until it does not, bounded by far more messages (80 MB) than
  // any ring or queue here holds.
  SendOptions short_wait;
  short_wait.wait_for_room = Millis{50};
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 1'000'000) << "sends kept finding room in a stopped receiver";
    const auto t0 = SteadyClock::now();
    auto late = lane->send(numbered(accepted), short_wait);
    if (late) {
      ++accepted;
      continue;
    }
    EXPECT_EQ(late.error().code, StatusCode::resource_exhausted);
    EXPECT_GE(SteadyClock::now() - t0, Millis{50});
    break;
  }

  continue_server();
  constexpr std::uint64_t kMore = 20000;
  for (std::uint64_t i = 0; i < kMore; ++i) {
    ASSERT_TRUE(lane->send(numbered(accepted + i))) << "message " << accepted + i;
  }
  const auto r = report();
  EXPECT_EQ(r["count"], accepted + kMore);
  EXPECT_EQ(r["in_order"], true);
}

TEST_P(SendQueueTest, PastTheBoundANotifyWaitsForRoomAndArrives) {
  connect_small();
  ASSERT_TRUE(client_->call("seq.report", ""));
  stop_server();
  // ~25 MB: more than the queues (512 KiB) and the kernel's socket buffers (TCP's grow to
  // megabytes) hold.
  constexpr std::uint64_t kMessages = 300000;
  std::atomic<std::uint64_t> accepted{0};
  std::optional<Error> failure;
  std::thread sender([&] {
    for (std::uint64_t i = 0; i < kMessages; ++i) {
      auto sent = client_->notify("seq", numbered(i));
      if (!sent) {
        failure = sent.error();
        return;
      }
      accepted.fetch_add(1);
    }
  });
  const bool waited = wait_for_waiting_sender();
  EXPECT_LT(accepted.load(), kMessages);
  continue_server();
  sender.join();
  ASSERT_TRUE(waited) << "the sender never had to wait";
  ASSERT_FALSE(failure) << failure->to_string();
  EXPECT_GE(client_->stats().send_waits, 1u);
  const auto r = report();
  EXPECT_EQ(r["count"], kMessages);
  EXPECT_EQ(r["in_order"], true);
}

TEST_P(SendQueueTest, PublishesPastTheBoundAreRefusedNeverDropped) {
  connect_small();
  stop_server();
  PublishOptions some_wait;
  some_wait.wait_for_room = Millis{20};
  auto [accepted, failure] =
      fill([&](std::uint64_t i) { return client_->publish("queue.test", numbered(i), some_wait); });
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, StatusCode::resource_exhausted) << failure->to_string();
  continue_server();
  // The server counts every publish it routed; it reaches the number accepted, and no more.
  auto done = client_->call(
      "pubsub.await",
      json{{"field", "published"}, {"value", accepted}, {"timeout_ms", 20000}}.dump());
  ASSERT_TRUE(done) << done.error().to_string();
  auto stats = client_->call("pubsub.stats", "");
  ASSERT_TRUE(stats);
  EXPECT_EQ(json::parse(*stats)["published"], accepted);
}

TEST_P(SendQueueTest, ASenderWaitingWhenTheConnectionDropsGetsUnavailable) {
  connect_small();
  stop_server();
  std::optional<Error> failure;
  std::thread sender([&] {
    for (std::uint64_t i = 0; i < 10'000'000 && !failure; ++i) {
      if (auto sent = client_->notify("seq", numbered(i)); !sent) failure = sent.error();
    }
  });
  auto left = std::make_shared<std::promise<ConnectionState>>();
  client_->on_state_change([left](ConnectionState st) {
    if (st != ConnectionState::connected) {
      try {
        left->set_value(st);
      } catch (const std::future_error&) {  // a later change: the first is the one
      }
    }
  });
  const bool waited = wait_for_waiting_sender();
  server_.kill_now();
  stopped_ = false;
  sender.join();
  ASSERT_TRUE(waited);
  ASSERT_TRUE(failure) << "every send returned ok after the server was killed";
  EXPECT_EQ(failure->code, StatusCode::unavailable) << failure->to_string();
  // The close was reported. (What it cost is counted in unsent_on_close when the session still
  // held it; frames already in the transport's queue or the kernel's buffers die with the peer.)
  auto state = left->get_future();
  EXPECT_EQ(state.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

// Stream items written within the peer's credit while the write queue is full (held back by
// one-way messages the receiver has not read) wait behind those messages: the stream goes on,
// nothing written is lost.
TEST_P(SendQueueTest, StreamWritesBehindAFullQueueWaitAndArrive) {
  connect_small();
  Stream s = client_->open_stream("stream.sum", "", StreamOptions{});
  std::uint64_t written = 0, sum = 0;
  auto write = [&] {
    ++written;
    sum += written;
    return s.write(std::to_string(written));
  };
  // The first write waits for the acceptor's credit (256 items by default); then 246 are left.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(write());
  auto lane = client_->open_lane("seq");
  ASSERT_TRUE(lane);
  ASSERT_TRUE(lane->send(numbered(0)));
  report();

  stop_server();
  SendOptions some_wait;
  some_wait.wait_for_room = Millis{20};
  auto [accepted, failure] =
      fill([&](std::uint64_t i) { return lane->send(numbered(i), some_wait); });
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, StatusCode::resource_exhausted) << failure->to_string();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(write()) << "stream item " << written;
  EXPECT_TRUE(s.stats().items_sent >= written);

  continue_server();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(write()) << "stream item " << written;
  s.close_write();
  for (;;) {
    auto item = s.read();
    ASSERT_TRUE(item) << item.error().to_string();
    if (!*item) break;
  }
  const auto outcome = s.outcome();
  ASSERT_TRUE(outcome && *outcome) << (outcome ? outcome->error().to_string() : "open");
  const auto r = json::parse(**outcome);
  EXPECT_EQ(r["count"], written);
  EXPECT_EQ(r["sum"], sum);
  const auto seq = report();
  EXPECT_EQ(seq["count"], accepted);
  EXPECT_EQ(seq["in_order"], true);
}

// The report that started this suite: millions of 64 B messages from an application thread to a
// receiver slower than the sender, with the default bounds. Every one arrives, in order.
TEST_P(SendQueueTest, MillionsOfLaneMessagesToASlowReceiverAllArrive) {
  ClientOptions options;
  options.name = "send-queue-volume";
  client_ = connect_client(runtime_, server_.address(), options);
  ASSERT_TRUE(client_);
  auto lane = client_->open_lane("seq.slow");
  ASSERT_TRUE(lane);
  const std::uint64_t messages = kSanitizerBuild ? 200'000 : 2'000'000;
  for (std::uint64_t i = 0; i < messages; ++i) {
    ASSERT_TRUE(lane->send(numbered(i))) << "message " << i;
  }
  const auto r = report();
  EXPECT_EQ(r["count"], messages);
  EXPECT_EQ(r["in_order"], true);
  if (!kSanitizerBuild) {
    // The sender outran the receiver: the queues filled and sends waited for room.
    EXPECT_GT(client_->stats().send_waits, 0u);
  }
}

// call_async from an application thread goes the way its one-way messages go (Session::
// call_from_app): behind messages the connection could not take yet, started by the I/O thread
// when they leave. Its callback runs on this thread through a CompletionQueue. A connection
// lost before the call left fails it with unavailable.
TEST_P(SendQueueTest, AnAppThreadsCallWaitsBehindItsMessagesAndFailsIfTheyNeverLeave) {
  connect_small();
  report();  // the counter starts again at 0
  stop_server();
  // Full when a send waited 20 ms for room in vain: the transport's queue too, so that the
  // I/O thread has stopped taking messages out of the outbox, and the call stays there.
  SendOptions some_wait;
  some_wait.wait_for_room = Millis{20};
  auto [accepted, refused] =
      fill([&](std::uint64_t i) { return client_->notify("seq", numbered(i), some_wait); });
  ASSERT_TRUE(refused) << "no send was refused in " << accepted;
  ASSERT_EQ(refused->code, StatusCode::resource_exhausted);

  CompletionQueue completions;
  std::optional<Result<std::string>> reported;
  std::thread::id ran_on;
  client_->call_async("seq.report", "", {}, completions.deliver([&](Result<std::string> r) {
    reported = std::move(r);
    ran_on = std::this_thread::get_id();
  }));
  EXPECT_EQ(completions.run_for(Millis{50}), 0u) << "answered by a stopped server";
  continue_server();
  while (!reported && completions.run_for(std::chrono::seconds(30)) > 0) {
  }
  ASSERT_TRUE(reported) << "no answer";
  ASSERT_TRUE(*reported) << reported->error().to_string();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  const auto r = json::parse(**reported);
  EXPECT_EQ(r["count"], accepted) << "the call overtook messages sent before it";
  EXPECT_EQ(r["in_order"], true);

  // Again, and the server dies before the messages (and the call behind them) could leave.
  stop_server();
  auto again =
      fill([&](std::uint64_t i) { return client_->notify("seq", numbered(i), some_wait); });
  ASSERT_TRUE(again.second);
  reported.reset();
  client_->call_async("seq.report", "", {},
                      completions.deliver([&](Result<std::string> r) { reported = std::move(r); }));
  server_.signal(SIGKILL);  // while stopped: kill_now's SIGCONT first would let it answer
  server_.kill_now();
  stopped_ = false;
  while (!reported && completions.run_for(std::chrono::seconds(30)) > 0) {
  }
  ASSERT_TRUE(reported) << "the call neither failed nor was answered";
  ASSERT_FALSE(*reported) << "answered by a killed server: " << **reported << " after "
                          << again.first;
  EXPECT_EQ(reported->error().code, StatusCode::unavailable) << reported->error().to_string();
}

PLEXUS_ALL_TRANSPORTS(SendQueueTest);

}  // namespace
}  // namespace plexus::test
