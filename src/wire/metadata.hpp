// Frame metadata: a block of type-length-value entries (u16 key, u16 length, value bytes).
// Decoding yields views into the caller's block (no allocation); unknown keys are skipped so
// newer peers can add fields; a known key twice, or with the wrong width, is a protocol_error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/frame.hpp"

namespace plexus::wire {

enum class MetaKey : std::uint16_t {
  method = 1,         // utf-8, 1..kMaxNameLength bytes: method (request, notify),
                      // topic (publish) or pattern (subscribe)
  timeout_us = 2,     // u64: remaining time the caller will wait, microseconds
  trace_id = 3,       // bytes, <= 64: carried unchanged to the callee
  content_type = 4,   // u8: 0 raw bytes, 1 JSON
  status = 5,         // u16 StatusCode: error, goaway
  error_message = 6,  // utf-8
  error_details = 7,  // utf-8 JSON object
  // Acknowledged messages and durable queues (docs/PROTOCOL.md §Acknowledged messages).
  message_id = 8,         // ascii, 1..kMaxMessageIdLength: asks for an ack; receivers dedup on it
  message_type = 9,       // utf-8 name, <= kMaxQueueNameLength: task, command, … or the app's
  message_group = 10,     // utf-8 name, <= kMaxQueueNameLength: the application's grouping
  attempt = 11,           // u32: which delivery this is, from 1
  queue = 12,             // utf-8 name, <= kMaxQueueNameLength: the durable queue meant
  priority = 13,          // u32 holding an i32 (two's complement): higher first
  delay_ms = 14,          // u64: not delivered before this many ms from its acceptance
  max_retries = 15,       // u32: redeliveries after the first before it is dead-lettered
  retry_delay_ms = 16,    // u64: wait before a failed delivery is tried again
  cache_status = 20,      // u8: 1 miss, 2 hit (response cache): response
  cache_age_us = 21,      // u64: age of the cached answer, microseconds: response
  handler_time_us = 22,   // u64: how long the handler ran, microseconds: response
  magic = 32,             // 4 bytes "PLXS": hello, welcome
  version = 33,           // u16 protocol version
  peer_name = 34,         // utf-8, <= kMaxNameLength
  capabilities = 35,      // u64 bit set; unknown bits are ignored
  max_message_size = 36,  // u32: the largest payload this peer accepts
  heartbeat_interval_ms = 37,  // u32: how often this peer pings when idle
  token = 38,                  // ascii, <= kMaxTokenLength: a signed token (hello only)
  // Streams (docs/PROTOCOL.md §Streams).
  credit_items = 64,    // u32: items granted (stream_open: the initial window; credit: more)
  credit_bytes = 65,    // u64: bytes granted, likewise
  progress_done = 66,   // u64: units of work done, in the producer's own unit (stream_data)
  progress_total = 67,  // u64: units of work in all (stream_data)
};

inline constexpr std::size_t kMetaEntryHead = 4;  // each entry: u16 key + u16 length
inline constexpr std::size_t kMaxNameLength = 255;
inline constexpr std::size_t kMaxTraceIdLength = 64;
inline constexpr std::size_t kMaxTokenLength = 8192;
inline constexpr std::size_t kMaxMessageIdLength = 128;
inline constexpr std::size_t kMaxQueueNameLength = 128;

enum class ContentType : std::uint8_t { raw = 0, json = 1 };

// Every field a frame may carry; a field is absent when empty / nullopt.
struct Metadata {
  std::string_view method;
  std::optional<std::uint64_t> timeout_us;
  std::string_view trace_id;
  std::optional<ContentType> content_type;
  std::optional<std::uint16_t> status;
  std::string_view error_message;
  std::string_view error_details;
  std::string_view message_id;
  std::string_view message_type;
  std::string_view message_group;
  std::optional<std::uint32_t> attempt;
  std::string_view queue;
  std::optional<std::uint32_t> priority;
  std::optional<std::uint64_t> delay_ms;
  std::optional<std::uint32_t> max_retries;
  std::optional<std::uint64_t> retry_delay_ms;
  std::optional<std::uint8_t> cache_status;
  std::optional<std::uint64_t> cache_age_us;
  std::optional<std::uint64_t> handler_time_us;
  std::string_view magic;
  std::optional<std::uint16_t> version;
  std::string_view peer_name;
  std::optional<std::uint64_t> capabilities;
  std::optional<std::uint32_t> max_message_size;
  std::optional<std::uint32_t> heartbeat_interval_ms;
  std::string_view token;
  std::optional<std::uint32_t> credit_items;
  std::optional<std::uint64_t> credit_bytes;
  std::optional<std::uint64_t> progress_done;
  std::optional<std::uint64_t> progress_total;
};

// The error a GOAWAY, STREAM_END or STREAM_CANCEL carries (status, error_message and
// error_details); its strings are copies, so it outlives the frame.
inline Error carried_error(const Metadata& md) {
  return Error{status_code_from_wire(md.status.value_or(0)), std::string(md.error_message),
               std::string(md.error_details)};
}

// Bytes encode_metadata() will append; callers check it against kMaxMetadataSize.
std::size_t encoded_size(const Metadata& md);

// Appends the TLV block for `md` to `out`. Strings longer than 65535 bytes are cut by the
// callers' limits before they get here (frames with such fields are refused by encode_frame).
void encode_metadata(const Metadata& md, std::string& out);

// Decodes a TLV block. Views point into `block`, which must outlive the result.
Result<Metadata> decode_metadata(std::string_view block);

// Checks that a frame of `kind` carries the fields its kind requires (docs/PROTOCOL.md §Kinds).
Result<void> validate_frame_fields(FrameKind kind, const Metadata& md);

// Appends one whole frame (header, metadata, payload) to `out`. Fails with message_too_large
// when the payload exceeds `peer_max_message_size`, and with invalid_argument when the
// metadata does not fit its 16-bit length; `out` is unchanged on failure.
Result<void> encode_frame(FrameKind kind, std::uint64_t id, const Metadata& md,
                          std::string_view payload, std::uint32_t peer_max_message_size,
                          std::string& out);

// Like encode_frame but leaves the payload to the caller (for zero-copy gather writes):
// appends header + metadata for a payload of `payload_size` bytes.
Result<void> encode_frame_head(FrameKind kind, std::uint64_t id, const Metadata& md,
                               std::size_t payload_size, std::uint32_t peer_max_message_size,
                               std::string& out);

}  // namespace plexus::wire
