// A connection's word to the idle loop of the I/O thread it runs on (Runtime::run_io_thread):
// go to sleep at the next idle moment rather than spin out the wait strategy's budget.
// A shared-memory connection says it when it parks for an application thread that is about to
// write its own request (it has just had the answer it waited for): on a machine with few
// cores that thread may be waiting for this very core, and a spinning I/O thread would keep it
// off for the whole budget.
// One per runtime whose single I/O thread polls; used on that thread only.
#pragma once

#include <utility>

namespace plexus::transport {

class IdleHint {
 public:
  void sleep_when_idle() { asked_ = true; }
  // Whether it was asked since the last take(); clears it.
  bool take() { return std::exchange(asked_, false); }

 private:
  bool asked_ = false;
};

}  // namespace plexus::transport
