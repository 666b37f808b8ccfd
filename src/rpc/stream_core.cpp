#include "rpc/stream_core.hpp"

#include <algorithm>

#include <asio/post.hpp>

#include "rpc/session.hpp"

namespace plexus::rpc {

using wire::FrameKind;

StreamCore::StreamCore(asio::any_io_executor executor, StreamWindow window)
    : executor_(std::move(executor)), window_(window) {
  window_.items = std::max<std::uint32_t>(window_.items, 1);
  window_.bytes = std::clamp<std::uint64_t>(window_.bytes, 1, std::uint64_t{1} << 62);
}

namespace {
void add(std::atomic<std::uint64_t>& c, std::uint64_t n) {
  c.fetch_add(n, std::memory_order_relaxed);
}
}  // namespace

StreamCore::~StreamCore() {
  // A core dropped while attached (its session never ended it) leaves the open count too.
  if (attached_ && totals_) totals_->open.fetch_sub(1, std::memory_order_relaxed);
}

void StreamCore::attach(std::weak_ptr<Session> session, std::uint64_t id, bool opener,
                        std::uint32_t send_items, std::uint64_t send_bytes,
                        std::shared_ptr<StreamTotals> totals) {
  session_ = std::move(session);
  id_ = id;
  opener_ = opener;
  attached_ = true;
  totals_ = std::move(totals);
  if (totals_) {
    add(opener ? totals_->opened : totals_->accepted, 1);
    totals_->open.fetch_add(1, std::memory_order_relaxed);
  }
  peer_items_ = window_.items;
  peer_bytes_ = static_cast<std::int64_t>(window_.bytes);
  on_credit(send_items, send_bytes);  // may release a write queued before the open completed
}

std::uint64_t StreamCore::wire_id() const {
  return opener_ ? id_ : (id_ | wire::kStreamAcceptorBit);
}

void StreamCore::send_frame(FrameKind kind, const wire::Metadata& md, std::string payload) {
  auto s = session_.lock();
  if (!s) return;
  if (auto sent = s->send_stream_frame(kind, wire_id(), md, std::move(payload)); !sent) {
    // Only a full write queue or a closed connection gets here; the session ends the stream.
    terminate(sent.error(), /*tell_peer=*/false);
  }
}

// ---- receive direction ------------------------------------------------------------------

void StreamCore::on_data(std::string_view payload, std::string* owned, const wire::Metadata& md) {
  if (state_ != State::open || remote_end_) return;  // late frame after the end: dropped
  if (peer_items_ == 0 || peer_bytes_ <= 0) {
    terminate(Error{StatusCode::protocol_error,
                    "stream data beyond the granted credit (stream " + std::to_string(id_) + ")",
                    "{\"stream\":" + std::to_string(id_) + "}"},
              /*tell_peer=*/true);
    return;
  }
  --peer_items_;
  peer_bytes_ -= static_cast<std::int64_t>(payload.size());
  {
    std::lock_guard lock(mu_);
    if (stats_.items_received == 0) first_item_ = std::chrono::steady_clock::now();
    ++stats_.items_received;
    stats_.bytes_received += payload.size();
    if (totals_) {
      add(totals_->items_received, 1);
      add(totals_->bytes_received, payload.size());
    }
    if (md.progress_total) progress_total_in_ = md.progress_total;
    if (md.progress_done) progress_done_in_ = md.progress_done;
    if (!reader_) {
      ++stats_.buffered_items;
      stats_.buffered_bytes += payload.size();
      stats_.peak_buffered_items = std::max(stats_.peak_buffered_items, stats_.buffered_items);
      stats_.peak_buffered_bytes = std::max(stats_.peak_buffered_bytes, stats_.buffered_bytes);
    }
  }
  std::string item = owned ? std::move(*owned) : std::string(payload);
  if (reader_) {
    consumed(item.size());
    post_read(std::optional<std::string>(std::move(item)));
    return;
  }
  inbox_.push_back(std::move(item));
}

void StreamCore::read(StreamReadCallback done) {
  if (reader_) {
    asio::post(executor_, [done = std::move(done)] {
      done(make_error(StatusCode::failed_precondition, "a read is already pending on this stream"));
    });
    return;
  }
  reader_ = std::move(done);
  if (!inbox_.empty()) {
    post_read(std::optional<std::string>(take_item()));
    return;
  }
  if (failure_) {
    post_read(tl::unexpected(*failure_));
    return;
  }
  if (remote_end_) deliver_end_to_reader();
}

// The application took an item: grant it back once half a window is used, so the producer keeps
// streaming without a CREDIT per item.
void StreamCore::consumed(std::size_t bytes) {
  ++unacked_items_;
  unacked_bytes_ += bytes;
  if (state_ != State::open || remote_end_ || !attached_) return;
  if (unacked_items_ * 2 < window_.items && unacked_bytes_ * 2 < window_.bytes) return;
  wire::Metadata md;
  md.credit_items = static_cast<std::uint32_t>(unacked_items_);
  md.credit_bytes = unacked_bytes_;
  peer_items_ += unacked_items_;
  peer_bytes_ += static_cast<std::int64_t>(unacked_bytes_);
  unacked_items_ = 0;
  unacked_bytes_ = 0;
  {
    std::lock_guard lock(mu_);
    ++stats_.credits_granted;
  }
  send_frame(FrameKind::stream_credit, md, {});
}

void StreamCore::post_read(Result<std::optional<std::string>> r) {
  auto done = std::move(reader_);
  reader_ = nullptr;
  asio::post(executor_,
             [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void StreamCore::deliver_end_to_reader() {
  if (!reader_ || !inbox_.empty()) return;
  if (*remote_end_) {
    post_read(std::optional<std::string>());
  } else {
    post_read(tl::unexpected(remote_end_->error()));
  }
}

void StreamCore::on_end(Result<std::string> outcome) {
  if (state_ != State::open || remote_end_) return;
  remote_end_ = outcome;
  if (opener_) {
    // The acceptor's END finishes the stream: reads drain what is buffered, then see the end.
    {
      std::lock_guard lock(mu_);
      outcome_ = outcome;
    }
    state_ = State::over;
    if (pending_write_) {
      Error e = outcome ? Error{StatusCode::failed_precondition, "the stream has ended", {}}
                        : outcome.error();
      pending_item_.reset();
      post_write(std::move(pending_write_), tl::unexpected(e));
      pending_write_ = nullptr;
    }
    detach();
  }
  deliver_end_to_reader();
}

// ---- send direction ---------------------------------------------------------------------

void StreamCore::on_credit(std::uint32_t items, std::uint64_t bytes) {
  send_items_ += items;
  send_bytes_ += static_cast<std::int64_t>(std::min<std::uint64_t>(bytes, std::uint64_t{1} << 62));
  if (pending_write_ && attached_ && send_items_ > 0 && send_bytes_ > 0) {
    {
      std::lock_guard lock(mu_);
      stats_.queued_bytes = 0;
    }
    send_data(std::move(*pending_item_));
    pending_item_.reset();
    auto done = std::move(pending_write_);
    pending_write_ = nullptr;
    post_write(std::move(done), {});
  }
}

void StreamCore::write(std::string item, StreamWriteCallback done) {
  if (state_ != State::open) {
    post_write(std::move(done), tl::unexpected(over_error()));
    return;
  }
  if (local_closed_) {
    post_write(std::move(done), make_error(StatusCode::failed_precondition,
                                           "this side already closed its direction"));
    return;
  }
  if (pending_write_) {
    post_write(std::move(done),
               make_error(StatusCode::failed_precondition, "a write is already pending"));
    return;
  }
  if (auto s = session_.lock(); s && item.size() > s->peer_max_message_size()) {
    post_write(std::move(done), make_error(StatusCode::message_too_large,
                                           "stream item of " + std::to_string(item.size()) +
                                               " bytes exceeds the peer's limit of " +
                                               std::to_string(s->peer_max_message_size())));
    return;
  }
  if (has_credit()) {
    // With credit a write completes at once, and a producer looping on writes would send one
    // frame per syscall and wake the reader once per item. Instead its frames are held in the
    // connection while its own completions are still queued (it is about to write again) and
    // leave together when it stops, runs out of credit, or kMaxHeld* is reached. A single
    // write is delayed by one pass through the executor queue, no more.
    ++completions_queued_;
    send_held(std::move(item));
    asio::post(executor_, [self = shared_from_this(), done = std::move(done)]() mutable {
      --self->completions_queued_;
      done({});
    });
    return;
  }
  // Out of credit: the writer stays suspended until the peer grants more.
  {
    std::lock_guard lock(mu_);
    ++stats_.credit_waits;
    if (totals_) add(totals_->credit_waits, 1);
    stats_.queued_bytes = item.size();
    stats_.peak_queued_bytes = std::max(stats_.peak_queued_bytes, stats_.queued_bytes);
  }
  pending_item_ = std::move(item);
  pending_write_ = std::move(done);
}

bool StreamCore::has_credit() const {
  return attached_ && send_items_ > 0 && send_bytes_ > 0;
}

void StreamCore::send_held(std::string item) {
  constexpr std::size_t kMaxHeldItems = 64;
  constexpr std::size_t kMaxHeldBytes = 256 * 1024;
  const std::size_t size = item.size();
  hold_writes();
  send_data(std::move(item));
  if (++held_items_ >= kMaxHeldItems || (held_bytes_ += size) >= kMaxHeldBytes) release_writes();
}

bool StreamCore::try_write(std::string_view item) {
  // Everything that is not "send it now" (closed, a write pending, no credit, too large) is
  // left to write(), which waits or reports it.
  if (state_ != State::open || local_closed_ || pending_write_ || !has_credit()) return false;
  auto s = session_.lock();
  if (!s || item.size() > s->peer_max_message_size()) return false;
  // Held like write()'s items; the release posted by hold_writes() runs once the producer
  // yields (or at kMaxHeld*), so a burst of try_writes leaves in a few gather writes.
  send_held(std::string(item));
  return true;
}

std::optional<std::string> StreamCore::try_read() {
  if (reader_ || inbox_.empty()) return std::nullopt;  // read() waits, or reports the end
  return take_item();
}

std::string StreamCore::take_item() {
  std::string item = std::move(inbox_.front());
  inbox_.pop_front();
  {
    std::lock_guard lock(mu_);
    --stats_.buffered_items;
    stats_.buffered_bytes -= item.size();
  }
  consumed(item.size());
  return item;
}

void StreamCore::send_data(std::string item) {
  --send_items_;
  send_bytes_ -= static_cast<std::int64_t>(item.size());
  {
    std::lock_guard lock(mu_);
    ++stats_.items_sent;
    stats_.bytes_sent += item.size();
    if (totals_) {
      add(totals_->items_sent, 1);
      add(totals_->bytes_sent, item.size());
    }
  }
  wire::Metadata md;
  md.progress_total = progress_total_out_;
  md.progress_done = progress_done_out_;
  progress_total_out_.reset();
  progress_done_out_.reset();
  send_frame(FrameKind::stream_data, md, std::move(item));
}

void StreamCore::hold_writes() {
  if (holding_writes_) return;
  auto s = session_.lock();
  if (!s) return;
  s->hold_writes();
  holding_writes_ = true;
  schedule_release();
}

void StreamCore::schedule_release() {
  asio::post(executor_, [self = shared_from_this()] {
    if (!self->holding_writes_) return;
    // A completion still queued means the producer is about to write again: keep holding.
    // FIFO order guarantees it runs before this check comes round again.
    if (self->completions_queued_ > 0 && self->state_ == State::open) {
      self->schedule_release();
      return;
    }
    self->release_writes();
  });
}

void StreamCore::release_writes() {
  if (!holding_writes_) return;
  holding_writes_ = false;
  held_items_ = 0;
  held_bytes_ = 0;
  if (auto s = session_.lock()) s->release_writes();
}

void StreamCore::post_write(StreamWriteCallback done, Result<void> r) {
  asio::post(executor_,
             [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void StreamCore::close_write() {
  if (state_ != State::open || local_closed_) return;
  local_closed_ = true;
  if (!opener_) return;  // an acceptor ends its side by returning from the handler
  // A write still waiting for credit goes first: END must follow every item.
  if (pending_write_) {
    // limit: the pending item is dropped and its writer told; close_write is meant to follow
    // a completed write.
    pending_item_.reset();
    post_write(std::move(pending_write_),
               make_error(StatusCode::failed_precondition, "closed while the write waited"));
    pending_write_ = nullptr;
  }
  send_frame(FrameKind::stream_end, {}, {});
}

void StreamCore::set_progress(std::uint64_t total, std::optional<std::uint64_t> done) {
  progress_total_out_ = total;
  progress_done_out_ = done;
}

void StreamCore::finish(Result<std::string> result) {
  if (state_ != State::open) return;
  wire::Metadata md;
  std::string payload;
  Error error;
  if (result) {
    payload = std::move(*result);
  } else {
    error = result.error();
    if (error.code == StatusCode::ok) error.code = StatusCode::unknown;
    md.status = static_cast<std::uint16_t>(error.code);
    md.error_message = std::string_view(error.message).substr(0, 8 * 1024);
    if (error.details.size() <= 48 * 1024) md.error_details = error.details;
  }
  send_frame(FrameKind::stream_end, md, std::move(payload));
  cancel_hook_ = nullptr;  // finished, not cancelled
  terminate(Error{StatusCode::failed_precondition, "the stream handler has finished", {}},
            /*tell_peer=*/false);
}

// ---- cancel and end ----------------------------------------------------------------------

void StreamCore::cancel(const Error& reason) {
  terminate(reason, /*tell_peer=*/true);
}

void StreamCore::on_cancel(const Error& reason) {
  terminate(reason, /*tell_peer=*/false);
}

void StreamCore::terminate(const Error& reason, bool tell_peer) {
  if (state_ != State::open) return;
  if (tell_peer && attached_) {
    wire::Metadata md;
    md.status = static_cast<std::uint16_t>(reason.code);
    md.error_message = reason.message;
    send_frame(FrameKind::stream_cancel, md, {});
  }
  state_ = State::over;
  failure_ = reason;
  // Items already received stay readable when the peer ended the stream (its cancel, a lost
  // session): the reader sees them, then the error. This side's own cancel drops them.
  if (tell_peer) inbox_.clear();
  {
    std::lock_guard lock(mu_);
    if (tell_peer) {
      stats_.buffered_items = 0;
      stats_.buffered_bytes = 0;
    }
    stats_.queued_bytes = 0;
    if (opener_ && !outcome_) outcome_ = tl::unexpected(reason);
  }
  if (reader_ && inbox_.empty()) post_read(tl::unexpected(reason));
  if (pending_write_) {
    pending_item_.reset();
    post_write(std::move(pending_write_), tl::unexpected(reason));
    pending_write_ = nullptr;
  }
  detach();
  if (auto hook = std::move(cancel_hook_)) {
    cancel_hook_ = nullptr;
    hook();
  }
}

void StreamCore::detach() {
  release_writes();  // what the producer wrote last still leaves
  if (!attached_) return;
  attached_ = false;
  if (totals_) totals_->open.fetch_sub(1, std::memory_order_relaxed);
  if (auto s = session_.lock()) s->forget_stream(id_, opener_);
}

Error StreamCore::over_error() const {
  if (failure_) return *failure_;
  if (remote_end_ && !*remote_end_) return remote_end_->error();
  return Error{StatusCode::failed_precondition, "the stream has ended", {}};
}

// ---- thread-safe reads --------------------------------------------------------------------

StreamStats StreamCore::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

StreamProgress StreamCore::progress() const {
  std::lock_guard lock(mu_);
  const std::uint64_t done = progress_done_in_.value_or(stats_.items_received);
  const auto elapsed = stats_.items_received == 0 ? std::chrono::nanoseconds(0)
                                                  : std::chrono::steady_clock::now() - first_item_;
  return make_progress(done, progress_total_in_, elapsed);
}

std::optional<Result<std::string>> StreamCore::outcome() const {
  std::lock_guard lock(mu_);
  return outcome_;
}

}  // namespace plexus::rpc

namespace plexus {

StreamProgress make_progress(std::uint64_t done, std::optional<std::uint64_t> total,
                             std::chrono::nanoseconds elapsed) {
  StreamProgress p;
  p.done = done;
  p.total = total;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  if (seconds > 0) p.rate = static_cast<double>(done) / seconds;
  if (total && p.rate > 0) {
    const double left = *total > done ? static_cast<double>(*total - done) : 0.0;
    p.eta = std::chrono::duration<double>(left / p.rate);
  }
  return p;
}

}  // namespace plexus
