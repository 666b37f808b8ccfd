// A word to the idle loop of an I/O thread (Runtime::run_io_thread): go to sleep at the next
// idle moment rather than spin out the wait strategy's budget. Said by whatever, running on
// that thread, has just woken an application thread that has work to do: one whose
// CompletionQueue got answers, or one about to write its own request into a shared-memory
// connection parked for it. On a machine with few cores the woken thread may be waiting for
// this very core, and a spinning I/O thread would keep it off for the whole budget. (Not said
// for a blocking call's caller: its next request comes at once, and a polling I/O thread takes
// it without a wake-up.)
// One per runtime whose single I/O thread polls (adaptive); used on that thread only.
#pragma once

#include <utility>

namespace plexus::transport {

class IdleHint {
 public:
  void sleep_when_idle() { asked_ = true; }
  // Whether it was asked since the last take(); clears it.
  bool take() { return std::exchange(asked_, false); }

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

 private:
  bool asked_ = false;
};

}  // namespace plexus::transport
