#include "wire/frame.hpp"

#include <string>

#include "wire/bytes.hpp"

namespace plexus::wire {

std::string_view to_string(FrameKind kind) {
  switch (kind) {
    case FrameKind::hello:
      return "HELLO";
    case FrameKind::welcome:
      return "WELCOME";
    case FrameKind::request:
      return "REQUEST";
    case FrameKind::response:
      return "RESPONSE";
    case FrameKind::error:
      return "ERROR";
    case FrameKind::notify:
      return "NOTIFY";
    case FrameKind::cancel:
      return "CANCEL";
    case FrameKind::ping:
      return "PING";
    case FrameKind::pong:
      return "PONG";
    case FrameKind::goaway:
      return "GOAWAY";
    case FrameKind::publish:
      return "PUBLISH";
    case FrameKind::subscribe:
      return "SUBSCRIBE";
    case FrameKind::unsubscribe:
      return "UNSUBSCRIBE";
    case FrameKind::batch:
      return "BATCH";
    case FrameKind::stream_open:
      return "STREAM_OPEN";
    case FrameKind::stream_data:
      return "STREAM_DATA";
    case FrameKind::stream_end:
      return "STREAM_END";
    case FrameKind::stream_credit:
      return "STREAM_CREDIT";
    case FrameKind::stream_cancel:
      return "STREAM_CANCEL";
    case FrameKind::lane_open:
      return "LANE_OPEN";
    case FrameKind::lane_data:
      return "LANE_DATA";
  }
  return "UNKNOWN";
}

namespace {
// Bit n set: kind n is known (1..14, 17..23).
constexpr std::uint32_t kKnownKinds = ((1u << 15) - 2) | (((1u << 7) - 1) << 17);

// The header's fields, and whether they pass every structural check: the path every valid
// frame takes, without building a Result (decode_header builds the error of one that fails).
bool read_valid_header(const char* p, FrameHeader& h, std::uint8_t& raw_kind) {
  h.body_length = load_le<std::uint32_t>(p + 0);
  raw_kind = load_le<std::uint8_t>(p + 4);
  h.flags = load_le<std::uint8_t>(p + 5);
  h.metadata_length = load_le<std::uint16_t>(p + 6);
  h.id = load_le<std::uint64_t>(p + 8);
  h.kind = static_cast<FrameKind>(raw_kind);
  return is_known_kind(raw_kind) && h.flags == 0 && h.metadata_length <= h.body_length;
}
}  // namespace

bool is_known_kind(std::uint8_t raw) {
  return raw < 32 && ((kKnownKinds >> raw) & 1u) != 0;
}

bool is_stream_kind(FrameKind kind) {
  const auto raw = static_cast<std::uint8_t>(kind);
  return raw >= 17 && raw <= 21;
}

Error payload_too_large(std::size_t size, std::uint32_t limit) {
  return Error{StatusCode::message_too_large,
               "payload of " + std::to_string(size) + " bytes exceeds the peer's limit of " +
                   std::to_string(limit),
               "{\"limit\":" + std::to_string(limit) + ",\"size\":" + std::to_string(size) + "}"};
}

Result<void> encode_plain_head(FrameKind kind, std::uint64_t id, std::size_t payload_size,
                               std::uint32_t peer_max_message_size, char out[kHeaderSize]) {
  if (payload_size > peer_max_message_size) {
    return tl::unexpected(payload_too_large(payload_size, peer_max_message_size));
  }
  FrameHeader h;
  h.body_length = static_cast<std::uint32_t>(payload_size);
  h.kind = kind;
  h.id = id;
  encode_header(h, out);
  return {};
}

void encode_header(const FrameHeader& h, char out[kHeaderSize]) {
  store_le<std::uint32_t>(out + 0, h.body_length);
  store_le<std::uint8_t>(out + 4, static_cast<std::uint8_t>(h.kind));
  store_le<std::uint8_t>(out + 5, h.flags);
  store_le<std::uint16_t>(out + 6, h.metadata_length);
  store_le<std::uint64_t>(out + 8, h.id);
}

Result<FrameHeader> decode_header(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) {
    return make_error(StatusCode::protocol_error, "frame header truncated");
  }
  FrameHeader h;
  std::uint8_t raw_kind = 0;
  if (read_valid_header(bytes.data(), h, raw_kind)) return h;
  if (!is_known_kind(raw_kind)) {
    return make_error(StatusCode::protocol_error, "unknown frame kind " + std::to_string(raw_kind),
                      "{\"kind\":" + std::to_string(raw_kind) + "}");
  }
  if (h.flags != 0) {
    return make_error(StatusCode::protocol_error,
                      "reserved frame flags set: " + std::to_string(h.flags));
  }
  if (h.metadata_length > h.body_length) {
    return make_error(StatusCode::protocol_error,
                      "metadata length " + std::to_string(h.metadata_length) +
                          " exceeds body length " + std::to_string(h.body_length));
  }
  return h;
}

Result<void> check_limits(const FrameHeader& h, const Limits& limits) {
  if (h.payload_length() > limits.max_message_size) {
    return make_error(StatusCode::message_too_large,
                      "payload of " + std::to_string(h.payload_length()) +
                          " bytes exceeds the limit of " + std::to_string(limits.max_message_size),
                      "{\"limit\":" + std::to_string(limits.max_message_size) +
                          ",\"size\":" + std::to_string(h.payload_length()) + "}");
  }
  return {};
}

bool complete_frame_at(std::string_view buffer, const Limits& limits, FrameView& out) {
  if (buffer.size() < kHeaderSize) return false;
  FrameHeader h;
  std::uint8_t raw_kind = 0;
  if (!read_valid_header(buffer.data(), h, raw_kind) ||
      h.payload_length() > limits.max_message_size || buffer.size() - kHeaderSize < h.body_length) {
    return false;
  }
  out.header = h;
  out.metadata = std::string_view(buffer.data() + kHeaderSize, h.metadata_length);
  out.payload =
      std::string_view(buffer.data() + kHeaderSize + h.metadata_length, h.payload_length());
  out.owned_payload = nullptr;
  return true;
}

ParseResult parse_frame(std::string_view buffer, const Limits& limits) {
  ParseResult r;
  if (buffer.size() < kHeaderSize) {
    r.needed = kHeaderSize;
    return r;
  }
  FrameHeader& h = r.header;
  std::uint8_t raw_kind = 0;
  if (!read_valid_header(buffer.data(), h, raw_kind)) {
    r.state = ParseResult::State::error;
    r.error = std::move(decode_header(buffer.substr(0, kHeaderSize)).error());
    return r;
  }
  if (h.payload_length() > limits.max_message_size) {
    r.state = ParseResult::State::too_large;
    r.error = std::move(check_limits(h, limits).error());
    return r;
  }
  const std::size_t total = kHeaderSize + h.body_length;
  if (buffer.size() < total) {
    r.needed = total;
    return r;
  }
  r.state = ParseResult::State::frame;
  r.consumed = total;
  r.frame.header = h;
  r.frame.metadata = std::string_view(buffer.data() + kHeaderSize, h.metadata_length);
  r.frame.payload =
      std::string_view(buffer.data() + kHeaderSize + h.metadata_length, h.payload_length());
  return r;
}

}  // namespace plexus::wire
