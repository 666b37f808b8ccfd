#include "transport/shm/direct_endpoint.hpp"

#include <algorithm>
#include <cstring>

#include "platform/cpu_relax.hpp"
#include "platform/posix/futex.hpp"
#include "wire/bytes.hpp"

namespace plexus::transport::shm {
namespace {

// A spinning waiter reads the clock (deadline, spin budget, liveness) once per this many looks:
// a look is a load of the record header at the tail (or of the reader's tail), the clock costs
// several.
constexpr unsigned kLooksPerClockRead = 16;

std::atomic<std::uint64_t> g_endpoints{0};
std::atomic<std::uint64_t> g_mapped_bytes{0};

constexpr std::uint64_t padded(std::uint64_t n) {
  return (n + kDirectRecordAlign - 1) & ~std::uint64_t{kDirectRecordAlign - 1};
}
// The bytes a record of `payload` bytes takes in the ring: header, payload, padding.
constexpr std::uint64_t record_bytes(std::uint64_t payload) {
  return kDirectRecordHeader + padded(payload);
}

// A record header in the ring, as one word: records are 8-byte aligned, so it is never split
// across the ring's end, and the reader sees it whole or not at all.
std::atomic_ref<std::uint64_t> header_word(const char* at) {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(const_cast<char*>(at)));
}

std::uint64_t encode_header(std::uint32_t length, std::uint32_t seal) {
  char bytes[kDirectRecordHeader];
  wire::store_le<std::uint32_t>(bytes, length);
  wire::store_le<std::uint32_t>(bytes + 4, seal);
  std::uint64_t word;
  std::memcpy(&word, bytes, sizeof word);
  return word;
}

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
    // A pause between looks even at the start: the loop's exit without one costs more than the
    // pause (a measurably longer 64 B round trip).
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
  // it sees the flag and wakes us, or we see its progress here (DirectEndpoint::publish's seal,
  // RingReader::release's tail).
  waiter.spin.sleeping();
  waiter.slept = true;
  word.store(1, std::memory_order_seq_cst);
  // The look that follows reads the header at the tail (or the tail) with acquire loads, which a
  // seq_cst store alone does not keep after it on every architecture (ARM); the fence does. The
  // peer's side is seq_cst already (DirectEndpoint::publish, RingReader::release).
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
  // The record, and the header slot after it that finish_record() zeroes.
  const std::uint64_t needed = record_bytes(payload) + kDirectRecordHeader;
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

void DirectEndpoint::finish_record(std::size_t payload, bool publish_now) {
  char* header = out_.region(0, kDirectRecordHeader);  // 8-byte aligned: never across the end
  const std::uint64_t record = record_bytes(payload);
  // The reader waits at the slot after this record until the next one is sealed there; the
  // release store of the seal below makes this zero visible first.
  header_word(out_.region(record, kDirectRecordHeader)).store(0, std::memory_order_relaxed);
  out_.advance(record);
  const std::uint64_t word = encode_header(static_cast<std::uint32_t>(payload), kDirectRecordSeal);
  if (unsealed_at_ == nullptr) {
    unsealed_at_ = header;
    unsealed_header_ = word;
  } else {
    // Behind a record still kept back: the reader cannot get here before that one is sealed.
    header_word(header).store(word, std::memory_order_release);
  }
  staged_bytes_ += record;
  // Staged records go out together, but never more than an eighth of the ring at once: the
  // reader works on those while the writer goes on.
  if (publish_now || staged_bytes_ >= out_.capacity() / 8) publish();
}

void DirectEndpoint::publish() {
  if (unsealed_at_ == nullptr) return;
  // seq_cst store then seq_cst load: with the reader's store of consumer_sleeping then its look
  // at this header, at least one side sees the other (no lost wake-up).
  header_word(unsealed_at_).store(unsealed_header_, std::memory_order_seq_cst);
  unsealed_at_ = nullptr;
  staged_bytes_ = 0;
  auto& sleeping = out_control_->consumer_sleeping;
  if (sleeping.load(std::memory_order_seq_cst) != 0 &&
      sleeping.exchange(0, std::memory_order_seq_cst) != 0) {
    platform::futex_wake_all(&sleeping);
  }
}

Result<void> DirectEndpoint::send(std::string_view payload, std::chrono::nanoseconds timeout,
                                  bool publish_now) {
  // The usual case first: open, no loan out, and room in one stretch by the cached tail.
  char* record = nullptr;
  if (!loaned_ && !sending_.broken && !closed_.load(std::memory_order_relaxed) &&
      out_control_->reader_closed.load(std::memory_order_relaxed) == 0 &&
      payload.size() <= max_message_size()) {
    const std::uint64_t needed = record_bytes(payload.size()) + kDirectRecordHeader;
    if (auto free = out_.free_space(needed); free && *free >= needed) {
      record = out_.region(0, needed);
    }
  }
  if (record != nullptr) {
    std::memcpy(record + kDirectRecordHeader, payload.data(), payload.size());
  } else {
    if (auto ready = ready_to_send(payload.size(), timeout); !ready) return ready;
    out_.write_at(kDirectRecordHeader, payload);
  }
  finish_record(payload.size(), publish_now);
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
  if (loan_in_scratch_)
    out_.write_at(kDirectRecordHeader, std::string_view(loan_scratch_).substr(0, used));
  // Otherwise it is already where it belongs, right after the header.
  finish_record(used, true);
  return {};
}

Result<std::string_view> DirectEndpoint::receive(std::chrono::nanoseconds timeout) {
  if (receiving_.broken) return tl::unexpected(*receiving_.broken);
  if (last_record_ > 0) {
    in_.consume(last_record_);
    unreleased_ += last_record_;
    last_record_ = 0;
    // Published in quarters of the ring while messages keep coming, and whenever it runs dry.
    if (unreleased_ >= in_.capacity() / 4) release();
  }
  receiving_.timeout = timeout;
  for (unsigned round = 0;; ++round) {
    if (const std::uint64_t header = header_at_tail(); header != 0) {
      found(receiving_, round > 0);
      return take(header);
    }
    if (round == 0) release();
    if (closed_.load(std::memory_order_acquire)) {
      return make_error(StatusCode::unavailable, "direct channel: this end is closed");
    }
    if (in_control_->writer_closed.load(std::memory_order_acquire) != 0) {
      // What the peer sealed before it closed is delivered first.
      if (header_at_tail() != 0) continue;
      return make_error(StatusCode::unavailable, "direct channel: the peer closed it");
    }
    auto waited = wait_step(receiving_, in_control_->consumer_sleeping, round, [&] {
      return header_at_tail() != 0 ||
             in_control_->writer_closed.load(std::memory_order_seq_cst) != 0;
    });
    if (!waited) {
      // The peer may have sealed its last records just before it exited.
      if (header_at_tail() != 0) continue;
      return tl::unexpected(waited.error());
    }
  }
}

std::uint64_t DirectEndpoint::header_at_tail() const {
  return header_word(in_.view(0, kDirectRecordHeader)).load(std::memory_order_acquire);
}

Result<std::string_view> DirectEndpoint::take(std::uint64_t header) {
  char bytes[kDirectRecordHeader];
  std::memcpy(bytes, &header, sizeof bytes);
  const std::uint32_t length = wire::load_le<std::uint32_t>(bytes);
  const std::uint32_t seal = wire::load_le<std::uint32_t>(bytes + 4);
  if (seal != kDirectRecordSeal) {
    return tl::unexpected(broken(
        receiving_, Error{StatusCode::protocol_error,
                          "direct channel: a record header without its seal (the peer writes "
                          "a header whole, once the record is complete)",
                          {}}));
  }
  const std::uint64_t most = in_.capacity() - 2 * kDirectRecordHeader;
  if (length > most) {
    return tl::unexpected(broken(
        receiving_, Error{StatusCode::protocol_error,
                          "direct channel: a record claims " + std::to_string(length) +
                              " bytes, more than the ring holds (" + std::to_string(most) + ")",
                          {}}));
  }
  const char* payload = in_.view(kDirectRecordHeader, length);
  if (payload == nullptr) {
    scratch_.resize(length);
    in_.peek(kDirectRecordHeader, scratch_.data(), length);
    payload = scratch_.data();
  }
  last_record_ = record_bytes(length);
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
