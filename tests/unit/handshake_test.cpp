// src/wire/handshake.cpp: HELLO / WELCOME encoding and decode_hello's checks and defaults.
#include "wire/handshake.hpp"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "wire/frame.hpp"
#include "wire/metadata.hpp"

namespace {

using plexus::StatusCode;
using namespace plexus::wire;

PeerHello sample_hello() {
  PeerHello h;
  h.peer_name = "client-7";
  h.capabilities = capability::kCancel | capability::kDeadline | (1ull << 40);
  h.max_message_size = 1u << 20;
  h.heartbeat_interval_ms = 2500;
  return h;
}

void expect_same(const PeerHello& a, const PeerHello& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.peer_name, b.peer_name);
  EXPECT_EQ(a.capabilities, b.capabilities);
  EXPECT_EQ(a.max_message_size, b.max_message_size);
  EXPECT_EQ(a.heartbeat_interval_ms, b.heartbeat_interval_ms);
}

Metadata minimal(std::uint16_t version = kProtocolVersion) {
  Metadata md;
  md.magic = kMagic;
  md.version = version;
  return md;
}

TEST(Handshake, Constants) {
  EXPECT_EQ(kMagic, "PLXS");
  EXPECT_EQ(kProtocolVersion, 1);
  EXPECT_EQ(capability::kCancel, 1u);
  EXPECT_EQ(capability::kDeadline, 2u);
  const PeerHello defaults;
  EXPECT_EQ(defaults.version, 1);
  EXPECT_EQ(capability::kPubSub, 4u);
  EXPECT_EQ(capability::kBatch, 8u);
  EXPECT_EQ(capability::kStreams, 0x8000u);
  EXPECT_EQ(capability::kLanes, 0x10000u);
  EXPECT_EQ(defaults.capabilities, capability::kCancel | capability::kDeadline |
                                       capability::kPubSub | capability::kBatch |
                                       capability::kStreams | capability::kLanes);
  EXPECT_EQ(defaults.max_message_size, kDefaultMaxMessageSize);
  EXPECT_EQ(defaults.heartbeat_interval_ms, 0u);
}

TEST(Handshake, HelloAndWelcomeFramesRoundTrip) {
  for (const auto kind : {FrameKind::hello, FrameKind::welcome}) {
    const PeerHello sent = sample_hello();
    std::string out = "pre";
    encode_hello(kind, sent, out);
    ASSERT_EQ(out.substr(0, 3), "pre");
    auto r = parse_frame(std::string_view(out).substr(3), Limits{});
    ASSERT_EQ(r.state, ParseResult::State::frame);
    EXPECT_EQ(r.consumed, out.size() - 3);
    EXPECT_EQ(r.frame.header.kind, kind);
    EXPECT_EQ(r.frame.header.id, 0u);
    EXPECT_EQ(r.frame.header.flags, 0);
    EXPECT_TRUE(r.frame.payload.empty());
    auto md = decode_metadata(r.frame.metadata);
    ASSERT_TRUE(md) << md.error().to_string();
    EXPECT_EQ(md->magic, "PLXS");
    EXPECT_EQ(md->version, 1);
    EXPECT_TRUE(validate_frame_fields(kind, *md));
    auto got = decode_hello(*md);
    ASSERT_TRUE(got) << got.error().to_string();
    expect_same(*got, sent);
  }
}

TEST(Handshake, HelloMetadataCarriesEveryField) {
  const PeerHello h = sample_hello();
  const Metadata md = hello_metadata(h);
  EXPECT_EQ(md.magic, kMagic);
  EXPECT_EQ(md.version, h.version);
  EXPECT_EQ(md.peer_name, h.peer_name);
  EXPECT_EQ(md.capabilities, h.capabilities);
  EXPECT_EQ(md.max_message_size, h.max_message_size);
  EXPECT_EQ(md.heartbeat_interval_ms, h.heartbeat_interval_ms);
  EXPECT_TRUE(md.method.empty());
  EXPECT_FALSE(md.status);
}

