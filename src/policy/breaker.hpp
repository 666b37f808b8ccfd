// Circuit breaker policy: closed -> open after N consecutive failures; open fails fast for
// `open_for`; then half-open lets a few trial calls through at once; M successes close it, a
// failure opens it again. Used server side per handler and client side per method.
// Thread-safe (one mutex); time from the Clock; transitions are counted and logged (spdlog).
#pragma once

#include <mutex>
#include <string>

#include "plexus/policy.hpp"
#include "policy/stats.hpp"

namespace plexus::policy {

enum class BreakerState { closed, open, half_open };
std::string_view to_string(BreakerState state);

// Which answers count against the callee (see BreakerOptions).
bool counts_as_failure(StatusCode code);

class CircuitBreaker {
 public:
  CircuitBreaker(std::string name, BreakerOptions options, std::shared_ptr<const Clock> clock,
                 PolicyCounters& counters)
      : name_(std::move(name)), options_(options), clock_(std::move(clock)), counters_(counters) {}

  // ok: the call may run and its outcome must be reported with record(). Otherwise
  // unavailable, details {"breaker":"open"|"half_open","retry_after_ms":N}.
  Result<void> admit();
  void record(bool success);
  BreakerState state() const;

 private:
  void transition(BreakerState to);  // under mu_

  std::string name_;
  BreakerOptions options_;
  std::shared_ptr<const Clock> clock_;
  PolicyCounters& counters_;
  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::closed;  // guarded by mu_
  int failures_ = 0;                           // consecutive, while closed; guarded by mu_
  int successes_ = 0;                          // while half-open; guarded by mu_
  int trials_in_flight_ = 0;                   // while half-open; guarded by mu_
  Clock::time_point opened_at_{};              // guarded by mu_
};

}  // namespace plexus::policy
