// The metadata of the frames on the call path (REQUEST, and NOTIFY): a method, maybe a timeout,
// maybe a trace id. Encoded and decoded here without the general Metadata struct, because
// every call pays for it; the bytes are exactly those encode_metadata() writes for the same
// fields (keys in ascending order), so a peer cannot tell which encoder made them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "wire/metadata.hpp"

namespace plexus::wire {

struct CallFields {
  std::string_view method;  // 1..kMaxNameLength bytes
  std::optional<std::uint64_t> timeout_us;
  std::string_view trace_id;  // empty: absent; else <= kMaxTraceIdLength bytes
  // An acknowledged message's id (§22.1); empty: a plain call. The fast encoder and decoder
  // below never carry it: a call with one takes the general path.
  std::string_view message_id;
};

// The same fields in the general form (for encode_frame and the transports' send()).
inline Metadata to_metadata(const CallFields& fields) {
  Metadata md;
  md.method = fields.method;
  md.timeout_us = fields.timeout_us;
  md.trace_id = fields.trace_id;
  md.message_id = fields.message_id;
  return md;
}

// The largest block encode_call_metadata() writes: method, timeout and trace id at their limits.
inline constexpr std::size_t kMaxCallMetadata =
    4 + kMaxNameLength + 4 + sizeof(std::uint64_t) + 4 + kMaxTraceIdLength;

// Writes the TLV block for `fields` into `out` (at least kMaxCallMetadata bytes) and returns
// its size. The caller has checked the lengths (method 1..255 bytes, trace id <= 64).
std::size_t encode_call_metadata(const CallFields& fields, char* out);

// The fast reading of a call's block: succeeds only when it holds a method, then optionally a
// timeout, then optionally a trace id, each well formed, and nothing else. Anything else (other
// keys, another order, a malformed entry) gives nullopt: decode_metadata() then reads the block
// and reports what is wrong with it, so both paths accept and refuse exactly the same blocks.
std::optional<CallFields> decode_call_metadata(std::string_view block);

}  // namespace plexus::wire
