/// \file
/// Request coalescing policies, opt-in per handler: de-duplication (identical in-flight requests
/// run the handler once) and batching (requests gathered within a window go to one batch call).
/// Both wrap a handler and are registered like any other:
///
/// ```
/// auto counters = std::make_shared<plexus::CoalesceCounters>();
/// server.handle_async("user.get", plexus::deduplicate(get_user, counters));
/// auto batcher = plexus::RequestBatcher::create(
///     load_many, {.max_items = 4, .max_wait = plexus::Millis{20}}, counters);
/// server.handle_async("user.load", batcher->handler());
/// ```
///
/// Threading: the wrappers may be called from any number of sessions and I/O threads (state is
/// behind a mutex); the wrapped handler runs on the I/O thread of the call that started it.
/// Errors: every caller gets the result or the error of the run it joined; a batch answers each
/// request with its own result or error.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/steady_timer.hpp>

#include "plexus/call.hpp"
#include "plexus/export.hpp"

namespace plexus {

/// A snapshot of CoalesceCounters (CoalesceCounters::snapshot).
struct PLEXUS_EXPORT CoalesceStats {
  std::uint64_t calls = 0;          ///< requests that reached a wrapper
  std::uint64_t handler_runs = 0;   ///< times a wrapped handler actually ran
  std::uint64_t deduplicated = 0;   ///< requests answered by joining an identical one in flight
  std::uint64_t batches = 0;        ///< batch handler calls
  std::uint64_t batched_calls = 0;  ///< requests answered through batches
};

/// Counters of the coalescing wrappers (deduplicate, RequestBatcher), as in CoalesceStats.
/// Shared by any number of wrappers; read with snapshot() from any thread.
struct PLEXUS_EXPORT CoalesceCounters {
  std::atomic<std::uint64_t> calls{0};          ///< requests that reached a wrapper
  std::atomic<std::uint64_t> handler_runs{0};   ///< times a wrapped handler actually ran
  std::atomic<std::uint64_t> deduplicated{0};   ///< requests that joined an identical one
  std::atomic<std::uint64_t> batches{0};        ///< batch handler calls
  std::atomic<std::uint64_t> batched_calls{0};  ///< requests answered through batches
  /// The counters now, as plain numbers.
  CoalesceStats snapshot() const;
};

/// Identical in-flight requests (same method, since a wrapper serves one method, and the same
/// payload bytes) run `handler` once; every caller gets its result or its error. The run uses
/// the first caller's CallContext: if that caller cancels, a handler that honours cancellation
/// fails the run for all who joined it. A request arriving after the run finished starts a new
/// run (this is de-duplication, not a cache). Register the returned handler with handle_async;
/// `counters` may be shared with other wrappers (null: its own).
PLEXUS_EXPORT AsyncHandler deduplicate(CoroHandler handler,
                                       std::shared_ptr<CoalesceCounters> counters = nullptr);

/// When a RequestBatcher hands a batch over.
struct PLEXUS_EXPORT RequestBatchOptions {
  std::size_t max_items = 64;  ///< a batch is handed over as soon as it holds this many (>= 1)
  /// ... or once this long has passed since its first request; 0: only max_items or flush()
  /// hand it over.
  Millis max_wait{5};
};

/// Answers each request of a batch, in order: the result vector must have one entry per payload
/// (a shorter or longer answer fails the whole batch with internal). Runs on an I/O thread
/// (or on the thread that calls RequestBatcher::flush). A function that throws fails every
/// request of its batch with internal.
using BatchFunction =
    std::function<std::vector<Result<std::string>>(const std::vector<std::string>& payloads)>;

/// Gathers the requests of one method into batches for a BatchFunction.
/// Ownership: shared; the handler() it returns keeps it alive.
class PLEXUS_EXPORT RequestBatcher : public std::enable_shared_from_this<RequestBatcher> {
 public:
  /// A batcher that hands its batches to `fn`; `counters` may be shared with other wrappers
  /// (null: its own). A max_items of 0 counts as 1.
  static std::shared_ptr<RequestBatcher> create(
      BatchFunction fn, RequestBatchOptions options,
      std::shared_ptr<CoalesceCounters> counters = nullptr);
  /// The handler to register (handle_async) for the method this batcher serves.
  AsyncHandler handler();
  /// Hands over what is gathered now (nothing when empty). Any thread; the batch function runs
  /// on the calling thread.
  void flush();
  /// Requests gathered and not yet handed over.
  std::size_t pending() const;

 private:
  struct Pending {
    std::string payload;
    Responder responder;
  };
  RequestBatcher(BatchFunction fn, RequestBatchOptions options,
                 std::shared_ptr<CoalesceCounters> c);
  void add(CallContext& ctx, std::string_view payload, Responder responder);
  void run(std::vector<Pending> batch);

  BatchFunction fn_;
  RequestBatchOptions options_;
  std::shared_ptr<CoalesceCounters> counters_;
  mutable std::mutex mu_;
  std::vector<Pending> gathered_;              // guarded by mu_
  std::shared_ptr<asio::steady_timer> timer_;  // guarded by mu_; armed for the open batch
};

}  // namespace plexus
