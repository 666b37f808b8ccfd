#include "transport/frame_reader.hpp"

#include <algorithm>
#include <cstring>

#include "wire/frame.hpp"

namespace plexus::transport {

std::span<char> FrameReader::space() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buf_.size() > 4 * kReadChunk) {
      buf_.resize(kReadChunk);
      buf_.shrink_to_fit();
    }
  } else if (buf_.size() - end_ < kReadChunk / 4 && begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size()) buf_.resize(buf_.size() + kReadChunk);
  return {buf_.data() + end_, buf_.size() - end_};
}

bool FrameReader::step(Connection& connection, ConnectionDelegate& delegate,
                       const ConnectionOptions& options, ConnectionStats& stats) {
  if (skip_remaining_ > 0) {
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(skip_remaining_, end_ - begin_));
    begin_ += take;
    skip_remaining_ -= take;
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
      // Grow once to the announced size (already checked against the limits) so the body
      // lands in one buffer; never more than the limit allows.
      if (r.needed > buf_.size() - begin_) {
        if (begin_ > 0) {
          std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
          end_ -= begin_;
          begin_ = 0;
        }
        buf_.resize(std::max(r.needed, buf_.size()));
      }
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
