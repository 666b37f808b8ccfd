// src/wire/frame.cpp: the 16-byte header, limit checks and parse_frame, checked against a
// byte layout written out independently here (not with encode_header).
#include "wire/frame.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wire/metadata.hpp"

// ---- allocation probe ------------------------------------------------------------------------
// Replaces the global operator new for this binary so a test can count what one call allocates.
// Counting is per thread and only while a probe is active.
namespace {
thread_local bool g_tracking = false;
thread_local std::size_t g_alloc_count = 0;
thread_local std::size_t g_alloc_largest = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (g_tracking) {
    ++g_alloc_count;
    g_alloc_largest = std::max(g_alloc_largest, n);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that this operator new is malloc-based and flags the free() below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
// The nothrow forms too: the binary's other code (valijson) allocates with them and frees
// through the operator delete above.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

using plexus::StatusCode;
using namespace plexus::wire;
using State = ParseResult::State;

class AllocationProbe {
 public:
  AllocationProbe() {
    g_alloc_count = 0;
    g_alloc_largest = 0;
    g_tracking = true;
  }
  ~AllocationProbe() { g_tracking = false; }
  std::size_t count() const { return g_alloc_count; }
  std::size_t largest() const { return g_alloc_largest; }
};

// The header layout of docs/PROTOCOL.md written out byte by byte.
std::string header_bytes(std::uint32_t body, std::uint8_t kind, std::uint8_t flags,
                         std::uint16_t md_len, std::uint64_t id) {
  std::string s(kHeaderSize, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((body >> (8 * i)) & 0xFF);
  s[4] = static_cast<char>(kind);
  s[5] = static_cast<char>(flags);
  s[6] = static_cast<char>(md_len & 0xFF);
  s[7] = static_cast<char>(md_len >> 8);
  for (int i = 0; i < 8; ++i) s[8 + i] = static_cast<char>((id >> (8 * i)) & 0xFF);
  return s;
}

// A heap copy of exactly `bytes.size()` bytes, so ASan reports any read past the end.
struct ExactBuffer {
  explicit ExactBuffer(std::string_view bytes)
      : data(std::make_unique<char[]>(std::max<std::size_t>(bytes.size(), 1))), size(bytes.size()) {
    std::copy(bytes.begin(), bytes.end(), data.get());
  }
  std::string_view view() const { return {data.get(), size}; }
  std::unique_ptr<char[]> data;
  std::size_t size;
};

constexpr FrameKind kAllKinds[] = {
    FrameKind::hello,       FrameKind::welcome, FrameKind::request, FrameKind::response,
    FrameKind::error,       FrameKind::notify,  FrameKind::cancel,  FrameKind::ping,
    FrameKind::pong,        FrameKind::goaway,  FrameKind::publish, FrameKind::subscribe,
    FrameKind::unsubscribe, FrameKind::batch,
};

// Metadata that satisfies validate_frame_fields for `kind`.
Metadata valid_metadata_for(FrameKind kind) {
  Metadata md;
  switch (kind) {
    case FrameKind::request:
    case FrameKind::notify:
    case FrameKind::publish:
    case FrameKind::subscribe:
      md.method = "svc.method";
      md.timeout_us = 1500;
      md.trace_id = "trace-1";
      md.content_type = ContentType::json;
      break;
    case FrameKind::error:
    case FrameKind::goaway:
      md.status = static_cast<std::uint16_t>(StatusCode::unavailable);
      md.error_message = "going away";
      md.error_details = "{\"a\":1}";
      break;
    case FrameKind::hello:
    case FrameKind::welcome:
      md.magic = "PLXS";
      md.version = 1;
      md.peer_name = "peer";
      md.capabilities = 3;
      md.max_message_size = 1024;
      md.heartbeat_interval_ms = 250;
      break;
    default:
      break;
  }
  return md;
}

// ---- header layout ---------------------------------------------------------------------------

TEST(FrameHeader, EncodeMatchesTheDocumentedLittleEndianLayout) {
  FrameHeader h;
  h.body_length = 0x04030201;
  h.kind = FrameKind::goaway;
  h.flags = 0;
  h.metadata_length = 0x0605;
  h.id = 0x0F0E0D0C0B0A0908ull;
  char out[kHeaderSize];
  encode_header(h, out);
  EXPECT_EQ(std::string(out, kHeaderSize), header_bytes(0x04030201, 10, 0, 0x0605, h.id));
}

TEST(FrameHeader, EveryKindDecodesAndReencodesIdentically) {
  for (const auto kind : kAllKinds) {
    const auto raw = static_cast<std::uint8_t>(kind);
    const auto bytes = header_bytes(0x00ABCDEF, raw, 0, 0x1234, 0xFEDCBA9876543210ull);
    auto h = decode_header(bytes);
    ASSERT_TRUE(h) << "kind " << int(raw) << ": " << h.error().to_string();
    EXPECT_EQ(h->kind, kind);
    EXPECT_EQ(h->body_length, 0x00ABCDEFu);
    EXPECT_EQ(h->flags, 0);
    EXPECT_EQ(h->metadata_length, 0x1234);
    EXPECT_EQ(h->id, 0xFEDCBA9876543210ull);
    EXPECT_EQ(h->payload_length(), 0x00ABCDEFu - 0x1234u);
    char out[kHeaderSize];
    encode_header(*h, out);
    EXPECT_EQ(std::string(out, kHeaderSize), bytes);
  }
}

TEST(FrameHeader, KindNamesAndKnownRange) {
  const char* names[] = {"HELLO",   "WELCOME",   "REQUEST",     "RESPONSE", "ERROR",
                         "NOTIFY",  "CANCEL",    "PING",        "PONG",     "GOAWAY",
                         "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE", "BATCH"};
  for (std::size_t i = 0; i < std::size(kAllKinds); ++i) {
    EXPECT_EQ(to_string(kAllKinds[i]), names[i]);
    EXPECT_EQ(static_cast<int>(kAllKinds[i]), static_cast<int>(i) + 1);
  }
  EXPECT_EQ(to_string(static_cast<FrameKind>(15)), "UNKNOWN");
  EXPECT_EQ(to_string(FrameKind::stream_open), "STREAM_OPEN");
  EXPECT_EQ(to_string(FrameKind::stream_cancel), "STREAM_CANCEL");
  EXPECT_EQ(to_string(FrameKind::lane_open), "LANE_OPEN");
  EXPECT_EQ(to_string(FrameKind::lane_data), "LANE_DATA");
  EXPECT_EQ(to_string(static_cast<FrameKind>(24)), "UNKNOWN");
  for (int raw = 0; raw <= 255; ++raw) {
    EXPECT_EQ(is_known_kind(static_cast<std::uint8_t>(raw)),
              (raw >= 1 && raw <= 14) || (raw >= 17 && raw <= 23))
        << raw;
  }
}

TEST(EncodePlainHead, IsTheHeadOfAFrameWithoutMetadataAndChecksThePeersLimit) {
  char head[kHeaderSize];
  ASSERT_TRUE(encode_plain_head(FrameKind::lane_data, 7, 5, 5, head));
  std::string whole;
  ASSERT_TRUE(encode_frame(FrameKind::lane_data, 7, Metadata{}, "hello", 5, whole));
  ASSERT_EQ(whole.size(), kHeaderSize + 5);
  EXPECT_EQ(std::string_view(whole).substr(0, kHeaderSize), std::string_view(head, kHeaderSize));
  EXPECT_EQ(std::string_view(whole).substr(kHeaderSize), "hello");
  auto over = encode_plain_head(FrameKind::lane_data, 7, 6, 5, head);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, StatusCode::message_too_large);
  EXPECT_EQ(over.error().message, "payload of 6 bytes exceeds the peer's limit of 5");
  EXPECT_EQ(over.error().details, R"({"limit":5,"size":6})");
}

TEST(EncodeHead, IsTheHeadOfAFrameWhoseMetadataTheCallerEncoded) {
  Metadata md;
  md.method = "echo";
  std::string block;
  encode_metadata(md, block);
  char head[kHeaderSize];
  ASSERT_TRUE(encode_head(FrameKind::request, 9, block.size(), 5, 5, head));
  std::string whole;
  ASSERT_TRUE(encode_frame(FrameKind::request, 9, md, "hello", 5, whole));
  EXPECT_EQ(std::string(head, kHeaderSize) + block + "hello", whole);
  auto over = encode_head(FrameKind::request, 9, block.size(), 6, 5, head);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, StatusCode::message_too_large);
  auto huge = encode_head(FrameKind::request, 9, kMaxMetadataSize + 1, 0, 5, head);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(huge.error().message, "metadata of 65536 bytes exceeds 65535");
}

TEST(FrameHeader, ExtremeFieldValuesRoundTrip) {
  FrameHeader h;
  h.body_length = 0xFFFFFFFF;
  h.kind = FrameKind::response;
  h.metadata_length = 0xFFFF;
  h.id = std::numeric_limits<std::uint64_t>::max();
  char out[kHeaderSize];
  encode_header(h, out);
  auto back = decode_header(std::string_view(out, kHeaderSize));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->body_length, h.body_length);
  EXPECT_EQ(back->metadata_length, h.metadata_length);
  EXPECT_EQ(back->id, h.id);
  EXPECT_EQ(back->payload_length(), 0xFFFFFFFFu - 0xFFFFu);
}

