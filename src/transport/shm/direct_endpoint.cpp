#include "transport/shm/direct_endpoint.hpp"

#include <algorithm>
#include <cstring>

#include "platform/cpu_relax.hpp"
#include "platform/posix/futex.hpp"
#include "wire/bytes.hpp"

namespace plexus::transport::shm {
namespace {

// A spinning waiter reads the clock (deadline, spin budget, liveness) once per this many looks:
// a look is a load of the ring's head, the clock costs several.
constexpr unsigned kLooksPerClockRead = 16;

std::atomic<std::uint64_t> g_endpoints{0};
std::atomic<std::uint64_t> g_mapped_bytes{0};

}  // namespace

constexpr std::size_t kNonceOffset = 32;  // after §19.3's header fields

void init_direct_segment(char* base, const SegmentLayout& layout, std::uint64_t nonce) {
  init_segment(base, layout);
  wire::store_le<std::uint64_t>(base, kDirectSegmentMagic);
  wire::store_le<std::uint64_t>(base + kNonceOffset, nonce);
}

Result<void> check_direct_segment(const char* base, const SegmentLayout& layout,
                                  std::uint64_t nonce) {
  if (auto ok = check_segment(base, layout.total, layout, kDirectSegmentMagic); !ok) return ok;
  if (wire::load_le<std::uint64_t>(base + kNonceOffset) != nonce) {
    return make_error(StatusCode::protocol_error, "the direct channel's segment has another nonce");
  }
  return {};
}

DirectEndpoint::ProcessTotals DirectEndpoint::process_totals() {
  return {g_endpoints.load(std::memory_order_relaxed),
          g_mapped_bytes.load(std::memory_order_relaxed)};
}

DirectEndpoint::DirectEndpoint(MappedSegment segment, const SegmentLayout& layout, int write_ring,
                               platform::Fd peer, DirectWait wait)
    : segment_(std::move(segment)),
      mapped_bytes_(layout.total),
      out_control_(ring_control(segment_.base, write_ring)),
      in_control_(ring_control(segment_.base, 1 - write_ring)),
      out_(out_control_, segment_.data[write_ring], layout.capacity[write_ring], segment_.mirrored),
      in_(in_control_, segment_.data[1 - write_ring], layout.capacity[1 - write_ring],
          segment_.mirrored),
      peer_(std::move(peer)),
      wait_(wait),
      sending_(wait),
      receiving_(wait) {
  g_endpoints.fetch_add(1, std::memory_order_relaxed);
  g_mapped_bytes.fetch_add(mapped_bytes_, std::memory_order_relaxed);
}

DirectEndpoint::~DirectEndpoint() {
  close();
  g_endpoints.fetch_sub(1, std::memory_order_relaxed);
  g_mapped_bytes.fetch_sub(mapped_bytes_, std::memory_order_relaxed);
}

Error DirectEndpoint::broken(Waiter& waiter, const Error& error) {
  if (!waiter.broken) {
    waiter.broken = error;
    // Nothing in the segment can be trusted any more: the peer and the other direction's
    // thread learn that the channel is closed.
    close();
  }
  return *waiter.broken;
}

template <typename Ready>
Result<void> DirectEndpoint::wait_step(Waiter& waiter, std::atomic<std::uint32_t>& word,
                                       unsigned round, Ready ready) {
  if (round == 0) {
    waiter.last_clock = {};
    waiter.slept = false;
  }
  if (waiter.timeout <= std::chrono::nanoseconds::zero()) {
    // A caller that only polls must still learn that the peer died.
    if (auto alive = peer_alive(waiter, Clock::now()); !alive) return alive;
    return make_error(StatusCode::deadline_exceeded, "direct channel: nothing now (timeout 0)");
  }
  if (wait_.wait != WaitStrategy::block && round % kLooksPerClockRead != kLooksPerClockRead - 1) {
    // A pause between looks even at the start: without it a 64 B round trip took 0.33 µs
    // instead of 0.25 (three alternated runs each), the loop's exit costing more than the pause.
    platform::cpu_relax();
    return {};
  }
  const auto now = Clock::now();
  if (waiter.last_clock == Clock::time_point{}) {
    // The first read of this wait: the deadline and the spin window start here.
    waiter.deadline = waiter.timeout >= Clock::time_point::max() - now ? Clock::time_point::max()
                                                                       : now + waiter.timeout;
    waiter.spin.woke(now);
    waiter.started = now;
  }
  waiter.last_clock = now;
  if (now >= waiter.deadline) {
    return make_error(StatusCode::deadline_exceeded, "direct channel: timed out");
  }
  if (auto alive = peer_alive(waiter, now); !alive) return alive;
  if (waiter.spin.may_spin(now)) {
    platform::cpu_relax();
    return {};
  }
  // Announce, then look once more: the peer stores its progress, then reads the flag, so either
  // it sees the flag and wakes us, or we see its progress here (RingWriter::publish).
  waiter.spin.sleeping();
  waiter.slept = true;
  word.store(1, std::memory_order_seq_cst);
  // The look that follows reads head or tail with acquire loads, which a seq_cst store alone
  // does not keep after it on every architecture (ARM); the fence does. The peer's side is
  // seq_cst already (RingWriter::publish, RingReader::release).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!ready() && !closed_.load(std::memory_order_seq_cst)) {
    const auto until = std::min(waiter.deadline, waiter.next_liveness_check);
    platform::futex_wait(&word, 1, until - now);
  }
  word.store(0, std::memory_order_seq_cst);
  waiter.last_clock = Clock::now();
  waiter.spin.woke(waiter.last_clock);
  return {};
}

