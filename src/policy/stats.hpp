// The decision counters one handler's policies keep: plain atomics, bumped on the hot path
// with relaxed ordering, read as a PolicyStats snapshot from any thread (for the metrics
// registry to export).
#pragma once

#include <atomic>
#include <cstdint>

#include "plexus/policy.hpp"

namespace plexus::policy {

using Counter = std::atomic<std::uint64_t>;

inline void bump(Counter& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}

struct PolicyCounters {
  Counter validation_passed{0}, validation_failed{0};
  Counter rate_allowed{0}, rate_limited_handler{0}, rate_limited_client{0};
  Counter cache_hits{0}, cache_misses{0}, cache_stores{0}, cache_evictions{0}, cache_expired{0},
      cache_invalidated{0};
  Counter timeouts{0};
  Counter breaker_rejected{0}, breaker_opened{0}, breaker_half_opened{0}, breaker_closed{0},
      breaker_successes{0}, breaker_failures{0};
  Counter concurrency_admitted{0}, concurrency_queued{0}, concurrency_rejected{0};

  PolicyStats snapshot() const {
    auto r = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
    PolicyStats s;
    s.validation_passed = r(validation_passed);
    s.validation_failed = r(validation_failed);
    s.rate_allowed = r(rate_allowed);
    s.rate_limited_handler = r(rate_limited_handler);
    s.rate_limited_client = r(rate_limited_client);
    s.cache_hits = r(cache_hits);
    s.cache_misses = r(cache_misses);
    s.cache_stores = r(cache_stores);
    s.cache_evictions = r(cache_evictions);
    s.cache_expired = r(cache_expired);
    s.cache_invalidated = r(cache_invalidated);
    s.timeouts = r(timeouts);
    s.breaker_rejected = r(breaker_rejected);
    s.breaker_opened = r(breaker_opened);
    s.breaker_half_opened = r(breaker_half_opened);
    s.breaker_closed = r(breaker_closed);
    s.breaker_successes = r(breaker_successes);
    s.breaker_failures = r(breaker_failures);
    s.concurrency_admitted = r(concurrency_admitted);
    s.concurrency_queued = r(concurrency_queued);
    s.concurrency_rejected = r(concurrency_rejected);
    return s;
  }
};

}  // namespace plexus::policy
