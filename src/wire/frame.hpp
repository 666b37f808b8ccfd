// Frame header and frame parsing: pure functions over bytes, no I/O, no allocation.
// Layout (docs/PROTOCOL.md §Frames): 16-byte little-endian header, then `metadata_length`
// bytes of TLV metadata, then the payload (body_length - metadata_length bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/bytes.hpp"

namespace plexus::wire {

inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint32_t kDefaultMaxMessageSize = 8u << 20;  // 8 MiB of payload
inline constexpr std::uint32_t kMaxMetadataSize = 0xFFFF;          // fits the u16 length field

enum class FrameKind : std::uint8_t {
  hello = 1,
  welcome = 2,
  request = 3,
  response = 4,
  error = 5,
  notify = 6,
  cancel = 7,
  ping = 8,
  pong = 9,
  goaway = 10,
  // Publish/subscribe and batching (docs/PROTOCOL.md §Publish/subscribe, §Batches).
  publish = 11,      // topic in `method`; client->server: id 0; server->client: subscription id
  subscribe = 12,    // pattern in `method`, id = subscription id; answered by RESPONSE or ERROR
  unsubscribe = 13,  // id = subscription id; no answer
  batch = 14,        // payload: complete NOTIFY/PUBLISH frames back to back (wire/batch.hpp)
  // 15..16 are spare for pub/sub. Streams (docs/PROTOCOL.md §Streams) use 17..21,
  // lanes 22..23; 24..31 stay reserved. A peer that does not know a kind answers with
  // protocol_error.
  stream_open = 17,    // opens a stream: id chosen by the opener, method, initial credit
  stream_data = 18,    // one item; uses one item of credit and its size in byte credit
  stream_end = 19,     // the sender's last word: status (absent: ok) and a final payload
  stream_credit = 20,  // grants the other side more items / bytes
  stream_cancel = 21,  // aborts the whole stream, either side
  // Lanes (docs/PROTOCOL.md §6.11): a method bound once to a small id, then messages that carry
  // only that id. Sent only to a peer advertising capability::kLanes.
  lane_open = 22,  // id = lane id (1..kMaxLanes) chosen by the sender, method required
  lane_data = 23,  // id = an open lane of the sender; payload = one message, as a NOTIFY
};

// Lane ids a sender may open on one connection: 1..kMaxLanes (bounds the receiver's table).
inline constexpr std::uint64_t kMaxLanes = 4096;

// Both peers may open streams with overlapping ids. The opener sends its stream id as is (top
// bit clear); the side that accepted the stream sends id | kStreamAcceptorBit, so the receiver
// knows whose stream an id names without any flag.
inline constexpr std::uint64_t kStreamAcceptorBit = 1ull << 63;
bool is_stream_kind(FrameKind kind);

std::string_view to_string(FrameKind kind);
// Kinds 1..14 and 17..23 (bit n of the mask: kind n).
inline constexpr std::uint32_t kKnownKinds = ((1u << 15) - 2) | (((1u << 7) - 1) << 17);
inline bool is_known_kind(std::uint8_t raw) {
  return raw < 32 && ((kKnownKinds >> raw) & 1u) != 0;
}

struct FrameHeader {
  std::uint32_t body_length = 0;  // metadata + payload, excludes the 16 header bytes
  FrameKind kind = FrameKind::request;
  std::uint8_t flags = 0;             // no flag is defined in version 1: must be zero
  std::uint16_t metadata_length = 0;  // <= body_length
  std::uint64_t id = 0;               // call id for request/response/error/cancel, nonce for ping

