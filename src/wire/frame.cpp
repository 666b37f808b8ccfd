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

Error head_refused(std::size_t metadata_size, std::size_t payload_size,
                   std::uint32_t peer_max_message_size) {
  if (payload_size > peer_max_message_size) {
    return payload_too_large(payload_size, peer_max_message_size);
  }
  if (metadata_size > kMaxMetadataSize) {
    return Error{StatusCode::invalid_argument,
                 "metadata of " + std::to_string(metadata_size) + " bytes exceeds 65535",
                 {}};
  }
  return Error{StatusCode::message_too_large, "frame body exceeds 4 GiB", {}};
}

Result<FrameHeader> decode_header(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) {
    return make_error(StatusCode::protocol_error, "frame header truncated");
  }
  FrameHeader h;
  if (read_valid_header(bytes.data(), h)) return h;
  const auto raw_kind = static_cast<std::uint8_t>(h.kind);
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

ParseResult parse_frame(std::string_view buffer, const Limits& limits) {
  ParseResult r;
  if (buffer.size() < kHeaderSize) {
    r.needed = kHeaderSize;
    return r;
  }
  FrameHeader& h = r.header;
  if (!read_valid_header(buffer.data(), h)) {
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
