// BATCH frames (docs/PROTOCOL.md §Batches): the payload is complete frames back to back, each
// with its own 16-byte header and metadata. Only NOTIFY and PUBLISH may travel in a batch; a
// batch inside a batch is refused. Pure functions over bytes, no allocation.
#pragma once

#include <cstddef>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/frame.hpp"

namespace plexus::wire {

// The kinds a BATCH may carry.
bool allowed_in_batch(FrameKind kind);

// Checks a BATCH payload as strictly as top-level frames are checked: every inner header
// (known kind, zero flags, metadata inside the body), the receiver's limits, the kind allowed in
// a batch, the metadata decoding and carrying its kind's fields, no trailing or truncated bytes,
// at least one item. Returns the number of inner frames; fails with protocol_error (details
// {"item":i}) or message_too_large. Nothing is delivered from a batch that fails this check.
Result<std::size_t> check_batch(std::string_view payload, const Limits& limits);

// Calls fn(const FrameView&) for each inner frame, in order. Only for a payload check_batch
// accepted with the same limits.
template <typename Fn>
void for_each_in_batch(std::string_view payload, const Limits& limits, Fn&& fn) {
  while (!payload.empty()) {
    const ParseResult r = parse_frame(payload, limits);
    if (r.state != ParseResult::State::frame) return;  // unreachable after check_batch
    fn(r.frame);
    payload.remove_prefix(r.consumed);
  }
}

}  // namespace plexus::wire
