#include "transport/frame_reader.hpp"

#include <algorithm>
#include <cstring>

namespace plexus::transport {

std::span<char> FrameReader::space() {
  if (large_) {
    return {large_payload_.data() + large_filled_, large_payload_.size() - large_filled_};
  }
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buf_.size() > 2 * chunk_) {  // a burst (or a large frame) grew it: give that back
      buf_.resize(chunk_);
      buf_.shrink_to_fit();
    }
  } else if (buf_.size() - end_ < chunk_ && begin_ > 0) {
    make_room(0);
  }
  if (buf_.size() - end_ < chunk_) buf_.resize(end_ + chunk_);
  offered_ = buf_.size() - end_;
  return {buf_.data() + end_, offered_};
}

void FrameReader::filled(std::size_t n) {
  if (large_) {
    large_filled_ += n;
    return;
  }
  end_ += n;
  if (n == offered_) {
    chunk_ = std::min(2 * chunk_, kReadChunk);  // more was waiting, most likely
  } else if (n <= chunk_ / 8) {
    chunk_ = std::max(chunk_ / 2, kMinReadChunk);
  }
}

void FrameReader::make_room(std::size_t bytes) {
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (bytes > buf_.size()) buf_.resize(bytes);
}

void FrameReader::start_large(const wire::FrameHeader& header) {
  const std::size_t head = wire::kHeaderSize + header.metadata_length;
  const std::size_t have = end_ - begin_ - head;  // payload bytes already here (< the payload)
  large_ = true;
  large_header_ = header;
  // Zero-filled, then overwritten: one write pass, cheaper than the copy it saves.
  large_payload_.resize(header.payload_length());
  std::memcpy(large_payload_.data(), buf_.data() + begin_ + head, have);
  large_filled_ = have;
  end_ = begin_ + head;
}

void FrameReader::deliver_large(ConnectionDelegate& delegate, ConnectionStats& stats) {
  const std::size_t head = wire::kHeaderSize + large_header_.metadata_length;
  wire::FrameView frame;
  frame.header = large_header_;
  frame.metadata =
      std::string_view(buf_.data() + begin_ + wire::kHeaderSize, large_header_.metadata_length);
  frame.payload = large_payload_;
  frame.owned_payload = &large_payload_;
  large_ = false;
  ++stats.frames_in;
  delegate.on_frame(frame);
  // Only now: the metadata view pointed into buf_. The string is released either way (moved
  // out by the delegate, or freed here) so an idle connection holds no large buffer.
  begin_ += head;
  std::string().swap(large_payload_);
  large_filled_ = 0;
}

bool FrameReader::step(Connection& connection, ConnectionDelegate& delegate,
                       const ConnectionOptions& options, ConnectionStats& stats) {
  if (large_) {
    deliver_large(delegate, stats);
    return true;
  }
  if (skip_remaining_ > 0) {
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(skip_remaining_, end_ - begin_));
    begin_ += take;
    skip_remaining_ -= take;
    return true;
  }
  // Most steps find a whole valid frame: no ParseResult (with its error strings) for those.
  wire::FrameView frame;
  if (wire::complete_frame_at(input(), options.receive_limits, frame)) {
    ++stats.frames_in;
    begin_ += wire::kHeaderSize + frame.header.body_length;
    delegate.on_frame(frame);
    return true;
  }
  auto r = wire::parse_frame(input(), options.receive_limits);
  using State = wire::ParseResult::State;
  switch (r.state) {
    case State::frame:
      ++stats.frames_in;
      begin_ += r.consumed;
      delegate.on_frame(r.frame);
      return true;
    case State::need_more:
      if (r.needed > wire::kHeaderSize && r.header.payload_length() >= kOwnReadPayload) {
        // The header is in and announces a large payload (already checked against the
        // limits): gather only header and metadata here, the payload in its own string.
        const std::size_t head = wire::kHeaderSize + r.header.metadata_length;
        if (end_ - begin_ >= head) {
          start_large(r.header);
        } else {
          make_room(head);
        }
        return false;
      }
      // Grow once to the announced size so the body lands in one buffer.
      if (r.needed > buf_.size() - begin_) make_room(r.needed);
      return false;
    case State::too_large: {
      const bool skipping = r.header.body_length <= options.max_skip_bytes;
      begin_ += wire::kHeaderSize;
      skip_remaining_ = r.header.body_length;
      delegate.on_frame_too_large(r.header, r.error, skipping);
      if (!skipping) connection.close(r.error, /*flush=*/true);
      return true;
    }
    case State::error:
      break;
  }
  // Malformed: nothing after this point can be framed reliably.
  delegate.on_malformed(r.error);
  connection.close(r.error, /*flush=*/true);
  return false;
}

}  // namespace plexus::transport