Result<void> DirectEndpoint::peer_alive(Waiter& waiter, Clock::time_point now) {
  if (!peer_exited_.load(std::memory_order_relaxed)) {
    if (now < waiter.next_liveness_check) return {};
    waiter.next_liveness_check = now + wait_.liveness_interval;
    if (!platform::process_exited(peer_.get())) return {};
    peer_exited_.store(true, std::memory_order_relaxed);  // for good, and for both directions
  }
  return make_error(StatusCode::unavailable, "direct channel: the peer's process exited");
}

void DirectEndpoint::found(Waiter& waiter, bool waited) {
  // Only a wait long enough to have read the clock says anything about the spin budget (and
  // one more read costs little against it); a message that arrived within the first looks
  // costs no read at all.
  if (!waited || waiter.last_clock == Clock::time_point{}) return;
  const auto now = Clock::now();
  if (waiter.slept) {
    waiter.spin.slept_in_vain(now - waiter.started);
  } else {
    waiter.spin.found_work(now);
  }
}

Result<void> DirectEndpoint::ready_to_send(std::size_t payload, std::chrono::nanoseconds timeout) {
  if (sending_.broken) return tl::unexpected(*sending_.broken);
  if (loaned_) {
    return make_error(StatusCode::failed_precondition,
                      "direct channel: a loaned region is out: commit() it first");
  }
  if (closed_.load(std::memory_order_relaxed)) {
    return make_error(StatusCode::unavailable, "direct channel: this end is closed");
  }
  if (out_control_->reader_closed.load(std::memory_order_relaxed) != 0) {
    return make_error(StatusCode::unavailable, "direct channel: the peer closed it");
  }
  if (payload > max_message_size()) {
    return make_error(StatusCode::message_too_large, "direct channel: a message of " +
                                                         std::to_string(payload) +
                                                         " bytes does not fit the ring (at most " +
                                                         std::to_string(max_message_size()) + ")");
  }
  const std::uint64_t needed = kDirectRecordHeader + payload;
  sending_.timeout = timeout;
  for (unsigned round = 0;; ++round) {
    auto free = out_.free_space(needed);
    if (!free) return tl::unexpected(broken(sending_, free.error()));
    if (*free >= needed) {
      found(sending_, round > 0);
      return {};
    }
    if (closed_.load(std::memory_order_acquire)) {
      return make_error(StatusCode::unavailable, "direct channel: this end is closed");
    }
    if (out_control_->reader_closed.load(std::memory_order_acquire) != 0) {
      return make_error(StatusCode::unavailable, "direct channel: the peer closed it");
    }
    if (round == 0) publish();  // staged messages: the reader must see them to make room
    auto waited = wait_step(sending_, out_control_->producer_waiting, round, [&] {
      auto again = out_.free_space(needed);
      return !again || *again >= needed ||
             out_control_->reader_closed.load(std::memory_order_seq_cst) != 0;
    });
    if (!waited) return waited;
  }
}

