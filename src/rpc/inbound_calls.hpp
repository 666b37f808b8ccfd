// Calls a peer made to this side that are still being served (asynchronous, coroutine and
// policy-wrapped handlers; a synchronous handler's call is over before the next frame), with
// their deadlines. The session answers and cancels them; this table only keeps them.
//
// Threading: the table lives on the session's strand; size() is readable from any thread.
// InboundCall::reply may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>

#include <asio/any_io_executor.hpp>

#include "plexus/call.hpp"
#include "rpc/acked_ids.hpp"
#include "rpc/time_source.hpp"

namespace plexus::observe {
class MethodStats;
}

namespace plexus::rpc {

class Session;

// One call a peer made to us that an async or coroutine handler is still serving.
struct InboundCall {
  CallContext ctx;
  std::weak_ptr<Session> session;
  asio::any_io_executor executor;
  std::atomic<bool> answered{false};
  // Set by a policy chain around an asynchronous handler: the handler's answer goes here
  // (on the answering thread) instead of to the session.
  std::function<void(Result<std::string>)> forward;
  observe::MethodStats* stats = nullptr;  // the method's, while metrics are on
  // An acknowledged message's call: where a successful answer records its id (ctx.message_id),
  // also when the caller stopped waiting meanwhile (the handler did run). Null otherwise.
  std::shared_ptr<AckedIds> acked;
  std::atomic<bool> ack_finished{false};  // acked->finish() ran (the first reply)
  Clock::time_point arrived;
  // Posts the answer (and its response metadata) to the session's strand; later answers are
  // ignored. Any thread.
  void reply(Result<std::string> result, ResponseInfo info = {});
  // The caller stopped waiting (cancel, deadline, closed session): a later reply is dropped and
  // the handler's cancel hooks run.
  void cancel();
};

class InboundCalls {
 public:
  bool contains(CallId id) const { return calls_.contains(id); }
  // `deadline` (may be null) is stopped when the call leaves the table.
  void add(CallId id, std::shared_ptr<InboundCall> call, std::unique_ptr<Timer> deadline);
  // Removes the call and stops its deadline; null when it is not here (answered, cancelled).
  std::shared_ptr<InboundCall> take(CallId id);
  // The session closed: every call is marked answered (a late reply is dropped) and its
  // handler's cancel hook runs.
  void cancel_all();
  std::size_t size() const { return count_.load(std::memory_order_acquire); }

 private:
  struct Entry {
    std::shared_ptr<InboundCall> call;
    std::unique_ptr<Timer> deadline;
  };
  std::unordered_map<CallId, Entry> calls_;
  std::atomic<std::size_t> count_{0};  // calls_.size(), for other threads
};

}  // namespace plexus::rpc
