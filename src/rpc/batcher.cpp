#include "rpc/batcher.hpp"

namespace plexus::rpc {

Result<Batcher::Added> Batcher::add(wire::FrameKind kind, std::uint64_t id,
                                    const wire::Metadata& md, std::string_view payload,
                                    std::uint32_t limit) {
  const std::size_t before = frames_.size();
  if (auto encoded = wire::encode_frame(kind, id, md, payload, limit, frames_); !encoded) {
    return tl::unexpected(encoded.error());
  }
  if (frames_.size() > limit) {
    frames_.resize(before);
    return before == 0 ? Added::alone : Added::flush_first;
  }
  if (++items_ == 1) timer_->wait(options_.max_wait, wait_over_);
  return items_ >= options_.max_items ? Added::full : Added::queued;
}

std::string Batcher::take() {
  timer_->cancel();
  items_ = 0;
  std::string out = std::move(frames_);
  frames_.clear();
  return out;
}

void Batcher::clear() {
  timer_->cancel();
  items_ = 0;
  frames_.clear();
}

}  // namespace plexus::rpc
