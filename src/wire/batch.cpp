#include "wire/batch.hpp"

#include <string>

#include "wire/metadata.hpp"

namespace plexus::wire {
namespace {

Error item_error(StatusCode code, std::size_t item, const std::string& what) {
  return Error{code, "batch item " + std::to_string(item) + ": " + what,
               "{\"item\":" + std::to_string(item) + "}"};
}

}  // namespace

bool allowed_in_batch(FrameKind kind) {
  return kind == FrameKind::notify || kind == FrameKind::publish;
}

Result<std::size_t> check_batch(std::string_view payload, const Limits& limits) {
  if (payload.empty()) return make_error(StatusCode::protocol_error, "empty batch");
  std::size_t items = 0;
  while (!payload.empty()) {
    const ParseResult r = parse_frame(payload, limits);
    switch (r.state) {
      case ParseResult::State::frame:
        break;
      case ParseResult::State::need_more:
        return tl::unexpected(
            item_error(StatusCode::protocol_error, items, "truncated inner frame"));
      case ParseResult::State::too_large:
      case ParseResult::State::error:
        return tl::unexpected(item_error(r.error.code, items, r.error.message));
    }
    const FrameKind kind = r.frame.header.kind;
    if (!allowed_in_batch(kind)) {
      return tl::unexpected(
          item_error(StatusCode::protocol_error, items,
                     std::string(to_string(kind)) + " is not allowed in a batch"));
    }
    auto md = decode_metadata(r.frame.metadata);
    if (!md)
      return tl::unexpected(item_error(StatusCode::protocol_error, items, md.error().message));
    if (auto ok = validate_frame_fields(kind, *md); !ok) {
      return tl::unexpected(item_error(StatusCode::protocol_error, items, ok.error().message));
    }
    payload.remove_prefix(r.consumed);
    ++items;
  }
  return items;
}

}  // namespace plexus::wire