void DirectEndpoint::publish() {
  if (out_.publish()) platform::futex_wake_all(&out_control_->consumer_sleeping);
}

Result<void> DirectEndpoint::send(std::string_view payload, std::chrono::nanoseconds timeout,
                                  bool publish_now) {
  char head[kDirectRecordHeader];
  wire::store_le<std::uint32_t>(head, static_cast<std::uint32_t>(payload.size()));
  wire::store_le<std::uint32_t>(head + 4, 0);
  // The usual case first: open, no loan out, and room in one stretch by the cached tail.
  if (!(!loaned_ && !sending_.broken && !closed_.load(std::memory_order_relaxed) &&
        out_control_->reader_closed.load(std::memory_order_relaxed) == 0 &&
        payload.size() <= max_message_size() && out_.try_write({head, sizeof head}, payload))) {
    if (auto ready = ready_to_send(payload.size(), timeout); !ready) return ready;
    out_.write({head, sizeof head});
    out_.write(payload);
  }
  // Staged messages go out together, but never more than an eighth of the ring at once: the
  // reader works on those while the writer goes on.
  if (publish_now || out_.unpublished() >= out_.capacity() / 8) publish();
  return {};
}

void DirectEndpoint::flush() {
  if (!closed_.load(std::memory_order_relaxed)) publish();
}

Result<std::span<char>> DirectEndpoint::loan(std::size_t size, std::chrono::nanoseconds timeout) {
  if (auto ready = ready_to_send(size, timeout); !ready) return tl::unexpected(ready.error());
  char* at = out_.region(kDirectRecordHeader, size);
  loan_in_scratch_ = at == nullptr;
  if (loan_in_scratch_) {
    loan_scratch_.resize(size);
    at = loan_scratch_.data();
  }
  loaned_ = size;
  return std::span<char>(at, size);
}

Result<void> DirectEndpoint::commit(std::size_t used) {
  if (!loaned_) {
    return make_error(StatusCode::failed_precondition, "direct channel: no loaned region");
  }
  if (used > *loaned_) {
    return make_error(StatusCode::invalid_argument, "direct channel: commit(" +
                                                        std::to_string(used) + ") of a loan of " +
                                                        std::to_string(*loaned_) + " bytes");
  }
  loaned_.reset();
  // Closed meanwhile (here or by the peer): the message would be published to no reader.
  if (closed_.load(std::memory_order_acquire)) {
    return make_error(StatusCode::unavailable, "direct channel: this end is closed");
  }
  if (out_control_->reader_closed.load(std::memory_order_acquire) != 0) {
    return make_error(StatusCode::unavailable, "direct channel: the peer closed it");
  }
  char head[kDirectRecordHeader];
  wire::store_le<std::uint32_t>(head, static_cast<std::uint32_t>(used));
  wire::store_le<std::uint32_t>(head + 4, 0);
  out_.write({head, sizeof head});
  if (loan_in_scratch_) {
    out_.write(std::string_view(loan_scratch_).substr(0, used));
  } else {
    out_.advance(used);  // already where it belongs, right after the header
  }
  publish();
  return {};
}