// ---- malformed headers -----------------------------------------------------------------------

TEST(FrameHeaderMalformed, UnknownKinds) {
  for (const int raw : {0, 15, 16, 24, 31, 32, 127, 128, 255}) {
    auto h = decode_header(header_bytes(0, static_cast<std::uint8_t>(raw), 0, 0, 1));
    ASSERT_FALSE(h) << raw;
    EXPECT_EQ(h.error().code, StatusCode::protocol_error);
    EXPECT_EQ(h.error().details, "{\"kind\":" + std::to_string(raw) + "}");
    EXPECT_NE(h.error().message.find("unknown frame kind " + std::to_string(raw)),
              std::string::npos)
        << h.error().message;
  }
}

TEST(FrameHeaderMalformed, ReservedFlags) {
  for (const int flags : {0x01, 0x02, 0x40, 0x80, 0xFF}) {
    auto h = decode_header(header_bytes(4, 3, static_cast<std::uint8_t>(flags), 0, 1));
    ASSERT_FALSE(h) << flags;
    EXPECT_EQ(h.error().code, StatusCode::protocol_error);
    EXPECT_NE(h.error().message.find("flags"), std::string::npos) << h.error().message;
  }
}

TEST(FrameHeaderMalformed, MetadataLengthBeyondBodyLength) {
  struct Case {
    std::uint32_t body;
    std::uint16_t md;
  };
  for (const auto c : {Case{0, 1}, Case{9, 10}, Case{0, 0xFFFF}, Case{0xFFFE, 0xFFFF}}) {
    auto h = decode_header(header_bytes(c.body, 3, 0, c.md, 1));
    ASSERT_FALSE(h) << c.body << "/" << c.md;
    EXPECT_EQ(h.error().code, StatusCode::protocol_error);
  }
  // Equal is fine: a frame that is all metadata.
  for (const auto c : {Case{0, 0}, Case{10, 10}, Case{0xFFFF, 0xFFFF}}) {
    auto h = decode_header(header_bytes(c.body, 3, 0, c.md, 1));
    ASSERT_TRUE(h) << c.body << "/" << c.md;
    EXPECT_EQ(h->payload_length(), 0u);
  }
}

