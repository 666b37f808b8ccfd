// src/wire/metadata.cpp: the TLV metadata block, checked against entries written out byte by
// byte here, and validate_frame_fields for every kind; src/wire/call_metadata.cpp, the call
// path's encoder and decoder, against it.
#include "wire/metadata.hpp"

#include "wire/call_metadata.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using plexus::StatusCode;
using namespace plexus::wire;

// One TLV entry written out independently of the codec: u16 key, u16 length, value (LE).
std::string entry(std::uint16_t key, std::string_view value) {
  std::string s;
  s += static_cast<char>(key & 0xFF);
  s += static_cast<char>(key >> 8);
  s += static_cast<char>(value.size() & 0xFF);
  s += static_cast<char>((value.size() >> 8) & 0xFF);
  s.append(value);
  return s;
}

template <typename T>
std::string le(T v) {
  std::string s;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    s += static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF);
  }
  return s;
}

std::uint16_t key(MetaKey k) {
  return static_cast<std::uint16_t>(k);
}

void expect_same(const Metadata& a, const Metadata& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.timeout_us, b.timeout_us);
  EXPECT_EQ(a.trace_id, b.trace_id);
  EXPECT_EQ(a.content_type, b.content_type);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error_message, b.error_message);
  EXPECT_EQ(a.error_details, b.error_details);
  EXPECT_EQ(a.magic, b.magic);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.peer_name, b.peer_name);
  EXPECT_EQ(a.capabilities, b.capabilities);
  EXPECT_EQ(a.max_message_size, b.max_message_size);
  EXPECT_EQ(a.heartbeat_interval_ms, b.heartbeat_interval_ms);
  EXPECT_EQ(a.message_id, b.message_id);
  EXPECT_EQ(a.message_type, b.message_type);
  EXPECT_EQ(a.message_group, b.message_group);
  EXPECT_EQ(a.attempt, b.attempt);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.delay_ms, b.delay_ms);
  EXPECT_EQ(a.max_retries, b.max_retries);
  EXPECT_EQ(a.retry_delay_ms, b.retry_delay_ms);
}

void expect_protocol_error(std::string_view block, std::string_view what, int key = -1) {
  auto md = decode_metadata(block);
  ASSERT_FALSE(md) << "expected failure: " << what;
  EXPECT_EQ(md.error().code, StatusCode::protocol_error) << what;
  EXPECT_NE(md.error().message.find(what), std::string::npos) << md.error().message;
  if (key >= 0) {
    EXPECT_EQ(md.error().details, "{\"key\":" + std::to_string(key) + "}");
  }
}

Metadata every_field() {
  Metadata md;
  md.method = "calc.add";
  md.timeout_us = 0x0102030405060708ull;
  md.trace_id = "0123456789abcdef";
  md.content_type = ContentType::json;
  md.status = 101;
  md.error_message = "something broke";
  md.error_details = "{\"x\":1}";
  md.magic = "PLXS";
  md.version = 1;
  md.peer_name = "peer-a";
  md.capabilities = 0x8000000000000003ull;
  md.max_message_size = 0xFFFFFFFF;
  md.heartbeat_interval_ms = 5000;
  md.message_id = "m-1";
  md.message_type = "task";
  md.message_group = "g";
  md.attempt = 2;
  md.queue = "jobs";
  md.priority = static_cast<std::uint32_t>(-5);
  md.delay_ms = 1500;
  md.max_retries = 3;
  md.retry_delay_ms = 5000;
  return md;
}

// ---- encoding --------------------------------------------------------------------------------

