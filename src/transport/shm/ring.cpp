#include "transport/shm/ring.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "wire/bytes.hpp"
#include "wire/shm_upgrade.hpp"

namespace plexus::transport::shm {

Result<SegmentLayout> segment_layout(std::uint64_t ring0_bytes, std::uint64_t ring1_bytes) {
  if (!wire::valid_ring_bytes(ring0_bytes) || !wire::valid_ring_bytes(ring1_bytes)) {
    return make_error(StatusCode::invalid_argument,
                      "a ring size must be a power of two from 4 KiB to 256 MiB");
  }
  SegmentLayout l;
  l.capacity[0] = ring0_bytes;
  l.capacity[1] = ring1_bytes;
  l.data_offset[0] = kDataOffset;
  l.data_offset[1] = kDataOffset + ring0_bytes;
  l.total = kDataOffset + ring0_bytes + ring1_bytes;
  return l;
}

void init_segment(char* base, const SegmentLayout& layout) {
  std::memset(base, 0, kDataOffset);
  wire::store_le<std::uint64_t>(base, kSegmentMagic);
  wire::store_le<std::uint32_t>(base + 8, wire::kShmUpgradeVersion);
  wire::store_le<std::uint64_t>(base + 16, layout.capacity[0]);
  wire::store_le<std::uint64_t>(base + 24, layout.capacity[1]);
  for (int i = 0; i < 2; ++i) {
    auto* c = new (base + kControlOffset[i]) RingControl;
    c->head.store(0, std::memory_order_relaxed);
    c->tail.store(0, std::memory_order_relaxed);
    c->consumer_sleeping.store(0, std::memory_order_relaxed);
    c->producer_waiting.store(0, std::memory_order_relaxed);
    c->writer_closed.store(0, std::memory_order_relaxed);
    c->reader_closed.store(0, std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);
}

Result<void> check_segment(const char* base, std::size_t mapped, const SegmentLayout& layout,
                           std::uint64_t magic) {
  // Read once into locals: the values used afterwards are the reply's, never these.
  if (mapped < layout.total || wire::load_le<std::uint64_t>(base) != magic ||
      wire::load_le<std::uint32_t>(base + 8) != wire::kShmUpgradeVersion ||
      wire::load_le<std::uint64_t>(base + 16) != layout.capacity[0] ||
      wire::load_le<std::uint64_t>(base + 24) != layout.capacity[1]) {
    return make_error(StatusCode::protocol_error,
                      "the shared-memory segment does not match the upgrade reply");
  }
  return {};
}

RingControl* ring_control(char* base, int ring) {
  return std::launder(reinterpret_cast<RingControl*>(base + kControlOffset[ring]));
}

Result<MappedSegment> map_segment(int fd, const SegmentLayout& layout) {
  MappedSegment seg;
  const platform::Mapping::Piece pieces[] = {
      {0, kDataOffset, 1},
      {layout.data_offset[0], layout.capacity[0], 2},
      {layout.data_offset[1], layout.capacity[1], 2},
  };
  auto mirrored = platform::Mapping::map_pieces(fd, pieces);
  if (mirrored) {
    seg.mapping = std::move(*mirrored);
    seg.base = seg.mapping.data();
    seg.data[0] = seg.base + kDataOffset;
    seg.data[1] = seg.data[0] + 2 * layout.capacity[0];
    seg.mirrored = true;
    return seg;
  }
  if (mirrored.error().code != StatusCode::invalid_argument)
    return tl::unexpected(mirrored.error());
  auto plain = platform::Mapping::map(fd, layout.total);
  if (!plain) return tl::unexpected(plain.error());
  seg.mapping = std::move(*plain);
  seg.base = seg.mapping.data();
  seg.data[0] = seg.base + layout.data_offset[0];
  seg.data[1] = seg.base + layout.data_offset[1];
  return seg;
}

Result<std::uint64_t> RingWriter::free_space(std::uint64_t wanted) {
  std::uint64_t used = head_ - cached_tail_;
  if (capacity_ - used < wanted) {
    const std::uint64_t tail = c_->tail.load(std::memory_order_acquire);
    // The tail can only move forward, up to our head: anything else is a corrupt peer.
    if (head_ - tail > capacity_ || tail - cached_tail_ > capacity_) {
      return make_error(StatusCode::protocol_error,
                        "shared-memory ring: the reader's tail is out of range");
    }
    cached_tail_ = tail;
    used = head_ - tail;
  }
  return capacity_ - used;
}

void RingWriter::write_at(std::size_t skip, std::string_view bytes) const {
  const char* src = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t at = head_ + skip;
  while (n > 0) {
    const std::uint64_t off = at & mask_;
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, capacity_ - off));
    std::memcpy(data_ + off, src, chunk);
    src += chunk;
    n -= chunk;
    at += chunk;
  }
}

bool RingWriter::publish() {
  if (head_ == published_) return false;
  published_ = head_;
  // seq_cst store then seq_cst load: with the reader's store of consumer_sleeping then load of
  // head, at least one side sees the other (no lost wake-up).
  c_->head.store(head_, std::memory_order_seq_cst);
  return c_->consumer_sleeping.load(std::memory_order_seq_cst) != 0 &&
         c_->consumer_sleeping.exchange(0, std::memory_order_seq_cst) != 0;
}

void RingWriter::set_waiting(bool waiting) {
  c_->producer_waiting.store(waiting ? 1 : 0, std::memory_order_seq_cst);
}

Result<std::uint64_t> RingReader::available() {
  const std::uint64_t head = c_->head.load(std::memory_order_acquire);
  const std::uint64_t n = head - tail_;
  if (n > capacity_) {
    return make_error(StatusCode::protocol_error,
                      "shared-memory ring: the writer's head is out of range");
  }
  return n;
}

void RingReader::read(char* out, std::size_t n) {
  peek(0, out, n);
  tail_ += n;
}

void RingReader::peek(std::size_t skip, char* out, std::size_t n) const {
  std::uint64_t at = tail_ + skip;
  while (n > 0) {
    const std::uint64_t off = at & mask_;
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, capacity_ - off));
    std::memcpy(out, data_ + off, chunk);
    out += chunk;
    n -= chunk;
    at += chunk;
  }
}

bool RingReader::release() {
  if (tail_ == released_) return false;
  released_ = tail_;
  c_->tail.store(tail_, std::memory_order_seq_cst);
  return c_->producer_waiting.load(std::memory_order_seq_cst) != 0 &&
         c_->producer_waiting.exchange(0, std::memory_order_seq_cst) != 0;
}

void RingReader::set_sleeping(bool sleeping) {
  c_->consumer_sleeping.store(sleeping ? 1 : 0, std::memory_order_seq_cst);
}

}  // namespace plexus::transport::shm
