/// \file
/// Handler policies: one HandlerOptions per handler builds its chain (validation, rate limits,
/// response cache, timeout, circuit breaker, concurrency limit; order in docs/ARCHITECTURE.md
/// §Policies and src/policy/chain.cpp). A handler registered without options pays nothing.
/// Threading: options are copied at registration; counters are read from any thread.
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
#include "plexus/export.hpp"

namespace plexus {

/// Steady time for policies (token refill, cache TTL, breaker open time). Injected so tests are
/// exact; the default is std::chrono::steady_clock. Implementations must be thread-safe.
class PLEXUS_EXPORT Clock {
 public:
  /// A point in time (std::chrono::steady_clock's type).
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;  ///< an interface
  /// The current time.
  virtual time_point now() const = 0;
  /// The process-wide steady clock (shared, never null).
  static std::shared_ptr<const Clock> steady();
};

/// A clock that moves only when told to: for tests and for test servers. Thread-safe.
class PLEXUS_EXPORT ManualClock final : public Clock {
 public:
  /// The time the clock was advanced to (it starts at 1 s after the epoch).
  time_point now() const override {
    return time_point(std::chrono::nanoseconds(ns_.load(std::memory_order_acquire)));
  }
  /// Moves the clock forward by `d`.
  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> ns_{1'000'000'000};  // not zero: a zero time_point reads as "never"
};

/// A token bucket: `burst` tokens, refilled at `per_second`. A call takes one token.
/// A call that finds no token fails with resource_exhausted, details
/// {"limit":"handler","retry_after_ms":N} (or "client" for a per-client bucket).
struct PLEXUS_EXPORT RateLimit {
  double per_second = 100;  ///< tokens added per second (0: the bucket never refills)
  double burst = 100;       ///< the bucket's size: calls allowed at once after a quiet spell
};

/// Which part of the session identity (CallContext::peer_identity()) names a client for
/// per-client limits. The default, verified, is what this side checked itself: the user over
/// Unix sockets, the remote host over TCP (so every local TCP client shares one bucket). uid
/// and pid are the kernel's credentials (Unix sockets only; elsewhere one bucket). peer_name
/// is what the peer says in its HELLO: not verified, so a client escapes its limit by renaming
/// itself; only for peers that are trusted anyway.
enum class ClientKey {
  verified,  ///< PeerIdentity::verified_key(): "uid:N" or "host:IP"
  uid,       ///< PeerIdentity::uid, the kernel's (Unix sockets only)
  pid,       ///< PeerIdentity::pid, the kernel's (Unix sockets only)
  peer_name  ///< PeerIdentity::name, from the HELLO (not verified)
};

/// Rate limits of one handler: one bucket for all callers, one per client, or both.
struct PLEXUS_EXPORT RateLimitOptions {
  std::optional<RateLimit> per_handler;        ///< one bucket for all callers
  std::optional<RateLimit> per_client;         ///< one bucket per client identity
  ClientKey client_key = ClientKey::verified;  ///< what names a client for `per_client`
  /// Buckets kept per handler; past it, full (idle) buckets are dropped first, then any one.
  std::size_t max_clients = 10000;
};

/// Fills the cache at server start (CacheOptions::warm_up): put(request payload, response).
class PLEXUS_EXPORT CacheFill {
 public:
  virtual ~CacheFill() = default;  ///< an interface
  /// Stores `response` as the answer to `request_payload` (keyed as a call's payload would be).
  virtual void put(std::string_view request_payload, std::string response) = 0;
};

/// How a request becomes a cache key. canonical_json: method + the payload parsed and dumped
/// with sorted keys (so {"a":1,"b":2} and { "b":2, "a":1 } share an entry); a payload that is not
/// JSON falls back to its raw bytes. raw_bytes: method + the payload bytes (no parse).
enum class CacheKey {
  canonical_json,  ///< the payload parsed and dumped with sorted keys (raw bytes if not JSON)
  raw_bytes        ///< the payload bytes as they came
};

/// The response cache of one handler (opt-in: HandlerOptions::cache). Only successful answers
/// are stored; a hit answers without running the handler (ResponseInfo reports it).
struct PLEXUS_EXPORT CacheOptions {
  Millis ttl{60000};                        ///< how long an entry answers after it was stored
  std::size_t max_entries = 1024;           ///< least recently used entries go first past either
  std::size_t max_bytes = 16u << 20;        ///< sum of key and response sizes
  CacheKey key = CacheKey::canonical_json;  ///< how a request becomes a cache key
  std::function<void(CacheFill&)> warm_up;  ///< run by Server::start (HandlerRegistry::warm_up)
};

/// A circuit breaker (HandlerOptions::breaker, ClientOptions::breaker).
/// Defaults: 5 consecutive failures open it; after 60 s it is half-open and lets up to
/// 3 trial calls run at once; 2 successes close it, a failure opens it again. Failures are the
/// codes internal, unavailable, deadline_exceeded and unknown (a callee's own trouble); refusals
/// like invalid_argument do not count.
/// An open breaker fails calls at once with unavailable, details
/// {"breaker":"open","retry_after_ms":N}, without running (client side: sending) them.
struct PLEXUS_EXPORT BreakerOptions {
  int failures_to_open = 5;     ///< consecutive failures that open the breaker
  int successes_to_close = 2;   ///< successful trial calls that close it again
  Millis open_for{60000};       ///< how long it stays open before it turns half-open
  int half_open_max_calls = 3;  ///< trial calls let through at once while half-open
};

/// A limit on the calls one handler runs at once, with a bounded queue for the rest.
struct PLEXUS_EXPORT ConcurrencyOptions {
  std::size_t max_in_flight = 64;  ///< calls running at once
  std::size_t max_queue = 256;     ///< calls waiting for a slot; past it: resource_exhausted
};

/// The policies of one handler (HandlerRegistry::handle and its siblings with options). Every
/// policy is off unless set.
struct PLEXUS_EXPORT HandlerOptions {
  /// JSON Schema (draft 7 subset valijson knows); requests that do not match get
  /// invalid_argument with details {"errors":[{"path":"/a/0","rule":"…"}…]}.
  std::optional<nlohmann::json> schema;
  std::optional<RateLimitOptions> rate_limit;  ///< token buckets; refusals: resource_exhausted
  std::optional<CacheOptions> cache;           ///< opt-in
  /// The handler's own limit; the call's deadline is the shorter of this and the caller's.
  std::optional<Millis> timeout;
  std::optional<BreakerOptions> breaker;          ///< a circuit breaker around the handler
  std::optional<ConcurrencyOptions> concurrency;  ///< a limit on calls running at once
  std::shared_ptr<const Clock> clock;             ///< null: Clock::steady()
  /// Run the handler on the runtime's worker pool (RuntimeOptions::worker_threads), not on the
  /// I/O thread: for handlers that block (disk, database, locks, blocking calls of their own).
  /// The policies above still run first, on the I/O thread; the answer goes back through the
  /// call's session; CallContext::cancelled() and on_cancel() tell it of cancels and deadlines.
  /// Calls run at once on any worker; one peer's notifications and lane messages run one at a
  /// time, in order. A call cancelled before a worker takes it up is answered `cancelled`.
  bool offload = false;
};

/// A snapshot of the decisions one handler's policies made (counts since registration).
struct PLEXUS_EXPORT PolicyStats {
  /// \name Validation
  /// @{