TEST(Metadata, KeyNumbersAreStable) {
  EXPECT_EQ(key(MetaKey::method), 1);
  EXPECT_EQ(key(MetaKey::timeout_us), 2);
  EXPECT_EQ(key(MetaKey::trace_id), 3);
  EXPECT_EQ(key(MetaKey::content_type), 4);
  EXPECT_EQ(key(MetaKey::status), 5);
  EXPECT_EQ(key(MetaKey::error_message), 6);
  EXPECT_EQ(key(MetaKey::error_details), 7);
  EXPECT_EQ(key(MetaKey::message_id), 8);
  EXPECT_EQ(key(MetaKey::message_type), 9);
  EXPECT_EQ(key(MetaKey::message_group), 10);
  EXPECT_EQ(key(MetaKey::attempt), 11);
  EXPECT_EQ(key(MetaKey::queue), 12);
  EXPECT_EQ(key(MetaKey::priority), 13);
  EXPECT_EQ(key(MetaKey::delay_ms), 14);
  EXPECT_EQ(key(MetaKey::max_retries), 15);
  EXPECT_EQ(key(MetaKey::retry_delay_ms), 16);
  EXPECT_EQ(key(MetaKey::magic), 32);
  EXPECT_EQ(key(MetaKey::version), 33);
  EXPECT_EQ(key(MetaKey::peer_name), 34);
  EXPECT_EQ(key(MetaKey::capabilities), 35);
  EXPECT_EQ(key(MetaKey::max_message_size), 36);
  EXPECT_EQ(key(MetaKey::heartbeat_interval_ms), 37);
}

