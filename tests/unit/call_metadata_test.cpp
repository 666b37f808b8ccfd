// src/wire/call_metadata.cpp: the call path's own metadata encoder and decoder. Its bytes must
// be those of the general encoder, and it must accept exactly the blocks it can read in full
// (everything else is left to decode_metadata, which accepts or refuses it as always).
#include "wire/call_metadata.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace plexus::wire;

std::string entry(std::uint16_t key, std::string_view value) {
  std::string s;
  s += static_cast<char>(key & 0xFF);
  s += static_cast<char>(key >> 8);
  s += static_cast<char>(value.size() & 0xFF);
  s += static_cast<char>((value.size() >> 8) & 0xFF);
  s.append(value);
  return s;
}

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

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
      {"echo", std::nullopt, {}}, {"echo", 0, {}},
      {"echo", 1500000, {}},      {"echo", std::nullopt, "trace-1"},
      {"a.b", ~0ull, "t"},        {longest_method, ~0ull, longest_trace},
  };
  for (const auto& fields : cases) {
    const std::string block = encode_call(fields);
    EXPECT_EQ(block, encode_general(fields)) << fields.method;
    EXPECT_LE(block.size(), kMaxCallMetadata);
  }
  // And spelled out byte by byte for one case: method, timeout, trace id, in key order.
  EXPECT_EQ(encode_call({"echo", 5, "t1"}), entry(1, "echo") + entry(2, le64(5)) + entry(3, "t1"));
  EXPECT_EQ(encode_call({longest_method, ~0ull, longest_trace}).size(), kMaxCallMetadata);
}

TEST(CallMetadata, DecodesWhatItEncodesAndAgreesWithTheGeneralDecoder) {
  const std::string longest_trace(kMaxTraceIdLength, 'z');  // CallFields holds views
  for (const CallFields& fields : std::vector<CallFields>{{"echo", std::nullopt, {}},
                                                          {"echo", 42, {}},
                                                          {"echo", std::nullopt, "trace"},
                                                          {"x", 0, longest_trace}}) {
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
      {"no method", entry(2, le64(1)), true},
      {"method empty", entry(1, ""), false},
      {"method too long", entry(1, std::string(kMaxNameLength + 1, 'm')), false},
      {"method twice", entry(1, "a") + entry(1, "b"), false},
      {"timeout too narrow", entry(1, "a") + entry(2, "1234"), false},
      {"timeout twice", entry(1, "a") + entry(2, le64(1)) + entry(2, le64(2)), false},
      {"trace empty", entry(1, "a") + entry(3, ""), false},
      {"trace too long", entry(1, "a") + entry(3, std::string(kMaxTraceIdLength + 1, 't')), false},
      {"trace before timeout", entry(1, "a") + entry(3, "t") + entry(2, le64(1)), true},
      {"timeout before method", entry(2, le64(1)) + entry(1, "a"), true},
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
