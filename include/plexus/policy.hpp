// Handler policies: one HandlerOptions per handler builds its chain (validation, rate limits,
// response cache, timeout, circuit breaker, concurrency limit; order in docs/ARCHITECTURE.md
// §Policies and src/policy/chain.cpp). A handler registered without options pays nothing.
// Threading: options are copied at registration; counters are read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "plexus/call.hpp"

namespace plexus {

// Steady time for policies (token refill, cache TTL, breaker open time). Injected so tests are
// exact; the default is std::chrono::steady_clock. Implementations must be thread-safe.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // The process-wide steady clock (shared, never null).
  static std::shared_ptr<const Clock> steady();
};

// A clock that moves only when told to: for tests and for test servers. Thread-safe.
class ManualClock final : public Clock {
 public:
  time_point now() const override {
    return time_point(std::chrono::nanoseconds(ns_.load(std::memory_order_acquire)));
  }
  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> ns_{1'000'000'000};  // not zero: a zero time_point reads as "never"
};

// A token bucket: `burst` tokens, refilled at `per_second`. A call takes one token.
struct RateLimit {
  double per_second = 100;
  double burst = 100;
};

// Which part of the session identity (CallContext::peer_identity()) names a client for
// per-client limits. peer_name is what the peer says in its HELLO (not verified); uid and pid
// are kernel credentials (Unix sockets only; over TCP every peer shares one bucket).
enum class ClientKey { peer_name, uid, pid };

struct RateLimitOptions {
  std::optional<RateLimit> per_handler;  // one bucket for all callers
  std::optional<RateLimit> per_client;   // one bucket per client identity
  ClientKey client_key = ClientKey::peer_name;
  // Buckets kept per handler; past it, full (idle) buckets are dropped first, then the oldest.
  std::size_t max_clients = 10000;
};

// Fills the cache at server start (CacheOptions::warm_up): put(request payload, response).
class CacheFill {
 public:
  virtual ~CacheFill() = default;
  virtual void put(std::string_view request_payload, std::string response) = 0;
};

// How a request becomes a cache key. canonical_json: method + the payload parsed and dumped
// with sorted keys (so {"a":1,"b":2} and { "b":2, "a":1 } share an entry); a payload that is not
// JSON falls back to its raw bytes. raw_bytes: method + the payload bytes (no parse).
enum class CacheKey { canonical_json, raw_bytes };

struct CacheOptions {
  Millis ttl{60000};
  std::size_t max_entries = 1024;     // least recently used entries go first past either
  std::size_t max_bytes = 16u << 20;  // sum of key and response sizes
  CacheKey key = CacheKey::canonical_json;
  std::function<void(CacheFill&)> warm_up;  // run by Server::start (HandlerRegistry::warm_up)
};

// Defaults: 5 consecutive failures open it; after 60 s it is half-open and lets up to
// 3 trial calls run at once; 2 successes close it, a failure opens it again. Failures are the
// codes internal, unavailable, deadline_exceeded and unknown (a callee's own trouble); refusals
// like invalid_argument do not count.
struct BreakerOptions {
  int failures_to_open = 5;
  int successes_to_close = 2;
  Millis open_for{60000};
  int half_open_max_calls = 3;
};

struct ConcurrencyOptions {
  std::size_t max_in_flight = 64;
  std::size_t max_queue = 256;  // calls waiting for a slot; past it: resource_exhausted
};

struct HandlerOptions {
  // JSON Schema (draft 7 subset valijson knows); requests that do not match get
  // invalid_argument with details {"errors":[{"path":"/a/0","rule":"…"}…]}.
  std::optional<nlohmann::json> schema;
  std::optional<RateLimitOptions> rate_limit;
  std::optional<CacheOptions> cache;  // opt-in
  // The handler's own limit; the call's deadline is the shorter of this and the caller's.
  std::optional<Millis> timeout;
  std::optional<BreakerOptions> breaker;
  std::optional<ConcurrencyOptions> concurrency;
  std::shared_ptr<const Clock> clock;  // null: Clock::steady()
};

// A snapshot of the decisions one handler's policies made (counts since registration).
struct PolicyStats {
  std::uint64_t validation_passed = 0, validation_failed = 0;
  std::uint64_t rate_allowed = 0, rate_limited_handler = 0, rate_limited_client = 0;
  std::uint64_t cache_hits = 0, cache_misses = 0, cache_stores = 0, cache_evictions = 0,
                cache_expired = 0, cache_invalidated = 0;
  std::uint64_t timeouts = 0;  // answered deadline_exceeded because the handler's limit won
  std::uint64_t breaker_rejected = 0, breaker_opened = 0, breaker_half_opened = 0,
                breaker_closed = 0, breaker_successes = 0, breaker_failures = 0;
  std::uint64_t concurrency_admitted = 0, concurrency_queued = 0, concurrency_rejected = 0;
};

}  // namespace plexus