TEST(Metadata, EmptyMetadataEncodesToNothingAndDecodesAllAbsent) {
  std::string out;
  encode_metadata(Metadata{}, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(encoded_size(Metadata{}), 0u);
  auto md = decode_metadata("");
  ASSERT_TRUE(md);
  expect_same(*md, Metadata{});
}

TEST(Metadata, EachKeyEncodesToItsDocumentedEntry) {
  struct Case {
    Metadata md;
    std::string bytes;
  };
  std::vector<Case> cases;
  auto add = [&](auto set, std::string bytes) {
    Metadata md;
    set(md);
    cases.push_back({md, std::move(bytes)});
  };
  add([](Metadata& m) { m.method = "echo"; }, entry(1, "echo"));
  add([](Metadata& m) { m.timeout_us = 1000000; }, entry(2, le<std::uint64_t>(1000000)));
  add([](Metadata& m) { m.trace_id = "t"; }, entry(3, "t"));
  add([](Metadata& m) { m.content_type = ContentType::raw; }, entry(4, std::string(1, '\0')));
  add([](Metadata& m) { m.content_type = ContentType::json; }, entry(4, "\x01"));
  add([](Metadata& m) { m.status = 100; }, entry(5, le<std::uint16_t>(100)));
  add([](Metadata& m) { m.status = 0; }, entry(5, le<std::uint16_t>(0)));
  add([](Metadata& m) { m.error_message = "oops"; }, entry(6, "oops"));
  add([](Metadata& m) { m.error_details = "{}"; }, entry(7, "{}"));
  add([](Metadata& m) { m.message_id = "m1"; }, entry(8, "m1"));
  add([](Metadata& m) { m.message_type = "task"; }, entry(9, "task"));
  add([](Metadata& m) { m.message_group = "g"; }, entry(10, "g"));
  add([](Metadata& m) { m.attempt = 2; }, entry(11, le<std::uint32_t>(2)));
  add([](Metadata& m) { m.queue = "jobs"; }, entry(12, "jobs"));
  add([](Metadata& m) { m.priority = 0xFFFFFFFFu; }, entry(13, le<std::uint32_t>(0xFFFFFFFFu)));
  add([](Metadata& m) { m.delay_ms = 250; }, entry(14, le<std::uint64_t>(250)));
  add([](Metadata& m) { m.max_retries = 0; }, entry(15, le<std::uint32_t>(0)));
  add([](Metadata& m) { m.retry_delay_ms = 5000; }, entry(16, le<std::uint64_t>(5000)));
  add([](Metadata& m) { m.magic = "PLXS"; }, entry(32, "PLXS"));
  add([](Metadata& m) { m.version = 1; }, entry(33, le<std::uint16_t>(1)));
  add([](Metadata& m) { m.peer_name = "n"; }, entry(34, "n"));
  add([](Metadata& m) { m.capabilities = 3; }, entry(35, le<std::uint64_t>(3)));
  add([](Metadata& m) { m.max_message_size = 1024; }, entry(36, le<std::uint32_t>(1024)));
  add([](Metadata& m) { m.heartbeat_interval_ms = 0; }, entry(37, le<std::uint32_t>(0)));
  for (const auto& c : cases) {
    std::string out;
    encode_metadata(c.md, out);
    EXPECT_EQ(out, c.bytes);
    EXPECT_EQ(encoded_size(c.md), c.bytes.size());
    auto back = decode_metadata(c.bytes);
    ASSERT_TRUE(back) << back.error().to_string();
    expect_same(*back, c.md);
  }
}

TEST(Metadata, EveryFieldRoundTrips) {
  const Metadata md = every_field();
  std::string out = "xy";  // appends
  encode_metadata(md, out);
  ASSERT_EQ(out.substr(0, 2), "xy");
  const std::string block = out.substr(2);
  EXPECT_EQ(encoded_size(md), block.size());
  auto back = decode_metadata(block);
  ASSERT_TRUE(back) << back.error().to_string();
  expect_same(*back, md);
  // Views point into the block.
  EXPECT_GE(back->method.data(), block.data());
  EXPECT_LT(back->method.data(), block.data() + block.size());
}

TEST(Metadata, EntriesInAnyOrderDecode) {
  const std::string block = entry(37, le<std::uint32_t>(7)) + entry(1, "m") +
                            entry(33, le<std::uint16_t>(1)) + entry(32, "PLXS");
  auto md = decode_metadata(block);
  ASSERT_TRUE(md);
  EXPECT_EQ(md->heartbeat_interval_ms, 7u);
  EXPECT_EQ(md->method, "m");
  EXPECT_EQ(md->version, 1);
  EXPECT_EQ(md->magic, "PLXS");
}

TEST(Metadata, MaximumLengthsAreAccepted) {
  const std::string method(kMaxNameLength, 'm');
  const std::string trace(kMaxTraceIdLength, 't');
  const std::string name(kMaxNameLength, 'n');
  const std::string message(0xFFFF, 'e');
  for (const auto& block :
       {entry(1, method), entry(3, trace), entry(34, name), entry(6, message), entry(7, message)}) {
    auto md = decode_metadata(block);
    ASSERT_TRUE(md) << md.error().to_string();
  }
  Metadata md;
  md.method = method;
  md.trace_id = trace;
  md.peer_name = name;
  std::string out;
  encode_metadata(md, out);
  auto back = decode_metadata(out);
  ASSERT_TRUE(back);
  expect_same(*back, md);
}

TEST(Metadata, StringsLongerThan65535BytesAreClampedOnEncode) {
  const std::string huge(70000, 'h');
  Metadata md;
  md.error_message = huge;
  EXPECT_EQ(encoded_size(md), 4u + 0xFFFF);
  std::string out;
  encode_metadata(md, out);
  ASSERT_EQ(out.size(), 4u + 0xFFFF);
  EXPECT_EQ(out.substr(0, 4), std::string("\x06\x00\xFF\xFF", 4));
  auto back = decode_metadata(out);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->error_message, std::string_view(huge).substr(0, 0xFFFF));
  // A whole frame refuses it: the block no longer fits the u16 metadata length.
  std::string frame = "keep";
  auto r = encode_frame(FrameKind::error, 1, md, "", kDefaultMaxMessageSize, frame);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(frame, "keep");
}

TEST(Metadata, EmptyStringFieldsAreNotEncoded) {
  Metadata md;
  md.method = "";
  md.trace_id = "";
  md.status = 1;
  std::string out;
  encode_metadata(md, out);
  EXPECT_EQ(out, entry(5, le<std::uint16_t>(1)));
}

// ---- decoding bad blocks ---------------------------------------------------------------------

