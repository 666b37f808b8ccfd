// Rate limiting policy: token buckets per handler and per client identity.
// Thread-safe (one mutex per limiter; a call takes it once). Time comes from the Clock passed in.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "plexus/call.hpp"
#include "plexus/policy.hpp"
#include "policy/stats.hpp"

namespace plexus::policy {

// One bucket. Pure: the caller passes the time and holds any lock.
class TokenBucket {
 public:
  TokenBucket(RateLimit limit, Clock::time_point now)
      : limit_(limit), tokens_(limit.burst), last_(now) {}
  // Takes a token; when none is left, how long until one is (and takes nothing).
  std::optional<std::chrono::nanoseconds> take(Clock::time_point now);
  bool full(Clock::time_point now);

 private:
  void refill(Clock::time_point now);
  RateLimit limit_;
  double tokens_;
  Clock::time_point last_;
};

class RateLimiter {
 public:
  RateLimiter(RateLimitOptions options, std::shared_ptr<const Clock> clock,
              PolicyCounters& counters)
      : options_(std::move(options)), clock_(std::move(clock)), counters_(counters) {}

  // ok, or resource_exhausted with details {"limit":"handler"|"client","retry_after_ms":N}.
  Result<void> admit(const PeerIdentity& peer);

 private:
  // The identity's key; `owned` holds it when it is not a view of the peer's name.
  std::string_view client_key(const PeerIdentity& peer, std::string& owned) const;
  void make_room(Clock::time_point now);

  RateLimitOptions options_;
  std::shared_ptr<const Clock> clock_;
  PolicyCounters& counters_;
  std::mutex mu_;
  std::optional<TokenBucket> handler_bucket_;  // guarded by mu_
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Looked up by view: a call from a known client allocates nothing.
  std::unordered_map<std::string, TokenBucket, Hash, std::equal_to<>> clients_;  // guarded by mu_
};

}  // namespace plexus::policy
