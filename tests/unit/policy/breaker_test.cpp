// The circuit breaker alone, on a manual clock: seed 004's defaults, every transition.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy/breaker.hpp"

namespace plexus::policy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct BreakerFixture {
  ManualClock clock;
  PolicyCounters counters;
  CircuitBreaker breaker{"dep", BreakerOptions{}, {&clock, [](const Clock*) {}}, counters};
};

TEST(CircuitBreaker, DefaultsAreSeed004) {
  BreakerOptions o;
  EXPECT_EQ(o.failures_to_open, 5);
  EXPECT_EQ(o.successes_to_close, 2);
  EXPECT_EQ(o.open_for, seconds(60));
  EXPECT_EQ(o.half_open_max_calls, 3);
}

TEST(CircuitBreaker, OpensAfterFiveConsecutiveFailures) {
  BreakerFixture f;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(f.breaker.admit());
    f.breaker.record(false);
  }
  ASSERT_TRUE(f.breaker.admit());
  f.breaker.record(true);  // a success resets the count
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(f.breaker.admit());
    f.breaker.record(false);
  }
  EXPECT_EQ(f.breaker.state(), BreakerState::open);
  auto refused = f.breaker.admit();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::unavailable);
  const auto details = nlohmann::json::parse(refused.error().details);
  EXPECT_EQ(details["breaker"], "open");
  EXPECT_EQ(details["retry_after_ms"], 60001);
  EXPECT_EQ(f.counters.snapshot().breaker_opened, 1u);
  EXPECT_EQ(f.counters.snapshot().breaker_rejected, 1u);
}

TEST(CircuitBreaker, HalfOpenAfterOpenTimeLetsThreeTrialsThenClosesOnTwoSuccesses) {
  BreakerFixture f;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(f.breaker.admit());
    f.breaker.record(false);
  }
  f.clock.advance(seconds(60) - milliseconds(1));
  EXPECT_FALSE(f.breaker.admit());
  f.clock.advance(milliseconds(1));
  EXPECT_TRUE(f.breaker.admit());
  EXPECT_EQ(f.breaker.state(), BreakerState::half_open);
  EXPECT_TRUE(f.breaker.admit());
  EXPECT_TRUE(f.breaker.admit());
  auto fourth = f.breaker.admit();  // three trials in flight: the fourth fails fast
  ASSERT_FALSE(fourth);
  EXPECT_EQ(nlohmann::json::parse(fourth.error().details)["breaker"], "half_open");
  f.breaker.record(true);
  EXPECT_EQ(f.breaker.state(), BreakerState::half_open);
  f.breaker.record(true);
  EXPECT_EQ(f.breaker.state(), BreakerState::closed);
  const auto s = f.counters.snapshot();
  EXPECT_EQ(s.breaker_opened, 1u);
  EXPECT_EQ(s.breaker_half_opened, 1u);
  EXPECT_EQ(s.breaker_closed, 1u);
}

TEST(CircuitBreaker, FailureInHalfOpenOpensAgain) {
  BreakerFixture f;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(f.breaker.admit());
    f.breaker.record(false);
  }
  f.clock.advance(seconds(60));
  ASSERT_TRUE(f.breaker.admit());
  f.breaker.record(false);
  EXPECT_EQ(f.breaker.state(), BreakerState::open);
  EXPECT_FALSE(f.breaker.admit());
  EXPECT_EQ(f.counters.snapshot().breaker_opened, 2u);
}

TEST(CircuitBreaker, OnlyTheCalleesOwnTroubleCounts) {
  EXPECT_TRUE(counts_as_failure(StatusCode::internal));
  EXPECT_TRUE(counts_as_failure(StatusCode::unavailable));
  EXPECT_TRUE(counts_as_failure(StatusCode::deadline_exceeded));
  EXPECT_FALSE(counts_as_failure(StatusCode::invalid_argument));
  EXPECT_FALSE(counts_as_failure(StatusCode::not_found));
  EXPECT_FALSE(counts_as_failure(StatusCode::resource_exhausted));
}

}  // namespace
}  // namespace plexus::policy