TEST(MetadataMalformed, UnknownKeysAreSkipped) {
  const std::string block = entry(999, "whatever") + entry(1, "echo") + entry(0, "") +
                            entry(17, le<std::uint64_t>(5)) + entry(31, "x") + entry(39, "") +
                            entry(0xFFFF, std::string(300, 'u'));
  auto md = decode_metadata(block);
  ASSERT_TRUE(md) << md.error().to_string();
  Metadata expected;
  expected.method = "echo";
  expect_same(*md, expected);
  // Re-encoding drops them.
  std::string out;
  encode_metadata(*md, out);
  EXPECT_EQ(out, entry(1, "echo"));
}

TEST(MetadataMalformed, UnknownKeyMayRepeat) {
  EXPECT_TRUE(decode_metadata(entry(500, "a") + entry(500, "b")));
}

TEST(MetadataMalformed, DuplicateKnownKey) {
  const std::vector<std::pair<std::uint16_t, std::string>> fields = {
      {1, "m"},
      {2, le<std::uint64_t>(1)},
      {3, "t"},
      {4, "\x01"},
      {5, le<std::uint16_t>(1)},
      {6, "e"},
      {7, "{}"},
      {32, "PLXS"},
      {33, le<std::uint16_t>(1)},
      {34, "p"},
      {35, le<std::uint64_t>(1)},
      {36, le<std::uint32_t>(1)},
      {37, le<std::uint32_t>(1)},
  };
  for (const auto& [k, v] : fields) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(decode_metadata(entry(k, v)));
    expect_protocol_error(entry(k, v) + entry(k, v), "appears twice", k);
    // Not adjacent either.
    expect_protocol_error(entry(k, v) + entry(999, "x") + entry(k, v), "appears twice", k);
  }
}

TEST(MetadataMalformed, WrongWidthForIntegerKeys) {
  struct Case {
    std::uint16_t key;
    std::size_t width;
  };
  for (const auto c :
       {Case{2, 8}, Case{4, 1}, Case{5, 2}, Case{11, 4}, Case{13, 4}, Case{14, 8}, Case{15, 4},
        Case{16, 8}, Case{33, 2}, Case{35, 8}, Case{36, 4}, Case{37, 4}}) {
    SCOPED_TRACE(c.key);
    ASSERT_TRUE(decode_metadata(entry(c.key, std::string(c.width, '\0'))));
    for (std::size_t w : {std::size_t{0}, c.width - 1, c.width + 1, std::size_t{16}}) {
      if (w == c.width) continue;
      expect_protocol_error(entry(c.key, std::string(w, '\0')), "wrong width", c.key);
    }
  }
}

TEST(MetadataMalformed, UnknownContentType) {
  ASSERT_TRUE(decode_metadata(entry(4, std::string(1, '\0'))));
  ASSERT_TRUE(decode_metadata(entry(4, "\x01")));
  for (const char v : {'\x02', '\x7F', '\xFF'}) {
    expect_protocol_error(entry(4, std::string(1, v)), "unknown content type", 4);
  }
}

TEST(MetadataMalformed, TruncatedEntryHeader) {
  const std::string good = entry(1, "echo");
  const std::string next = entry(33, le<std::uint16_t>(1));
  for (std::size_t n = 1; n < 4; ++n) {
    expect_protocol_error(good + next.substr(0, n), "truncated");
    expect_protocol_error(next.substr(0, n), "truncated");
  }
}

TEST(MetadataMalformed, EntryRunningPastTheBlock) {
  const std::string full = entry(6, "0123456789");
  for (std::size_t n = 4; n < full.size(); ++n) {
    expect_protocol_error(full.substr(0, n), "runs past the block");
  }
  // A length of 0xFFFF in a tiny block.
  expect_protocol_error(std::string("\x01\x00\xFF\xFF", 4) + "abc", "runs past the block");
  // An unknown key running past is just as bad: the rest cannot be framed.
  expect_protocol_error(std::string("\x00\x10\x05\x00", 4) + "ab", "runs past the block");
}

TEST(MetadataMalformed, EmptyStringValue) {
  for (const std::uint16_t k : {1, 3, 6, 7, 8, 9, 10, 12, 32, 34}) {
    expect_protocol_error(entry(k, ""), "is empty", k);
  }
}

