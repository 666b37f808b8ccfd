#include "transport/shm/shm_connection.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include <asio/post.hpp>

#include "platform/cpu_relax.hpp"
#include "transport/idle_hint.hpp"
#include "wire/bytes.hpp"
#include "wire/metadata.hpp"

namespace plexus::transport::shm {

ShmConnection::ShmConnection(ShmParts parts, ShmOptions shm, ConnectionOptions options,
                             std::string label)
    : control_(std::move(parts.control)),
      executor_(control_.get_executor()),
      mapping_(std::move(parts.mapping)),
      doorbell_out_(std::move(parts.doorbell_out)),
      doorbell_in_fd_(parts.doorbell_in.get()),
      doorbell_in_(executor_, parts.doorbell_in.release()),
      in_(parts.in),
      out_(parts.out),
      shm_(shm),
      options_(options),
      label_(std::move(label)),
      spin_(shm.wait, shm.min_spin, shm.max_spin),
      lent_spin_(shm.wait, shm.min_spin, shm.max_spin) {
  stats_.shm_mapped_bytes += parts.segment_bytes;
}

std::optional<platform::PeerCredentials> ShmConnection::credentials() const {
  return platform::peer_credentials(
      const_cast<asio::local::stream_protocol::socket&>(control_).native_handle());
}

void ShmConnection::start(std::shared_ptr<ConnectionDelegate> delegate) {
  delegate_ = std::move(delegate);
  std::error_code ignored;
  control_.non_blocking(true, ignored);
  watch_control();
  spin_.woke(Clock::now());
  schedule_poll();
}

Result<void> ShmConnection::check_open() const {
  return send_refusal(closed_ || closing_, pending_bytes_, options_.max_pending_write_bytes);
}

Result<void> ShmConnection::send(const OutFrame& f) {
  if (loan_out_ || (owner_.load(std::memory_order_acquire) != kOwned && !owned(/*ask=*/true))) {
    return send_later(f);
  }
  if (!f.metadata) {
    return f.encoded.empty() ? send_plain(f.kind, f.id, f.payload, f.owned)
                             : send_encoded(f.kind, f.id, f.encoded, f.payload, f.owned);
  }
  if (auto ok = check_open(); !ok) return ok;
  head_buf_.clear();
  auto head =
      wire::encode_frame_head(f.kind, f.id, *f.metadata, f.payload.size(), peer_max_, head_buf_);
  if (!head) return head;
  return enqueue(head_buf_, f.payload, f.owned);
}

Result<void> ShmConnection::send_plain(wire::FrameKind kind, std::uint64_t id,
                                       std::string_view payload, std::string* owned) {
  // A lane's message, usually: open, nothing queued, within the peer's limit and room in the
  // ring at once. Written in one piece, with nothing else to check.
  if (!closed_ && !closing_ && pending_bytes_ == 0 && payload.size() <= peer_max_) {
    char head[wire::kHeaderSize];
    wire::FrameHeader h;
    h.body_length = static_cast<std::uint32_t>(payload.size());
    h.kind = kind;
    h.id = id;
    wire::encode_header(h, head);
    if (out_.try_write({head, sizeof head}, payload)) {
      ++stats_.frames_out;
      stats_.bytes_out += sizeof head + payload.size();
      if ((!in_input_ && writes_held_ == 0) || out_.unpublished() >= kPublishBacklog) publish();
      return {};
    }
  }
  return send_encoded(kind, id, {}, payload, owned);
}

Result<void> ShmConnection::send_encoded(wire::FrameKind kind, std::uint64_t id,
                                         std::string_view metadata, std::string_view payload,
                                         std::string* owned) {
  // The usual case (a call): open, nothing queued, within the peer's limit and room in the
  // ring at once, written with nothing else to check. Header and block go into
  // the ring as one piece, assembled on the stack when the block is a call's (a few dozen
  // bytes), else in head_buf_.
  constexpr std::size_t kStackHead = 512;
  char stack_head[kStackHead];
  char* head = stack_head;
  if (wire::kHeaderSize + metadata.size() > kStackHead) {
    head_buf_.resize(wire::kHeaderSize + metadata.size());
    head = head_buf_.data();
  }
  const std::string_view whole(head, wire::kHeaderSize + metadata.size());
  if (!closed_ && !closing_ && pending_bytes_ == 0 && payload.size() <= peer_max_ &&
      metadata.size() <= wire::kMaxMetadataSize &&
      payload.size() <= 0xFFFFFFFFu - metadata.size()) {  // the u32 body length cannot wrap
    wire::FrameHeader h;
    h.body_length = static_cast<std::uint32_t>(metadata.size() + payload.size());
    h.metadata_length = static_cast<std::uint16_t>(metadata.size());
    h.kind = kind;
    h.id = id;
    wire::encode_header(h, head);
    if (!metadata.empty()) std::memcpy(head + wire::kHeaderSize, metadata.data(), metadata.size());
    if (out_.try_write(whole, payload)) {
      ++stats_.frames_out;
      stats_.bytes_out += whole.size() + payload.size();
      if ((!in_input_ && writes_held_ == 0) || out_.unpublished() >= kPublishBacklog) publish();
      return {};
    }
  }
  if (auto ok = check_open(); !ok) return ok;
  if (auto ok = wire::encode_head(kind, id, metadata.size(), payload.size(), peer_max_, head);
      !ok) {
    return ok;
  }
  if (!metadata.empty()) std::memcpy(head + wire::kHeaderSize, metadata.data(), metadata.size());
  return enqueue(whole, payload, owned);
}

Result<void> ShmConnection::enqueue(std::string_view head, std::string_view payload,
                                    std::string* owned) {
  ++stats_.frames_out;
  const std::uint64_t total = head.size() + payload.size();
  std::uint64_t room = 0;
  if (pending_bytes_ == 0) {
    auto free = out_.free_space(total);
    if (!free) {
      fail(free.error());
      return make_error(StatusCode::unavailable, "connection is closed");
    }
    room = *free;
  }
  // Whatever fits goes straight into the ring (the only copy on this side); the rest waits in
  // order, a large owned payload without being copied.
  const std::size_t head_now = static_cast<std::size_t>(std::min<std::uint64_t>(room, head.size()));
  out_.write(head.substr(0, head_now));
  room -= head_now;
  const std::size_t payload_now =
      static_cast<std::size_t>(std::min<std::uint64_t>(room, payload.size()));
  out_.write(payload.substr(0, payload_now));
  stats_.bytes_out += head_now + payload_now;
  queue_rest(head.substr(head_now), payload, payload_now, owned);
  // While held, frames stay unpublished so that a burst costs the reader one wake-up; a full
  // ring is published at once all the same, since the reader must drain it to make room. So is
  // a long burst (kPublishBacklog), so that the reader works while the writer goes on.
  if ((!in_input_ && (writes_held_ == 0 || pending_bytes_ > 0)) ||
      out_.unpublished() >= kPublishBacklog) {
    publish();
  }
  if (pending_bytes_ > 0) kick();  // the loop must watch for space
  return {};
}

void ShmConnection::release_writes() {
  if (writes_held_ == 0 || --writes_held_ > 0) return;
  if (!in_input_) publish();
}

void ShmConnection::queue_rest(std::string_view head, std::string_view payload,
                               std::size_t payload_from, std::string* owned) {
  queue_copy(head);
  if (payload_from >= payload.size()) return;
  if (owned && payload.size() - payload_from >= kReadChunk) {
    pending_.push_back({std::move(*owned), payload_from, true});
    pending_bytes_ += pending_.back().bytes.size() - payload_from;
  } else {
    queue_copy(payload.substr(payload_from));
  }
}

void ShmConnection::queue_copy(std::string_view bytes) {
  if (bytes.empty()) return;
  if (pending_.empty() || pending_.back().owned_payload ||
      pending_.back().bytes.size() > 4 * kReadChunk) {
    pending_.push_back({});
  }
  pending_.back().bytes.append(bytes);
  pending_bytes_ += bytes.size();
}

bool ShmConnection::flush_pending() {
  bool moved = false;
  while (!pending_.empty()) {
    auto free = out_.free_space(pending_bytes_);
    if (!free) {
      fail(free.error());
      return false;
    }
    if (*free == 0) break;
    auto& p = pending_.front();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(*free, p.bytes.size() - p.offset));
    out_.write(std::string_view(p.bytes).substr(p.offset, n));
    p.offset += n;
    pending_bytes_ -= n;
    stats_.bytes_out += n;
    moved = true;
    if (p.offset == p.bytes.size()) pending_.pop_front();
  }
  if (moved) {
    publish();
    if (pending_bytes_ == 0) {
      if (closing_) {
        finish_close(close_reason_);
      } else if (delegate_) {
        delegate_->on_write_done();
      }
    }
  }
  return moved;
}

