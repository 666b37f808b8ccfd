#include "transport/hot_read.hpp"

#include <utility>

namespace plexus::transport {

void HotReadSlot::take(std::shared_ptr<HotReader> reader) {
  ++takes_;
  if (holder_ == reader) return;
  // The new holder is in place before the old one is parked: park() starts a reactor read
  // (its completion runs later, through the io_context) and may call back into the slot.
  auto previous = std::exchange(holder_, std::move(reader));
  if (previous) previous->park();
}

void HotReadSlot::release(const HotReader* reader) {
  if (holder_.get() == reader) holder_.reset();
}

bool HotReadSlot::poll_for(Clock::duration window) {
  if (!holder_) return false;
  // A copy: reading may make the holder release the slot (it closed) and drop the last
  // reference while it is still running.
  auto reader = holder_;
  return reader->read_until(Clock::now() + window);
}

void HotReadSlot::park() {
  if (auto previous = std::exchange(holder_, nullptr)) previous->park();
}

}  // namespace plexus::transport