TEST(MetadataMalformed, OverLongStrings) {
  ASSERT_TRUE(decode_metadata(entry(1, std::string(255, 'm'))));
  expect_protocol_error(entry(1, std::string(256, 'm')), "too long", 1);
  ASSERT_TRUE(decode_metadata(entry(3, std::string(64, 't'))));
  expect_protocol_error(entry(3, std::string(65, 't')), "too long", 3);
  ASSERT_TRUE(decode_metadata(entry(34, std::string(255, 'p'))));
  expect_protocol_error(entry(34, std::string(256, 'p')), "too long", 34);
  expect_protocol_error(entry(32, "PLXSX"), "too long", 32);
  for (const std::uint16_t k : {8, 9, 10, 12}) {
    ASSERT_TRUE(decode_metadata(entry(k, std::string(128, 'q'))));
    expect_protocol_error(entry(k, std::string(129, 'q')), "too long", k);
  }
}

TEST(MetadataMalformed, ErrorStopsAtTheFirstBadEntry) {
  auto md = decode_metadata(entry(1, "ok") + entry(5, "\x01") + entry(1, "again"));
  ASSERT_FALSE(md);
  EXPECT_EQ(md.error().details, "{\"key\":5}");
}

// ---- validate_frame_fields -------------------------------------------------------------------

TEST(ValidateFrameFields, RequestNotifyAndLaneOpenNeedAMethod) {
  for (const auto kind : {FrameKind::request, FrameKind::notify, FrameKind::lane_open}) {
    Metadata md;
    auto r = validate_frame_fields(kind, md);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::protocol_error);
    EXPECT_NE(r.error().message.find("method"), std::string::npos);
    EXPECT_NE(r.error().message.find(std::string(to_string(kind))), std::string::npos);
    md.method = "m";
    EXPECT_TRUE(validate_frame_fields(kind, md));
  }
}

TEST(ValidateFrameFields, ErrorAndGoawayNeedAStatus) {
  for (const auto kind : {FrameKind::error, FrameKind::goaway}) {
    Metadata md;
    md.error_message = "no status";
    auto r = validate_frame_fields(kind, md);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::protocol_error);
    EXPECT_NE(r.error().message.find("status"), std::string::npos);
    md.status = 0;  // present, even if ok
    EXPECT_TRUE(validate_frame_fields(kind, md));
  }
}

TEST(ValidateFrameFields, HelloAndWelcomeNeedMagicAndVersion) {
  for (const auto kind : {FrameKind::hello, FrameKind::welcome}) {
    Metadata md;
    EXPECT_FALSE(validate_frame_fields(kind, md));
    md.magic = "PLXS";
    auto r = validate_frame_fields(kind, md);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("version"), std::string::npos);
    md.version = 7;  // the value is decode_hello's business
    EXPECT_TRUE(validate_frame_fields(kind, md));
    md.magic = {};
    r = validate_frame_fields(kind, md);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("magic"), std::string::npos);
  }
}

TEST(ValidateFrameFields, OtherKindsNeedNothing) {
  for (const auto kind :
       {FrameKind::response, FrameKind::cancel, FrameKind::ping, FrameKind::pong}) {
    EXPECT_TRUE(validate_frame_fields(kind, Metadata{})) << to_string(kind);
    EXPECT_TRUE(validate_frame_fields(kind, every_field())) << to_string(kind);
  }
}

// ---- wire/call_metadata: the call path's own encoder and decoder --------------------------
// Its bytes must be those of the general encoder, and it must accept exactly the blocks it can
// read in full (everything else is left to decode_metadata, which accepts or refuses it).

std::string encode_call(const CallFields& fields) {
  char block[kMaxCallMetadata];
  return std::string(block, encode_call_metadata(fields, block));
}

std::string encode_general(const CallFields& fields) {
  std::string out;
  encode_metadata(to_metadata(fields), out);
  return out;
}

