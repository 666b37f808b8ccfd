// The HELLO / WELCOME handshake (docs/PROTOCOL.md §Handshake): the first frame each way.
// The dialing peer sends HELLO; the accepting peer answers WELCOME, or GOAWAY with the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/metadata.hpp"

namespace plexus::wire {

inline constexpr std::string_view kMagic = "PLXS";
inline constexpr std::uint16_t kProtocolVersion = 1;

// Capability bits (u64), advertised in HELLO/WELCOME. Version 1 peers all support these two;
// a feature that needs both sides checks the AND of both sets. Unknown bits are ignored.
namespace capability {
inline constexpr std::uint64_t kCancel = 1u << 0;    // understands CANCEL frames
inline constexpr std::uint64_t kDeadline = 1u << 1;  // honours timeout_us
inline constexpr std::uint64_t kPubSub = 1u << 2;    // PUBLISH / SUBSCRIBE / UNSUBSCRIBE
inline constexpr std::uint64_t kBatch = 1u << 3;     // reads BATCH frames; senders batch only then
// bits 4..14 are reserved for the shared-memory upgrade and later features.
inline constexpr std::uint64_t kStreams = 1u << 15;  // understands stream frames 17..21
inline constexpr std::uint64_t kLanes = 1u << 16;    // understands LANE_OPEN / LANE_DATA (22, 23)
}  // namespace capability

struct PeerHello {
  std::uint16_t version = kProtocolVersion;
  std::string peer_name;
  std::uint64_t capabilities = capability::kCancel | capability::kDeadline | capability::kPubSub |
                               capability::kBatch | capability::kStreams | capability::kLanes;
  std::uint32_t max_message_size = kDefaultMaxMessageSize;
  std::uint32_t heartbeat_interval_ms = 0;  // 0: this peer does not ping
  // A signed token proving who the dialer is (HELLO only; empty: none). Over kMaxTokenLength
  // it is not sent, and the acceptor sees no token.
  std::string token;
};

// The metadata of a HELLO or WELCOME; its views point into `hello`, which must outlive it.
Metadata hello_metadata(const PeerHello& hello);

// Appends a whole HELLO or WELCOME frame (id 0, no payload) to `out`.
void encode_hello(FrameKind kind, const PeerHello& hello, std::string& out);

// Reads a HELLO/WELCOME's metadata. Fails with protocol_error on a wrong magic, and on a version
// this side does not speak (details {"supported":[1],"offered":N}).
Result<PeerHello> decode_hello(const Metadata& md);

}  // namespace plexus::wire
