#include "transport/spool/spool_codec.hpp"

#include <nlohmann/json.hpp>

#include "transport/spool/spool_layout.hpp"
#include "wire/frame.hpp"
#include "wire/metadata.hpp"
#include "wire/names.hpp"

namespace plexus::transport::spool {
namespace {

tl::unexpected<Refusal> refuse(std::string reason, StatusCode code, std::string message) {
  return tl::unexpected(Refusal{std::move(reason), Error{code, std::move(message), {}}});
}

// The one frame `bytes` must hold, or why not. Only the header's body length bounds what is
// read; ack files get the default limit.
tl::expected<wire::FrameView, Refusal> one_frame(std::string_view bytes,
                                                 std::uint32_t max_message_size) {
  const auto parsed = wire::parse_frame(bytes, wire::Limits{max_message_size});
  switch (parsed.state) {
    case wire::ParseResult::State::need_more:
      return refuse("truncated", StatusCode::protocol_error,
                    "the file ends inside its frame (" + std::to_string(bytes.size()) + " bytes" +
                        (parsed.needed ? ", the frame needs " + std::to_string(parsed.needed)
                                       : std::string()) +
                        ")");
    case wire::ParseResult::State::too_large:
      return tl::unexpected(Refusal{"too_large", parsed.error});
    case wire::ParseResult::State::error:
      return tl::unexpected(Refusal{"malformed", parsed.error});
    case wire::ParseResult::State::frame:
      break;
  }
  if (parsed.consumed != bytes.size()) {
    return refuse(
        "malformed", StatusCode::protocol_error,
        std::to_string(bytes.size() - parsed.consumed) + " bytes follow the file's frame");
  }
  return parsed.frame;
}

}  // namespace

Result<std::string> encode_message(const Record& r, std::uint32_t max_message_size) {
  if (!r.id.empty()) {
    if (auto ok = validate_id(r.id); !ok) return tl::unexpected(ok.error());
  }
  if (auto ok = wire::validate_name(r.type, "message type"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (!r.group.empty()) {
    if (auto ok = wire::validate_name(r.group, "group"); !ok) return tl::unexpected(ok.error());
  }
  wire::Metadata md;
  md.method = r.type;
  md.message_type = r.type;
  md.message_group = r.group;
  md.message_id = r.id;
  md.attempt = r.attempt;
  md.max_retries = r.max_retries;
  if (r.retry_delay) md.retry_delay_ms = static_cast<std::uint64_t>(r.retry_delay->count());
  if (r.json) md.content_type = wire::ContentType::json;
  std::string out;
  if (auto ok =
          wire::encode_frame(wire::FrameKind::notify, 0, md, r.payload, max_message_size, out);
      !ok) {
    return tl::unexpected(ok.error());
  }
  return out;
}

tl::expected<Record, Refusal> decode_message(std::string_view bytes,
                                             std::uint32_t max_message_size) {
  auto frame = one_frame(bytes, max_message_size);
  if (!frame) return tl::unexpected(frame.error());
  if (frame->header.kind != wire::FrameKind::notify) {
    return refuse("unexpected_kind", StatusCode::protocol_error,
                  "a message file holds a NOTIFY frame, not " +
                      std::string(wire::to_string(frame->header.kind)));
  }
  auto md = wire::decode_metadata(frame->metadata);
  if (!md) return tl::unexpected(Refusal{"bad_metadata", md.error()});
  if (auto fields = wire::validate_frame_fields(frame->header.kind, *md); !fields) {
    return tl::unexpected(Refusal{"bad_metadata", fields.error()});
  }
  const std::string_view type = md->message_type.empty() ? md->method : md->message_type;
  if (!valid_name(type) || md->method != type) {
    return refuse("bad_metadata", StatusCode::protocol_error,
                  "message_type must be a name of [A-Za-z0-9._-] equal to the method");
  }
  if (!md->message_id.empty() && !valid_id(md->message_id)) {
    return refuse("bad_metadata", StatusCode::protocol_error, "bad message_id");
  }
  Record r;
  r.id = std::string(md->message_id);
  r.type = std::string(type);
  r.group = std::string(md->message_group);
  r.attempt = md->attempt.value_or(1);
  r.max_retries = md->max_retries;
  if (md->retry_delay_ms) {
    r.retry_delay = std::chrono::milliseconds(static_cast<std::int64_t>(*md->retry_delay_ms));
  }
  r.json = md->content_type == wire::ContentType::json;
  r.payload = std::string(frame->payload);
  return r;
}

std::string encode_ack(const Ack& ack) {
  wire::Metadata md;
  md.message_id = ack.id;
  md.attempt = ack.attempt;
  std::string out;
  if (ack.ok) {
    (void)wire::encode_frame(wire::FrameKind::response, 0, md, {}, wire::kDefaultMaxMessageSize,
                             out);
    return out;
  }
  md.status = static_cast<std::uint16_t>(ack.error.code);
  // Metadata fields are at most 64 KiB each; a handler's message is cut well below that.
  const std::string message = ack.error.message.substr(0, 4096);
  const std::string details = ack.error.details.size() <= 16384 ? ack.error.details : "";
  md.error_message = message;
  md.error_details = details;
  (void)wire::encode_frame(wire::FrameKind::error, 0, md, {}, wire::kDefaultMaxMessageSize, out);
  return out;
}

tl::expected<Ack, Refusal> decode_ack(std::string_view bytes) {
  auto frame = one_frame(bytes, wire::kDefaultMaxMessageSize);
  if (!frame) return tl::unexpected(frame.error());
  const auto kind = frame->header.kind;
  if (kind != wire::FrameKind::response && kind != wire::FrameKind::error) {
    return refuse(
        "unexpected_kind", StatusCode::protocol_error,
        "an ack file holds a RESPONSE or ERROR frame, not " + std::string(wire::to_string(kind)));
  }
  auto md = wire::decode_metadata(frame->metadata);
  if (!md) return tl::unexpected(Refusal{"bad_metadata", md.error()});
  if (auto fields = wire::validate_frame_fields(kind, *md); !fields) {
    return tl::unexpected(Refusal{"bad_metadata", fields.error()});
  }
  if (!valid_id(md->message_id)) {
    return refuse("bad_metadata", StatusCode::protocol_error, "an ack needs a valid message_id");
  }
  Ack ack;
  ack.id = std::string(md->message_id);
  ack.attempt = md->attempt.value_or(1);
  ack.ok = kind == wire::FrameKind::response;
  if (!ack.ok) ack.error = wire::carried_error(*md);
  return ack;
}

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t max_file_size(std::uint32_t max_message_size) {
  return wire::kHeaderSize + wire::kMaxMetadataSize + max_message_size;
}

std::string reason_json(std::string_view reason, const Error& error,
                        std::optional<std::uint32_t> attempts, std::int64_t at_ms) {
  nlohmann::json j{{"reason", reason},
                   {"status", to_string(error.code)},
                   {"code", static_cast<unsigned>(error.code)},
                   {"message", error.message}};
  if (!error.details.empty()) j["details"] = error.details;
  if (attempts) j["attempts"] = *attempts;
  j["at_ms"] = at_ms;
  // A message or details that are not UTF-8 become U+FFFD rather than failing the dump.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace plexus::transport::spool