void ShmConnection::publish() {
  // Lent rings: the executor wrote nothing since it parked (its sends queue), so there is
  // nothing of its own to publish, and the writer's state is the borrower's.
  if (closed_ || owner_.load(std::memory_order_acquire) != kOwned || out_.unpublished() == 0) {
    return;
  }
  // write_batches counts what costs here: doorbell writes, the write path's only system call.
  // Publishing to an awake reader is a store, and a busy stream makes no syscall at all.
  if (out_.publish()) {
    ++stats_.write_batches;
    platform::eventfd_signal(doorbell_out_.get());
  }
}

bool ShmConnection::read_ring() {
  if (read_paused_ || closed_) return false;
  auto avail = in_.available();
  if (!avail) {
    fail(avail.error());
    return false;
  }
  if (*avail == 0) return false;
  // Look at the headers that arrived: copy into reader_ only up to a large frame's start.
  const std::uint64_t position = in_.position();
  const std::uint64_t end = position + *avail;
  while (!framing_lost_ && next_header_ + wire::kHeaderSize <= end) {
    const auto skip = static_cast<std::size_t>(next_header_ - position);
    char raw[wire::kHeaderSize];
    if (const char* at = in_.view(skip, sizeof raw)) {
      std::memcpy(raw, at, sizeof raw);  // a fixed-size copy: no call, no loop
    } else {
      in_.peek(skip, raw, sizeof raw);
    }
    // Only a body this large can hold a payload read in place. Smaller frames are passed over
    // by their length alone: reader_ checks each of their headers when it frames them.
    const std::uint32_t body = wire::load_le<std::uint32_t>(raw);
    if (body >= kHandOverPayload) {
      auto header = wire::decode_header({raw, sizeof raw});
      if (!header) {
        framing_lost_ = true;
        break;
      }
      if (in_place(*header, skip)) {
        if (next_header_ == position) {
          return reader_.idle() && read_in_place(*header, *avail);
        }
        break;
      }
    }
    // Oversize frames too: reader_ skips exactly this header and body.
    next_header_ += wire::kHeaderSize + body;
  }
  incomplete_bytes_ = 0;
  const auto space = reader_.space();
  std::uint64_t take = std::min<std::uint64_t>(*avail, space.size());
  // Never past a header not yet seen (a partial one included), unless framing is lost.
  if (!framing_lost_) take = std::min<std::uint64_t>(take, next_header_ - position);
  if (take == 0) {
    incomplete_bytes_ = *avail;  // a header not all there yet
    return false;
  }
  const std::size_t n = static_cast<std::size_t>(take);
  in_.read(space.data(), n);
  reader_.filled(n);
  stats_.bytes_in += n;
  if (in_.release()) platform::eventfd_signal(doorbell_out_.get());
  in_input_ = true;
  process_input();
  in_input_ = false;
  publish();
  return true;
}

