// The response cache alone: TTL on a manual clock, LRU by entries and by bytes, invalidation.
#include <gtest/gtest.h>

#include "policy/cache.hpp"

namespace plexus::policy {
namespace {

using std::chrono::milliseconds;

struct CacheFixture {
  ManualClock clock;
  PolicyCounters counters;
  std::shared_ptr<const Clock> clock_ref{&clock, [](const Clock*) {}};
  ResponseCache make(CacheOptions o) { return ResponseCache(o, clock_ref, counters); }
};

TEST(ResponseCache, HitThenExpiresAfterTtl) {
  CacheFixture f;
  CacheOptions o;
  o.ttl = milliseconds(1000);
  auto cache = f.make(o);
  EXPECT_FALSE(cache.get("k"));
  cache.put("k", "answer", milliseconds(7));
  f.clock.advance(milliseconds(999));
  auto hit = cache.get("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit->response, "answer");
  EXPECT_EQ(hit->age, milliseconds(999));
  EXPECT_EQ(hit->handler_time, milliseconds(7));
  f.clock.advance(milliseconds(1));
  EXPECT_FALSE(cache.get("k"));
  EXPECT_EQ(cache.size(), 0u);
  const auto s = f.counters.snapshot();
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.cache_misses, 2u);
  EXPECT_EQ(s.cache_expired, 1u);
  EXPECT_EQ(s.cache_stores, 1u);
}

TEST(ResponseCache, EvictsLeastRecentlyUsedPastMaxEntries) {
  CacheFixture f;
  CacheOptions o;
  o.max_entries = 2;
  auto cache = f.make(o);
  cache.put("a", "1", {});
  cache.put("b", "2", {});
  EXPECT_TRUE(cache.get("a"));  // b is now the least recently used
  cache.put("c", "3", {});
  EXPECT_TRUE(cache.get("a"));
  EXPECT_FALSE(cache.get("b"));
  EXPECT_TRUE(cache.get("c"));
  EXPECT_EQ(f.counters.snapshot().cache_evictions, 1u);
}

TEST(ResponseCache, BoundedByBytes) {
  CacheFixture f;
  CacheOptions o;
  o.max_bytes = 10;  // key + response sizes
  auto cache = f.make(o);
  cache.put("a", "1234", {});  // 5 bytes
  cache.put("b", "1234", {});  // 10 bytes in all
  EXPECT_EQ(cache.bytes(), 10u);
  cache.put("c", "12", {});  // needs 3: a goes
  EXPECT_FALSE(cache.get("a"));
  EXPECT_TRUE(cache.get("b"));
  EXPECT_EQ(cache.bytes(), 8u);
  cache.put("big", "12345678901", {});  // larger than the whole cache: not kept
  EXPECT_FALSE(cache.get("big"));
  EXPECT_TRUE(cache.get("b"));
}

TEST(ResponseCache, InvalidatesAllOrByPrefix) {
  CacheFixture f;
  auto cache = f.make({});
  cache.put("{\"q\":\"ab\"}", "1", {});
  cache.put("{\"q\":\"ac\"}", "2", {});
  cache.put("{\"z\":1}", "3", {});
  EXPECT_EQ(cache.invalidate("{\"q\":"), 2u);
  EXPECT_TRUE(cache.get("{\"z\":1}"));
  EXPECT_EQ(cache.invalidate(), 1u);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(f.counters.snapshot().cache_invalidated, 3u);
}

TEST(ResponseCache, AliasFindsTheEntryAndGoesWithIt) {
  CacheFixture f;
  CacheOptions o;
  o.max_bytes = 100;
  auto cache = f.make(o);
  const std::string key = R"({"a":1,"b":2})";
  const std::string raw = R"({ "b": 2, "a": 1 })";
  cache.put(key, "answer", {}, raw);
  EXPECT_EQ(cache.bytes(), key.size() + raw.size() + 6);
  auto hit = cache.get(raw);
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit->response, "answer");
  // A second spelling replaces the first alias; the key itself still finds the entry.
  const std::string raw2 = R"({"b":2,"a":1})";
  cache.add_alias(key, raw2);
  EXPECT_TRUE(cache.get(raw2));
  EXPECT_FALSE(cache.get(raw, /*count_miss=*/false));
  EXPECT_TRUE(cache.get(key));
  EXPECT_EQ(cache.bytes(), key.size() + raw2.size() + 6);
  // Invalidation by key prefix removes the alias with its entry.
  EXPECT_EQ(cache.invalidate(R"({"a")"), 1u);
  EXPECT_FALSE(cache.get(raw2));
  EXPECT_EQ(cache.bytes(), 0u);
  const auto s = f.counters.snapshot();
  EXPECT_EQ(s.cache_hits, 3u);
  EXPECT_EQ(s.cache_misses, 1u) << "the uncounted probe is not a miss";
}

TEST(ResponseCache, AliasNeverEvicts) {
  CacheFixture f;
  CacheOptions o;
  o.max_bytes = 10;
  auto cache = f.make(o);
  cache.put("k", "12345678", {}, "too long an alias");  // 9 bytes; the alias would not fit
  EXPECT_TRUE(cache.get("k"));
  EXPECT_FALSE(cache.get("too long an alias"));
  EXPECT_EQ(cache.bytes(), 9u);
}

}  // namespace
}  // namespace plexus::policy
