#include "wire/metadata.hpp"

#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "wire/bytes.hpp"

namespace plexus::wire {
namespace {

// Metadata up to this size is encoded on the stack (encode_small): a method, a trace id and
// the numeric fields fit; only long error texts take the appending path.
constexpr std::size_t kSmallMetadata = 384;

// A value's length field is 16 bits; longer strings (only free text can be) are cut to fit.
std::string_view clamp(std::string_view v) {
  return v.substr(0, 0xFFFF);
}
std::size_t str_entry(std::string_view v) {
  return v.empty() ? 0 : kMetaEntryHead + clamp(v).size();
}
template <typename T>
std::size_t int_entry(const std::optional<T>& v) {
  return v ? kMetaEntryHead + sizeof(T) : 0;
}

void put_str(std::string& out, MetaKey key, std::string_view v) {
  if (v.empty()) return;
  v = clamp(v);
  append_le<std::uint16_t>(out, static_cast<std::uint16_t>(key));
  append_le<std::uint16_t>(out, static_cast<std::uint16_t>(v.size()));
  out.append(v);
}
template <typename T>
void put_int(std::string& out, MetaKey key, const std::optional<T>& v) {
  if (!v) return;
  append_le<std::uint16_t>(out, static_cast<std::uint16_t>(key));
  append_le<std::uint16_t>(out, sizeof(T));
  append_le<T>(out, *v);
}

Error field_error(std::string_view what, std::uint16_t key) {
  return Error{StatusCode::protocol_error,
               std::string("metadata key ") + std::to_string(key) + ": " + std::string(what),
               "{\"key\":" + std::to_string(key) + "}"};
}

template <typename T>
Result<void> take_int(std::optional<T>& field, std::uint16_t key, std::string_view value) {
  if (field) return tl::unexpected(field_error("appears twice", key));
  if (value.size() != sizeof(T)) return tl::unexpected(field_error("has the wrong width", key));
  field = load_le<T>(value.data());
  return {};
}

Result<void> take_str(std::string_view& field, std::uint16_t key, std::string_view value,
                      std::size_t max_len) {
  if (!field.empty()) return tl::unexpected(field_error("appears twice", key));
  if (value.empty()) return tl::unexpected(field_error("is empty", key));
  if (value.size() > max_len) return tl::unexpected(field_error("is too long", key));
  field = value;
  return {};
}

}  // namespace

namespace {

// Calls str(key, view) for every string field and num(key, optional) for every integer field,
// in key order: the one list of fields that sizing and both encoders walk.
template <typename Str, typename Num>
void visit_fields(const Metadata& md, Str&& str, Num&& num) {
  str(MetaKey::method, md.method);
  num(MetaKey::timeout_us, md.timeout_us);
  str(MetaKey::trace_id, md.trace_id);
  if (md.content_type) {
    num(MetaKey::content_type,
        std::optional<std::uint8_t>(static_cast<std::uint8_t>(*md.content_type)));
  }
  num(MetaKey::status, md.status);
  str(MetaKey::error_message, md.error_message);
  str(MetaKey::error_details, md.error_details);
  str(MetaKey::message_id, md.message_id);
  str(MetaKey::message_type, md.message_type);
  str(MetaKey::message_group, md.message_group);
  num(MetaKey::attempt, md.attempt);
  str(MetaKey::queue, md.queue);
  num(MetaKey::priority, md.priority);
  num(MetaKey::delay_ms, md.delay_ms);
  num(MetaKey::max_retries, md.max_retries);
  num(MetaKey::retry_delay_ms, md.retry_delay_ms);
  num(MetaKey::cache_status, md.cache_status);
  num(MetaKey::cache_age_us, md.cache_age_us);
  num(MetaKey::handler_time_us, md.handler_time_us);
  str(MetaKey::magic, md.magic);
  num(MetaKey::version, md.version);
  str(MetaKey::peer_name, md.peer_name);
  num(MetaKey::capabilities, md.capabilities);
  num(MetaKey::max_message_size, md.max_message_size);
  num(MetaKey::heartbeat_interval_ms, md.heartbeat_interval_ms);
  str(MetaKey::token, md.token);
  num(MetaKey::credit_items, md.credit_items);
  num(MetaKey::credit_bytes, md.credit_bytes);
  num(MetaKey::progress_done, md.progress_done);
  num(MetaKey::progress_total, md.progress_total);
}

// The common case (a method name, a few numbers) encoded with plain stores into a buffer on
// the stack: no size pass and no growth check per field. Returns the block's size, or
// std::nullopt when it does not fit `cap` bytes (long error texts): then the caller appends.
std::optional<std::size_t> encode_small(const Metadata& md, char* buf, std::size_t cap) {
  char* p = buf;
  char* const end = buf + cap;
  bool fits = true;
  visit_fields(
      md,
      [&](MetaKey key, std::string_view v) {
        if (v.empty()) return;
        v = clamp(v);
        if (static_cast<std::size_t>(end - p) < kMetaEntryHead + v.size()) {
          fits = false;
          return;
        }
        store_le<std::uint16_t>(p, static_cast<std::uint16_t>(key));
        store_le<std::uint16_t>(p + 2, static_cast<std::uint16_t>(v.size()));
        std::memcpy(p + kMetaEntryHead, v.data(), v.size());
        p += kMetaEntryHead + v.size();
      },
      [&](MetaKey key, const auto& v) {
        using T = typename std::decay_t<decltype(v)>::value_type;
        if (!v) return;
        if (static_cast<std::size_t>(end - p) < kMetaEntryHead + sizeof(T)) {
          fits = false;
          return;
        }
        store_le<std::uint16_t>(p, static_cast<std::uint16_t>(key));
        store_le<std::uint16_t>(p + 2, sizeof(T));
        store_le<T>(p + kMetaEntryHead, *v);
        p += kMetaEntryHead + sizeof(T);
      });
  if (!fits) return std::nullopt;
  return static_cast<std::size_t>(p - buf);
}

}  // namespace

std::size_t encoded_size(const Metadata& md) {
  std::size_t n = 0;
  visit_fields(
      md, [&](MetaKey, std::string_view v) { n += str_entry(v); },
      [&](MetaKey, const auto& v) { n += int_entry(v); });
  return n;
}

void encode_metadata(const Metadata& md, std::string& out) {
  visit_fields(
      md, [&](MetaKey key, std::string_view v) { put_str(out, key, v); },
      [&](MetaKey key, const auto& v) { put_int(out, key, v); });
}

Result<Metadata> decode_metadata(std::string_view block) {
  Metadata md;
  std::size_t pos = 0;
  while (pos < block.size()) {
    if (block.size() - pos < kMetaEntryHead) {
      return make_error(StatusCode::protocol_error, "metadata entry header truncated");
    }
    const auto key = load_le<std::uint16_t>(block.data() + pos);
    const auto len = load_le<std::uint16_t>(block.data() + pos + 2);
    pos += kMetaEntryHead;
    if (block.size() - pos < len) {
      return make_error(StatusCode::protocol_error,
                        "metadata key " + std::to_string(key) + " runs past the block");
    }
    const std::string_view value = block.substr(pos, len);
    pos += len;
    Result<void> r;
    switch (static_cast<MetaKey>(key)) {
      case MetaKey::method:
        r = take_str(md.method, key, value, kMaxNameLength);
        break;
      case MetaKey::timeout_us:
        r = take_int(md.timeout_us, key, value);
        break;
      case MetaKey::trace_id:
        r = take_str(md.trace_id, key, value, kMaxTraceIdLength);
        break;
      case MetaKey::content_type: {
        std::optional<std::uint8_t> raw;
        r = take_int(raw, key, value);
        if (r && md.content_type) r = tl::unexpected(field_error("appears twice", key));
        if (r && *raw > 1) r = tl::unexpected(field_error("has an unknown content type", key));
        if (r) md.content_type = static_cast<ContentType>(*raw);
        break;
      }
      case MetaKey::status:
        r = take_int(md.status, key, value);
        break;
      case MetaKey::error_message:
        r = take_str(md.error_message, key, value, 0xFFFF);
        break;
      case MetaKey::error_details:
        r = take_str(md.error_details, key, value, 0xFFFF);
        break;
      case MetaKey::message_id:
        r = take_str(md.message_id, key, value, kMaxMessageIdLength);
        break;
      case MetaKey::message_type:
        r = take_str(md.message_type, key, value, kMaxQueueNameLength);
        break;
      case MetaKey::message_group:
        r = take_str(md.message_group, key, value, kMaxQueueNameLength);
        break;
      case MetaKey::attempt:
        r = take_int(md.attempt, key, value);
        break;
      case MetaKey::queue:
        r = take_str(md.queue, key, value, kMaxQueueNameLength);
        break;
      case MetaKey::priority:
        r = take_int(md.priority, key, value);
        break;
      case MetaKey::delay_ms:
        r = take_int(md.delay_ms, key, value);
        break;
      case MetaKey::max_retries:
        r = take_int(md.max_retries, key, value);
        break;
      case MetaKey::retry_delay_ms:
        r = take_int(md.retry_delay_ms, key, value);
        break;
      case MetaKey::cache_status:
        r = take_int(md.cache_status, key, value);  // values it does not know are ignored
        break;
      case MetaKey::cache_age_us:
        r = take_int(md.cache_age_us, key, value);
        break;
      case MetaKey::handler_time_us:
        r = take_int(md.handler_time_us, key, value);
        break;
      case MetaKey::magic:
        r = take_str(md.magic, key, value, 4);
        break;
      case MetaKey::version:
        r = take_int(md.version, key, value);
        break;
      case MetaKey::peer_name:
        r = take_str(md.peer_name, key, value, kMaxNameLength);
        break;
      case MetaKey::capabilities:
        r = take_int(md.capabilities, key, value);
        break;
      case MetaKey::max_message_size:
        r = take_int(md.max_message_size, key, value);
        break;
      case MetaKey::heartbeat_interval_ms:
        r = take_int(md.heartbeat_interval_ms, key, value);
        break;
      case MetaKey::token:
        r = take_str(md.token, key, value, kMaxTokenLength);
        break;
      case MetaKey::credit_items:
        r = take_int(md.credit_items, key, value);
        break;
      case MetaKey::credit_bytes:
        r = take_int(md.credit_bytes, key, value);
        break;
      case MetaKey::progress_done:
        r = take_int(md.progress_done, key, value);
        break;
      case MetaKey::progress_total:
        r = take_int(md.progress_total, key, value);
        break;
      default:
        break;  // unknown key: skipped for forward compatibility
    }
    if (!r) return tl::unexpected(std::move(r.error()));
  }
  return md;
}

Result<void> validate_frame_fields(FrameKind kind, const Metadata& md) {
  auto missing = [kind](std::string_view field) {
    return make_error(StatusCode::protocol_error,
                      std::string(to_string(kind)) + " frame lacks " + std::string(field));
  };
  switch (kind) {
    case FrameKind::request:
    case FrameKind::notify:
    case FrameKind::lane_open:
      if (md.method.empty()) return missing("a method");
      break;
    case FrameKind::publish:
      if (md.method.empty()) return missing("a topic");
      break;
    case FrameKind::subscribe:
      if (md.method.empty()) return missing("a pattern");
      break;
    case FrameKind::stream_open:
      if (md.method.empty()) return missing("a method");
      if (!md.credit_items || !md.credit_bytes) return missing("its initial credit");
      break;
    case FrameKind::error:
    case FrameKind::goaway:
      if (!md.status) return missing("a status");
      break;
    case FrameKind::hello:
    case FrameKind::welcome:
      if (md.magic.empty()) return missing("the magic");
      if (!md.version) return missing("a version");
      break;
    default:
      break;
  }
  return {};
}

Result<void> encode_frame_head(FrameKind kind, std::uint64_t id, const Metadata& md,
                               std::size_t payload_size, std::uint32_t peer_max_message_size,
                               std::string& out) {
  // Small metadata (the common case) is encoded on the stack, after the header, and both are
  // appended at once; larger metadata is sized first and appended field by field.
  char head[kHeaderSize + kSmallMetadata];
  const auto small = encode_small(md, head + kHeaderSize, kSmallMetadata);
  const std::size_t meta = small ? *small : encoded_size(md);
  if (auto ok = encode_head(kind, id, meta, payload_size, peer_max_message_size, head); !ok) {
    return ok;  // over the peer's limit, metadata over 64 KiB, or a body over 4 GiB
  }
  if (small) {
    out.append(head, kHeaderSize + meta);
    return {};
  }
  out.append(head, kHeaderSize);
  encode_metadata(md, out);
  return {};
}

Result<void> encode_frame(FrameKind kind, std::uint64_t id, const Metadata& md,
                          std::string_view payload, std::uint32_t peer_max_message_size,
                          std::string& out) {
  auto head = encode_frame_head(kind, id, md, payload.size(), peer_max_message_size, out);
  if (!head) return head;
  out.append(payload);
  return {};
}

}  // namespace plexus::wire