TEST(FrameHeaderMalformed, TruncatedHeader) {
  const auto full = header_bytes(0, 8, 0, 0, 42);
  for (std::size_t n = 0; n < kHeaderSize; ++n) {
    const ExactBuffer buf(std::string_view(full).substr(0, n));
    auto h = decode_header(buf.view());
    ASSERT_FALSE(h) << n;
    EXPECT_EQ(h.error().code, StatusCode::protocol_error);
    EXPECT_NE(h.error().message.find("truncated"), std::string::npos);
  }
  EXPECT_TRUE(decode_header(full));
  // Bytes past the 16 header bytes are not looked at.
  EXPECT_TRUE(decode_header(full + "\xFF\xFF\xFF"));
}

// ---- limits ----------------------------------------------------------------------------------

FrameHeader header_with_payload(std::uint32_t payload, std::uint16_t md = 0) {
  FrameHeader h;
  h.kind = FrameKind::request;
  h.metadata_length = md;
  h.body_length = payload + md;
  return h;
}

TEST(FrameLimits, PayloadExactlyAtTheLimitPassesOneByteOverFails) {
  for (const std::uint32_t limit : {0u, 1u, 1024u, kDefaultMaxMessageSize, 0xFFFFFFFEu}) {
    const Limits limits{limit};
    EXPECT_TRUE(check_limits(header_with_payload(limit), limits)) << limit;
    auto over = check_limits(header_with_payload(limit + 1), limits);
    ASSERT_FALSE(over) << limit;
    EXPECT_EQ(over.error().code, StatusCode::message_too_large);
    EXPECT_EQ(over.error().details, "{\"limit\":" + std::to_string(limit) +
                                        ",\"size\":" + std::to_string(limit + 1) + "}");
  }
}

