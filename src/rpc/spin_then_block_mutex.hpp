// A std::mutex whose lock() first retries try_lock() for a short while before it sleeps: for
// locks held briefly by threads that run at the same time (a publisher and an I/O thread),
// where a futex sleep and wake-up costs far more than the wait. Meets Lockable, so it works
// with std::lock_guard, std::unique_lock and std::condition_variable_any.
#pragma once

#include <mutex>

#include "platform/cpu_relax.hpp"

namespace plexus::rpc {

class SpinThenBlockMutex {
 public:
  void lock() {
    for (int i = 0; i < kSpins; ++i) {
      if (mu_.try_lock()) return;
      platform::cpu_relax();
    }
    mu_.lock();
  }
  bool try_lock() { return mu_.try_lock(); }
  void unlock() { mu_.unlock(); }

 private:
  // ~100 pause instructions: a few microseconds at most, less than one sleep and wake-up.
  static constexpr int kSpins = 100;

  std::mutex mu_;
};

}  // namespace plexus::rpc
