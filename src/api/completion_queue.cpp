#include "plexus/completion_queue.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "platform/posix/futex.hpp"
#include "transport/idle_hint.hpp"

namespace plexus {

// Shared with every callback deliver() made, so that a completion after the queue went finds
// something to queue into (and nobody to run it).
struct CompletionQueue::State {
  using Entry = std::pair<CallCallback, Result<std::string>>;
  static constexpr std::uint32_t kAwake = 0, kSleeping = 1;

  std::mutex mu;
  std::vector<Entry> queued;                  // mu
  std::atomic<std::uint32_t> waiter{kAwake};  // kSleeping: run_for() sleeps (or is about to)
  std::atomic<std::size_t> outstanding{0};

  void complete(CallCallback&& done, Result<std::string>&& result) {
    {
      std::lock_guard lock(mu);
      queued.emplace_back(std::move(done), std::move(result));
    }
    // Only the first completion after the waiter announced its sleep pays the system call;
    // the rest of the batch finds it awake.
    if (waiter.load(std::memory_order_seq_cst) == kSleeping &&
        waiter.exchange(kAwake, std::memory_order_seq_cst) == kSleeping) {
      platform::futex_wake_all(&waiter);
      transport::IdleHint::sleep_here_when_idle();  // the woken thread may need this core
    }
  }
};

CompletionQueue::CompletionQueue() : state_(std::make_shared<State>()) {}

CompletionQueue::~CompletionQueue() = default;

CallCallback CompletionQueue::deliver(CallCallback done) {
  state_->outstanding.fetch_add(1, std::memory_order_relaxed);
  return [state = state_, done = std::move(done)](Result<std::string> result) mutable {
    state->complete(std::move(done), std::move(result));
  };
}

std::size_t CompletionQueue::run_for(std::chrono::nanoseconds timeout) {
  using Clock = std::chrono::steady_clock;
  State& s = *state_;
  std::vector<State::Entry> batch;
  // Beyond a year is "no deadline" (and keeps the addition below from overflowing).
  const auto deadline =
      timeout > std::chrono::hours(24 * 365) ? Clock::time_point::max() : Clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lock(s.mu);
      if (!s.queued.empty()) {
        batch.swap(s.queued);
        break;
      }
      // Announced under the lock: a completion queued after this look sees it and wakes us.
      s.waiter.store(State::kSleeping, std::memory_order_seq_cst);
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      s.waiter.store(State::kAwake, std::memory_order_relaxed);
      return 0;
    }
    platform::futex_wait(&s.waiter, State::kSleeping, deadline - now);
  }
  s.waiter.store(State::kAwake, std::memory_order_relaxed);
  std::size_t ran = 0;
  for (auto& [done, result] : batch) {
    ++ran;
    s.outstanding.fetch_sub(1, std::memory_order_relaxed);
    try {
      done(std::move(result));
    } catch (...) {
      // The ones after it go back to the front, in order, for the next run_for().
      std::lock_guard lock(s.mu);
      s.queued.insert(s.queued.begin(), std::make_move_iterator(batch.begin() + ran),
                      std::make_move_iterator(batch.end()));
      throw;
    }
  }
  return ran;
}

std::size_t CompletionQueue::outstanding() const {
  return state_->outstanding.load(std::memory_order_relaxed);
}

}  // namespace plexus