TEST(FrameLimits, MetadataDoesNotCountAgainstThePayloadLimit) {
  const Limits limits{1024};
  EXPECT_TRUE(check_limits(header_with_payload(1024, 0xFFFF), limits));
  EXPECT_FALSE(check_limits(header_with_payload(1025, 0xFFFF), limits));
}

TEST(FrameLimits, DefaultLimitIsEightMiB) {
  EXPECT_EQ(Limits{}.max_message_size, 8u << 20);
  EXPECT_TRUE(check_limits(header_with_payload(8u << 20), Limits{}));
  auto over = check_limits(header_with_payload((8u << 20) + 1), Limits{});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().details, "{\"limit\":8388608,\"size\":8388609}");
}

TEST(FrameLimits, FourGiBClaimFailsBeforeAnyBodyAllocation) {
  const auto bytes = header_bytes(0xFFFFFFFF, 3, 0, 0, 77);
  const ExactBuffer buf(bytes);
  ParseResult r;
  {
    AllocationProbe probe;
    r = parse_frame(buf.view(), Limits{});
    // Only the error text is allocated, nothing near the announced body.
    EXPECT_LT(probe.largest(), 1024u);
  }
  ASSERT_EQ(r.state, State::too_large);
  EXPECT_EQ(r.error.code, StatusCode::message_too_large);
  EXPECT_EQ(r.error.details, "{\"limit\":8388608,\"size\":4294967295}");
  EXPECT_EQ(r.header.body_length, 0xFFFFFFFFu);
  EXPECT_EQ(r.header.kind, FrameKind::request);
  EXPECT_EQ(r.header.id, 77u);
  EXPECT_EQ(r.consumed, 0u);
}

// ---- encode_frame ----------------------------------------------------------------------------

