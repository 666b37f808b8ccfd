// The concurrency limit alone: slots, a bounded FIFO queue, refusal past it.
#include <gtest/gtest.h>

#include "policy/concurrency.hpp"

namespace plexus::policy {
namespace {

TEST(ConcurrencyLimiter, QueuesThenRefusesAndHandsSlotsOnInOrder) {
  PolicyCounters counters;
  ConcurrencyLimiter limiter(ConcurrencyOptions{2, 2}, counters);
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  std::vector<int> ran;
  EXPECT_EQ(*limiter.enqueue([&] { ran.push_back(1); }), ConcurrencyLimiter::Admission::queued);
  EXPECT_EQ(*limiter.enqueue([&] { ran.push_back(2); }), ConcurrencyLimiter::Admission::queued);
  auto full = limiter.enqueue([&] { ran.push_back(3); });
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, StatusCode::resource_exhausted);
  EXPECT_EQ(full.error().details, "{\"max_in_flight\":2,\"max_queue\":2}");

  auto next = limiter.release();
  ASSERT_TRUE(next);
  (*next)();
  EXPECT_EQ(limiter.in_flight(), 2u);  // the slot passed to the waiting call
  (*limiter.release())();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_FALSE(limiter.release());
  EXPECT_FALSE(limiter.release());
  EXPECT_EQ(limiter.in_flight(), 0u);
  const auto s = counters.snapshot();
  EXPECT_EQ(s.concurrency_admitted, 4u);
  EXPECT_EQ(s.concurrency_queued, 2u);
  EXPECT_EQ(s.concurrency_rejected, 1u);
}

TEST(ConcurrencyLimiter, EnqueueTakesASlotThatFreedMeanwhile) {
  PolicyCounters counters;
  ConcurrencyLimiter limiter(ConcurrencyOptions{1, 0}, counters);
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.release());
  EXPECT_EQ(*limiter.enqueue([] {}), ConcurrencyLimiter::Admission::run_now);
}

}  // namespace
}  // namespace plexus::policy
