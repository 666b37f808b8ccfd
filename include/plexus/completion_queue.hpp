/// \file
/// CompletionQueue: the completions of calls an application thread started with call_async,
/// run on that thread, many at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "plexus/call.hpp"
#include "plexus/export.hpp"

namespace plexus {

/// Where an application thread collects the completions of its call_async calls. A callback
/// wrapped by deliver() does not run on the I/O thread that completes the call: the result is
/// queued here, and the thread in run_for() runs the callback. The I/O thread wakes that thread
/// only when it sleeps, once however many completions it queues meanwhile, and run_for() runs
/// every completion queued when it looks: a thread with many calls in flight pays one wake-up
/// per batch of answers, not one per answer.
///
/// \code
///   plexus::CompletionQueue completions;
///   int sums = 0;
///   for (int i = 0; i < 3; ++i) {
///     client.call_async("calc.add", R"({"a":1,"b":2})", {},
///                       completions.deliver([&sums](plexus::Result<std::string> reply) {
///                         if (reply && *reply == R"({"sum":3})") ++sums;
///                       }));
///   }
///   while (completions.outstanding() > 0 && completions.run_for(Millis{5000}) > 0) {
///   }
/// \endcode
///
/// Threading: deliver() from any thread; the callbacks it returns complete from any thread;
/// run_for() and poll() from one thread at a time (the callbacks run there). Ownership: the
/// queue may go before the calls complete; their results are then dropped (the wrapped
/// callbacks never run).
class PLEXUS_EXPORT CompletionQueue {
 public:
  CompletionQueue();
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  /// A callback for call_async that queues `done` and its result here.
  CallCallback deliver(CallCallback done);

  /// Runs the completions queued now; when there are none, waits up to `timeout` for the first
  /// (and then runs every one queued by then). Returns how many ran (0: none in time). A
  /// callback that throws leaves the exception to the caller; the completions after it stay
  /// queued.
  std::size_t run_for(std::chrono::nanoseconds timeout);
  /// run_for() without waiting.
  std::size_t poll() { return run_for(std::chrono::nanoseconds{0}); }
  /// Callbacks from deliver() not yet run here: calls in flight plus completions queued.
  std::size_t outstanding() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace plexus