TEST(Handshake, OverLongPeerNameIsCutTo255SoThePeerAcceptsIt) {
  PeerHello h;
  h.peer_name = std::string(300, 'n');
  std::string out;
  encode_hello(FrameKind::hello, h, out);
  auto r = parse_frame(out, Limits{});
  ASSERT_EQ(r.state, ParseResult::State::frame);
  auto md = decode_metadata(r.frame.metadata);
  ASSERT_TRUE(md) << md.error().to_string();
  auto got = decode_hello(*md);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->peer_name, std::string(kMaxNameLength, 'n'));
}

TEST(Handshake, EmptyPeerNameIsOmitted) {
  PeerHello h;
  h.peer_name.clear();
  std::string out;
  encode_hello(FrameKind::welcome, h, out);
  auto r = parse_frame(out, Limits{});
  ASSERT_EQ(r.state, ParseResult::State::frame);
  auto md = decode_metadata(r.frame.metadata);
  ASSERT_TRUE(md);
  EXPECT_TRUE(md->peer_name.empty());
  auto got = decode_hello(*md);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->peer_name, "");
}

TEST(Handshake, DefaultsWhenOptionalFieldsAreAbsent) {
  auto got = decode_hello(minimal());
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->peer_name, "");
  EXPECT_EQ(got->capabilities, 0u);  // a peer that announces none has none
  EXPECT_EQ(got->max_message_size, kDefaultMaxMessageSize);
  EXPECT_EQ(got->heartbeat_interval_ms, 0u);
}

TEST(Handshake, PresentZeroesAreKeptNotDefaulted) {
  Metadata md = minimal();
  md.capabilities = 0;
  md.max_message_size = 0;
  md.heartbeat_interval_ms = 0;
  auto got = decode_hello(md);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->max_message_size, 0u);
  EXPECT_EQ(got->capabilities, 0u);
}

TEST(HandshakeMalformed, BadMagic) {
  using namespace std::string_view_literals;
  for (const auto magic : {""sv, "PLX"sv, "PLXT"sv, "plxs"sv, "XSLP"sv, "\0LXS"sv, "PLXS\0"sv}) {
    Metadata md = minimal();
    md.magic = magic;
    auto got = decode_hello(md);
    ASSERT_FALSE(got) << magic;
    EXPECT_EQ(got.error().code, StatusCode::protocol_error);
    EXPECT_NE(got.error().message.find("magic"), std::string::npos);
  }
}

TEST(HandshakeMalformed, MissingVersion) {
  Metadata md = minimal();
  md.version.reset();
  auto got = decode_hello(md);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, StatusCode::protocol_error);
  EXPECT_NE(got.error().message.find("version"), std::string::npos);
}

TEST(HandshakeMalformed, WrongVersionNamesTheSupportedOnes) {
  for (const std::uint16_t v : {0, 2, 3, 255, 65535}) {
    auto got = decode_hello(minimal(v));
    ASSERT_FALSE(got) << v;
    EXPECT_EQ(got.error().code, StatusCode::protocol_error);
    EXPECT_EQ(got.error().details, "{\"supported\":[1],\"offered\":" + std::to_string(v) + "}");
    EXPECT_NE(got.error().message.find(std::to_string(v)), std::string::npos);
  }
}

TEST(HandshakeMalformed, WrongVersionOnTheWire) {
  PeerHello h;
  h.version = 2;
  std::string out;
  encode_hello(FrameKind::hello, h, out);
  auto r = parse_frame(out, Limits{});
  ASSERT_EQ(r.state, ParseResult::State::frame);
  auto md = decode_metadata(r.frame.metadata);
  ASSERT_TRUE(md);
  EXPECT_TRUE(validate_frame_fields(FrameKind::hello, *md));  // structurally fine
  auto got = decode_hello(*md);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().details, "{\"supported\":[1],\"offered\":2}");
}

}  // namespace