bool ShmConnection::in_place(const wire::FrameHeader& header, std::uint64_t skip) const {
  const std::uint64_t size = wire::kHeaderSize + header.body_length;
  return header.payload_length() >= kHandOverPayload && size <= in_.capacity() &&
         wire::check_limits(header, options_.receive_limits).has_value() &&
         in_.view(static_cast<std::size_t>(skip), static_cast<std::size_t>(size)) != nullptr;
}

bool ShmConnection::read_in_place(const wire::FrameHeader& header, std::uint64_t available) {
  const std::size_t size = wire::kHeaderSize + header.body_length;
  if (available < size || !delegate_) {
    // The rest is on its way (the frame fits the ring, so the writer can finish it).
    incomplete_bytes_ = available;
    return false;
  }
  incomplete_bytes_ = 0;
  const char* at = in_.view(0, size);
  // The header was decoded from a copy (peek); the metadata is copied too, the payload is read
  // where it lies. A peer rewriting it meanwhile changes only the bytes the handler sees.
  in_place_metadata_.assign(at + wire::kHeaderSize, header.metadata_length);
  wire::FrameView frame;
  frame.header = header;
  frame.metadata = in_place_metadata_;
  frame.payload =
      std::string_view(at + wire::kHeaderSize + header.metadata_length, header.payload_length());
  ++stats_.frames_in;
  stats_.bytes_in += size;
  stats_.bytes_in_place += header.payload_length();
  auto keep = shared_from_this();
  const auto delegate = delegate_;  // as in process_input
  in_input_ = true;
  delegate->on_frame(frame);  // the views are valid during the call only: then consumed
  in_input_ = false;
  in_.consume(size);
  next_header_ += size;
  if (closed_) return true;
  if (in_.release()) platform::eventfd_signal(doorbell_out_.get());
  publish();
  return true;
}

// The same framing as StreamConnection (FrameReader): the frame decoder checks every header
// and length, so bytes a corrupt peer put in the ring end as on_malformed, never as a crash.
void ShmConnection::process_input() {
  if (closed_ || !delegate_) return;
  auto keep = shared_from_this();
  // A handler may close the connection (Peer::disconnect), after which its owner lets the
  // delegate go: it must outlive the frame being delivered.
  const auto delegate = delegate_;
  reader_.deliver(*this, *delegate, options_, stats_,
                  [this] { return !closed_ && !closing_ && !read_paused_; });
}

