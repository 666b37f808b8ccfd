// One end of a direct channel (include/plexus/direct.hpp): a segment of two rings
// (transport/shm/ring.hpp) that the application's own threads write and read, with no I/O
// thread, framing or session between them. A message is a record at an 8-byte aligned position:
// an 8-byte header (u32 little-endian payload length, u32 seal) and the payload, padded to a
// multiple of 8 (docs/PROTOCOL.md §20.2). A record is published by its seal, not by the ring's
// head: the reader spins on the header where the next record will be, so a small message costs
// it the cache lines of the record alone (the head's line would be one more transfer between
// the cores per message). A waiting side spins, then sleeps on a futex in the segment; the
// writer wakes it only when it announced that it sleeps, so a busy channel makes no syscall.
//
// Trust: every length and index read from the segment is checked before use; a bad one is
// protocol_error: the direction that met it reports it from then on, and the endpoint closes
// (the peer and the other direction then see a closed channel).
// The peer's death is learnt from a pidfd, looked at while waiting (at least every
// liveness_interval), never from the segment.
// Threading: one thread sends and one receives at a time (they may be the same); close() from
// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "platform/adaptive_spin.hpp"
#include "platform/posix/shm.hpp"
#include "plexus/status.hpp"
#include "transport/shm/ring.hpp"

namespace plexus::transport::shm {

struct DirectWait {
  WaitStrategy wait = WaitStrategy::adaptive;
  // adaptive: how long a waiting side spins before it sleeps, bounds of the adaptive budget.
  std::chrono::nanoseconds min_spin{std::chrono::microseconds{5}};
  std::chrono::nanoseconds max_spin{std::chrono::microseconds{200}};
  // How often a waiting side looks whether the peer's process still lives.
  std::chrono::nanoseconds liveness_interval{std::chrono::milliseconds{100}};
};

inline constexpr std::size_t kDirectRecordHeader = 8;
// Records start at multiples of this, so a header never crosses the ring's end and is read and
// written as one atomic word.
inline constexpr std::size_t kDirectRecordAlign = 8;
// The header's second word once the record is complete ("SEAL"); 0 until then.
inline constexpr std::uint32_t kDirectRecordSeal = 0x4c414553u;

// A direct channel's segment (docs/PROTOCOL.md §20.1): the layout of §19.3 under a magic of its
// own, with the opener's random nonce at offset 32, which the open request repeats. A
// descriptor number the opener closed and reused meanwhile (a retry after a timeout) cannot pass
// for the segment the request meant, and neither can a transport segment.
inline constexpr std::uint64_t kDirectSegmentMagic = 0x3230524944584c50ull;  // "PLXDIR02"
void init_direct_segment(char* base, const SegmentLayout& layout, std::uint64_t nonce);
// protocol_error unless `base` holds that header for `layout` and `nonce`.
Result<void> check_direct_segment(const char* base, const SegmentLayout& layout,
                                  std::uint64_t nonce);

class DirectEndpoint {
 public:
  using Clock = std::chrono::steady_clock;

  // `segment` holds `layout`, initialised by the opener and checked by the acceptor.
  // This end writes ring `write_ring` (0 or 1) and reads the other. `peer` is a pidfd of the
  // other process.
  DirectEndpoint(MappedSegment segment, const SegmentLayout& layout, int write_ring,
                 platform::Fd peer, DirectWait wait);
  ~DirectEndpoint();
  DirectEndpoint(const DirectEndpoint&) = delete;
  DirectEndpoint& operator=(const DirectEndpoint&) = delete;

  // Copies `payload` into the outbound ring, waiting for room up to `timeout` (0: not at all;
  // nanoseconds::max(): for ever). message_too_large (larger than max_message_size()),
  // deadline_exceeded (still no room), unavailable (this end or the peer closed, or the peer's
  // process exited), protocol_error.
  // Unless `publish_now`, the message is staged: written but not yet visible, until a later
  // send that publishes, flush(), or an eighth of the ring staged.
  Result<void> send(std::string_view payload, std::chrono::nanoseconds timeout,
                    bool publish_now = true);
  // Publishes the staged messages (the sending thread only).
  void flush();
  // The next message, read where it lies in the ring: valid until the next receive() or the
  // endpoint's end. Messages published before the peer closed or died are delivered first.
  // deadline_exceeded, unavailable, protocol_error as above.
  Result<std::string_view> receive(std::chrono::nanoseconds timeout);
  // A region of `size` bytes in the outbound ring for the next message, written in place
  // (no copy at all when the mapping is mirrored); commit() sends it. One loan at a time:
  // send() and loan() fail with failed_precondition until it is committed. Waits and fails as
  // send().
  Result<std::span<char>> loan(std::size_t size, std::chrono::nanoseconds timeout);
  // Sends the first `used` bytes of the loaned region as one message (invalid_argument if more
  // than were loaned, failed_precondition without a loan).
  Result<void> commit(std::size_t used);
  // Tells the peer (its receive() fails with unavailable once it has read everything) and
  // wakes every thread waiting on either end. Idempotent.
  void close();

