// What a plexus::Lane handle shares with its copies, and the checks a message gets before it is
// handed to an I/O thread. Internal to the API layer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "plexus/caller.hpp"
#include "plexus/status.hpp"
#include "rpc/session.hpp"
#include "wire/frame.hpp"

namespace plexus::detail {

struct LaneState {
  std::unique_ptr<Caller> owned_caller;  // the lane's own copy of a Peer (Caller::copy_for_lane)
  // The method (fixed at open) and where the lane is open: read and written only on the
  // session's strand; shared with messages waiting in a session's outbox.
  std::shared_ptr<rpc::LaneBinding> binding;
};

// message_too_large when `size` bytes exceed the peer's limit (checked before a message is
// copied to the I/O thread, which would otherwise drop it without a word).
inline Result<void> payload_within_limit(std::size_t size, std::uint32_t limit) {
  if (size <= limit) return {};
  return tl::unexpected(wire::payload_too_large(size, limit));
}

}  // namespace plexus::detail