TEST(EncodeFrame, EveryKindRoundTripsThroughParseFrame) {
  std::uint64_t id = 1;
  for (const auto kind : kAllKinds) {
    const Metadata md = valid_metadata_for(kind);
    const std::string payload = "payload of " + std::string(to_string(kind));
    std::string out = "prefix";
    ASSERT_TRUE(encode_frame(kind, id, md, payload, kDefaultMaxMessageSize, out));
    ASSERT_EQ(out.substr(0, 6), "prefix");
    const std::string frame_bytes = out.substr(6);
    std::string expected_md;
    encode_metadata(md, expected_md);
    ASSERT_EQ(frame_bytes.size(), kHeaderSize + expected_md.size() + payload.size());
    EXPECT_EQ(frame_bytes.substr(0, kHeaderSize),
              header_bytes(static_cast<std::uint32_t>(expected_md.size() + payload.size()),
                           static_cast<std::uint8_t>(kind), 0,
                           static_cast<std::uint16_t>(expected_md.size()), id));

    const ExactBuffer buf(frame_bytes);
    auto r = parse_frame(buf.view(), Limits{});
    ASSERT_EQ(r.state, State::frame) << to_string(kind);
    EXPECT_EQ(r.consumed, frame_bytes.size());
    EXPECT_EQ(r.frame.header.kind, kind);
    EXPECT_EQ(r.frame.header.id, id);
    EXPECT_EQ(r.frame.metadata, expected_md);
    EXPECT_EQ(r.frame.payload, payload);
    auto back = decode_metadata(r.frame.metadata);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_TRUE(validate_frame_fields(kind, *back)) << to_string(kind);
    std::string reencoded;
    encode_metadata(*back, reencoded);
    EXPECT_EQ(reencoded, expected_md);
    ++id;
  }
}

TEST(EncodeFrame, HeadPlusPayloadEqualsWholeFrame) {
  const Metadata md = valid_metadata_for(FrameKind::request);
  const std::string payload(3000, 'p');
  std::string whole, head;
  ASSERT_TRUE(encode_frame(FrameKind::request, 9, md, payload, 4096, whole));
  ASSERT_TRUE(encode_frame_head(FrameKind::request, 9, md, payload.size(), 4096, head));
  EXPECT_EQ(head + payload, whole);
}

// Small metadata is built on the stack, larger metadata appended field by field
// (metadata.cpp, kSmallMetadata = 384): both give the same bytes on either side of the switch.
TEST(EncodeFrame, MetadataJustUnderAndOverTheStackBufferEncodesTheSame) {
  for (std::size_t text = 300; text < 420; ++text) {
    Metadata md;
    md.status = 14;
    md.trace_id = "t-1";
    md.handler_time_us = 12;
    const std::string message(text, 'e');
    md.error_message = message;
    std::string expected_md;
    encode_metadata(md, expected_md);
    ASSERT_EQ(expected_md.size(), encoded_size(md));
    std::string out = "x";
    ASSERT_TRUE(encode_frame(FrameKind::error, 3, md, "pay", 100, out)) << text;
    ASSERT_EQ(out.size(), 1 + kHeaderSize + expected_md.size() + 3) << text;
    EXPECT_EQ(out.substr(1, kHeaderSize),
              header_bytes(static_cast<std::uint32_t>(expected_md.size() + 3),
                           static_cast<std::uint8_t>(FrameKind::error), 0,
                           static_cast<std::uint16_t>(expected_md.size()), 3))
        << text;
    EXPECT_EQ(out.substr(1 + kHeaderSize, expected_md.size()), expected_md) << text;
    EXPECT_EQ(out.substr(1 + kHeaderSize + expected_md.size()), "pay") << text;
  }
}

TEST(EncodeFrame, PayloadAtThePeerLimitEncodesOneOverIsRefusedAndOutUnchanged) {
  const std::string at(1024, 'a'), over(1025, 'a');
  std::string out = "keep";
  ASSERT_TRUE(encode_frame(FrameKind::response, 1, {}, at, 1024, out));
  EXPECT_EQ(out.size(), 4 + kHeaderSize + 1024);

  out = "keep";
  auto r = encode_frame(FrameKind::response, 1, {}, over, 1024, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::message_too_large);
  EXPECT_EQ(r.error().details, "{\"limit\":1024,\"size\":1025}");
  EXPECT_EQ(out, "keep");

  auto h = encode_frame_head(FrameKind::response, 1, {}, 1025, 1024, out);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, StatusCode::message_too_large);
  EXPECT_EQ(out, "keep");
}