  // A record's header, its payload and the zeroed header after it fill at most the ring.
  std::uint64_t max_message_size() const { return out_.capacity() - 2 * kDirectRecordHeader; }
  std::size_t mapped_bytes() const { return mapped_bytes_; }

  // Every endpoint of this process, open or closed but not yet destroyed (their segments are
  // still mapped): for the metrics. Any thread.
  struct ProcessTotals {
    std::uint64_t endpoints = 0;
    std::uint64_t mapped_bytes = 0;
  };
  static ProcessTotals process_totals();

 private:
  // What a thread waiting on one direction keeps: its spin budget, when it last looked at the
  // peer's process, and the first protocol error its direction met (each direction is used by
  // one thread, so nothing here is shared).
  struct Waiter {
    explicit Waiter(const DirectWait& wait) : spin(wait.wait, wait.min_spin, wait.max_spin) {}
    platform::AdaptiveSpin spin;
    Clock::time_point next_liveness_check{};
    std::optional<Error> broken;
    // The wait under way: the clock is first read a few looks into it, so that a message that
    // arrives at once costs no clock read at all.
    std::chrono::nanoseconds timeout{};
    Clock::time_point deadline{};
    Clock::time_point last_clock{};  // the wait's latest clock read (zero: none yet)
    Clock::time_point started{};     // the wait's first clock read
    bool slept = false;              // the wait went to sleep at least once
  };
  // One step of waiting: a spin, or a sleep on `word` (announced by storing 1, then `ready` is
  // asked once more). An error when waiting cannot help: the deadline passed, the peer's
  // process exited.
  template <typename Ready>
  Result<void> wait_step(Waiter& waiter, std::atomic<std::uint32_t>& word, unsigned round,
                         Ready ready);
  // The wait is over: it found work (after waiting, if `waited`).
  static void found(Waiter& waiter, bool waited);
  // unavailable once the peer's process has exited; looked at once per liveness_interval.
  Result<void> peer_alive(Waiter& waiter, Clock::time_point now);
  // The header word at the reader's tail, read with acquire: 0 while no record is there.
  std::uint64_t header_at_tail() const;
  Result<std::string_view> take(std::uint64_t header);
  // What send() and loan() check first; then waits until the record and the header slot after
  // it are free.
  Result<void> ready_to_send(std::size_t payload, std::chrono::nanoseconds timeout);
  // Puts the record whose payload lies after the local head into the ring: zeroes the header
  // slot after it, then seals it (or keeps it back, unpublished, when staging).
  void finish_record(std::size_t payload, bool publish_now);
  void publish();
  void release();
  Error broken(Waiter& waiter, const Error& error);  // remembers the first, closes

  MappedSegment segment_;
  std::size_t mapped_bytes_ = 0;
  RingControl* out_control_;
  RingControl* in_control_;
  RingWriter out_;
  RingReader in_;
  platform::Fd peer_;
  DirectWait wait_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> peer_exited_{false};  // seen once, known to both directions
  Waiter sending_;
  Waiter receiving_;

  std::uint64_t last_record_ = 0;  // the message receive() returned last: consumed at the next
  std::uint64_t unreleased_ = 0;   // consumed but not yet published to the writer
  // Staging: the first record written but not sealed (the reader stops there), its header word,
  // and the bytes staged since.
  char* unsealed_at_ = nullptr;
  std::uint64_t unsealed_header_ = 0;
  std::uint64_t staged_bytes_ = 0;
  std::string scratch_;                // a wrapped message, when the ring is not mirrored
  std::optional<std::size_t> loaned_;  // the size of the loan out, if any
  std::string loan_scratch_;           // a loan that would wrap, when the ring is not mirrored
  bool loan_in_scratch_ = false;
};

}  // namespace plexus::transport::shm
