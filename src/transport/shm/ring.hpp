// A single-producer/single-consumer byte ring in shared memory, and the layout of the segment
// that holds two of them (docs/PROTOCOL.md §19.3). The ring carries frame bytes exactly as the
// wire encodes them, back to back and wrapping at the end, so the frame decoder that reads a
// socket reads a ring too and validates everything that comes out of it.
//
// Trust: the other process can write anything anywhere in the segment at any time. The writer
// keeps its head and the reader its tail in local memory and only publish them; every value
// read from the segment (the peer's head or tail) is checked against the capacity before use,
// and offsets are masked, so no read or write leaves the ring's data area whatever the peer does.
// A check that fails is a protocol_error. Not thread-safe: one writer thread, one reader thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "platform/posix/shm.hpp"
#include "plexus/status.hpp"

namespace plexus::transport::shm {

// One ring's shared control block: the indices on separate cache-line pairs (128 bytes, for
// the adjacent-line prefetcher) so the two sides do not write the same line.
struct RingControl {
  alignas(128) std::atomic<std::uint64_t> head;  // bytes ever written (writer publishes)
  alignas(128) std::atomic<std::uint64_t> tail;  // bytes ever consumed (reader publishes)
  // Doorbell protocol: the reader sets consumer_sleeping before it waits on its eventfd; the
  // writer, after publishing head, rings the eventfd only if it finds the flag set (and clears
  // it). producer_waiting is the same for a writer waiting for space.
  alignas(128) std::atomic<std::uint32_t> consumer_sleeping;
  std::atomic<std::uint32_t> producer_waiting;
  // Direct channels only (transport/shm/direct_endpoint.hpp): set once by the side that closes
  // its end, the writer of this ring or its reader. The transport's connections leave them 0.
  std::atomic<std::uint32_t> writer_closed;
  std::atomic<std::uint32_t> reader_closed;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(RingControl) == 384);

// Segment layout: a 64-byte header at 0, ring 0's control block at 512, ring 1's at 1024, ring
// 0's data at 4096 and ring 1's right after it. Ring 0 carries dialer -> acceptor, ring 1
// acceptor -> dialer.
inline constexpr std::uint64_t kSegmentMagic = 0x31304d4853584c50ull;  // "PLXSHM01"
inline constexpr std::size_t kControlOffset[2] = {512, 1024};
inline constexpr std::size_t kDataOffset = 4096;

struct SegmentLayout {
  std::uint64_t capacity[2] = {0, 0};
  std::size_t data_offset[2] = {0, 0};
  std::size_t total = 0;
};
// Fails with invalid_argument unless both capacities are valid (wire::valid_ring_bytes).
Result<SegmentLayout> segment_layout(std::uint64_t ring0_bytes, std::uint64_t ring1_bytes);

// Writes the header and zeroed control blocks into a fresh segment of `layout.total` bytes.
void init_segment(char* base, const SegmentLayout& layout);
// Checks a received segment's header against the layout the upgrade reply announced (and its
// magic: a direct channel's segment has its own, transport/shm/direct_endpoint.hpp).
Result<void> check_segment(const char* base, std::size_t mapped, const SegmentLayout& layout,
                           std::uint64_t magic = kSegmentMagic);
RingControl* ring_control(char* base, int ring);

// A segment mapped into this process: the header and control blocks at `base`, each ring's
// data at `data[i]`. When `mirrored`, each ring's data is mapped twice in a row, so any range
// of up to a ring's capacity is contiguous in memory even across the ring's end (the receiver
// reads large payloads where they lie). Without it (page size above 4 KiB) the rings are plain.
struct MappedSegment {
  platform::Mapping mapping;
  char* base = nullptr;
  char* data[2] = {nullptr, nullptr};
  bool mirrored = false;
};
// Maps a segment of `layout.total` bytes held by `fd`; unavailable when mmap fails.
Result<MappedSegment> map_segment(int fd, const SegmentLayout& layout);

class RingWriter {
 public:
  RingWriter() = default;
  // `mirrored`: the data is mapped twice in a row (MappedSegment), so region() never fails.
  RingWriter(RingControl* control, char* data, std::uint64_t capacity, bool mirrored = false)
      : c_(control), data_(data), mask_(capacity - 1), capacity_(capacity), mirrored_(mirrored) {}

