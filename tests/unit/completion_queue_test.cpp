// plexus::CompletionQueue without a connection: the callbacks deliver() makes are completed
// here from other threads, as I/O threads complete calls. They run on the thread in run_for(),
// all those queued at once, and never after the queue is gone.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plexus/completion_queue.hpp"

namespace plexus::test::completion_queue {
namespace {

using SteadyClock = std::chrono::steady_clock;

TEST(CompletionQueueTest, CallbacksRunOnTheThreadThatRunsTheQueueAllQueuedAtOnce) {
  CompletionQueue queue;
  std::vector<std::thread::id> ran_on;
  std::vector<std::string> answers;
  std::vector<CallCallback> wrapped;
  for (int i = 0; i < 50; ++i) {
    wrapped.push_back(queue.deliver([&](Result<std::string> r) {
      ran_on.push_back(std::this_thread::get_id());
      answers.push_back(r ? *r : r.error().message);
    }));
  }
  EXPECT_EQ(queue.outstanding(), 50u);
  std::thread io([&] {
    for (int i = 0; i < 50; ++i) wrapped[static_cast<std::size_t>(i)](std::to_string(i));
  });
  io.join();
  EXPECT_TRUE(ran_on.empty()) << "a callback ran on the completing thread";
  EXPECT_EQ(queue.poll(), 50u) << "one look runs every completion queued";
  ASSERT_EQ(answers.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(answers[static_cast<std::size_t>(i)], std::to_string(i));
  for (const auto& id : ran_on) EXPECT_EQ(id, std::this_thread::get_id());
  EXPECT_EQ(queue.outstanding(), 0u);
  EXPECT_EQ(queue.poll(), 0u);
}

TEST(CompletionQueueTest, ASleepingRunnerIsWokenByTheFirstCompletion) {
  CompletionQueue queue;
  std::atomic<bool> waiting{false};
  int ran = 0;
  auto done = queue.deliver([&](Result<std::string> r) { ran += r ? 1 : 100; });
  std::thread io([&] {
    while (!waiting.load()) std::this_thread::yield();
    done("answer");
  });
  waiting = true;
  const auto t0 = SteadyClock::now();
  EXPECT_EQ(queue.run_for(std::chrono::seconds(30)), 1u);
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::seconds(10)) << "woken, not timed out";
  io.join();
  EXPECT_EQ(ran, 1);
}

TEST(CompletionQueueTest, NothingToRunWaitsTheTimeoutAndReturnsZero) {
  CompletionQueue queue;
  auto pending = queue.deliver([](Result<std::string>) {});
  const auto t0 = SteadyClock::now();
  EXPECT_EQ(queue.run_for(std::chrono::milliseconds(20)), 0u);
  EXPECT_GE(SteadyClock::now() - t0, std::chrono::milliseconds(20));
  EXPECT_EQ(queue.outstanding(), 1u);
  pending(make_error(StatusCode::cancelled, "gone"));
  EXPECT_EQ(queue.poll(), 1u);
}

TEST(CompletionQueueTest, ACompletionAfterTheQueueIsGoneRunsNothing) {
  int ran = 0;
  CallCallback late;
  {
    CompletionQueue queue;
    late = queue.deliver([&](Result<std::string>) { ++ran; });
  }
  late("too late");  // queued into the state the callback keeps alive, never run
  EXPECT_EQ(ran, 0);
}

TEST(CompletionQueueTest, ACallbackThatThrowsLeavesTheRestQueuedInOrder) {
  CompletionQueue queue;
  std::vector<int> ran;
  std::vector<CallCallback> wrapped;
  for (int i = 0; i < 4; ++i) {
    wrapped.push_back(queue.deliver([&ran, i](Result<std::string>) {
      ran.push_back(i);
      if (i == 1) throw std::runtime_error("callback 1 failed");
    }));
  }
  for (auto& w : wrapped) w("x");
  EXPECT_THROW(queue.poll(), std::runtime_error);
  EXPECT_EQ(ran, (std::vector<int>{0, 1}));
  EXPECT_EQ(queue.poll(), 2u);
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace plexus::test::completion_queue
