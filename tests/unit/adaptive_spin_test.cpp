// platform::AdaptiveSpin: when a waiter with nothing to do looks again instead of sleeping, and
// how the adaptive budget learns. Driven with made-up time points: no clock, no sleeps.
#include <gtest/gtest.h>

#include "platform/adaptive_spin.hpp"

namespace {

using plexus::WaitStrategy;
using plexus::platform::AdaptiveSpin;
using std::chrono::microseconds;
using T = AdaptiveSpin::Clock::time_point;

const T t0 = T{} + std::chrono::seconds(100);

AdaptiveSpin adaptive() {
  return AdaptiveSpin(WaitStrategy::adaptive, microseconds(20), microseconds(200));
}

TEST(AdaptiveSpinTest, AdaptiveStartsHalfWayAndSpinsOnlyWithinItsBudgetAfterTheLastWork) {
  auto spin = adaptive();
  EXPECT_EQ(spin.budget(), microseconds(110));
  spin.woke(t0);
  EXPECT_TRUE(spin.may_spin(t0));
  EXPECT_TRUE(spin.may_spin(t0 + microseconds(109)));
  EXPECT_FALSE(spin.may_spin(t0 + microseconds(110)));
}

TEST(AdaptiveSpinTest, WorkCaughtWhileSpinningDoublesTheBudgetUpToTheMaximum) {
  auto spin = adaptive();
  spin.woke(t0);
  spin.found_work(t0 + microseconds(50));  // looked for 50 µs and caught it
  EXPECT_EQ(spin.budget(), microseconds(200)) << "220 µs capped at max_spin";
  EXPECT_TRUE(spin.may_spin(t0 + microseconds(249))) << "the window restarts at the work";
  EXPECT_FALSE(spin.may_spin(t0 + microseconds(250)));
}

TEST(AdaptiveSpinTest, BackToBackWorkSaysNothingAboutSpinning) {
  auto spin = adaptive();
  spin.woke(t0);
  spin.found_work(t0 + microseconds(1));  // within kBusyGap: one busy stretch
  EXPECT_EQ(spin.budget(), microseconds(110));
}

TEST(AdaptiveSpinTest, ASpinThatRanOutHalvesTheBudgetDownToTheMinimum) {
  auto spin = adaptive();
  spin.sleeping();
  EXPECT_EQ(spin.budget(), microseconds(55));
  spin.sleeping();
  EXPECT_EQ(spin.budget(), std::chrono::nanoseconds(27500));
  spin.sleeping();
  EXPECT_EQ(spin.budget(), microseconds(20)) << "13.75 µs floored at min_spin";
  // Waking from the sleep keeps the shorter budget: only a spin that catches work lengthens it.
  spin.woke(t0);
  EXPECT_EQ(spin.budget(), microseconds(20));
  EXPECT_FALSE(spin.may_spin(t0 + microseconds(20)));
}

// Work that came soon after a sleep began: a spin up to the maximum would have caught it, so
// the budget grows again, past that wait (a budget under the usual wait must not stay there).
// Work that came later than the maximum leaves it as it was.
TEST(AdaptiveSpinTest, ASleepThatAMaximumSpinWouldHaveSavedDoublesTheBudget) {
  auto spin = adaptive();
  spin.sleeping();
  spin.sleeping();
  ASSERT_EQ(spin.budget(), std::chrono::nanoseconds(27500));
  spin.slept_in_vain(microseconds(60));
  EXPECT_EQ(spin.budget(), microseconds(120)) << "twice the wait: the next spin catches it";
  spin.slept_in_vain(microseconds(10));
  EXPECT_EQ(spin.budget(), microseconds(200)) << "twice the budget, up to max_spin";
  spin.sleeping();
  spin.slept_in_vain(microseconds(200));
  EXPECT_EQ(spin.budget(), microseconds(100)) << "a wait of max_spin or more says: sleep";
  auto fixed = AdaptiveSpin(WaitStrategy::block, microseconds(20), microseconds(200));
  fixed.slept_in_vain(microseconds(1));
  EXPECT_EQ(fixed.budget(), microseconds(0));
}

TEST(AdaptiveSpinTest, SpinNeverSleepsAndBlockNeverSpins) {
  AdaptiveSpin spin(WaitStrategy::spin, microseconds(20), microseconds(200));
  AdaptiveSpin block(WaitStrategy::block, microseconds(20), microseconds(200));
  for (auto* s : {&spin, &block}) {
    s->woke(t0);
    s->found_work(t0 + microseconds(50));
    s->sleeping();
    EXPECT_EQ(s->budget(), microseconds(0)) << "only adaptive keeps a budget";
  }
  EXPECT_TRUE(spin.may_spin(t0 + std::chrono::hours(1)));
  EXPECT_FALSE(block.may_spin(t0 + microseconds(50)));
}

TEST(AdaptiveSpinTest, WaitStrategiesReadAndPrintByName) {
  for (auto w : {WaitStrategy::spin, WaitStrategy::adaptive, WaitStrategy::block}) {
    EXPECT_EQ(plexus::parse_wait_strategy(plexus::to_string(w)), w);
  }
  EXPECT_EQ(plexus::parse_wait_strategy("busy"), std::nullopt);
  EXPECT_EQ(plexus::parse_wait_strategy(""), std::nullopt);
}

}  // namespace
