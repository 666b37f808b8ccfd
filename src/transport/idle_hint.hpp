// A word to the idle loop of an I/O thread (Runtime::run_io_thread): go to sleep at the next
// idle moment rather than spin out the wait strategy's budget. Said by whatever, running on
// that thread, has just woken an application thread that has work to do: one whose
// CompletionQueue got answers, or one about to write its own request into a shared-memory
// connection parked for it. On a machine with few cores the woken thread may be waiting for
// this very core, and a spinning I/O thread would keep it off for the whole budget. (Not said
// for a blocking call's caller: its next request comes at once, and a polling I/O thread takes
// it without a wake-up.)
// The word holds for kFresh: a thread that stays busy that long has let the woken one run or
// never will, and a stale word would make it sleep through later idle moments for no one.
// One per runtime whose single I/O thread polls (adaptive); used on that thread only.
#pragma once

#include <chrono>

namespace plexus::transport {

class IdleHint {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::microseconds kFresh{100};

  void sleep_when_idle() { asked_at_ = Clock::now(); }
  // Whether it was asked within kFresh of `now`; clears it.
  bool take(Clock::time_point now) {
    const bool fresh = asked(now);
    asked_at_ = {};
    return fresh;
  }
  bool asked(Clock::time_point now) const {
    return asked_at_ != Clock::time_point{} && now - asked_at_ < kFresh;
  }

  // The hint of the I/O thread this runs on; null elsewhere (an application thread, a worker,
  // or an I/O thread that never spins). Set by the runtime for the thread's life.
  static IdleHint*& current() {
    thread_local IdleHint* hint = nullptr;
    return hint;
  }
  // sleep_when_idle() on the current thread's hint, if it has one.
  static void sleep_here_when_idle() {
    if (IdleHint* hint = current()) hint->sleep_when_idle();
  }
  // Whether this thread was told lately: a connection that would spin on its own rather than
  // return to the idle loop stops too.
  static bool asked_here(Clock::time_point now) {
    const IdleHint* hint = current();
    return hint && hint->asked(now);
  }

 private:
  Clock::time_point asked_at_{};  // epoch: not asked
};

}  // namespace plexus::transport