bool ShmConnection::pump() {
  bool progress = false;
  for (int round = 0; round < 64 && !closed_; ++round) {
    const bool moved = flush_pending();
    const bool read = read_ring();
    if (!moved && !read) break;
    progress = true;
  }
  return progress;
}

void ShmConnection::schedule_poll() {
  if (poll_posted_ || sleeping_ || closed_) return;
  poll_posted_ = true;
  asio::post(executor_, [self = shared_from_this()] {
    self->poll_posted_ = false;
    self->poll();
  });
}

void ShmConnection::poll() {
  if (closed_ || sleeping_) return;
  if (!owned(/*ask=*/false)) {
    await_return();
    return;
  }
  if (peer_gone_when_back_) {
    const auto rec = *peer_gone_when_back_;
    peer_gone_when_back_.reset();
    peer_gone(rec);
    return;
  }
  if (close_when_back_) {
    const auto [reason, flush] = *close_when_back_;
    close_when_back_.reset();
    close(reason, flush);
    if (closed_) return;
  }
  bool progress = pump();
  if (closed_) return;
  // A thread waits to borrow the rings (a blocking call): park now rather than spin.
  if (!progress && lend_wanted_.load(std::memory_order_relaxed) && may_park()) {
    spin_.sleeping();
    sleep();
    return;
  }
  // This thread has just woken an application thread that may need its core (IdleHint):
  // sleep rather than spin on the ring (the budget learns nothing from it). shm_wait=spin
  // asked never to sleep.
  auto now = Clock::now();
  if (!progress && spin_.strategy() != WaitStrategy::spin && IdleHint::asked_here(now)) {
    sleep();
    return;
  }
  if (!progress && spin_.may_spin(now)) {
    progress = spin_inline();
    if (closed_) return;
    now = Clock::now();
  }
  if (progress) {
    spin_.found_work(now);
    // The peer usually answers within a few µs (a round trip's other half): watch the ring
    // for it here rather than going back through the executor first, whose reactor costs an
    // epoll_wait per trip, more than the round trip itself. Bounded by kInlineBudget, the
    // longest that work posted to this thread meanwhile (other connections, timers, calls from
    // other threads) waits behind a busy ring.
    const auto until = now + kInlineBudget;
    while (now < until && spin_.may_spin(now) && spin_inline()) {
      if (closed_) return;
      now = Clock::now();
      spin_.found_work(now);
    }
    if (closed_) return;
    schedule_poll();
    return;
  }
  if (spin_.may_spin(now)) {
    schedule_poll();
    return;
  }
  spin_.sleeping();
  sleep();
}

// Spinning here rather than by re-posting poll(): every trip through Asio's scheduler also runs
// its reactor, an epoll_wait system call, which on a VM costs more than a whole shared-memory
// round trip and would be paid between every two looks at the ring. Bounded by kInlineSpin, so
// that other connections, timers and work posted from other threads to this I/O thread wait
// at most that long.
bool ShmConnection::spin_inline() {
  const auto until = Clock::now() + kInlineSpin;
  for (unsigned i = 1;; ++i) {
    platform::cpu_relax();
    if (pump()) return true;
    if (closed_ || (i % 32 == 0 && Clock::now() >= until)) return false;
  }
}

void ShmConnection::sleep() {
  const bool want_in = !read_paused_;
  const bool want_out = pending_bytes_ > 0;
  if (want_in) in_.set_sleeping(true);
  if (want_out) out_.set_waiting(true);
  // The looks below load head and tail with acquire, which the seq_cst stores above do not
  // keep behind them on every architecture (ARM); the fence does.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Check again after announcing: the peer checks the flags after publishing, so either it
  // sees them and rings, or we see its bytes here.
  bool ready = false;
  if (want_in) {
    auto avail = in_.available();
    ready = !avail || *avail > incomplete_bytes_;
  }
  if (!ready && want_out) {
    auto free = out_.free_space(pending_bytes_);
    ready = !free || *free > 0;
  }
  if (ready) {
    in_.set_sleeping(false);
    out_.set_waiting(false);
    spin_.woke(Clock::now());
    schedule_poll();
    return;
  }
  sleeping_ = true;
  doorbell_in_.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [self = shared_from_this()](const std::error_code& ec) { self->on_doorbell(ec); });
  if (may_park()) {
    const bool for_borrower = lend_wanted_.exchange(false, std::memory_order_relaxed);
    owner_.store(kParked, std::memory_order_release);
    // The thread that borrows next may be waiting for this core.
    if (for_borrower) IdleHint::sleep_here_when_idle();
  }
}

