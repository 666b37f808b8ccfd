// Token buckets per handler and per client, on a manual clock: exact refill, retry-after.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy/rate_limit.hpp"

namespace plexus::policy {
namespace {

using std::chrono::milliseconds;

// A peer on its own host (a verified identity of its own) that calls itself `name`.
PeerIdentity peer(std::string name) {
  PeerIdentity p;
  p.host = "host-" + name;
  p.name = std::move(name);
  return p;
}

// A local peer of user `uid` that calls itself `name`.
PeerIdentity local_peer(std::uint32_t uid, std::string name) {
  PeerIdentity p;
  p.uid = uid;
  p.pid = static_cast<std::int32_t>(uid) + 1000;
  p.name = std::move(name);
  return p;
}

TEST(TokenBucket, AllowsBurstThenRefillsAtRate) {
  ManualClock clock;
  TokenBucket bucket(RateLimit{10, 3}, clock.now());
  EXPECT_FALSE(bucket.take(clock.now()));
  EXPECT_FALSE(bucket.take(clock.now()));
  EXPECT_FALSE(bucket.take(clock.now()));
  auto wait = bucket.take(clock.now());
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, milliseconds(100));  // 10 per second: one token every 100 ms
  clock.advance(milliseconds(99));
  EXPECT_TRUE(bucket.take(clock.now()));
  clock.advance(milliseconds(1));
  EXPECT_FALSE(bucket.take(clock.now()));
}

TEST(RateLimiter, PerClientBucketsAreIndependent) {
  ManualClock clock;
  PolicyCounters counters;
  RateLimitOptions o;
  o.per_client = RateLimit{1, 2};
  RateLimiter limiter(o, std::shared_ptr<const Clock>(&clock, [](const Clock*) {}), counters);
  EXPECT_TRUE(limiter.admit(peer("a")));
  EXPECT_TRUE(limiter.admit(peer("a")));
  auto refused = limiter.admit(peer("a"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::resource_exhausted);
  const auto details = nlohmann::json::parse(refused.error().details);
  EXPECT_EQ(details["limit"], "client");
  EXPECT_EQ(details["retry_after_ms"], 1000);
  EXPECT_TRUE(limiter.admit(peer("b")));  // another client is served
  clock.advance(milliseconds(1000));
  EXPECT_TRUE(limiter.admit(peer("a")));
  const auto s = counters.snapshot();
  EXPECT_EQ(s.rate_allowed, 4u);
  EXPECT_EQ(s.rate_limited_client, 1u);
}

// The default key is the verified identity: a new name is the same client; the claimed name
// is a key only when asked for.
TEST(RateLimiter, PerClientBucketsKeyOnTheVerifiedIdentityUnlessTold) {
  ManualClock clock;
  PolicyCounters counters;
  RateLimitOptions o;
  o.per_client = RateLimit{0, 1};
  const auto no_delete = [](const Clock*) {};
  RateLimiter verified(o, std::shared_ptr<const Clock>(&clock, no_delete), counters);
  EXPECT_TRUE(verified.admit(local_peer(1000, "a")));
  EXPECT_FALSE(verified.admit(local_peer(1000, "b"))) << "renamed, same user";
  EXPECT_TRUE(verified.admit(local_peer(1001, "a"))) << "another user, same name";
  o.client_key = ClientKey::peer_name;
  RateLimiter named(o, std::shared_ptr<const Clock>(&clock, no_delete), counters);
  EXPECT_TRUE(named.admit(local_peer(1000, "a")));
  EXPECT_TRUE(named.admit(local_peer(1000, "b")));
  EXPECT_FALSE(named.admit(local_peer(1001, "a")));
}

TEST(RateLimiter, PerHandlerBucketLimitsEveryone) {
  ManualClock clock;
  PolicyCounters counters;
  RateLimitOptions o;
  o.per_handler = RateLimit{2, 2};
  RateLimiter limiter(o, std::shared_ptr<const Clock>(&clock, [](const Clock*) {}), counters);
  EXPECT_TRUE(limiter.admit(peer("a")));
  EXPECT_TRUE(limiter.admit(peer("b")));
  auto refused = limiter.admit(peer("c"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(nlohmann::json::parse(refused.error().details)["retry_after_ms"], 500);
  EXPECT_EQ(counters.snapshot().rate_limited_handler, 1u);
}

TEST(RateLimiter, KeepsAtMostMaxClientsBuckets) {
  ManualClock clock;
  PolicyCounters counters;
  RateLimitOptions o;
  o.per_client = RateLimit{1, 1};
  o.max_clients = 2;
  RateLimiter limiter(o, std::shared_ptr<const Clock>(&clock, [](const Clock*) {}), counters);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.admit(peer("c" + std::to_string(i))));
  // An evicted client starts over with a full bucket; that is the documented price of the bound.
  EXPECT_EQ(counters.snapshot().rate_allowed, 100u);
}

}  // namespace
}  // namespace plexus::policy
