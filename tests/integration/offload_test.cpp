// Offloaded handlers (HandlerOptions::offload, StreamHandlerOptions::offload) run on the
// runtime's worker pool: one that blocks leaves the I/O thread, and every other connection,
// free; its answer, cancel and deadline still go through its session; policies stay in front.
// Both ends in this process (the test controls what the handler waits on), over every transport.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "call_kit.hpp"
#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

constexpr Millis kWait{10000};

class OffloadTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    PLEXUS_SKIP_OVER_EXEC(
        "the server runs in the test's own process, and exec: always starts a child");
    ServerOptions options;
    options.listen = {listen_address(GetParam(), dir_)};
    options.metrics = false;
    auto server = Server::create(server_runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("echo", [](CallContext&, std::string_view p) -> Result<std::string> {
      return std::string(p);
    });
    HandlerOptions offload;
    offload.offload = true;
    // Blocks until the test opens the gate or the call is cancelled; tells the test it started
    // and how it ended.
    ASSERT_TRUE(server_->handle(
        "wait",
        gated_handler(gate_, entered_, saw_cancel_,
                      [this] { on_io_thread_.set(server_runtime_.on_io_thread()); }),
        offload));
    ASSERT_TRUE(server_->start());
    a_ = connect_client(client_runtime_, server_->addresses().at(0));
    b_ = connect_client(client_runtime_, server_->addresses().at(0));
    ASSERT_TRUE(a_ && b_);
  }
  void TearDown() override {
    gate_.open();  // a handler still waiting must not hold up the runtime's end
    if (a_) a_->close();
    if (b_) b_->close();
    if (server_) server_->shutdown(Millis{1000});
  }

  // Starts "wait" on connection a and returns once its handler runs.
  CallId start_wait(Event<Result<std::string>>& result, CallOptions options = {}) {
    const CallId id = a_->call_async(
        "wait", "a", options, [&result](Result<std::string> r) { result.set(std::move(r)); });
    EXPECT_TRUE(entered_.wait_for(kWait)) << "the offloaded handler never ran";
    return id;
  }

  TempDir dir_;
  Runtime server_runtime_;  // one I/O thread: a handler that blocked on it would stall all
  Runtime client_runtime_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> a_, b_;
  Gate gate_;
  Event<bool> entered_, on_io_thread_, saw_cancel_;
};

TEST_P(OffloadTest, ABlockedHandlerLeavesOtherConnectionsAnswered) {
  Event<Result<std::string>> result;
  start_wait(result);
  EXPECT_EQ(on_io_thread_.wait_for(kWait), false) << "the handler ran on the I/O thread";
  // While it blocks, the other connection's calls (and a's own) are answered.
  CallOptions bounded;
  bounded.timeout = Millis{5000};
  for (int i = 0; i < 200; ++i) {
    auto r = b_->call("echo", std::to_string(i), bounded);
    ASSERT_TRUE(r) << "call " << i << ": " << r.error().to_string();
    ASSERT_EQ(*r, std::to_string(i));
  }
  auto own = a_->call("echo", "a too", bounded);
  ASSERT_TRUE(own) << own.error().to_string();
  EXPECT_FALSE(result.is_set());
  gate_.open();
  auto answer = result.wait_for(kWait);
  ASSERT_TRUE(answer) << "the released handler's answer never arrived";
  ASSERT_TRUE(*answer) << answer->error().to_string();
  EXPECT_EQ(**answer, "released:a");
  EXPECT_EQ(saw_cancel_.wait_for(kWait), false);
}

TEST_P(OffloadTest, CancelReachesTheBlockedHandler) {
  Event<Result<std::string>> result;
  const CallId id = start_wait(result);
  a_->cancel(id);
  auto answer = result.wait_for(kWait);
  ASSERT_TRUE(answer);
  ASSERT_FALSE(*answer);
  EXPECT_EQ(answer->error().code, StatusCode::cancelled);
  EXPECT_EQ(saw_cancel_.wait_for(kWait), true) << "the handler never saw the cancel";
  EXPECT_EQ(*b_->call("echo", "still"), "still");
}