  std::uint32_t payload_length() const { return body_length - metadata_length; }
};

// Limits this side enforces on what it receives.
struct Limits {
  std::uint32_t max_message_size = kDefaultMaxMessageSize;  // payload bytes per frame
};

inline void encode_header(const FrameHeader& h, char out[kHeaderSize]) {
  store_le<std::uint32_t>(out + 0, h.body_length);
  store_le<std::uint8_t>(out + 4, static_cast<std::uint8_t>(h.kind));
  store_le<std::uint8_t>(out + 5, h.flags);
  store_le<std::uint16_t>(out + 6, h.metadata_length);
  store_le<std::uint64_t>(out + 8, h.id);
}

// message_too_large for a payload of `size` bytes to a peer that accepts `limit` (the sender's
// check, before anything is queued), details {"limit":…, "size":…}.
Error payload_too_large(std::size_t size, std::uint32_t limit);

// The 16 header bytes of a frame whose metadata block (`metadata_size` <= kMaxMetadataSize
// bytes, already encoded by the caller) and payload follow, after the payload is checked
// against the peer's limit (payload_too_large).
// Inline: every call and answer pays for it.
Error head_refused(std::size_t metadata_size, std::size_t payload_size,
                   std::uint32_t peer_max_message_size);  // encode_head's errors
inline Result<void> encode_head(FrameKind kind, std::uint64_t id, std::size_t metadata_size,
                                std::size_t payload_size, std::uint32_t peer_max_message_size,
                                char out[kHeaderSize]) {
  // The second and third checks guard the caller's block: the u32 body length must not wrap.
  if (payload_size > peer_max_message_size || metadata_size > kMaxMetadataSize ||
      payload_size > 0xFFFFFFFFu - metadata_size) {
    return tl::unexpected(head_refused(metadata_size, payload_size, peer_max_message_size));
  }
  FrameHeader h;
  h.body_length = static_cast<std::uint32_t>(metadata_size + payload_size);
  h.metadata_length = static_cast<std::uint16_t>(metadata_size);
  h.kind = kind;
  h.id = id;
  encode_header(h, out);
  return {};
}
// The same for a frame without metadata (LANE_DATA, PONG…).
inline Result<void> encode_plain_head(FrameKind kind, std::uint64_t id, std::size_t payload_size,
                                      std::uint32_t peer_max_message_size, char out[kHeaderSize]) {
  return encode_head(kind, id, 0, payload_size, peer_max_message_size, out);
}

// Checks the header's structure: known kind, zero flags, metadata inside the body.
// Fails with protocol_error; it never looks past the 16 bytes it is given.
Result<FrameHeader> decode_header(std::string_view sixteen_bytes);

// Checks a structurally valid header against the receiver's limits, before anything is
// allocated for the body. Fails with message_too_large, details {"limit":…, "size":…}.
Result<void> check_limits(const FrameHeader& header, const Limits& limits);

// A complete frame viewed in place inside a caller's buffer.
struct FrameView {
  FrameHeader header;
  std::string_view metadata;
  std::string_view payload;
  // Set by a receiver that read a large payload straight into a string of its own: `payload`
  // views this string, and whoever handles the frame may move it out (its last use of
  // `payload`) instead of copying it.
  std::string* owned_payload = nullptr;
};

// Result of looking at the start of a receive buffer.
struct ParseResult {
  enum class State { need_more, frame, too_large, error } state = State::need_more;
  FrameView frame;           // valid when state == frame
  FrameHeader header;        // valid when state == frame or too_large
  std::size_t consumed = 0;  // bytes of the buffer that the frame occupies (state == frame)
  std::size_t needed = 0;    // total bytes the next frame needs (state == need_more, once known)
  Error error;               // state == too_large or error
};

// The header's fields from 16 bytes, and whether they pass every structural check (known
// kind, zero flags, metadata inside the body): the path of every valid frame, without building
// a Result (decode_header says what is wrong with one that fails).
inline bool read_valid_header(const char* p, FrameHeader& h) {
  h.body_length = load_le<std::uint32_t>(p + 0);
  const auto raw_kind = load_le<std::uint8_t>(p + 4);
  h.flags = load_le<std::uint8_t>(p + 5);
  h.metadata_length = load_le<std::uint16_t>(p + 6);
  h.id = load_le<std::uint64_t>(p + 8);
  h.kind = static_cast<FrameKind>(raw_kind);
  return is_known_kind(raw_kind) && h.flags == 0 && h.metadata_length <= h.body_length;
}

// The common case of parse_frame, without building a ParseResult: true, with `out` viewing
// it, when `buffer` starts with a whole frame whose header is valid and within `limits`. False
// for everything else (incomplete, oversize, malformed), which parse_frame then tells apart.
inline bool complete_frame_at(std::string_view buffer, const Limits& limits, FrameView& out) {
  if (buffer.size() < kHeaderSize) return false;
  FrameHeader h;
  if (!read_valid_header(buffer.data(), h) || h.payload_length() > limits.max_message_size ||
      buffer.size() - kHeaderSize < h.body_length) {
    return false;
  }
  out.header = h;
  out.metadata = std::string_view(buffer.data() + kHeaderSize, h.metadata_length);
  out.payload =
      std::string_view(buffer.data() + kHeaderSize + h.metadata_length, h.payload_length());
  out.owned_payload = nullptr;
  return true;
}

// Parses at most one frame from the start of `buffer`. Never reads past the buffer and never
// allocates; oversize and malformed headers are reported before their bodies are awaited.
ParseResult parse_frame(std::string_view buffer, const Limits& limits);

}  // namespace plexus::wire
