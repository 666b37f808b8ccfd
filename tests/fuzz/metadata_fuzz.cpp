// libFuzzer target: an arbitrary metadata block. What decodes must re-encode to a canonical
// block that is a fixed point; validate_frame_fields must agree with the fields present for
// every kind; decode_hello must only accept the magic and version 1; every kind of frame
// carrying the block must parse back with it; the call path's fast decoder must accept only
// blocks the general decoder accepts, with the same fields, and re-encode them byte for byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "wire/call_metadata.hpp"
#include "wire/frame.hpp"
#include "wire/handshake.hpp"
#include "wire/metadata.hpp"

namespace {

using namespace plexus::wire;
using plexus::StatusCode;

bool expected_valid(FrameKind kind, const Metadata& md) {
  switch (kind) {
    case FrameKind::request:
    case FrameKind::notify:
    case FrameKind::publish:
    case FrameKind::subscribe:
      return !md.method.empty();
    case FrameKind::error:
    case FrameKind::goaway:
      return md.status.has_value();
    case FrameKind::hello:
    case FrameKind::welcome:
      return !md.magic.empty() && md.version.has_value();
    case FrameKind::stream_open:
      return !md.method.empty() && md.credit_items && md.credit_bytes;
    default:
      return true;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view block(reinterpret_cast<const char*>(data), size);
  auto md = decode_metadata(block);
  if (const auto fast = decode_call_metadata(block)) {
    FUZZ_CHECK(md.has_value());
    FUZZ_CHECK(fast->method == md->method && fast->timeout_us == md->timeout_us &&
               fast->trace_id == md->trace_id);
    FUZZ_CHECK(validate_frame_fields(FrameKind::request, *md).has_value());
    char again[kMaxCallMetadata];
    FUZZ_CHECK(std::string_view(again, encode_call_metadata(*fast, again)) == block);
  }
  if (!md) {
    FUZZ_CHECK(md.error().code == StatusCode::protocol_error);
    FUZZ_CHECK(!md.error().message.empty());
    FUZZ_CHECK(md.error().details.empty() || md.error().details.starts_with("{\"key\":"));
    return 0;
  }
  plexus::fuzz::check_decoded_invariants(*md);
  const std::string canonical = plexus::fuzz::check_metadata_round_trip(block, *md);

  for (int raw = 1; raw <= 21; ++raw) {
    if (!is_known_kind(static_cast<std::uint8_t>(raw))) continue;
    const auto kind = static_cast<FrameKind>(raw);
    const auto valid = validate_frame_fields(kind, *md);
    FUZZ_CHECK(valid.has_value() == expected_valid(kind, *md));
    if (canonical.size() > kMaxMetadataSize) continue;
    std::string frame;
    FUZZ_CHECK(encode_frame(kind, 42, *md, "p", 1, frame).has_value());
    auto r = parse_frame(frame, Limits{1});
    FUZZ_CHECK(r.state == ParseResult::State::frame && r.consumed == frame.size());
    FUZZ_CHECK(r.frame.header.kind == kind && r.frame.header.id == 42);
    FUZZ_CHECK(r.frame.metadata == canonical && r.frame.payload == "p");
  }

  auto hello = decode_hello(*md);
  FUZZ_CHECK(hello.has_value() == (md->magic == kMagic && md->version == kProtocolVersion));
  if (hello) {
    const Metadata again = hello_metadata(*hello);
    FUZZ_CHECK(again.peer_name == md->peer_name);
    FUZZ_CHECK(again.capabilities == md->capabilities.value_or(0));
    FUZZ_CHECK(again.max_message_size == md->max_message_size.value_or(kDefaultMaxMessageSize));
    FUZZ_CHECK(again.heartbeat_interval_ms == md->heartbeat_interval_ms.value_or(0));
  } else {
    FUZZ_CHECK(hello.error().code == StatusCode::protocol_error);
    if (md->magic == kMagic && md->version) {
      FUZZ_CHECK(hello.error().details ==
                 "{\"supported\":[1],\"offered\":" + std::to_string(*md->version) + "}");
    }
  }
  return 0;
}