TEST_P(OffloadTest, TheDeadlineReachesTheBlockedHandler) {
  Event<Result<std::string>> result;
  CallOptions options;
  options.timeout = Millis{200};
  start_wait(result, options);
  auto answer = result.wait_for(kWait);
  ASSERT_TRUE(answer);
  ASSERT_FALSE(*answer);
  EXPECT_EQ(answer->error().code, StatusCode::deadline_exceeded);
  EXPECT_EQ(saw_cancel_.wait_for(kWait), true) << "the handler never saw the deadline";
}

TEST_P(OffloadTest, PoliciesRunInFrontOfTheWorker) {
  std::atomic<int> ran{0};
  HandlerOptions options;
  options.offload = true;
  options.schema = nlohmann::json::parse(R"({"type":"object","required":["n"]})");
  options.concurrency = ConcurrencyOptions{1, 0};  // one at a time, no queue
  ASSERT_TRUE(server_->handle(
      "guarded",
      [this, &ran](CallContext& ctx, std::string_view) -> Result<std::string> {
        ++ran;
        entered_.set(true);
        gate_.wait(ctx);
        return std::string("done");
      },
      options));
  // Validation refuses on the I/O thread: the handler never runs.
  auto invalid = b_->call("guarded", "{}");
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(ran.load(), 0);
  // One call holds the only slot on a worker; the next is refused at once, not queued on the pool.
  Event<Result<std::string>> first;
  a_->call_async("guarded", R"({"n":1})", {},
                 [&first](Result<std::string> r) { first.set(std::move(r)); });
  ASSERT_TRUE(entered_.wait_for(kWait));
  auto refused = b_->call("guarded", R"({"n":2})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::resource_exhausted);
  gate_.open();
  auto answer = first.wait_for(kWait);
  ASSERT_TRUE(answer && *answer);
  EXPECT_EQ(**answer, "done");
  EXPECT_EQ(ran.load(), 1);
  // The slot is back once the worker answered.
  auto again = b_->call("guarded", R"({"n":3})");
  ASSERT_TRUE(again) << again.error().to_string();
  const auto stats = server_->policy_stats("guarded");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->validation_failed, 1u);
  EXPECT_EQ(stats->concurrency_rejected, 1u);
}

// Many calls block at once, each on its own worker, up to the pool's size.
TEST_P(OffloadTest, CallsRunOnWorkersAtOnce) {
  // Shared with the handler: its answers reach this thread through a socket, an ordering that
  // ThreadSanitizer does not see, so the state must not live on this stack.
  struct Together {
    std::mutex mu;
    std::condition_variable cv;
    int inside = 0;
  };
  auto together = std::make_shared<Together>();
  HandlerOptions options;
  options.offload = true;
  ASSERT_TRUE(server_->handle(
      "together",
      [together](CallContext&, std::string_view) -> Result<std::string> {
        std::unique_lock lock(together->mu);
        ++together->inside;
        together->cv.notify_all();
        // Answers only once all four are inside: on one thread this would never happen.
        if (!together->cv.wait_for(lock, kWait, [&] { return together->inside >= 4; })) {
          return make_error(StatusCode::internal, "ran one at a time");
        }
        return std::string("ok");
      },
      options));
  Countdown answered(4);
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    (i % 2 ? a_ : b_)->call_async("together", "", {}, [&](Result<std::string> r) {
      if (r) ++ok;
      answered.done();
    });
  }
  ASSERT_TRUE(answered.wait_for(kWait));
  EXPECT_EQ(ok.load(), 4);
}

// A peer's notifications and lane messages to an offloaded handler keep their order.
TEST_P(OffloadTest, NotificationsAndLaneMessagesKeepTheirOrderOnWorkers) {
  std::mutex mu;
  std::vector<int> seen;
  bool on_io = false;
  constexpr int kMessages = 500;
  Countdown arrived(2 * kMessages);
  HandlerOptions options;
  options.offload = true;
  ASSERT_TRUE(server_->handle(
      "seq",
      [&](CallContext&, std::string_view p) -> Result<std::string> {
        {
          std::lock_guard lock(mu);
          seen.push_back(std::stoi(std::string(p)));
          on_io = on_io || server_runtime_.on_io_thread();
        }
        arrived.done();
        return std::string();
      },
      options));
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(a_->notify("seq", std::to_string(i)));
  auto lane = a_->open_lane("seq");
  ASSERT_TRUE(lane);
  for (int i = kMessages; i < 2 * kMessages; ++i) ASSERT_TRUE(lane->send(std::to_string(i)));
  ASSERT_TRUE(arrived.wait_for(kWait));
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 2u * kMessages);
  for (int i = 0; i < 2 * kMessages; ++i) ASSERT_EQ(seen[i], i) << "out of order at " << i;
  EXPECT_FALSE(on_io);
}