void ShmConnection::kick() {
  if (closed_) return;
  if (sleeping_) {
    platform::eventfd_signal(doorbell_in_.native_handle());
  } else {
    schedule_poll();
  }
}

void ShmConnection::on_doorbell(const std::error_code& ec) {
  sleeping_ = false;
  if (closed_ || ec) return;
  platform::eventfd_drain(doorbell_in_.native_handle());
  // Lent: the flags are the borrower's (clearing the reader's could leave the executor asleep
  // through the borrower's give_back); wait for the rings to come back, and ask for them. This
  // ring may be for frames that arrived while the borrower was parking them again (after its
  // last look at the ring): unasked, it would park them with nobody awake to read them.
  if (!owned(/*ask=*/true)) {
    await_return();
    return;
  }
  in_.set_sleeping(false);
  out_.set_waiting(false);
  spin_.woke(Clock::now());
  poll();
}

void ShmConnection::watch_control() {
  control_.async_wait(
      asio::local::stream_protocol::socket::wait_read,
      [self = shared_from_this()](const std::error_code& ec) { self->on_control(ec); });
}

void ShmConnection::on_control(const std::error_code& ec) {
  if (closed_) return;
  std::error_code rec = ec;
  if (!rec) {
    char byte;
    const std::size_t n = control_.receive(asio::buffer(&byte, 1), 0, rec);
    if (!rec && n > 0) {
      fail(Error{StatusCode::protocol_error,
                 "unexpected bytes on the control socket of a shared-memory connection",
                 {}});
      return;
    }
    if (rec == asio::error::would_block || rec == asio::error::try_again) {
      watch_control();
      return;
    }
  }
  // The peer is gone (closed, exited or killed). What it published before is still valid:
  // deliver it, then close; once the rings are back if they are lent.
  if (!owned(/*ask=*/true)) {
    peer_gone_when_back_ = rec;
    return;
  }
  peer_gone(rec);
}

void ShmConnection::peer_gone(const std::error_code& rec) {
  if (!read_paused_) {
    for (int i = 0; i < 1024 && !closed_ && read_ring(); ++i) {
    }
  }
  const bool eof = rec == asio::error::eof || rec == asio::error::connection_reset;
  finish_close(Error{StatusCode::unavailable,
                     eof ? "peer closed the connection" : "control socket failed: " + rec.message(),
                     {}});
}

void ShmConnection::resume_reading() {
  if (!read_paused_) return;
  read_paused_ = false;
  asio::post(executor_, [self = shared_from_this()] {
    if (self->closed_ || self->read_paused_) return;
    self->in_input_ = true;
    self->process_input();
    self->in_input_ = false;
    self->publish();
    self->kick();
  });
}

void ShmConnection::fail(const Error& error) {
  if (closed_ || closing_) return;
  // No GOAWAY through a ring that cannot be trusted: sends fail from here on.
  closing_ = true;
  if (auto d = delegate_) d->on_malformed(error);
  // The shared state cannot be trusted any more: do not wait for a flush through it.
  finish_close(error);
}

void ShmConnection::close(const Error& reason, bool flush) {
  if (closed_) return;
  if (!owned(/*ask=*/true)) {
    if (!close_when_back_) close_when_back_.emplace(reason, flush);
    return;
  }
  if (flush && pending_bytes_ > 0) {
    if (!closing_) {
      closing_ = true;
      close_reason_ = reason;
    }
    kick();
    return;
  }
  publish();
  finish_close(closing_ ? close_reason_ : reason);
}

void ShmConnection::finish_close(const Error& reason) {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  control_.shutdown(asio::local::stream_protocol::socket::shutdown_both, ignored);
  control_.close(ignored);
  // The doorbells stay open until the connection is destroyed: a borrower that hands the rings
  // back rings doorbell_in_ just after the store that lets this thread close.
  doorbell_in_.cancel(ignored);
  pending_.clear();
  pending_bytes_ = 0;
  if (auto d = std::move(delegate_)) d->on_closed(reason);
}

// ---- answers written in place (CallContext::loan_answer) -------------------------------------

char* ShmConnection::loan(std::size_t size) {
  if (loan_out_ || closed_ || closing_ || pending_bytes_ > 0 || size > peer_max_ ||
      !owned(/*ask=*/true)) {
    return nullptr;
  }
  auto free = out_.free_space(wire::kHeaderSize + size);
  if (!free || *free < wire::kHeaderSize + size) return nullptr;
  char* at = out_.region(wire::kHeaderSize, size);  // null only when it wraps, unmirrored
  if (!at) return nullptr;
  loan_out_ = true;
  loan_size_ = size;
  return at;
}

