// The payload sizes at which the transports stop copying (docs/decisions/0010): kept in one
// place because sender and receiver must agree on them.
#pragma once

#include <cstddef>

namespace plexus::transport {

// From this size on a payload the sender hands over (OutFrame::owned) is written from its own
// string (a socket's gather write) instead of being copied into the write batch, and a
// shared-memory reader hands it to the handler where it lies in the ring. Below it, a copy
// costs less than the bookkeeping of a hand-over.
inline constexpr std::size_t kHandOverPayload = 16 * 1024;

// From this size on a socket reader reads a payload straight into a string of its own, which
// becomes the call's result without a copy (below it the zero fill and the copy of what the
// first read held cost as much as they save).
inline constexpr std::size_t kOwnReadPayload = 256 * 1024;

}  // namespace plexus::transport
