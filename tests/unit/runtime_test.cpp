// Runtime::running_in: the check that lets a call made from a completion go straight into the
// session instead of through asio::dispatch, and that keeps blocking calls off I/O threads.
// RuntimeOptions::idle_wait: every strategy runs posted work and timers and stops; only spin
// keeps an idle thread busy.
#include <pthread.h>
#include <time.h>

#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "plexus/runtime.hpp"

namespace {

// Runs `probe` on `executor` and returns what it saw.
bool seen_on(const asio::any_io_executor& executor, const asio::any_io_executor& probe) {
  std::promise<bool> seen;
  asio::post(executor, [&] { seen.set_value(plexus::Runtime::running_in(probe)); });
  return seen.get_future().get();
}

TEST(RuntimeTest, OneThreadRuntimeKnowsItsOwnThread) {
  plexus::Runtime runtime(plexus::RuntimeOptions{1});
  const auto serial = runtime.serial_executor();  // the io_context's executor itself
  EXPECT_FALSE(plexus::Runtime::running_in(serial)) << "the test thread runs no handlers";
  EXPECT_TRUE(seen_on(serial, serial));
}

TEST(RuntimeTest, StrandsAreToldApart) {
  plexus::Runtime runtime(plexus::RuntimeOptions{2});
  const auto a = runtime.serial_executor();
  const auto b = runtime.serial_executor();
  EXPECT_FALSE(plexus::Runtime::running_in(a));
  EXPECT_TRUE(seen_on(a, a));
  EXPECT_FALSE(seen_on(a, b)) << "inside strand a, strand b is not running";
}

TEST(RuntimeTest, OtherRuntimesThreadIsNotOurs) {
  plexus::Runtime one(plexus::RuntimeOptions{1});
  plexus::Runtime other(plexus::RuntimeOptions{1});
  EXPECT_FALSE(seen_on(other.serial_executor(), one.serial_executor()));
}

plexus::RuntimeOptions idle_wait_options(plexus::WaitStrategy wait, int io_threads = 1) {
  plexus::RuntimeOptions options;
  options.io_threads = io_threads;
  options.idle_wait = wait;
  return options;
}

class IdleWaitTest : public ::testing::TestWithParam<plexus::WaitStrategy> {};

TEST_P(IdleWaitTest, RunsWorkPostedFromOtherThreadsAndTimersThenStops) {
  for (const int io_threads : {1, 2}) {  // two: all spin (spin) or all sleep at once (adaptive)
    SCOPED_TRACE(io_threads);
    plexus::Runtime runtime(idle_wait_options(GetParam(), io_threads));
    for (int i = 0; i < 100; ++i) {  // each one finds the threads spinning or asleep
      std::promise<void> ran;
      asio::post(runtime.executor(), [&] { ran.set_value(); });
      ASSERT_EQ(ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    }
    asio::steady_timer timer(runtime.io(), std::chrono::milliseconds(2));
    std::promise<std::error_code> fired;
    timer.async_wait([&](std::error_code ec) { fired.set_value(ec); });
    auto result = fired.get_future();
    ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_FALSE(result.get());
    // ~Runtime stops and joins the threads, which must leave their spin: a hang here fails the
    // test by its CTest timeout.
  }
}

// CPU time the runtime's (only) I/O thread has used so far.
class IoThreadCpu {
 public:
  explicit IoThreadCpu(plexus::Runtime& runtime) {
    std::promise<clockid_t> id;
    asio::post(runtime.executor(), [&] {
      clockid_t c{};
      pthread_getcpuclockid(pthread_self(), &c);
      id.set_value(c);
    });
    clock_ = id.get_future().get();
  }
  std::chrono::nanoseconds used() const {
    timespec ts{};
    clock_gettime(clock_, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }

 private:
  clockid_t clock_{};
};

TEST_P(IdleWaitTest, AnIdleThreadCostsNothingUnlessToldToSpin) {
  plexus::Runtime runtime(idle_wait_options(GetParam()));
  const IoThreadCpu cpu(runtime);
  const auto before = cpu.used();
  if (GetParam() == plexus::WaitStrategy::spin) {
    // Burns CPU with nothing to do: wait (bounded) until it has used 20 ms of it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (cpu.used() - before < std::chrono::milliseconds(20) &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    EXPECT_GE(cpu.used() - before, std::chrono::milliseconds(20));
    return;
  }
  // Idle for 100 ms (the idleness is what is measured, nothing to wait for): at most the last
  // spin (max_spin, 200 µs) after the probe above, far below 10 ms.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LT(cpu.used() - before, std::chrono::milliseconds(10));
}

INSTANTIATE_TEST_SUITE_P(Strategies, IdleWaitTest,
                         ::testing::Values(plexus::WaitStrategy::spin,
                                           plexus::WaitStrategy::adaptive,
                                           plexus::WaitStrategy::block),
                         [](const auto& info) {
                           return std::string(plexus::to_string(info.param));
                         });

}  // namespace