  /// \var validation_passed
  /// Requests that matched the schema.
  /// \var validation_failed
  /// Requests that did not (answered invalid_argument).
  std::uint64_t validation_passed = 0, validation_failed = 0;
  /// @}

  /// \name Rate limits
  /// @{

  /// \var rate_allowed
  /// Calls the rate limits let through.
  /// \var rate_limited_handler
  /// Calls refused by the per-handler bucket.
  /// \var rate_limited_client
  /// Calls refused by a per-client bucket.
  std::uint64_t rate_allowed = 0, rate_limited_handler = 0, rate_limited_client = 0;
  /// @}

  /// \name Response cache
  /// @{

  /// \var cache_hits
  /// Calls answered from the cache.
  /// \var cache_misses
  /// Lookups that found no fresh entry.
  /// \var cache_stores
  /// Answers stored.
  /// \var cache_evictions
  /// Entries dropped to stay within max_entries and max_bytes (least recently used first).
  /// \var cache_expired
  /// Entries found past their ttl (and dropped).
  /// \var cache_invalidated
  /// Entries dropped by invalidation (HandlerRegistry::invalidate_cache, fire).
  std::uint64_t cache_hits = 0, cache_misses = 0, cache_stores = 0, cache_evictions = 0,
                cache_expired = 0, cache_invalidated = 0;
  /// @}

  std::uint64_t timeouts = 0;  ///< answered deadline_exceeded because the handler's limit won

  /// \name Circuit breaker
  /// @{

  /// \var breaker_rejected
  /// Calls refused: the breaker was open, or half-open with every trial call in flight.
  /// \var breaker_opened
  /// Times the breaker opened.
  /// \var breaker_half_opened
  /// Times it turned half-open.
  /// \var breaker_closed
  /// Times it closed again.
  /// \var breaker_successes
  /// Outcomes it recorded as successes.
  /// \var breaker_failures
  /// Outcomes it recorded as failures (internal, unavailable, deadline_exceeded, unknown).
  std::uint64_t breaker_rejected = 0, breaker_opened = 0, breaker_half_opened = 0,
                breaker_closed = 0, breaker_successes = 0, breaker_failures = 0;
  /// @}

  /// \name Concurrency limit
  /// @{

  /// \var concurrency_admitted
  /// Calls given a slot, at once or after waiting.
  /// \var concurrency_queued
  /// Calls that waited in the queue for a slot.
  /// \var concurrency_rejected
  /// Calls refused because the queue was full (resource_exhausted).
  std::uint64_t concurrency_admitted = 0, concurrency_queued = 0, concurrency_rejected = 0;
  /// @}
};

}  // namespace plexus
