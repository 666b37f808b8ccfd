// libFuzzer target: an arbitrary byte stream read the way the stream transport reads it
// (src/transport/stream/stream_connection.cpp): parse_frame in a loop, consuming frames,
// skipping the bodies of too-large frames, stopping at a malformed header. Every frame that
// decodes is re-encoded and must come back identical; HELLO/WELCOME go through decode_hello
// and encode_hello. Any violated invariant traps.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "wire/frame.hpp"
#include "wire/handshake.hpp"
#include "wire/metadata.hpp"

namespace {

using namespace plexus::wire;
using plexus::StatusCode;
using plexus::fuzz::check_decoded_invariants;
using plexus::fuzz::check_metadata_round_trip;
using plexus::fuzz::same_metadata;
using State = ParseResult::State;

// Small enough that seeds and mutations reach the too_large path; see make_corpus.py.
constexpr std::uint32_t kFuzzMaxMessage = 1024;
// The transport's ConnectionOptions::max_skip_bytes: larger oversize bodies close the stream.
constexpr std::uint64_t kMaxSkipBytes = 64ull << 20;

bool same_hello(const PeerHello& a, const PeerHello& b) {
  return a.version == b.version && a.peer_name == b.peer_name && a.capabilities == b.capabilities &&
         a.max_message_size == b.max_message_size &&
         a.heartbeat_interval_ms == b.heartbeat_interval_ms;
}

void check_handshake(FrameKind kind, const Metadata& md) {
  auto hello = decode_hello(md);
  if (!hello) {
    FUZZ_CHECK(hello.error().code == StatusCode::protocol_error);
    FUZZ_CHECK(md.magic != kMagic || md.version != kProtocolVersion);
    return;
  }
  FUZZ_CHECK(md.magic == kMagic && md.version == kProtocolVersion);
  FUZZ_CHECK(hello->peer_name == md.peer_name);
  const FrameKind hk = kind == FrameKind::welcome ? FrameKind::welcome : FrameKind::hello;
  std::string out;
  encode_hello(hk, *hello, out);
  auto r = parse_frame(out, Limits{0});
  FUZZ_CHECK(r.state == State::frame && r.consumed == out.size());
  FUZZ_CHECK(r.frame.header.kind == hk && r.frame.header.id == 0 && r.frame.payload.empty());
  auto back_md = decode_metadata(r.frame.metadata);
  FUZZ_CHECK(back_md.has_value());
  FUZZ_CHECK(validate_frame_fields(hk, *back_md).has_value());
  auto back = decode_hello(*back_md);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(same_hello(*back, *hello));
}

void check_frame(const ParseResult& r, std::string_view in, const Limits& limits) {
  const FrameView& f = r.frame;
  const FrameHeader& h = f.header;
  FUZZ_CHECK(r.consumed == kHeaderSize + std::size_t{h.body_length});
  FUZZ_CHECK(r.consumed <= in.size());
  FUZZ_CHECK(h.flags == 0 && is_known_kind(static_cast<std::uint8_t>(h.kind)));
  FUZZ_CHECK(h.payload_length() <= limits.max_message_size);
  FUZZ_CHECK(f.metadata.data() == in.data() + kHeaderSize);
  FUZZ_CHECK(f.metadata.size() == h.metadata_length);
  FUZZ_CHECK(f.payload.data() == in.data() + kHeaderSize + h.metadata_length);
  FUZZ_CHECK(f.payload.size() == h.payload_length());

  // The header alone round-trips byte for byte.
  char header[kHeaderSize];
  encode_header(h, header);
  FUZZ_CHECK(std::string_view(header, kHeaderSize) == in.substr(0, kHeaderSize));

  // Any shorter prefix is incomplete, and says how much it needs.
  for (const std::size_t n : {r.consumed - 1, kHeaderSize, kHeaderSize - 1}) {
    if (n >= r.consumed) continue;
    auto partial = parse_frame(in.substr(0, n), limits);
    FUZZ_CHECK(partial.state == State::need_more);
    FUZZ_CHECK(partial.needed == (n < kHeaderSize ? kHeaderSize : r.consumed));
  }

  auto md = decode_metadata(f.metadata);
  if (!md) {
    FUZZ_CHECK(md.error().code == StatusCode::protocol_error);
    return;
  }
  check_decoded_invariants(*md);
  const std::string canonical = check_metadata_round_trip(f.metadata, *md);

  // Re-encode the whole frame from what was decoded.
  std::string out;
  auto encoded = encode_frame(h.kind, h.id, *md, f.payload, limits.max_message_size, out);
  FUZZ_CHECK(encoded.has_value());
  auto again = parse_frame(out, limits);
  FUZZ_CHECK(again.state == State::frame && again.consumed == out.size());
  FUZZ_CHECK(again.frame.header.kind == h.kind && again.frame.header.id == h.id);
  FUZZ_CHECK(again.frame.metadata == canonical);
  FUZZ_CHECK(again.frame.payload == f.payload);
  auto again_md = decode_metadata(again.frame.metadata);
  FUZZ_CHECK(again_md.has_value() && same_metadata(*again_md, *md));
  // A frame whose metadata was already canonical comes back byte for byte.
  if (canonical == f.metadata) FUZZ_CHECK(out == in.substr(0, r.consumed));

  const auto valid = validate_frame_fields(h.kind, *md);
  FUZZ_CHECK(valid.has_value() == validate_frame_fields(h.kind, *again_md).has_value());
  if (!valid) {
    FUZZ_CHECK(valid.error().code == StatusCode::protocol_error);
    return;
  }
  if (h.kind == FrameKind::hello || h.kind == FrameKind::welcome) check_handshake(h.kind, *md);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const Limits limits{kFuzzMaxMessage};
  std::uint64_t skip = 0;
  while (!in.empty()) {
    if (skip > 0) {  // the body of a too-large frame: discarded unread
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(skip, in.size()));
      in.remove_prefix(take);
      skip -= take;
      continue;
    }
    const ParseResult r = parse_frame(in, limits);
    // The receivers' shortcut agrees with the full parse: a frame exactly when it finds one.
    FrameView quick;
    const bool found = complete_frame_at(in, limits, quick);
    FUZZ_CHECK(found == (r.state == State::frame));
    if (found) {
      FUZZ_CHECK(quick.metadata.data() == r.frame.metadata.data() &&
                 quick.metadata.size() == r.frame.metadata.size() &&
                 quick.payload.data() == r.frame.payload.data() &&
                 quick.payload.size() == r.frame.payload.size() &&
                 quick.header.kind == r.frame.header.kind && quick.header.id == r.frame.header.id);
    }
    switch (r.state) {
      case State::need_more:
        FUZZ_CHECK(r.needed > in.size());
        if (in.size() < kHeaderSize) {
          FUZZ_CHECK(r.needed == kHeaderSize);
        } else {
          FUZZ_CHECK(r.needed == kHeaderSize + std::size_t{r.header.body_length});
          FUZZ_CHECK(r.header.payload_length() <= limits.max_message_size);
        }
        return 0;
      case State::error:
        FUZZ_CHECK(r.error.code == StatusCode::protocol_error);
        FUZZ_CHECK(!decode_header(in.substr(0, kHeaderSize)).has_value());
        return 0;  // nothing after a malformed header can be framed
      case State::too_large: {
        FUZZ_CHECK(r.error.code == StatusCode::message_too_large);
        FUZZ_CHECK(r.header.payload_length() > limits.max_message_size);
        FUZZ_CHECK(r.error.details == "{\"limit\":" + std::to_string(limits.max_message_size) +
                                          ",\"size\":" + std::to_string(r.header.payload_length()) +
                                          "}");
        if (r.header.body_length > kMaxSkipBytes) return 0;  // the transport closes
        in.remove_prefix(kHeaderSize);
        skip = r.header.body_length;
        break;
      }
      case State::frame:
        check_frame(r, in, limits);
        in.remove_prefix(r.consumed);
        break;
    }
  }
  return 0;
}
