// The outbox half of Session (rpc/outbox.hpp): one-way messages from application threads reach
// the strand in batches, and messages the connection cannot take yet wait for it instead of
// being dropped. A send that returned ok is written, or the session closes and says why.
#include <algorithm>
#include <chrono>

#include <asio/post.hpp>
#include "observe/log.hpp"

#include "rpc/session.hpp"
#include "rpc/trace.hpp"

namespace plexus::rpc {

using wire::FrameKind;

namespace {
// The transport's queue a drain fills before it waits for on_write_done: a few socket buffers'
// worth keeps the socket busy, and the buffers small enough to stay in cache (a queue grown to
// the 64 MiB limit and shrunk when idle costs page faults on every refill).
constexpr std::size_t kDrainWatermark = 1u << 20;
}  // namespace

Result<void> Session::send_from_app(OutboxItem&& item, std::chrono::milliseconds wait) {
  if (closed()) return make_error(StatusCode::unavailable, "connection closed");
  // On the sender's thread: the trace current there (a handler's, a TraceScope's) goes along.
  if (item.trace_id.empty() &&
      (item.kind == OutboxItem::Kind::notify || item.kind == OutboxItem::Kind::publish)) {
    item.trace_id = trace::for_outgoing();
  }
  if (item.payload.size() > peer_max_message_size()) {
    return tl::unexpected(wire::payload_too_large(item.payload.size(), peer_max_message_size()));
  }
  auto queued = outbox_.push(std::move(item), wait);
  if (!queued) return tl::unexpected(queued.error());
  app_sends_unwritten_.fetch_add(1, std::memory_order_seq_cst);
  if (*queued) post_drain();
  return {};
}

bool Session::call_from_app(CallId id, std::string_view method, std::string& payload,
                            CallOptions& options, CallCallback& done) {
  // A deadline runs from the call's start: its timer is set on the strand at once (call()).
  // A ResponseInfo or a view: call() fills them; the item carries only the trace.
  if (options.timeout || options.response_info != nullptr || options.answer_view ||
      !options.message_id.empty() || closed() || !ready() ||
      peer_goaway_seen_.load(std::memory_order_acquire)) {
    return false;
  }
  auto item = OutboxItem::for_call(OutboxItem::Kind::call, id, method, options.trace_id, payload);
  item.done = std::move(done);
  // Past the bound, as a REQUEST held behind one-way messages is: calls are bounded by how many
  // the application keeps in flight, not by this queue.
  auto queued = outbox_.push(std::move(item), std::chrono::milliseconds{0}, /*past_limit=*/true);
  if (!queued) {
    // Closed meanwhile: hand the arguments back for the other path, which reports it.
    payload = std::move(item.payload);
    done = std::move(item.done);
    return false;
  }
  app_sends_unwritten_.fetch_add(1, std::memory_order_seq_cst);
  if (*queued) post_drain();
  return true;
}

void Session::post_drain() {
  asio::post(executor_, [self = shared_from_this()] { self->drain_outbox(); });
}

Result<void> Session::queue_behind_held(OutboxItem&& item) {
  const bool past_limit =
      item.kind == OutboxItem::Kind::request || item.kind == OutboxItem::Kind::frame;
  auto queued = outbox_.push_now(std::move(item), past_limit);
  if (!queued) return tl::unexpected(queued.error());
  if (*queued) post_drain();  // not stalled after all (resumed meanwhile): drain soon
  return {};
}

Result<void> Session::send_or_hold(FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                                   std::string&& payload) {
  if (closed()) return make_error(StatusCode::unavailable, "connection closed");
  if (!outbox_.stalled()) {
    auto sent =
        connection_->send(transport::OutFrame::with(kind, id, md, {}).handing_over(payload));
    if (sent || sent.error().code != StatusCode::resource_exhausted) return sent;
    outbox_.stall();  // refused whole: it waits with what follows for on_write_done
  }
  OutboxItem item;
  item.kind = OutboxItem::Kind::frame;
  item.frame_kind = kind;
  item.id = id;
  wire::encode_metadata(md, item.name);
  item.payload = std::move(payload);
  return queue_behind_held(std::move(item));
}

Result<void> Session::write_item(OutboxItem& item) {
  switch (item.kind) {
    case OutboxItem::Kind::notify:
      return notify_now(item.name, std::move(item.payload), item.immediate, item.trace_id);
    case OutboxItem::Kind::publish:
      return publish_now(item.id, item.name, item.payload, item.immediate, item.trace_id);
    case OutboxItem::Kind::lane:
      return lane_send_now(*item.lane, item.payload);
    case OutboxItem::Kind::request: {
      const PendingCall* pending = outbound_.find(item.id);
      if (!pending) return {};  // finished (deadline, cancel) before it could leave
      wire::CallFields fields{item.name, std::nullopt, item.trace_id, item.message_id};
      if (pending->deadline) {
        // The callee gets what is left of the call's time, not all of it again.
        const auto left =
            std::chrono::duration_cast<std::chrono::microseconds>(pending->expires - time_->now());
        fields.timeout_us = static_cast<std::uint64_t>(std::max<std::int64_t>(1, left.count()));
      }
      return send_request(item.id, fields, std::move(item.payload));
    }
    case OutboxItem::Kind::frame:
      return connection_->send(
          transport::OutFrame::preencoded(item.frame_kind, item.id, item.name, item.payload));
    case OutboxItem::Kind::call:
      // Started here; it may itself go behind held messages (a REQUEST item) or fail at once.
      if (item.done) {
        CallOptions options;
        options.trace_id = std::move(item.trace_id);
        call(item.id, item.name, std::move(item.payload), options, std::move(item.done));
      }
      return {};
  }
  return make_error(StatusCode::internal, "unknown outbox item");
}

void Session::drain_outbox() {
  if (closed()) return;  // on_closed dropped what was queued and counted it
  if (in_drain_) {
    drain_again_ = true;  // a write completed inside this drain: it goes round once more
    return;
  }
  in_drain_ = true;
  do {
    drain_again_ = false;
    drain_once();
  } while (drain_again_ && !closed() && !outbox_.stalled());
  in_drain_ = false;
  close_if_drained();
}

void Session::drain_once() {
  while (!held_batches_.empty()) {
    auto sent = connection_->send(FrameKind::batch, 0, {}, held_batches_.front());
    if (!sent) {
      if (sent.error().code == StatusCode::resource_exhausted) outbox_.stall();
      return;  // full again: on_write_done comes back here; otherwise the session is closing
    }
    held_batches_.erase(held_batches_.begin());
  }
  std::size_t written = 0;
  connection_->hold_writes();  // what the outbox held leaves in one gather write
  for (;;) {
    if (in_hand() == 0) {
      // take() also re-arms the drain posting of later pushes, so it runs on every drain.
      draining_.clear();
      draining_next_ = 0;
      outbox_.take(draining_);
      if (draining_.empty()) break;
    }
    OutboxItem& item = draining_[draining_next_];
    const std::size_t cost = item.cost();
    auto sent = write_item(item);
    if (!sent && sent.error().code == StatusCode::resource_exhausted) {
      outbox_.stall();  // nothing of it was queued: it stays in hand for on_write_done
      break;
    }
    if (!sent) {
      // Only a closing connection refuses an item that passed the checks at push; its close
      // counts what is left in hand and reports the loss. Anything else would be a message lost
      // without a word: close and say so.
      if (!closed() && connection_->is_open()) {
        Error error{StatusCode::internal,
                    "a queued one-way message could not be written: " + sent.error().message,
                    sent.error().details};
        observe::logger().error("plexus: session with \"{}\": {}", identity_.name, error.message);
        connection_->close(error, /*flush=*/true);
      }
      break;
    }
    ++draining_next_;
    written += cost;
    // Handed to the connection (a call made on the caller's thread may go now: send_here).
    if (item.kind != OutboxItem::Kind::request && item.kind != OutboxItem::Kind::frame) {
      app_sends_unwritten_.fetch_sub(1, std::memory_order_seq_cst);
    }
    if (outbox_.stalled()) break;  // a batch flush was refused: what follows waits behind it
    if (connection_->pending_write_bytes() >= kDrainWatermark) {
      // Enough for the socket for now: the rest waits in hand until the transport has written
      // this (on_write_done), instead of growing its buffer to the hard limit.
      outbox_.stall();
      break;
    }
  }
  connection_->release_writes();
  if (in_hand() == 0) {
    draining_.clear();
    draining_next_ = 0;
  }
  outbox_.release(written);
}

void Session::close_if_drained() {
  if (!close_when_drained_ || !outbox_.empty() || in_hand() > 0 || !held_batches_.empty()) return;
  flush_batch();
  if (!held_batches_.empty()) return;
  auto reason = std::move(*close_when_drained_);
  close_when_drained_.reset();
  connection_->close(reason, /*flush=*/true);
}

}  // namespace plexus::rpc
