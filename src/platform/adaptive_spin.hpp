// The bookkeeping of a WaitStrategy: whether a thread that found nothing to do should look again
// (spin) or sleep. Shared by the runtime's I/O threads and the shared-memory reader. Pure: the
// caller passes the time, so tests drive it with any clock. Not thread-safe (one per waiter).
#pragma once

#include <algorithm>
#include <chrono>

#include "plexus/wait_strategy.hpp"

namespace plexus::platform {

class AdaptiveSpin {
 public:
  using Clock = std::chrono::steady_clock;
  using Duration = std::chrono::nanoseconds;
  // Work found less than this after the previous work came from one busy stretch, not from a
  // look that waited for it: it says nothing about whether spinning pays.
  static constexpr Duration kBusyGap = std::chrono::microseconds{1};

  // adaptive starts half way between the bounds; spin and block ignore them.
  AdaptiveSpin(WaitStrategy strategy, Duration min, Duration max)
      : strategy_(strategy),
        min_(min),
        max_(std::max(min, max)),
        budget_(strategy == WaitStrategy::adaptive ? (min_ + max_) / 2 : Duration{0}) {}

  WaitStrategy strategy() const { return strategy_; }
  Duration budget() const { return budget_; }

  // Whether a waiter with nothing to do at `now` should look again rather than sleep.
  bool may_spin(Clock::time_point now) const {
    return strategy_ == WaitStrategy::spin ||
           (strategy_ == WaitStrategy::adaptive && now - last_work_ < budget_);
  }

  // Work found at `now` by a waiter that has not slept since its last work: if it had to look
  // for it, spinning paid off and the next spin may last longer.
  void found_work(Clock::time_point now) {
    if (strategy_ == WaitStrategy::adaptive && now - last_work_ > kBusyGap) {
      budget_ = std::min(budget_ * 2, max_);
    }
    last_work_ = now;
  }

  // Work found right after a sleep (or at the start): the spin window starts again from `now`.
  void woke(Clock::time_point now) { last_work_ = now; }

  // The spin ran out and the waiter goes to sleep: the next spin is shorter.
  void sleeping() {
    if (strategy_ == WaitStrategy::adaptive) budget_ = std::max(budget_ / 2, min_);
  }

  // The waiter slept, but the work came within `waited` of the start of its wait: when a spin
  // of at most the upper bound would have caught it, the next spin lasts twice that wait (or
  // twice the budget, if longer), within the bounds. Without this, a budget that fell under
  // the usual wait would stay there: each wait would run it out, halve it, and sleep.
  void slept_in_vain(Duration waited) {
    if (strategy_ == WaitStrategy::adaptive && waited < max_) {
      budget_ = std::min(std::max(budget_, waited) * 2, max_);
    }
  }

 private:
  WaitStrategy strategy_;
  Duration min_;
  Duration max_;
  Duration budget_;
  Clock::time_point last_work_{};
};

}  // namespace plexus::platform