Result<void> ShmConnection::commit_loan(wire::FrameKind kind, std::uint64_t id, std::size_t used) {
  if (!loan_out_) return make_error(StatusCode::internal, "no region loaned");
  loan_out_ = false;
  used = std::min(used, loan_size_);
  if (closed_ || closing_) return make_error(StatusCode::unavailable, "connection is closed");
  if (pending_bytes_ > 0) {
    // The producer sent frames meanwhile: they queued, and the answer goes after them. The
    // region is untouched (nothing was written at the head since), so it is copied from there.
    const std::string copy(out_.region(wire::kHeaderSize, used), used);
    return send(OutFrame::plain(kind, id, copy));
  }
  char head[wire::kHeaderSize];
  wire::FrameHeader h;
  h.body_length = static_cast<std::uint32_t>(used);
  h.kind = kind;
  h.id = id;
  wire::encode_header(h, head);
  out_.write_at(0, {head, sizeof head});
  out_.advance(sizeof head + used);
  ++stats_.frames_out;
  stats_.bytes_out += sizeof head + used;
  if ((!in_input_ && writes_held_ == 0) || out_.unpublished() >= kPublishBacklog) publish();
  return {};
}

void ShmConnection::cancel_loan() {
  if (!loan_out_) return;
  loan_out_ = false;
  if (pending_bytes_ > 0) kick();  // frames queued behind it
}

// ---- lending the rings to a blocking caller -------------------------------------------------