TEST(EncodeFrame, MetadataOfExactly65535BytesFitsOneMoreIsInvalidArgument) {
  const std::string text(0xFFFF - 4 - 6, 'm');  // + status entry (4 + 2) + message head (4)
  Metadata md;
  md.status = 13;
  md.error_message = text;
  ASSERT_EQ(encoded_size(md), 0xFFFFu);
  std::string out;
  ASSERT_TRUE(encode_frame(FrameKind::error, 5, md, "", 0, out));
  auto r = parse_frame(out, Limits{0});
  ASSERT_EQ(r.state, State::frame);
  EXPECT_EQ(r.frame.header.metadata_length, 0xFFFF);
  auto back = decode_metadata(r.frame.metadata);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->error_message, text);

  const std::string longer = text + "m";
  md.error_message = longer;
  out = "keep";
  auto too_big = encode_frame(FrameKind::error, 5, md, "", 0, out);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(out, "keep");
}

TEST(EncodeFrame, BodyThatDoesNotFitTheU32LengthIsRefused) {
  // A peer may announce max_message_size 0xFFFFFFFF; metadata + payload must still fit the
  // 32-bit body_length instead of wrapping around into a short, corrupt header.
  Metadata md;
  md.method = "echo";  // 8 bytes of metadata
  const std::size_t meta = encoded_size(md);
  std::string out = "keep";
  auto over =
      encode_frame_head(FrameKind::request, 1, md, 0xFFFFFFFFull - meta + 1, 0xFFFFFFFF, out);
  ASSERT_FALSE(over) << "body_length wrapped around";
  EXPECT_EQ(out, "keep");
  out.clear();
  ASSERT_TRUE(encode_frame_head(FrameKind::request, 1, md, 0xFFFFFFFFull - meta, 0xFFFFFFFF, out));
  auto h = decode_header(out);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->body_length, 0xFFFFFFFFu);
}

TEST(EncodeFrame, MaximumPayloadAndMetadataTogether) {
  const std::string payload(kDefaultMaxMessageSize, 'x');
  const std::string details(0xFFFF - 4 - 6, 'd');
  Metadata md;
  md.status = 2;
  md.error_details = details;
  std::string out;
  ASSERT_TRUE(encode_frame(FrameKind::error, 1, md, payload, kDefaultMaxMessageSize, out));
  auto r = parse_frame(out, Limits{});
  ASSERT_EQ(r.state, State::frame);
  EXPECT_EQ(r.frame.header.body_length, kDefaultMaxMessageSize + 0xFFFFu);
  EXPECT_EQ(r.frame.payload.size(), kDefaultMaxMessageSize);
  EXPECT_EQ(r.frame.payload, payload);
}

// ---- parse_frame -----------------------------------------------------------------------------

std::string request_frame(std::uint64_t id, std::string_view payload) {
  Metadata md;
  md.method = "echo";
  std::string out;
  EXPECT_TRUE(encode_frame(FrameKind::request, id, md, payload, kDefaultMaxMessageSize, out));
  return out;
}