  // Bytes that can be written now. Reads the reader's tail only when the cached value says the
  // ring is full enough to matter. protocol_error when the tail is impossible.
  Result<std::uint64_t> free_space(std::uint64_t wanted = 1);
  // Copies `bytes` at the local head; the caller has checked free_space(). Not yet visible.
  void write(std::string_view bytes) {
    write_at(0, bytes);
    head_ += bytes.size();
  }
  // Copies `bytes` to `skip` bytes after the local head, wrapping at the ring's end, without
  // moving the head; the caller has checked free_space(skip + bytes.size()).
  void write_at(std::size_t skip, std::string_view bytes) const;
  // `first` then `second`, when both fit now in one contiguous stretch (no wrap unless mirrored,
  // no need to look at the reader's tail again): the small frame's path. False: nothing was
  // written.
  bool try_write(std::string_view first, std::string_view second) {
    const std::uint64_t n = first.size() + second.size();
    const std::uint64_t off = head_ & mask_;
    if (capacity_ - (head_ - cached_tail_) < n || (!mirrored_ && off + n > capacity_)) return false;
    std::memcpy(data_ + off, first.data(), first.size());
    std::memcpy(data_ + off + first.size(), second.data(), second.size());
    head_ += n;
    return true;
  }
  // Where the `n` bytes that start `skip` bytes after the local head lie, to be written in place
  // and then taken into the ring with advance(); the caller has checked free_space(skip + n).
  // nullptr when they wrap and the data is not mirrored.
  char* region(std::size_t skip, std::size_t n) const {
    const std::uint64_t off = (head_ + skip) & mask_;
    if (!mirrored_ && off + n > capacity_) return nullptr;
    return data_ + off;
  }
  void advance(std::size_t n) { head_ += n; }
  // Makes what was written visible. Returns true when the reader sleeps and must be woken (its
  // flag has been cleared: the caller rings the doorbell once).
  bool publish();
  // Announces (or withdraws) that the writer waits for space; see RingControl.
  void set_waiting(bool waiting);
  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t unpublished() const { return head_ - published_; }

 private:
  RingControl* c_ = nullptr;
  char* data_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t capacity_ = 0;
  bool mirrored_ = false;
  std::uint64_t head_ = 0;         // local: the writer's own head, never read back from shm
  std::uint64_t published_ = 0;    // head as last published
  std::uint64_t cached_tail_ = 0;  // the reader's tail as last read (and checked)
};

class RingReader {
 public:
  RingReader() = default;
  // `mirrored`: the data is mapped twice in a row (MappedSegment), so view() never fails.
  RingReader(RingControl* control, const char* data, std::uint64_t capacity, bool mirrored = false)
      : c_(control), data_(data), mask_(capacity - 1), capacity_(capacity), mirrored_(mirrored) {}

  // Bytes waiting. protocol_error when the writer's head is impossible (behind the tail or
  // more than a ring ahead of it).
  Result<std::uint64_t> available();
  // Copies `n` bytes (n <= the last available()) from the local tail and consumes them locally.
  void read(char* out, std::size_t n);
  // Copies `n` bytes that start `skip` bytes after the local tail (skip + n <= the last
  // available()), without consuming them: a look at a frame header further on.
  void peek(std::size_t skip, char* out, std::size_t n) const;
  // Where the `n` bytes that start `skip` bytes after the local tail lie in the ring (skip + n
  // <= capacity), to be read in place and then consumed with consume(); nullptr when they wrap
  // and the data is not mirrored. The peer can rewrite them at any time: read only opaque
  // bytes this way (anything decoded must be copied out first, as peek() does).
  const char* view(std::size_t skip, std::size_t n) const {
    const std::uint64_t off = (tail_ + skip) & mask_;
    if (!mirrored_ && off + n > capacity_) return nullptr;
    return data_ + off;
  }
  void consume(std::size_t n) { tail_ += n; }
  // Bytes ever consumed locally (the local tail).
  std::uint64_t position() const { return tail_; }
  // Publishes the consumed bytes. Returns true when the writer waits for space and must be
  // woken (its flag has been cleared).
  bool release();
  // Announces (or withdraws) that the reader is about to sleep on its eventfd. After
  // announcing, the caller must check available() again before it sleeps.
  void set_sleeping(bool sleeping);
  std::uint64_t capacity() const { return capacity_; }

 private:
  RingControl* c_ = nullptr;
  const char* data_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t capacity_ = 0;
  bool mirrored_ = false;
  std::uint64_t tail_ = 0;  // local: the reader's own tail
  std::uint64_t released_ = 0;
};

}  // namespace plexus::transport::shm