TEST(CallMetadata, EncodesTheSameBytesAsTheGeneralEncoder) {
  const std::string longest_method(kMaxNameLength, 'm');
  const std::string longest_trace(kMaxTraceIdLength, 't');
  const std::vector<CallFields> cases = {
      {"echo", std::nullopt, {}, {}}, {"echo", 0, {}, {}},
      {"echo", 1500000, {}, {}},      {"echo", std::nullopt, "trace-1", {}},
      {"a.b", ~0ull, "t", {}},        {longest_method, ~0ull, longest_trace, {}},
  };
  for (const auto& fields : cases) {
    const std::string block = encode_call(fields);
    EXPECT_EQ(block, encode_general(fields)) << fields.method;
    EXPECT_LE(block.size(), kMaxCallMetadata);
  }
  // And spelled out byte by byte for one case: method, timeout, trace id, in key order.
  EXPECT_EQ(encode_call({"echo", 5, "t1", {}}),
            entry(1, "echo") + entry(2, le<std::uint64_t>(5)) + entry(3, "t1"));
  EXPECT_EQ(encode_call({longest_method, ~0ull, longest_trace, {}}).size(), kMaxCallMetadata);
}

TEST(CallMetadata, DecodesWhatItEncodesAndAgreesWithTheGeneralDecoder) {
  const std::string longest_trace(kMaxTraceIdLength, 'z');  // CallFields holds views
  for (const CallFields& fields : std::vector<CallFields>{{"echo", std::nullopt, {}, {}},
                                                          {"echo", 42, {}, {}},
                                                          {"echo", std::nullopt, "trace", {}},
                                                          {"x", 0, longest_trace, {}}}) {
    const std::string block = encode_call(fields);
    const auto fast = decode_call_metadata(block);
    ASSERT_TRUE(fast) << fields.method;
    EXPECT_EQ(fast->method, fields.method);
    EXPECT_EQ(fast->timeout_us, fields.timeout_us);
    EXPECT_EQ(fast->trace_id, fields.trace_id);
    const auto general = decode_metadata(block);
    ASSERT_TRUE(general);
    EXPECT_EQ(general->method, fast->method);
    EXPECT_EQ(general->timeout_us, fast->timeout_us);
    EXPECT_EQ(general->trace_id, fast->trace_id);
  }
}

// Each block here is left to decode_metadata: the fast path must not accept what it cannot
// read in full, nor refuse with its own verdict. The general decoder's answer is noted.
TEST(CallMetadata, LeavesEveryOtherBlockToTheGeneralDecoder) {
  struct Case {
    std::string name;
    std::string block;
    bool general_accepts;
  };
  const std::vector<Case> cases = {
      {"empty block", "", true},
      {"no method", entry(2, le<std::uint64_t>(1)), true},
      {"method empty", entry(1, ""), false},
      {"method too long", entry(1, std::string(kMaxNameLength + 1, 'm')), false},
      {"method twice", entry(1, "a") + entry(1, "b"), false},
      {"timeout too narrow", entry(1, "a") + entry(2, "1234"), false},
      {"timeout twice",
       entry(1, "a") + entry(2, le<std::uint64_t>(1)) + entry(2, le<std::uint64_t>(2)), false},
      {"trace empty", entry(1, "a") + entry(3, ""), false},
      {"trace too long", entry(1, "a") + entry(3, std::string(kMaxTraceIdLength + 1, 't')), false},
      {"trace before timeout", entry(1, "a") + entry(3, "t") + entry(2, le<std::uint64_t>(1)),
       true},
      {"timeout before method", entry(2, le<std::uint64_t>(1)) + entry(1, "a"), true},
      {"an unknown key after", entry(1, "a") + entry(999, "x"), true},
      {"content type after", entry(1, "a") + entry(4, std::string(1, '\1')), true},
      {"entry truncated", entry(1, "a") + std::string("\2\0", 2), false},
      {"value runs past the block", entry(1, "abc").substr(0, 6), false},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(decode_call_metadata(c.block)) << c.name;
    EXPECT_EQ(decode_metadata(c.block).has_value(), c.general_accepts) << c.name;
  }
}

}  // namespace
