// include/plexus/status.hpp: stable status numbers, names, the wire mapping both ways and Error.
#include "plexus/status.hpp"

#include <cstdint>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace {

using plexus::Error;
using plexus::make_error;
using plexus::Result;
using plexus::status_code_from_wire;
using plexus::StatusCode;

struct Known {
  StatusCode code;
  std::uint16_t number;
  const char* name;
};

constexpr Known kKnown[] = {
    {StatusCode::ok, 0, "ok"},
    {StatusCode::cancelled, 1, "cancelled"},
    {StatusCode::unknown, 2, "unknown"},
    {StatusCode::invalid_argument, 3, "invalid_argument"},
    {StatusCode::deadline_exceeded, 4, "deadline_exceeded"},
    {StatusCode::not_found, 5, "not_found"},
    {StatusCode::already_exists, 6, "already_exists"},
    {StatusCode::permission_denied, 7, "permission_denied"},
    {StatusCode::resource_exhausted, 8, "resource_exhausted"},
    {StatusCode::failed_precondition, 9, "failed_precondition"},
    {StatusCode::internal, 13, "internal"},
    {StatusCode::unavailable, 14, "unavailable"},
    {StatusCode::unauthenticated, 16, "unauthenticated"},
    {StatusCode::message_too_large, 100, "message_too_large"},
    {StatusCode::protocol_error, 101, "protocol_error"},
};

static_assert(status_code_from_wire(101) == StatusCode::protocol_error);
static_assert(status_code_from_wire(15) == StatusCode::unknown);
static_assert(status_code_from_wire(16) == StatusCode::unauthenticated);
static_assert(plexus::to_string(StatusCode::message_too_large) == "message_too_large");

TEST(Status, NumbersNamesAndWireMappingOfEveryKnownCode) {
  for (const auto& k : kKnown) {
    SCOPED_TRACE(k.name);
    EXPECT_EQ(static_cast<std::uint16_t>(k.code), k.number);  // on the wire: never changes
    EXPECT_EQ(plexus::to_string(k.code), k.name);
    EXPECT_EQ(status_code_from_wire(k.number), k.code);
    EXPECT_EQ(status_code_from_wire(static_cast<std::uint16_t>(k.code)), k.code);
  }
}

TEST(Status, EveryUnknownNumberMapsToUnknown) {
  std::set<std::uint32_t> known;
  for (const auto& k : kKnown) known.insert(k.number);
  for (std::uint32_t v = 0; v <= 0xFFFF; ++v) {
    if (known.contains(v)) continue;
    ASSERT_EQ(status_code_from_wire(static_cast<std::uint16_t>(v)), StatusCode::unknown) << v;
  }
}

TEST(Status, GapsAndNeighboursAreUnknown) {
  for (const std::uint16_t v : {10, 11, 12, 15, 17, 99, 102, 1000, 65535}) {
    EXPECT_EQ(status_code_from_wire(v), StatusCode::unknown) << v;
  }
}

TEST(Status, NameOfAnOutOfRangeCodeIsUnknown) {
  EXPECT_EQ(plexus::to_string(static_cast<StatusCode>(15)), "unknown");
  EXPECT_EQ(plexus::to_string(static_cast<StatusCode>(65535)), "unknown");
}

TEST(Status, ErrorToString) {
  EXPECT_EQ(Error{}.to_string(), "unknown");
  EXPECT_EQ((Error{StatusCode::not_found, "", ""}).to_string(), "not_found");
  EXPECT_EQ((Error{StatusCode::not_found, "no such method", ""}).to_string(),
            "not_found: no such method");
  EXPECT_EQ(
      (Error{StatusCode::message_too_large, "too big", "{\"limit\":1,\"size\":2}"}).to_string(),
      "message_too_large: too big {\"limit\":1,\"size\":2}");
}

TEST(Status, MakeErrorCarriesCodeMessageAndDetails) {
  Result<int> r = make_error(StatusCode::internal, "boom", "{\"k\":1}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::internal);
  EXPECT_EQ(r.error().message, "boom");
  EXPECT_EQ(r.error().details, "{\"k\":1}");

  Result<void> v = make_error(StatusCode::cancelled, "stop");
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().details.empty());

  Result<void> ok;
  EXPECT_TRUE(ok);
}

}  // namespace
