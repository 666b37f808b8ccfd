// Concurrency limit policy: at most max_in_flight calls of a handler run at once; up to
// max_queue more wait (FIFO) for a slot; past that a call is refused with resource_exhausted.
// Thread-safe (one mutex). Never runs the waiting work itself: release() hands it back so the
// caller can run it outside the lock, on the right executor.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "plexus/policy.hpp"
#include "policy/stats.hpp"

namespace plexus::policy {

class ConcurrencyLimiter {
 public:
  using Start = std::function<void()>;
  enum class Admission { run_now, queued };

  ConcurrencyLimiter(ConcurrencyOptions options, PolicyCounters& counters)
      : options_(options), counters_(counters) {}

  // Takes a slot if one is free (the cheap path: nothing is copied).
  bool try_acquire();
  // After try_acquire() failed. run_now: a slot freed meanwhile and is taken; run the call.
  // queued: `start` is kept and handed back by a later release(). resource_exhausted
  // (details {"max_in_flight":N,"max_queue":M}) when the queue is full too.
  Result<Admission> enqueue(Start start);
  // A call finished. The next waiting call, if any, inherits its slot: run it.
  std::optional<Start> release();
  std::size_t in_flight() const;
  std::size_t queued() const;

 private:
  ConcurrencyOptions options_;
  PolicyCounters& counters_;
  mutable std::mutex mu_;
  std::size_t in_flight_ = 0;  // guarded by mu_
  std::deque<Start> queue_;    // guarded by mu_
};

}  // namespace plexus::policy
