// src/rpc/backoff.hpp: exact reconnect delays (growth, cap, jitter bounds).
#include "rpc/backoff.hpp"

#include <chrono>
#include <climits>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace {

using plexus::rpc::backoff_delay;
using plexus::rpc::BackoffPolicy;
using std::chrono::milliseconds;

// The largest double below 1: what a [0, 1) generator can return at most.
const double kAlmostOne = std::nextafter(1.0, 0.0);

TEST(Backoff, DefaultPolicy) {
  const BackoffPolicy p;
  EXPECT_EQ(p.initial, milliseconds(100));
  EXPECT_EQ(p.max, milliseconds(5000));
  EXPECT_DOUBLE_EQ(p.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(p.jitter, 0.2);
}

TEST(Backoff, GrowsExponentiallyUpToTheCapWithoutJitter) {
  const BackoffPolicy p;
  const long expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
  for (int attempt = 0; attempt < static_cast<int>(std::size(expected)); ++attempt) {
    EXPECT_EQ(backoff_delay(p, attempt, 0.0), milliseconds(expected[attempt])) << attempt;
  }
}

TEST(Backoff, HugeAttemptNumbersStayAtTheCap) {
  const BackoffPolicy p;
  for (const int attempt : {30, 64, 1000, 1 << 20, INT_MAX}) {
    EXPECT_EQ(backoff_delay(p, attempt, 0.0), milliseconds(5000)) << attempt;
    EXPECT_EQ(backoff_delay(p, attempt, kAlmostOne), milliseconds(4000)) << attempt;
  }
}

TEST(Backoff, NegativeAttemptIsTheFirstAttempt) {
  const BackoffPolicy p;
  EXPECT_EQ(backoff_delay(p, -1, 0.0), milliseconds(100));
  EXPECT_EQ(backoff_delay(p, INT_MIN, 0.0), milliseconds(100));
}

TEST(Backoff, JitterTakesOffUpToItsShare) {
  const BackoffPolicy p;
  // unit_random 0: the full delay; ~1: the delay less 20 %.
  EXPECT_EQ(backoff_delay(p, 0, 0.0), milliseconds(100));
  EXPECT_EQ(backoff_delay(p, 0, kAlmostOne), milliseconds(80));
  EXPECT_EQ(backoff_delay(p, 0, 0.5), milliseconds(90));
  EXPECT_EQ(backoff_delay(p, 3, kAlmostOne), milliseconds(640));
  EXPECT_EQ(backoff_delay(p, 6, kAlmostOne), milliseconds(4000));  // jitter applies after the cap
  EXPECT_EQ(backoff_delay(p, 6, 0.5), milliseconds(4500));
}

TEST(Backoff, OutOfRangeInputsAreClamped) {
  BackoffPolicy p;
  EXPECT_EQ(backoff_delay(p, 0, -3.0), milliseconds(100));  // random < 0 -> 0
  EXPECT_EQ(backoff_delay(p, 0, 7.0), milliseconds(80));    // random > 1 -> 1
  p.jitter = 1.5;                                           // -> 1: may go to zero
  EXPECT_EQ(backoff_delay(p, 0, 1.0), milliseconds(0));
  EXPECT_EQ(backoff_delay(p, 0, 0.25), milliseconds(75));
  p.jitter = -0.5;  // -> 0: no jitter at all
  EXPECT_EQ(backoff_delay(p, 0, kAlmostOne), milliseconds(100));
}

TEST(Backoff, RoundsToTheNearestMillisecond) {
  BackoffPolicy p;
  p.initial = milliseconds(150);
  p.multiplier = 1.5;
  p.max = milliseconds(100000);
  p.jitter = 0;
  EXPECT_EQ(backoff_delay(p, 0, 0.0), milliseconds(150));
  EXPECT_EQ(backoff_delay(p, 1, 0.0), milliseconds(225));
  EXPECT_EQ(backoff_delay(p, 2, 0.0), milliseconds(338));  // 337.5 rounds half away from zero
  EXPECT_EQ(backoff_delay(p, 3, 0.0), milliseconds(506));  // 506.25
  EXPECT_EQ(backoff_delay(p, 4, 0.0), milliseconds(759));  // 759.375
}

TEST(Backoff, ConstantWithMultiplierOneAndCapBelowInitial) {
  BackoffPolicy p;
  p.multiplier = 1.0;
  for (int attempt = 0; attempt < 10; ++attempt) {
    EXPECT_EQ(backoff_delay(p, attempt, 0.0), milliseconds(100));
  }
  p.multiplier = 2.0;
  p.initial = milliseconds(1000);
  p.max = milliseconds(300);
  EXPECT_EQ(backoff_delay(p, 0, 0.0), milliseconds(300));
  p.initial = milliseconds(0);
  EXPECT_EQ(backoff_delay(p, 10, 0.0), milliseconds(0));
}

TEST(Backoff, EveryDelayLiesWithinItsJitterBounds) {
  const BackoffPolicy p;
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int attempt = 0; attempt < 12; ++attempt) {
    const double full = std::min(100.0 * std::pow(2.0, attempt), 5000.0);
    const auto hi = milliseconds(std::llround(full));
    const auto lo = milliseconds(std::llround(full * 0.8));
    milliseconds prev_hi = backoff_delay(p, std::max(0, attempt - 1), 0.0);
    for (int i = 0; i < 200; ++i) {
      const auto d = backoff_delay(p, attempt, unit(rng));
      EXPECT_LE(d, hi) << attempt;
      EXPECT_GE(d, lo) << attempt;
    }
    EXPECT_GE(backoff_delay(p, attempt, 0.0), prev_hi);  // never shrinks without jitter
  }
}

}  // namespace