TEST(ParseFrame, NeedsSixteenBytesBeforeKnowingAnything) {
  const auto frame = request_frame(1, "hello");
  for (std::size_t n = 0; n < kHeaderSize; ++n) {
    const ExactBuffer buf(std::string_view(frame).substr(0, n));
    auto r = parse_frame(buf.view(), Limits{});
    EXPECT_EQ(r.state, State::need_more) << n;
    EXPECT_EQ(r.needed, kHeaderSize) << n;
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(ParseFrame, NeedsTheWholeBodyOnceTheHeaderIsKnown) {
  const auto frame = request_frame(1, "hello world");
  for (std::size_t n = kHeaderSize; n < frame.size(); ++n) {
    const ExactBuffer buf(std::string_view(frame).substr(0, n));
    auto r = parse_frame(buf.view(), Limits{});
    EXPECT_EQ(r.state, State::need_more) << n;
    EXPECT_EQ(r.needed, frame.size()) << n;
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(r.header.kind, FrameKind::request);
  }
  const ExactBuffer whole(frame);
  auto r = parse_frame(whole.view(), Limits{});
  ASSERT_EQ(r.state, State::frame);
  EXPECT_EQ(r.consumed, frame.size());
  EXPECT_EQ(r.frame.payload, "hello world");
}

TEST(ParseFrame, NeededForTheLargestBodyDoesNotOverflow) {
  // With a limit that admits it, a 4 GiB body is awaited (the transport decides what to do).
  const auto bytes = header_bytes(0xFFFFFFFF, 4, 0, 0, 1);
  auto r = parse_frame(bytes, Limits{0xFFFFFFFF});
  ASSERT_EQ(r.state, State::need_more);
  EXPECT_EQ(r.needed, kHeaderSize + 0xFFFFFFFFull);
}

TEST(ParseFrame, ConsumesOneFrameAtATime) {
  const auto a = request_frame(1, "first");
  const auto b = request_frame(2, "");
  const auto c = request_frame(3, "third!");
  const std::string stream = a + b + c + c.substr(0, 5);
  std::string_view rest = stream;
  std::vector<std::uint64_t> ids;
  std::vector<std::string> payloads;
  for (;;) {
    auto r = parse_frame(rest, Limits{});
    if (r.state != State::frame) {
      EXPECT_EQ(r.state, State::need_more);
      EXPECT_EQ(r.needed, kHeaderSize);
      break;
    }
    ids.push_back(r.frame.header.id);
    payloads.emplace_back(r.frame.payload);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(payloads, (std::vector<std::string>{"first", "", "third!"}));
  EXPECT_EQ(rest.size(), 5u);
}

TEST(ParseFrame, TooLargeIsReportedFromTheHeaderAlone) {
  const auto frame = request_frame(12, std::string(1025, 'z'));
  const ExactBuffer header_only(std::string_view(frame).substr(0, kHeaderSize));
  auto r = parse_frame(header_only.view(), Limits{1024});
  ASSERT_EQ(r.state, State::too_large);
  EXPECT_EQ(r.error.code, StatusCode::message_too_large);
  EXPECT_EQ(r.error.details, "{\"limit\":1024,\"size\":1025}");
  EXPECT_EQ(r.header.id, 12u);
  EXPECT_EQ(r.header.kind, FrameKind::request);
  EXPECT_EQ(r.header.body_length, frame.size() - kHeaderSize);
  // At the limit it is a frame.
  const auto at = request_frame(13, std::string(1024, 'z'));
  EXPECT_EQ(parse_frame(at, Limits{1024}).state, State::frame);
}

TEST(ParseFrame, MalformedHeaderIsAnErrorWithoutWaitingForTheBody) {
  for (const auto& bad : {header_bytes(100, 0, 0, 0, 1), header_bytes(100, 15, 0, 0, 1),
                          header_bytes(100, 3, 1, 0, 1), header_bytes(100, 3, 0, 101, 1)}) {
    const ExactBuffer buf(bad);
    auto r = parse_frame(buf.view(), Limits{});
    EXPECT_EQ(r.state, State::error);
    EXPECT_EQ(r.error.code, StatusCode::protocol_error);
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(ParseFrame, ACompleteFrameIsParsedWithoutAllocating) {
  const auto frame = request_frame(5, std::string(4096, 'q'));
  const ExactBuffer buf(frame);
  AllocationProbe probe;
  auto r = parse_frame(buf.view(), Limits{});
  const auto allocations = probe.count();
  EXPECT_EQ(r.state, State::frame);
  EXPECT_EQ(allocations, 0u);
}

TEST(ParseFrame, ViewsPointIntoTheCallersBuffer) {
  const auto frame = request_frame(5, "abc");
  const ExactBuffer buf(frame);
  auto r = parse_frame(buf.view(), Limits{});
  ASSERT_EQ(r.state, State::frame);
  EXPECT_EQ(r.frame.metadata.data(), buf.data.get() + kHeaderSize);
  EXPECT_EQ(r.frame.payload.data(), buf.data.get() + kHeaderSize + r.frame.header.metadata_length);
}

}  // namespace
