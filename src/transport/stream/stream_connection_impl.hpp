// The definitions of StreamConnection's members, for the files that instantiate it:
// stream_connection.cpp (Unix and TCP) and tls/tls_connection.cpp (TLS over TCP). A protocol
// tag with `is_tls` reads and writes its TCP socket as plain TCP does and passes the bytes
// through its `Session` (TLS records in memory): ciphertext is read into tls_.cipher_in and
// decrypted into the frame reader; a batch is encrypted into tls_.cipher_out and written.
#pragma once

#include "transport/stream/stream_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <asio/post.hpp>

#include "platform/cpu_relax.hpp"
#include "platform/posix/socket_io.hpp"
#include "wire/metadata.hpp"
#include "wire/shm_upgrade.hpp"

namespace plexus::transport {

template <typename P>
std::size_t StreamConnection<P>::Batch::size() const {
  std::size_t n = bytes.size();
  for (const auto& l : large) n += l.bytes.size();
  return n;
}

template <typename P>
StreamConnection<P>::StreamConnection(Socket socket, ConnectionOptions options, std::string label)
    : socket_(std::move(socket)),
      executor_(socket_.get_executor()),
      options_(options),
      label_(std::move(label)),
      hot_slot_(options.hot_read) {}

template <typename P>
std::string StreamConnection<P>::remote_host() const {
  if constexpr (std::is_same_v<P, asio::ip::tcp> || kIsTlsProtocol<P>) {
    std::error_code ec;
    const auto endpoint = raw().remote_endpoint(ec);
    return ec ? std::string() : endpoint.address().to_string();
  } else {
    return {};
  }
}

template <typename P>
std::optional<platform::PeerCredentials> StreamConnection<P>::credentials() const {
  if constexpr (std::is_same_v<P, asio::local::stream_protocol>) {
    return platform::peer_credentials(const_cast<Socket&>(socket_).native_handle());
  } else {
    return std::nullopt;
  }
}

template <typename P>
std::string StreamConnection<P>::peer_certificate_subject() const {
  if constexpr (kIsTlsProtocol<P>) {
    return tls_.session ? tls_.session->peer_subject() : std::string();
  } else {
    return {};
  }
}

template <typename P>
std::size_t StreamConnection<P>::pending_write_bytes() const {
  return pending_.size() + writing_.size();
}

template <typename P>
void StreamConnection<P>::start(std::shared_ptr<ConnectionDelegate> delegate) {
  delegate_ = std::move(delegate);
  // Lets start_write(try_now) write synchronously without ever blocking the I/O thread;
  // asynchronous operations behave the same either way. (TLS too: what a short write leaves of
  // its records stays in tls_.cipher_out for async_write.)
  std::error_code ec;
  socket_.non_blocking(true, ec);
  sync_write_ok_ = !ec;
  fd_ = raw().native_handle();
  start_read();
}

template <typename P>
Result<void> StreamConnection<P>::refuse_send() const {
  if (!closed_ && !closing_ && write_failed_) {
    return make_error(StatusCode::unavailable, "connection is closing: the peer stopped reading");
  }
  return send_refusal(closed_ || closing_, pending_.size(), options_.max_pending_write_bytes);
}

template <typename P>
Result<void> StreamConnection<P>::send(const OutFrame& f) {
  if (auto ok = check_open(); !ok) return ok;
  // Queued frames keep a borrower out (its request would overtake them); while one writes,
  // this one waits in pending_ for give_back.
  bool owned = true;
  if constexpr (kLends) {
    if (lend_.load(std::memory_order_relaxed) != kOwned) owned = reclaim();
  }
  const bool gather = f.owned && f.payload.size() >= kHandOverPayload;
  if (f.metadata && !gather) {
    if (auto ok =
            wire::encode_frame(f.kind, f.id, *f.metadata, f.payload, peer_max_, pending_.bytes);
        !ok) {
      return ok;
    }
  } else if (f.metadata) {
    if (auto ok = wire::encode_frame_head(f.kind, f.id, *f.metadata, f.payload.size(), peer_max_,
                                          pending_.bytes);
        !ok) {
      return ok;
    }
  } else {
    char head[wire::kHeaderSize];
    if (auto ok =
            wire::encode_head(f.kind, f.id, f.encoded.size(), f.payload.size(), peer_max_, head);
        !ok) {
      return ok;
    }
    pending_.bytes.append(head, sizeof head).append(f.encoded);
    if (!gather) pending_.bytes.append(f.payload);
  }
  // A large payload handed over is written from its own string: one iovec more, one copy less.
  if (gather) pending_.large.push_back({pending_.bytes.size(), std::move(*f.owned)});
  if (owned) {
    ++stats_.frames_out;
  } else {
    ++deferred_frames_;  // the borrower counts into stats_ meanwhile
  }
  if (!write_in_flight_ && !in_input_ && writes_held_ == 0) start_write();
  return {};
}

template <typename P>
bool StreamConnection<P>::has_queued() const {
  if (!pending_.bytes.empty()) return true;
  if constexpr (kIsTlsProtocol<P>) {
    return !write_failed_ && tls_.session && tls_.session->output_size() > 0;
  } else {
    return false;
  }
}

template <typename P>
void StreamConnection<P>::start_write(bool try_now) {
  if constexpr (kLends) {
    if (!reclaim()) return;  // a borrower writes: give_back posts this write (after_lend)
  }
  std::swap(pending_, writing_);
  iov_.clear();
  std::size_t offset = 0;
  for (const auto& l : writing_.large) {
    if (l.batch_offset > offset) {
      iov_.emplace_back(writing_.bytes.data() + offset, l.batch_offset - offset);
    }
    iov_.emplace_back(l.bytes.data(), l.bytes.size());
    offset = l.batch_offset;
  }
  if (writing_.bytes.size() > offset) {
    iov_.emplace_back(writing_.bytes.data() + offset, writing_.bytes.size() - offset);
  }
  if constexpr (kIsTlsProtocol<P>) {
    // The whole batch through SSL_write: small frames side by side share records.
    tls_.cipher_out.clear();
    for (const auto& b : iov_) {
      if (!tls_.session->encrypt(static_cast<const char*>(b.data()), b.size())) {
        write_in_flight_ = true;
        on_write(asio::error::no_memory, 0);
        return;
      }
    }
    tls_.session->take_output(tls_.cipher_out);
    iov_.assign(1, asio::buffer(tls_.cipher_out));
  }
  write_in_flight_ = true;
  ++stats_.write_batches;
  const std::size_t total = asio::buffer_size(iov_);
  if (try_now && sync_write_ok_) {
    // Usually the socket takes the whole batch: then no asynchronous operation, completion
    // handler or extra reactor poll is needed. Errors are left to async_write below, which
    // meets them again and reports them through on_write exactly as before.
    std::error_code ec;
    std::size_t n = raw().write_some(iov_, ec);
    if (ec) n = 0;
    if (n == total) {
      on_write({}, n);
      return;
    }
    stats_.bytes_out += n;  // on_write adds only what async_write reports
    auto it = iov_.begin();
    while (n >= it->size()) n -= (it++)->size();  // stops inside the batch: n < its size
    iov_.erase(iov_.begin(), it);
    iov_.front() += n;
  }
  // Asio's default completion condition writes at most 64 KiB per syscall; ask for everything
  // left so a large batch goes in as few writev calls as the kernel allows.
  const std::size_t left = asio::buffer_size(iov_);
  asio::async_write(
      socket_, iov_,
      [left](const std::error_code& ec, std::size_t written) -> std::size_t {
        return ec ? 0 : left - written;
      },
      [self = this->shared_from_this()](const std::error_code& ec, std::size_t n) {
        self->on_write(ec, n);
      });
}

template <typename P>
void StreamConnection<P>::on_write(const std::error_code& ec, std::size_t n) {
  write_in_flight_ = false;
  stats_.bytes_out += n;
  writing_.clear();
  if constexpr (kIsTlsProtocol<P>) tls_.cipher_out.clear();
  if (closed_) return;
  if (ec) {
    // The peer stopped reading: it closed (EPIPE, ECONNRESET), often right after its last
    // frames, such as a server that drains on shutdown and closes after its last responses,
    // which it counts as delivered. Those frames are already in this socket's receive buffer
    // (they left before the close); closing now would throw them away and fail calls whose
    // answers had arrived. So the delegate gets what is there first, then the connection
    // closes (read_what_arrived_then_close). Nothing more is written: sends are refused.
    write_error_ = Error{StatusCode::unavailable, "write failed: " + ec.message(), {}};
    if (closing_) {
      finish_close(write_error_);  // closing anyway, and no longer reading
      return;
    }
    write_failed_ = true;
    pending_.clear();
    if (read_in_flight_) {
      // Its handler may already hold bytes; cancelled, it comes back at once either way and
      // on_read carries on from there.
      std::error_code ignored;
      raw().cancel(ignored);
    } else if (hot_) {
      park();  // start_read() reads what arrived
    } else {
      start_read();  // unless reading is paused: then when it resumes
    }
    return;
  }
  if (has_queued()) {
    start_write();
  } else if (closing_) {
    finish_close(close_reason_);
  } else {
    if (pending_.bytes.capacity() > (1u << 20)) {
      // A burst of large frames grew the batch buffers; give the memory back when idle.
      pending_.bytes.shrink_to_fit();
      writing_.bytes.shrink_to_fit();
      if constexpr (kIsTlsProtocol<P>) tls_.cipher_out.shrink_to_fit();
    }
    if (delegate_) delegate_->on_write_done();
    if (!closed_ && !write_in_flight_ && !has_queued()) offer_lend();
  }
}

template <typename P>
void StreamConnection<P>::start_read() {
  if (closed_ || closing_ || read_in_flight_ || read_paused_ || hot_) return;
  if (write_failed_) {
    read_what_arrived_then_close();  // no waiting for more: the peer stopped reading
    return;
  }
  read_in_flight_ = true;
  if constexpr (kIsTlsProtocol<P>) {
    if (tls_.unread) {  // what the session holds comes first, as a read of 0 bytes
      asio::post(executor_, [self = this->shared_from_this()] { self->on_read({}, 0); });
      return;
    }
  }
  const auto space = read_space();
  // Plain async_read_some, whose next read tries recv once more before waiting (an EAGAIN recv
  // per message). Reporting a short read as "drained" to the edge-triggered reactor saves that
  // syscall but loses an end of stream that arrived in the same epoll wake-up as the last bytes:
  // the peer's close would go unseen until a timeout (test HalfAFrameAndEofArrivingTogether…).
  socket_.async_read_some(asio::buffer(space.data(), space.size()),
                          [self = this->shared_from_this()](
                              const std::error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

template <typename P>
void StreamConnection<P>::on_read(const std::error_code& ec, std::size_t n) {
  read_in_flight_ = false;
  if (closed_) return;
  if (write_failed_) {  // cancelled by on_write, or it finished first: what it read counts
    if (!ec) handle_input(n);
    start_read();
    return;
  }
  if (ec) {
    const bool eof = ec == asio::error::eof || ec == asio::error::connection_reset;
    finish_close(Error{StatusCode::unavailable,
                       eof ? "peer closed the connection" : "read failed: " + ec.message(),
                       {}});
    return;
  }
  handle_input(n);
  continue_reading();
}

template <typename P>
std::span<char> StreamConnection<P>::read_space() {
  if constexpr (kIsTlsProtocol<P>) {
    return {tls_.cipher_in.get(), tls_.kReadChunk};
  } else {
    return reader_.space();
  }
}

template <typename P>
void StreamConnection<P>::decrypt_input() {
  if constexpr (kIsTlsProtocol<P>) {
    for (;;) {
      if (closed_) return;
      if (closing_ || read_paused_) {
        tls_.unread = true;  // start_read() comes back for the rest
        return;
      }
      using ReadState = typename P::Session::ReadState;
      const auto space = reader_.space();
      const auto plain = tls_.session->read(space.data(), space.size());
      if (plain.state == ReadState::data) {
        reader_.filled(plain.bytes);
        process_input();
        // Nothing more to decrypt: no SSL_read just to hear "want input" (one per message).
        if (!closed_ && !tls_.session->has_buffered_input()) {
          tls_.unread = false;
          return;
        }
        continue;
      }
      if (plain.state == ReadState::want_input) {
        tls_.unread = false;
        return;
      }
      finish_close(Error{StatusCode::unavailable,
                         plain.state == ReadState::closed
                             ? "peer closed the connection"
                             : "TLS read failed: " + tls_.session->failure(),
                         {}});
      return;
    }
  }
}

template <typename P>
void StreamConnection<P>::handle_input(std::size_t n) {
  stats_.bytes_in += n;
  if constexpr (kIsTlsProtocol<P>) {
    tls_.session->put_input(tls_.cipher_in.get(), n);
    in_input_ = true;
    decrypt_input();
    in_input_ = false;
    if (!closed_ && !write_in_flight_ && has_queued()) start_write(/*try_now=*/true);
    return;
  }
  reader_.filled(n);
  // Everything the delegate sends for the frames of this read (answers, pipelined calls made
  // from completions) leaves in few writes: every kFlushDuringInput bytes between two frames
  // (process_input), the rest after the last one; not one syscall per frame, and usually no
  // completion hop (start_write(try_now)). Frames queued during a write still in flight join
  // the next batch as always.
  in_input_ = true;
  process_input();
  in_input_ = false;
  if (!closed_ && !write_in_flight_ && has_queued()) start_write(/*try_now=*/true);
}

template <typename P>
bool StreamConnection<P>::wants_hot() const {
  if constexpr (kIsTlsProtocol<P>) {
    if (tls_.unread) return false;  // start_read() decrypts it first
  }
  return hot_slot_ && !closed_ && !closing_ && !read_paused_ && !write_failed_;
}

template <typename P>
void StreamConnection<P>::continue_reading() {
  if (wants_hot()) {
    hot_ = true;
    hot_slot_->take(this->shared_from_this());
    return;
  }
  start_read();
}

template <typename P>
bool StreamConnection<P>::read_until(std::chrono::steady_clock::time_point until) {
  if (!hot_ || closed_) return false;
  if (closing_) {
    park();  // reads no more; start_read() knows
    return false;
  }
  auto keep = this->shared_from_this();  // the delegate may drop its reference
  const int fd = raw().native_handle();
  for (unsigned i = 1;; ++i) {
    const auto space = read_space();
    if (space.empty()) {
      park();  // nowhere to read to: the reactor's read handles it as it always has
      return false;
    }
    const ssize_t n = platform::recv_nonblocking(fd, space.data(), space.size());
    if (n > 0) {
      ++stats_.hot_reads;
      handle_input(static_cast<std::size_t>(n));
      // Closing, pausing or another connection's take() may have parked it meanwhile.
      if (hot_) {
        if (!wants_hot()) {
          park();
        } else {
          hot_slot_->take(keep);  // still the socket to watch
        }
      }
      return true;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      // The end of the stream or an error, reported as a read through the reactor would
      // (a socket error is gone once recv has returned it: another read would see only EOF).
      on_read(n == 0 ? std::error_code(asio::error::eof)
                     : std::error_code(errno, asio::error::get_system_category()),
              0);
      return true;
    }
    platform::cpu_relax();
    // The clock every other recv: a recv (a system call) costs several clock reads.
    if (i % 2 == 0 && std::chrono::steady_clock::now() >= until) return false;
  }
}

template <typename P>
void StreamConnection<P>::park() {
  if (!hot_) return;
  hot_ = false;
  if (hot_slot_) hot_slot_->release(this);
  start_read();
}

template <typename P>
void StreamConnection<P>::pause_reading() {
  read_paused_ = true;
  if (hot_) park();  // start_read() starts nothing while paused
}

template <typename P>
bool StreamConnection<P>::answer_shm_upgrade() {
  const std::string_view view = reader_.input();
  if (view.size() < wire::kShmUpgradeSniffSize) return false;
  if (!wire::is_shm_upgrade_request(view)) {
    refuse_shm_upgrade_ = false;  // an ordinary first frame: nothing more to look at
    return true;
  }
  if (view.size() < wire::kShmUpgradeRequestSize) return false;
  refuse_shm_upgrade_ = false;
  auto request = wire::decode_shm_upgrade_request(view.substr(0, wire::kShmUpgradeRequestSize));
  reader_.consume(wire::kShmUpgradeRequestSize);
  if (!request) {
    // Not the protocol (§19.2): nothing sensible to answer.
    delegate_->on_malformed(request.error());
    close(request.error(), /*flush=*/false);
    return false;
  }
  wire::ShmUpgradeReply reply;
  reply.status = static_cast<std::uint16_t>(StatusCode::failed_precondition);
  pending_.bytes += wire::encode_shm_upgrade_reply(reply);  // leaves after this input batch
  ++stats_.frames_out;
  return true;
}

template <typename P>
void StreamConnection<P>::process_input() {
  if (closed_ || !delegate_) return;
  // The delegate may close us or queue sends; `keep` holds us if it drops its reference.
  auto keep = this->shared_from_this();
  if (refuse_shm_upgrade_ && !answer_shm_upgrade()) return;
  reader_.deliver(*this, *delegate_, options_, stats_, [this] {
    // A long input batch: what its frames produced so far leaves now, between two frames, so
    // the peer works on it while this side handles the rest (both cores busy instead of
    // taking turns); the rest still leaves in one write after the batch.
    if (pending_.bytes.size() >= kFlushDuringInput && !write_in_flight_ && writes_held_ == 0 &&
        !closed_ && !closing_) {
      start_write(/*try_now=*/true);
    }
    return !closed_ && !closing_ && !read_paused_;
  });
}

template <typename P>
void StreamConnection<P>::release_writes() {
  if (writes_held_ == 0 || --writes_held_ > 0) return;
  if (!closed_ && !write_in_flight_ && !in_input_ && has_queued()) {
    start_write(/*try_now=*/true);
  }
}

template <typename P>
void StreamConnection<P>::resume_reading() {
  if (!read_paused_) return;
  read_paused_ = false;
  // Posted: the caller may be inside a delegate callback of another connection or this one.
  asio::post(executor_, [self = this->shared_from_this()] {
    if (self->closed_ || self->read_paused_) return;
    self->in_input_ = true;
    self->process_input();
    self->in_input_ = false;
    if (!self->closed_ && !self->write_in_flight_ && self->has_queued()) {
      self->start_write(/*try_now=*/true);
    }
    self->start_read();
  });
}

template <typename P>
void StreamConnection<P>::close(const Error& reason, bool flush) {
  if (closed_) return;
  if (flush && (write_in_flight_ || has_queued())) {
    if (!closing_) {
      closing_ = true;
      close_reason_ = reason;
    }
    if (!write_in_flight_) start_write();
    return;
  }
  finish_close(closing_ ? close_reason_ : reason);
}

template <typename P>
void StreamConnection<P>::read_what_arrived_then_close() {
  auto keep = this->shared_from_this();  // the delegate may drop its reference
  const int fd = raw().native_handle();
  if constexpr (kIsTlsProtocol<P>) {
    if (tls_.unread && !closed_ && !closing_ && !read_paused_) handle_input(0);
  }
  // Only what is there now: a peer that shut down only its reading side could otherwise keep
  // this thread here for as long as it writes.
  auto left = platform::bytes_readable(fd);
  while (!closed_ && !closing_ && left > 0) {
    if (read_paused_) return;  // resume_reading() comes back here through start_read()
    const auto space = read_space();
    if (space.empty()) break;
    const ssize_t n = platform::recv_nonblocking(fd, space.data(), std::min(space.size(), left));
    if (n <= 0) break;  // the end of the stream, or an error: close
    left -= static_cast<std::size_t>(n);
    handle_input(static_cast<std::size_t>(n));
  }
  if (read_paused_ && !closed_ && !closing_) return;  // paused by the last frames: on resume
  finish_close(write_error_);
}

template <typename P>
void StreamConnection<P>::finish_close(const Error& reason) {
  if (closed_) return;
  closed_ = true;
  if (hot_) {
    hot_ = false;
    hot_slot_->release(this);
  }
  if constexpr (kLends) {
    // A borrower is inside one non-blocking sendmsg at most: wait it out before the descriptor
    // goes (it could be reused by then).
    for (int state = lend_.load(std::memory_order_acquire);;) {
      if (state == kBorrowed && !handing_over_.load(std::memory_order_acquire)) {
        platform::cpu_relax();
        state = lend_.load(std::memory_order_acquire);
      } else if (lend_.compare_exchange_weak(state, kClosed, std::memory_order_acq_rel)) {
        break;
      }
    }
  }
  std::error_code ignored;
  // TLS: no close_notify (it would need one more write); frames are self-delimiting, so a peer
  // cannot be fooled by a truncated stream.
  raw().shutdown(asio::socket_base::shutdown_both, ignored);
  raw().close(ignored);
  pending_.clear();
  if (auto d = std::move(delegate_)) d->on_closed(reason);
}

// ---- lending the writing side ----------------------------------------------------------------

template <typename P>
bool StreamConnection<P>::reclaim() {
  int state = lend_.load(std::memory_order_acquire);
  for (;;) {
    if (state == kOwned || state == kClosed) {
      if (deferred_frames_ != 0) stats_.frames_out += std::exchange(deferred_frames_, 0);
      return true;
    }
    if (state == kLendable) {
      if (lend_.compare_exchange_weak(state, kOwned, std::memory_order_acq_rel)) {
        if (deferred_frames_ != 0) stats_.frames_out += std::exchange(deferred_frames_, 0);
        return true;
      }
      continue;
    }
    // Borrowed. Either the borrower sees this wish when it gives back, or this sees the
    // connection given back (both sequentially consistent).
    want_back_.store(true, std::memory_order_seq_cst);
    state = lend_.load(std::memory_order_seq_cst);
    if (state == kBorrowed) return false;
  }
}

template <typename P>
void StreamConnection<P>::offer_lend() {
  if constexpr (kLends) {
    if (!sync_write_ok_ || closed_ || closing_ || write_failed_ || in_input_ || writes_held_ > 0) {
      return;
    }
    int owned = kOwned;
    lend_.compare_exchange_strong(owned, kLendable, std::memory_order_release);
  }
}

template <typename P>
void StreamConnection<P>::after_lend() {
  if (closed_) return;
  if (!write_in_flight_ && !in_input_ && writes_held_ == 0 && has_queued()) {
    start_write(/*try_now=*/true);
  } else if (!write_in_flight_ && !has_queued()) {
    offer_lend();
  }
}

template <typename P>
void StreamConnection<P>::take_lent_rest(std::string rest) {
  if (closed_) return;  // finish_close took it from the borrower
  handing_over_.store(false, std::memory_order_relaxed);
  want_back_.store(false, std::memory_order_relaxed);
  lend_.store(kOwned, std::memory_order_seq_cst);
  // The rest goes before anything queued meanwhile.
  for (auto& l : pending_.large) l.batch_offset += rest.size();
  pending_.bytes.insert(0, rest);
  if (deferred_frames_ != 0) stats_.frames_out += std::exchange(deferred_frames_, 0);
  if (!write_in_flight_ && !in_input_ && writes_held_ == 0) start_write(/*try_now=*/true);
}

template <typename P>
bool StreamConnection<P>::borrow(std::chrono::nanoseconds /*patience*/) {
  if constexpr (!kLends) {
    return false;
  } else {
    int lendable = kLendable;
    return lend_.compare_exchange_strong(lendable, kBorrowed, std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }
}

template <typename P>
Result<void> StreamConnection<P>::borrowed_send(const OutFrame& f) {
  if constexpr (!kLends) {
    return make_error(StatusCode::unavailable, "connection not borrowed");
  } else {
    // The caller checked the payload against the peer's limit (peer_max_ is the executor's).
    constexpr std::uint32_t kNoLimitHere = 0xFFFFFFFFu;
    lent_head_.clear();
    if (f.metadata) {
      if (auto ok = wire::encode_frame_head(f.kind, f.id, *f.metadata, f.payload.size(),
                                            kNoLimitHere, lent_head_);
          !ok) {
        return ok;
      }
    } else {
      char head[wire::kHeaderSize];
      if (auto ok = wire::encode_head(f.kind, f.id, f.encoded.size(), f.payload.size(),
                                      kNoLimitHere, head);
          !ok) {
        return ok;
      }
      lent_head_.append(head, sizeof head).append(f.encoded);
    }
    iovec parts[2] = {{lent_head_.data(), lent_head_.size()},
                      {const_cast<char*>(f.payload.data()), f.payload.size()}};
    const std::size_t total = lent_head_.size() + f.payload.size();
    const ssize_t n = platform::send_nonblocking(fd_, parts, f.payload.empty() ? 1 : 2);
    if (n < 0) {
      // Nothing was written: the caller hands the frame to the executor, which meets the same
      // condition (a full socket, a peer gone) on its own path and reports it there.
      return make_error(errno == EAGAIN || errno == EWOULDBLOCK ? StatusCode::resource_exhausted
                                                                : StatusCode::unavailable,
                        std::string("borrowed write: ") + std::strerror(errno));
    }
    const auto written = static_cast<std::size_t>(n);
    if (written < total) {
      // The socket took part of it: the rest must leave before any other frame, so give_back
      // hands it to the executor, which writes it first.
      if (written < lent_head_.size()) {
        lent_rest_.assign(lent_head_, written);
        lent_rest_.append(f.payload);
      } else {
        lent_rest_.assign(f.payload.substr(written - lent_head_.size()));
      }
    }
    // Counted here: while this thread holds the connection the executor counts none of its own
    // frames (deferred_frames_) and writes nothing.
    ++stats_.frames_out;
    stats_.bytes_out += written;
    ++stats_.borrowed_requests;
    return {};
  }
}

template <typename P>
BorrowedWait StreamConnection<P>::borrowed_wait(std::uint64_t /*id*/,
                                                std::chrono::steady_clock::time_point /*deadline*/,
                                                std::string& /*answer*/,
                                                const std::function<void(std::string_view)>*) {
  give_back();
  return BorrowedWait::handed_back;
}

template <typename P>
void StreamConnection<P>::give_back() {
  if constexpr (kLends) {
    if (!lent_rest_.empty()) {
      // Still borrowed until the executor has the rest: no frame of its own may slip in
      // between (take_lent_rest takes it over). This thread is done with the socket.
      auto rest = std::move(lent_rest_);
      lent_rest_.clear();
      handing_over_.store(true, std::memory_order_release);
      asio::post(executor_, [self = this->shared_from_this(), rest = std::move(rest)]() mutable {
        self->take_lent_rest(std::move(rest));
      });
      return;
    }
    lend_.store(kLendable, std::memory_order_seq_cst);
    if (want_back_.exchange(false, std::memory_order_seq_cst)) {
      asio::post(executor_, [self = this->shared_from_this()] { self->after_lend(); });
    }
  }
}

}  // namespace plexus::transport
