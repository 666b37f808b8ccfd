// One-way messages (NOTIFY, PUBLISH, lane messages) that a session accepted and has not yet
// handed to its connection: those sent from application threads on their way to the session's
// I/O thread, and those held back while the connection's write queue is full (with the stream
// and control frames that must follow them in order). A send that
// returned ok is here or in the connection; it leaves only by being written, or with the whole
// queue when the session closes (which reports its reason). Bounded in bytes: a sender past the
// bound waits for room up to its deadline, or fails at once with resource_exhausted.
//
// Threading: push() and close() from any thread; the rest on the session's strand.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/call.hpp"
#include "plexus/status.hpp"
#include "wire/frame.hpp"

namespace plexus::rpc {

struct LaneBinding;

struct OutboxItem {
  // request: a call's REQUEST made while one-way messages were held back; it keeps its place
  // behind them (its call is already pending, with its deadline). frame: any other frame the
  // connection refused while full (stream items, credit, cancel, pong…), already encoded.
  // call: a call_async from an application thread, not yet pending: the strand starts it
  // (Session::call) when it drains, so that many such calls reach it with one hand-over.
  enum class Kind : std::uint8_t { notify, publish, lane, request, frame, call };
  Kind kind = Kind::notify;
  bool immediate = false;                                // notify/publish: past the batcher
  wire::FrameKind frame_kind = wire::FrameKind::notify;  // frame
  std::uint64_t id = 0;    // publish: the subscription id (0 from a publisher); request: call id;
                           // frame: the frame's id
  std::string name;        // notify, request: the method; publish: the topic; frame: metadata block
  std::string trace_id;    // request, notify, publish
  std::string message_id;  // request: an acknowledged message's id (empty: a plain call)
  std::string payload;
  std::shared_ptr<LaneBinding> lane;  // lane: the sender's binding (and its method)
  // call: its completion (the call's options are only its trace: calls with other options
  // do not come this way).
  CallCallback done;

  // A call's REQUEST item (Kind::request or Kind::call): the payload is moved in.
  static OutboxItem for_call(Kind kind, std::uint64_t id, std::string_view method,
                             std::string_view trace_id, std::string& payload) {
    OutboxItem item;
    item.kind = kind;
    item.id = id;
    item.name = std::string(method);
    item.trace_id = std::string(trace_id);
    item.payload = std::move(payload);
    return item;
  }
  // A REQUEST of an acknowledged message (CallOptions::message_id) held behind one-way messages.
  static OutboxItem for_call(Kind kind, std::uint64_t id, std::string_view method,
                             std::string_view trace_id, std::string_view message_id,
                             std::string& payload) {
    OutboxItem item = for_call(kind, id, method, trace_id, payload);
    item.message_id = std::string(message_id);
    return item;
  }

  // What the item counts against the bound: its bytes and a frame's worth of overhead, so that
  // a flood of empty messages is bounded too.
  std::size_t cost() const { return payload.size() + name.size() + 64; }
};

class Outbox {
 public:
  explicit Outbox(std::size_t limit_bytes) : limit_(limit_bytes) {}

  // Any thread but the strand. Queues `item`, waiting up to `wait` for room (0: no wait). An
  // item always fits an empty queue. Returns true when the caller must post a drain to the
  // strand (none is pending and the connection is not stalled). Fails with resource_exhausted
  // (no room in time) or the close reason (closed, also while waiting); `item` is then untouched.
  Result<bool> push(OutboxItem&& item, std::chrono::milliseconds wait, bool past_limit = false);
  // On the strand: as push() without waiting; `past_limit` queues it even when the queue is
  // full (a call's REQUEST: its call is bounded by its deadline, not by this queue).
  Result<bool> push_now(OutboxItem&& item, bool past_limit = false) {
    return push(std::move(item), std::chrono::milliseconds{0}, past_limit);
  }

  // On the strand: moves the queued items, in order, into `out` (empty on entry); they still
  // count against the bound until release(). A later push() posts a new drain.
  void take(std::vector<OutboxItem>& out);
  // On the strand: the items of `items` from `from` on could not be written; they go back to the
  // front in order, and no drain is posted until resume().
  void put_back(std::vector<OutboxItem>& items, std::size_t from);
  // On the strand: `bytes` (the cost of items written) leave the bound; wakes waiting senders.
  void release(std::size_t bytes);
  // On the strand: the connection stalled on its write queue (stall) or can take more again
  // (resume: true when items wait, and the caller drains them now).
  void stall();
  bool resume();
  bool stalled() const { return stalled_.load(std::memory_order_relaxed); }

  // Fails waiting and later pushes with `reason` and drops what is queued; returns how many
  // one-way items were dropped. Before any waiting sender wakes, `tally` (if set) gets that
  // count plus `also_lost` (what the caller held elsewhere). Calls (Kind::call) are not
  // dropped: they move to `calls` (if set), whose owner fails them. Idempotent.
  std::size_t close(const Error& reason, std::atomic<std::uint64_t>* tally = nullptr,
                    std::size_t also_lost = 0, std::vector<OutboxItem>* calls = nullptr);

  // Items queued and not taken (relaxed: exact on the strand for what the strand queued).
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }
  std::size_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  std::size_t limit() const { return limit_; }
  // Pushes that found no room and waited (whatever came of it), and those that failed with
  // resource_exhausted; senders waiting now.
  std::uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }
  std::uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }
  std::size_t waiting() const {
    std::lock_guard lock(mu_);
    return waiters_;
  }

 private:
  const std::size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable room_;
  std::vector<OutboxItem> items_;  // guarded by mu_
  std::size_t bytes_ = 0;          // cost of items queued or taken and not released; mu_
  std::size_t waiters_ = 0;        // senders waiting for room; mu_
  bool drain_posted_ = false;      // mu_
  std::optional<Error> closed_;    // mu_
  std::atomic<std::size_t> count_{0};
  std::atomic<bool> stalled_{false};  // written under mu_; read by the strand without it
  std::atomic<std::uint64_t> waits_{0};
  std::atomic<std::uint64_t> refusals_{0};
};

}  // namespace plexus::rpc
