// Where a blocking call's thread waits for an answer that the session delivers (Session::
// call_here, when the caller could not read the answer itself): completed once, from the
// session's strand; the caller sleeps on a futex and is woken only if it sleeps.
// Threading: complete() on one thread, wait_until() and take() on the caller's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "platform/posix/futex.hpp"
#include "plexus/status.hpp"

namespace plexus::rpc {

class CallWaiter {
 public:
  using Clock = std::chrono::steady_clock;

  void complete(Result<std::string> result) {
    result_ = std::move(result);
    // The caller may return (and this object go) as soon as it sees kDone: the wake after the
    // exchange touches only the word's address, which futex tolerates.
    if (state_.exchange(kDone, std::memory_order_acq_rel) == kSleeping) {
      platform::futex_wake_all(&state_);
    }
  }

  // Sleeps until complete() ran or `deadline` passed; true when complete.
  bool wait_until(Clock::time_point deadline) {
    for (;;) {
      std::uint32_t state = state_.load(std::memory_order_acquire);
      if (state == kDone) return true;
      const auto now = Clock::now();
      if (now >= deadline) return false;
      if (state == kPending &&
          !state_.compare_exchange_strong(state, kSleeping, std::memory_order_acq_rel)) {
        continue;  // completed meanwhile
      }
      platform::futex_wait(&state_, kSleeping, deadline - now);
    }
  }

  // The result, once wait_until() returned true.
  Result<std::string> take() { return std::move(result_); }

 private:
  static constexpr std::uint32_t kPending = 0, kSleeping = 1, kDone = 2;
  std::atomic<std::uint32_t> state_{kPending};
  Result<std::string> result_;
};

}  // namespace plexus::rpc