// An offloaded stream handler may use Stream's blocking forms, which fail on an I/O thread.
TEST_P(OffloadTest, AnOffloadedStreamHandlerWritesWithBlockingCalls) {
  StreamHandlerOptions options;
  options.offload = true;
  server_->handle_stream(
      "count",
      [](CallContext&, std::string payload, Stream s) -> asio::awaitable<Result<std::string>> {
        const int n = std::stoi(payload);
        for (int i = 0; i < n; ++i) {
          if (auto w = s.write(std::to_string(i)); !w) co_return tl::unexpected(w.error());
        }
        co_return std::string("counted");
      },
      options);
  auto s = a_->open_stream("count", "300");
  int expected = 0;
  for (;;) {
    auto item = s.read();
    ASSERT_TRUE(item) << item.error().to_string();
    if (!*item) break;
    ASSERT_EQ(**item, std::to_string(expected++));
  }
  EXPECT_EQ(expected, 300);
  auto outcome = s.outcome();
  ASSERT_TRUE(outcome && *outcome) << (outcome ? outcome->error().to_string() : "none");
  EXPECT_EQ(**outcome, "counted");
}

TEST_P(OffloadTest, AnOffloadedCoroutineAndAThrowingHandlerAnswer) {
  HandlerOptions options;
  options.offload = true;
  ASSERT_TRUE(server_->handle_coro(
      "coro",
      [this](CallContext&, std::string p) -> asio::awaitable<Result<std::string>> {
        co_return (server_runtime_.on_io_thread() ? "io:" : "worker:") + p;
      },
      options));
  ASSERT_TRUE(server_->handle(
      "throws",
      [](CallContext&, std::string_view) -> Result<std::string> {
        throw std::runtime_error("disk on fire");
      },
      options));
  EXPECT_EQ(*a_->call("coro", "x"), "worker:x");
  auto thrown = a_->call("throws", "");
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, StatusCode::internal);
  EXPECT_NE(thrown.error().message.find("disk on fire"), std::string::npos);
  EXPECT_EQ(*a_->call("echo", "alive"), "alive");
}

PLEXUS_ALL_TRANSPORTS(OffloadTest);

// A job the pool never ran (queued behind a body that outlasts the shutdown) holds the last
// reference to its session when the runtime goes: it must go before the io_context, whose
// services the session's timers use (ASan sees the use after free otherwise).
TEST(OffloadTeardown, AJobThePoolNeverRanGoesBeforeTheIoContext) {
  TempDir dir;
  Event<bool> first_running;
  RuntimeOptions one_worker;
  one_worker.worker_threads = 1;
  auto server_runtime = std::make_unique<Runtime>(one_worker);
  Runtime client_runtime;
  ServerOptions options;
  options.listen = {dir.unix_address("t.sock")};
  options.metrics = false;
  auto server = Server::create(*server_runtime, std::move(options));
  ASSERT_TRUE(server) << server.error().to_string();
  HandlerOptions offload;
  offload.offload = true;
  ASSERT_TRUE((*server)->handle(
      "slow",
      [&first_running](CallContext&, std::string_view) -> Result<std::string> {
        first_running.set(true);
        // The one worker stays busy past the runtime's stop, so the next job never starts.
        std::this_thread::sleep_for(Millis{300});
        return std::string("done");
      },
      offload));
  ASSERT_TRUE((*server)->start());
  auto client = connect_client(client_runtime, (*server)->addresses().at(0));
  ASSERT_TRUE(client);
  client->call_async("slow", "a", {}, [](Result<std::string>) {});
  ASSERT_TRUE(first_running.wait_for(kWait));
  client->call_async("slow", "b", {}, [](Result<std::string>) {});
  // No event says the second request reached the pool: the server's counter is read every ms.
  const auto until = std::chrono::steady_clock::now() + kWait;
  while ((*server)->stats().calls_in < 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(Millis{1});
  }
  ASSERT_EQ((*server)->stats().calls_in, 2u);
  (*server)->shutdown(Millis{0});
  server->reset();
  server_runtime.reset();  // the pool's unstarted job and its session go here
  client->close();
}

}  // namespace
}  // namespace plexus::test