bool ShmConnection::owned(bool ask) {
  std::uint32_t state = owner_.load(std::memory_order_acquire);
  if (state == kParked &&
      owner_.compare_exchange_strong(state, kOwned, std::memory_order_acq_rel)) {
    state = kOwned;
  }
  if (state == kOwned) {
    if (wanted_back_.load(std::memory_order_relaxed)) {
      wanted_back_.store(false, std::memory_order_relaxed);
    }
    return true;
  }
  if (!ask) return false;
  // Dekker with give_back(): either the borrower, parking, sees this flag and hands the rings
  // back, or this compare-and-swap sees them parked.
  wanted_back_.store(true, std::memory_order_seq_cst);
  state = kParked;
  if (owner_.compare_exchange_strong(state, kOwned, std::memory_order_seq_cst) || state == kOwned) {
    wanted_back_.store(false, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool ShmConnection::may_park() const {
  return delegate_ && !closed_ && !closing_ && !read_paused_ && !in_input_ && !framing_lost_ &&
         writes_held_ == 0 && pending_bytes_ == 0 && incomplete_bytes_ == 0 && reader_.idle() &&
         next_header_ == in_.position() && out_.unpublished() == 0 && !close_when_back_ &&
         !peer_gone_when_back_;
}

void ShmConnection::await_return() {
  if (sleeping_ || closed_) return;
  sleeping_ = true;
  doorbell_in_.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [self = shared_from_this()](const std::error_code& ec) { self->on_doorbell(ec); });
}

Result<void> ShmConnection::send_later(const OutFrame& f) {
  if (auto ok = check_open(); !ok) return ok;
  head_buf_.clear();
  if (f.metadata) {
    if (auto head = wire::encode_frame_head(f.kind, f.id, *f.metadata, f.payload.size(), peer_max_,
                                            head_buf_);
        !head) {
      return head;
    }
  } else {
    head_buf_.resize(wire::kHeaderSize + f.encoded.size());
    if (auto ok = wire::encode_head(f.kind, f.id, f.encoded.size(), f.payload.size(), peer_max_,
                                    head_buf_.data());
        !ok) {
      return ok;
    }
    if (!f.encoded.empty()) {
      std::memcpy(head_buf_.data() + wire::kHeaderSize, f.encoded.data(), f.encoded.size());
    }
  }
  ++stats_.frames_out;
  queue_rest(head_buf_, f.payload, 0, f.owned);
  return {};
}

bool ShmConnection::borrow(std::chrono::nanoseconds patience) {
  std::uint32_t state = kParked;
  if (!owner_.compare_exchange_strong(state, kLent, std::memory_order_acquire)) {
    if (state != kOwned || patience.count() <= 0) return false;
    // The executor is awake (spinning after its last work, or busy): ask it to park.
    lend_wanted_.store(true, std::memory_order_relaxed);
    const auto until = Clock::now() + patience;
    for (unsigned i = 1;; ++i) {
      platform::cpu_relax();
      state = kParked;
      if (owner_.load(std::memory_order_relaxed) == kParked &&
          owner_.compare_exchange_strong(state, kLent, std::memory_order_acquire)) {
        break;
      }
      if (i % 32 == 0) {
        if (Clock::now() >= until) return false;
        // The executor may be waiting for this very core (woken onto it with the answer that
        // woke this thread): let it run to the point where it parks.
        std::this_thread::yield();
      }
    }
  }
  // This thread reads the ring now: the writer need not ring the executor's doorbell.
  in_.set_sleeping(false);
  return true;
}

Result<void> ShmConnection::borrowed_send(const OutFrame& f) {
  // The call path's frames only: a block the caller encoded (or none), within one stack buffer.
  constexpr std::size_t kStackHead = 512;
  if (f.metadata || wire::kHeaderSize + f.encoded.size() > kStackHead) {
    return make_error(StatusCode::invalid_argument, "frame not sent from a borrowed connection");
  }
  // The I/O thread queued frames of its own meanwhile: they go first, through it.
  if (wanted_back_.load(std::memory_order_seq_cst)) {
    return make_error(StatusCode::resource_exhausted, "the I/O thread has frames to send first");
  }
  char head[kStackHead];
  if (auto ok =
          wire::encode_head(f.kind, f.id, f.encoded.size(), f.payload.size(), peer_max_, head);
      !ok) {
    return ok;
  }
  if (!f.encoded.empty()) std::memcpy(head + wire::kHeaderSize, f.encoded.data(), f.encoded.size());
  const std::string_view whole(head, wire::kHeaderSize + f.encoded.size());
  const std::uint64_t total = whole.size() + f.payload.size();
  auto free = out_.free_space(total);
  if (!free || *free < total) {
    return make_error(StatusCode::resource_exhausted, "no room in the ring at once");
  }
  const auto writing_since = Clock::now();
  if (!out_.try_write(whole, f.payload)) {
    out_.write(whole);
    out_.write(f.payload);
  }
  request_write_time_ = Clock::now() - writing_since;
  borrowed_publish(total);
  return {};
}

void ShmConnection::borrowed_publish(std::uint64_t total) {
  ++stats_.frames_out;
  ++stats_.borrowed_requests;
  stats_.bytes_out += total;
  if (out_.publish()) {
    ++stats_.write_batches;
    platform::eventfd_signal(doorbell_out_.get());
  }
}

char* ShmConnection::borrowed_loan(std::size_t metadata_size, std::size_t size) {
  // As borrowed_send: the I/O thread's own frames go first, through it.
  if (borrowed_loan_out_ || size > peer_max_ || metadata_size > wire::kMaxMetadataSize ||
      wanted_back_.load(std::memory_order_seq_cst)) {
    return nullptr;
  }
  const std::size_t skip = wire::kHeaderSize + metadata_size;
  const std::uint64_t total = skip + std::uint64_t{size};
  auto free = out_.free_space(total);
  if (!free || *free < total) return nullptr;
  char* at = out_.region(skip, size);  // null only when it wraps, unmirrored
  if (!at) return nullptr;
  borrowed_loan_out_ = true;
  loan_started_ = Clock::now();
  borrowed_loan_size_ = size;
  borrowed_loan_skip_ = skip;
  return at;
}

Result<void> ShmConnection::borrowed_commit(wire::FrameKind kind, std::uint64_t id,
                                            std::string_view metadata, std::size_t used) {
  if (!borrowed_loan_out_) return make_error(StatusCode::internal, "no region loaned");
  borrowed_loan_out_ = false;
  if (used > borrowed_loan_size_ || wire::kHeaderSize + metadata.size() != borrowed_loan_skip_) {
    return make_error(StatusCode::internal, "commit does not match the loaned region");
  }
  char head[wire::kHeaderSize];
  if (auto ok = wire::encode_head(kind, id, metadata.size(), used, peer_max_, head); !ok) {
    return ok;
  }
  out_.write_at(0, {head, sizeof head});
  if (!metadata.empty()) out_.write_at(sizeof head, metadata);
  const std::uint64_t total = borrowed_loan_skip_ + std::uint64_t{used};
  request_write_time_ = Clock::now() - loan_started_;
  out_.advance(total);
  ++stats_.loaned_requests;
  borrowed_publish(total);
  return {};
}

int ShmConnection::take_answer(std::uint64_t id, std::string& answer,
                               const std::function<void(std::string_view)>* view) {
  auto avail = in_.available();
  if (!avail) return -1;  // the executor finds it again and closes
  if (*avail < wire::kHeaderSize) return 0;
  char raw[wire::kHeaderSize];
  in_.peek(0, raw, sizeof raw);  // decoded from a copy: the peer may rewrite the ring
  wire::FrameHeader header;
  if (!wire::read_valid_header(raw, header) || header.kind != wire::FrameKind::response ||
      header.id != id || header.metadata_length != 0 ||
      !wire::check_limits(header, options_.receive_limits)) {
    return -1;
  }
  const std::uint64_t size = wire::kHeaderSize + std::uint64_t{header.body_length};
  if (size > in_.capacity()) return -1;  // streams through the executor's reader in pieces
  if (*avail < size) return 0;
  const std::size_t n = header.payload_length();
  // Consumed however the view ends (it may throw): the answer is this call's and taken.
  auto consume = [&] {
    in_.consume(static_cast<std::size_t>(size));
    next_header_ += size;
    ++stats_.frames_in;
    ++stats_.borrowed_answers;
    stats_.bytes_in += size;
    if (in_.release()) platform::eventfd_signal(doorbell_out_.get());
  };
  const char* at = in_.view(wire::kHeaderSize, n);
  if (view && *view && at) {
    // Read where it lies: no copy on this side at all.
    stats_.bytes_in_place += n;
    try {
      (*view)(std::string_view(at, n));
    } catch (...) {
      consume();
      throw;
    }
    answer.clear();
    consume();
    return 1;
  }
  // The answer's one copy on this side, from the ring into the caller's string.
  if (at) {
    answer.assign(at, n);
  } else {
    answer.resize(n);
    in_.peek(wire::kHeaderSize, answer.data(), n);
  }
  consume();
  if (view && *view) {
    (*view)(answer);  // wrapped in an unmirrored ring: the copy is the view
    answer.clear();
  }
  return 1;
}

BorrowedWait ShmConnection::borrowed_wait(std::uint64_t id, Clock::time_point deadline,
                                          std::string& answer,
                                          const std::function<void(std::string_view)>* view) {
  if (const auto late = late_answer_ns_.exchange(0, std::memory_order_relaxed); late > 0) {
    lent_spin_.slept_in_vain(std::chrono::nanoseconds(late));
  }
  const auto started = Clock::now();
  lent_spin_.woke(started);
  // An answer to a large request takes about as long as the request took to write (the peer
  // reads it, and an answer as large is written as long): a caller that spent that long
  // writing looks for it three times as long before it sleeps, whatever its budget says.
  const bool adaptive = lent_spin_.strategy() == WaitStrategy::adaptive;
  const auto spin_floor = 3 * request_write_time_;
  std::uint64_t seen = 0;  // bytes in the ring at the last clock read
  for (unsigned i = 1;; ++i) {
    const int got = take_answer(id, answer, view);
    if (got > 0) {
      lent_spin_.found_work(Clock::now());
      return BorrowedWait::answered;
    }
    if (got < 0 || wanted_back_.load(std::memory_order_relaxed)) {
      owner_.store(kOwned, std::memory_order_release);
      platform::eventfd_signal(doorbell_in_fd_);
      return BorrowedWait::handed_back;
    }
    // The clock is read every 16 looks: an answer that comes at once costs no clock read.
    if (i % 16 == 0) {
      const auto now = Clock::now();
      if (now >= deadline) {
        give_back();
        return BorrowedWait::deadline;
      }
      // A large answer arriving piece by piece is work found: the spin goes on while it flows.
      if (auto avail = in_.available(); avail && *avail > seen) {
        seen = *avail;
        lent_spin_.found_work(now);
      }
      if (!lent_spin_.may_spin(now) && !(adaptive && now - started < spin_floor)) {
        lent_spin_.sleeping();
        give_back();
        return BorrowedWait::spin_ran_out;
      }
    }
    platform::cpu_relax();
  }
}

void ShmConnection::give_back() {
  borrowed_loan_out_ = false;  // a region never committed is dropped
  if (!wanted_back_.load(std::memory_order_seq_cst)) {
    // Parked again, as the executor left it: asleep on its doorbell, which the writer rings
    // for the next frame. Announce first, then look: either the writer sees the flag or this
    // look sees its bytes.
    in_.set_sleeping(true);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    auto avail = in_.available();
    if (avail && *avail == 0) {
      owner_.store(kParked, std::memory_order_seq_cst);
      if (!wanted_back_.load(std::memory_order_seq_cst)) return;
      // The executor asked meanwhile: hand the rings over unless it took them itself.
      std::uint32_t state = kParked;
      if (!owner_.compare_exchange_strong(state, kOwned, std::memory_order_acq_rel)) return;
      platform::eventfd_signal(doorbell_in_fd_);
      return;
    }
  }
  // Frames wait or the executor asked: it takes over, woken on its own doorbell.
  owner_.store(kOwned, std::memory_order_release);
  platform::eventfd_signal(doorbell_in_fd_);
}

}  // namespace plexus::transport::shm