Result<std::string_view> DirectEndpoint::receive(std::chrono::nanoseconds timeout) {
  if (receiving_.broken) return tl::unexpected(*receiving_.broken);
  if (last_record_ > 0) {
    in_.consume(last_record_);
    unreleased_ += last_record_;
    known_available_ -= last_record_;
    last_record_ = 0;
    // Published in quarters of the ring while messages keep coming, and whenever it runs dry.
    if (unreleased_ >= in_.capacity() / 4) release();
  }
  // Records already known to be published are taken without reading head again: the writer
  // keeps that cache line busy, and a reader that catches up with it would fetch the line
  // once per message.
  if (known_available_ > 0) return take(known_available_);
  receiving_.timeout = timeout;
  for (unsigned round = 0;; ++round) {
    auto available = in_.available();
    if (!available) return tl::unexpected(broken(receiving_, available.error()));
    if (*available > 0) {
      found(receiving_, round > 0);
      known_available_ = *available;
      return take(*available);
    }
    if (round == 0) release();
    if (closed_.load(std::memory_order_acquire)) {
      return make_error(StatusCode::unavailable, "direct channel: this end is closed");
    }
    if (in_control_->writer_closed.load(std::memory_order_acquire) != 0) {
      // What the peer published before it closed is delivered first.
      auto again = in_.available();
      if (again && *again > 0) continue;
      return make_error(StatusCode::unavailable, "direct channel: the peer closed it");
    }
    auto waited = wait_step(receiving_, in_control_->consumer_sleeping, round, [&] {
      auto again = in_.available();
      return !again || *again > 0 ||
             in_control_->writer_closed.load(std::memory_order_seq_cst) != 0;
    });
    if (!waited) {
      // The peer may have published its last messages just before it exited.
      auto again = in_.available();
      if (again && *again > 0) continue;
      return tl::unexpected(waited.error());
    }
  }
}

Result<std::string_view> DirectEndpoint::take(std::uint64_t available) {
  if (available < kDirectRecordHeader) {
    return tl::unexpected(
        broken(receiving_, Error{StatusCode::protocol_error,
                                 "direct channel: a record header is cut short (the peer publishes "
                                 "whole records)",
                                 {}}));
  }
  char head[kDirectRecordHeader];
  if (const char* at = in_.view(0, sizeof head)) {
    std::memcpy(head, at, sizeof head);  // copied: the peer may rewrite it meanwhile
  } else {
    in_.peek(0, head, sizeof head);
  }
  const std::uint32_t length = wire::load_le<std::uint32_t>(head);
  if (length > available - kDirectRecordHeader) {
    return tl::unexpected(
        broken(receiving_, Error{StatusCode::protocol_error,
                                 "direct channel: a record claims " + std::to_string(length) +
                                     " bytes, more than were published (" +
                                     std::to_string(available - kDirectRecordHeader) + ")",
                                 {}}));
  }
  const char* payload = in_.view(kDirectRecordHeader, length);
  if (payload == nullptr) {
    scratch_.resize(length);
    in_.peek(kDirectRecordHeader, scratch_.data(), length);
    payload = scratch_.data();
  }
  last_record_ = kDirectRecordHeader + length;
  return std::string_view(payload, length);
}

void DirectEndpoint::release() {
  if (unreleased_ == 0) return;
  unreleased_ = 0;
  if (in_.release()) platform::futex_wake_all(&in_control_->producer_waiting);
}

void DirectEndpoint::close() {
  if (closed_.exchange(true, std::memory_order_seq_cst)) return;
  out_control_->writer_closed.store(1, std::memory_order_seq_cst);
  in_control_->reader_closed.store(1, std::memory_order_seq_cst);
  // Whoever sleeps on either ring, the peer or a thread of ours, wakes and sees the flags.
  for (auto* word : {&out_control_->consumer_sleeping, &out_control_->producer_waiting,
                     &in_control_->consumer_sleeping, &in_control_->producer_waiting}) {
    word->store(0, std::memory_order_seq_cst);
    platform::futex_wake_all(word);
  }
}

}  // namespace plexus::transport::shm
