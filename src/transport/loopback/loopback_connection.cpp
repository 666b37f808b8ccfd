#include "transport/loopback/loopback_connection.hpp"

#include <algorithm>
#include <cstring>

#include <asio/post.hpp>

#include "wire/metadata.hpp"

namespace plexus::transport {

LoopbackConnection::Pair LoopbackConnection::make_pair(asio::any_io_executor executor,
                                                       ConnectionOptions first,
                                                       ConnectionOptions second) {
  auto a = std::make_shared<LoopbackConnection>(executor, first, "a");
  auto b = std::make_shared<LoopbackConnection>(executor, second, "b");
  a->peer_ = b;
  b->peer_ = a;
  return {a, b};
}

LoopbackConnection::LoopbackConnection(asio::any_io_executor executor, ConnectionOptions options,
                                       std::string name)
    : executor_(executor), options_(options), name_(std::move(name)), timer_(executor) {}

void LoopbackConnection::start(std::shared_ptr<ConnectionDelegate> delegate) {
  delegate_ = std::move(delegate);
  started_ = true;
  // What arrived before start() waits in the inbox until now; never inside start().
  asio::post(executor_, [self = shared_from_this()] { self->deliver(); });
}

std::optional<platform::PeerCredentials> LoopbackConnection::credentials() const {
  return std::nullopt;  // no socket: no SO_PEERCRED
}

Result<void> LoopbackConnection::refuse_send() const {
  return send_refusal(closed_ || closing_, pending_bytes_, options_.max_pending_write_bytes);
}

Result<void> LoopbackConnection::send(const OutFrame& f) {
  if (auto ok = refuse_send(); !ok) return ok;
  std::string bytes;
  if (f.metadata) {
    if (auto ok = wire::encode_frame(f.kind, f.id, *f.metadata, f.payload, peer_max_, bytes); !ok) {
      return ok;
    }
  } else {
    char head[wire::kHeaderSize];
    if (auto ok =
            wire::encode_head(f.kind, f.id, f.encoded.size(), f.payload.size(), peer_max_, head);
        !ok) {
      return ok;
    }
    bytes.reserve(sizeof head + f.encoded.size() + f.payload.size());
    bytes.append(head, sizeof head).append(f.encoded).append(f.payload);
  }
  transmit(std::move(bytes));
  return {};
}

void LoopbackConnection::transmit(std::string bytes) {
  const auto n = ++sent_;
  ++stats_.frames_out;
  if (faults_.fail_write == n) {
    // A socket learns of a failed write after send() returned: so does this end.
    asio::post(executor_, [self = shared_from_this()] {
      self->finish_close(
          Error{StatusCode::unavailable, "write failed: broken pipe (injected)", ""});
    });
    return;
  }
  if (faults_.drop_all || faults_.drop == n) return;
  if (faults_.corrupt == n && !bytes.empty()) {
    auto& byte = bytes[std::min(faults_.corrupt_at, bytes.size() - 1)];
    byte = static_cast<char>(~byte);
  }
  InFlight frame{std::chrono::steady_clock::now() + faults_.delay, std::move(bytes), false};
  if (faults_.close_mid_frame == n) {
    frame.bytes.resize(std::max<std::size_t>(1, frame.bytes.size() / 2));
    frame.cut_after = true;
  }
  stats_.bytes_out += frame.bytes.size();
  pending_bytes_ += frame.bytes.size();
  in_flight_.push_back(std::move(frame));
  schedule_pump();
}

void LoopbackConnection::schedule_pump() {
  if (pump_scheduled_ || in_flight_.empty()) return;
  pump_scheduled_ = true;
  const auto due = in_flight_.front().due;
  if (due <= std::chrono::steady_clock::now()) {
    asio::post(executor_, [self = shared_from_this()] { self->pump(); });
  } else {
    timer_.expires_at(due);
    timer_.async_wait([self = shared_from_this()](std::error_code) { self->pump(); });
  }
}

void LoopbackConnection::pump() {
  pump_scheduled_ = false;
  if (closed_) return;
  auto peer = peer_.lock();
  const auto now = std::chrono::steady_clock::now();
  while (!in_flight_.empty() && in_flight_.front().due <= now) {
    InFlight frame = std::move(in_flight_.front());
    in_flight_.pop_front();
    pending_bytes_ -= frame.bytes.size();
    if (peer) peer->arrive(frame.bytes);
    if (frame.cut_after) {
      finish_close(Error{StatusCode::unavailable, "link cut mid-frame (injected)", ""});
      return;
    }
  }
  if (!in_flight_.empty()) {
    schedule_pump();
    return;
  }
  if (closing_) {
    finish_close(close_reason_);
    return;
  }
  if (delegate_) delegate_->on_write_done();
}

void LoopbackConnection::arrive(std::string_view bytes) {
  if (closed_) return;
  stats_.bytes_in += bytes.size();
  inbox_.append(bytes);
  if (started_) deliver();
}

void LoopbackConnection::peer_closed() {
  peer_closed_ = true;
  if (started_) deliver();
}

void LoopbackConnection::deliver() {
  if (delivering_ || closed_ || !delegate_) return;
  delivering_ = true;
  auto keep = shared_from_this();  // the delegate may drop its reference
  auto go = [this] { return !paused_ && !closed_ && !closing_; };
  for (;;) {
    reader_.deliver(*this, *delegate_, options_, stats_, go);
    if (!go() || inbox_begin_ == inbox_.size()) break;
    const auto space = reader_.space();
    const auto n = std::min(space.size(), inbox_.size() - inbox_begin_);
    std::memcpy(space.data(), inbox_.data() + inbox_begin_, n);
    inbox_begin_ += n;
    reader_.filled(n);
  }
  if (inbox_begin_ == inbox_.size()) {
    inbox_.clear();
    inbox_begin_ = 0;
  }
  delivering_ = false;
  // The end of the stream once everything before it was read, as a socket reports it.
  if (peer_closed_ && go() && inbox_.empty()) {
    finish_close(Error{StatusCode::unavailable, "peer closed the connection", ""});
  }
}

void LoopbackConnection::pause_reading() {
  paused_ = true;
}

void LoopbackConnection::resume_reading() {
  if (!paused_) return;
  paused_ = false;
  asio::post(executor_, [self = shared_from_this()] { self->deliver(); });
}

void LoopbackConnection::close(const Error& reason, bool flush) {
  if (closed_) return;
  if (flush && !in_flight_.empty()) {
    if (!closing_) {
      closing_ = true;
      close_reason_ = reason;
    }
    return;  // pump() finishes the close once the queue is through
  }
  finish_close(closing_ ? close_reason_ : reason);
}

void LoopbackConnection::finish_close(const Error& reason) {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  in_flight_.clear();
  pending_bytes_ = 0;
  if (auto peer = peer_.lock()) {
    asio::post(executor_, [peer] { peer->peer_closed(); });
  }
  if (auto d = std::move(delegate_)) d->on_closed(reason);
}

}  // namespace plexus::transport
