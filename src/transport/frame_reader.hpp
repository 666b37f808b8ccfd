// The receive side that every byte-stream transport shares (a socket, a shared-memory ring):
// a buffer the transport reads bytes into, and the loop that cuts them into frames and hands
// each to the connection's delegate. The frame decoder checks every header and length before
// anything is allocated, so whatever a peer sends ends as a frame, an oversize frame that is
// skipped (or closes), or on_malformed and a close: never as a crash.
//
// Large payloads (kOwnReadPayload and up, transport/payload_sizes.hpp) are not gathered in the
// shared buffer: once their header and metadata are in, the rest of the read goes straight into a
// string of the payload's size, which the frame offers to the delegate (FrameView::owned_payload).
// A 1 MiB answer then lands in the caller's result without a copy in user space (socket) or with
// the one copy out of the ring (shared memory). Not thread-safe: used by one connection, on its
// executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transport/connection.hpp"
#include "transport/payload_sizes.hpp"
#include "wire/frame.hpp"

namespace plexus::transport {

class FrameReader {
 public:
  // Reads start at kMinReadChunk and double, up to kReadChunk, while they fill the room they were
  // given (and halve while they use little of it): an idle connection holds one page, a busy one
  // reads 64 KiB per system call.
  static constexpr std::size_t kMinReadChunk = 4 * 1024;
  static constexpr std::size_t kReadChunk = 64 * 1024;

  FrameReader() : buf_(kMinReadChunk) {}

  // Room for the next read: the rest of a large payload being received, or the shared buffer
  // after compacting the unconsumed bytes to the front (and giving back the memory a burst
  // grew when it is empty). Never empty.
  std::span<char> space();
  // `n` bytes were read into the front of the last space().
  void filled(std::size_t n);

  // The bytes received and not yet consumed (the start of a large frame, while one is being
  // received, is its header and metadata only).
  std::string_view input() const { return {buf_.data() + begin_, end_ - begin_}; }
  void consume(std::size_t n) { begin_ += n; }
  // Nothing buffered, no large payload or skip under way: the next byte starts a frame.
  bool idle() const { return begin_ == end_ && !large_ && skip_remaining_ == 0; }

  // Frames the buffered bytes while `go()` holds, handing each to `delegate`. Returns when the
  // input runs out or a frame needs more bytes (room is made for it). An oversize frame is
  // reported and skipped, or closes `connection` when it is too large to skip; malformed
  // input reports and closes it (flushing what was already queued).
  template <typename Go>
  void deliver(Connection& connection, ConnectionDelegate& delegate,
               const ConnectionOptions& options, ConnectionStats& stats, Go&& go) {
    while (go() && (large_ ? large_filled_ == large_payload_.size() : begin_ < end_)) {
      if (!step(connection, delegate, options, stats)) return;
    }
  }

 private:
  // One frame (or one piece of a skip): false when nothing more can be done with this input.
  bool step(Connection& connection, ConnectionDelegate& delegate, const ConnectionOptions& options,
            ConnectionStats& stats);
  // Makes [begin_, begin_ + bytes) fit in buf_, moving the unconsumed bytes to the front.
  void make_room(std::size_t bytes);
  // Moves the payload bytes already buffered into a string of the payload's size.
  void start_large(const wire::FrameHeader& header);
  void deliver_large(ConnectionDelegate& delegate, ConnectionStats& stats);

  std::vector<char> buf_;              // received bytes live in [begin_, end_)
  std::size_t chunk_ = kMinReadChunk;  // the room the next read is given, adapted by filled()
  std::size_t offered_ = 0;            // the room the last space() gave
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::uint64_t skip_remaining_ = 0;  // body bytes of an oversize frame still to discard

  // A large payload being received: its frame's header and metadata stay at begin_ in buf_.
  bool large_ = false;
  wire::FrameHeader large_header_;
  std::string large_payload_;
  std::size_t large_filled_ = 0;
};

}  // namespace plexus::transport
