// The shared-memory upgrade messages (docs/PROTOCOL.md §19): exchanged on a Unix socket before
// HELLO, framed with the ordinary 16-byte header and kind 15 (SHM_UPGRADE), which is never sent
// once HELLO has been. Pure functions over bytes, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "plexus/status.hpp"

namespace plexus::wire {

inline constexpr std::uint8_t kShmUpgradeKind = 15;
inline constexpr std::uint32_t kShmUpgradeVersion = 1;
inline constexpr std::size_t kShmUpgradeRequestSize = 16 + 24;
inline constexpr std::size_t kShmUpgradeReplySize = 16 + 32;
// The first bytes that tell a request apart from a HELLO: body length 24, kind 15.
inline constexpr std::size_t kShmUpgradeSniffSize = 5;

// Ring sizes are powers of two in this range; 0 in a request means "the acceptor chooses".
inline constexpr std::uint64_t kMinRingBytes = 4096;
inline constexpr std::uint64_t kMaxRingBytes = 256ull << 20;

struct ShmUpgradeRequest {
  std::uint32_t version = kShmUpgradeVersion;
  std::uint64_t dialer_to_acceptor_bytes = 0;  // requested ring capacities; 0: acceptor's choice
  std::uint64_t acceptor_to_dialer_bytes = 0;
};

struct ShmUpgradeReply {
  std::uint32_t version = kShmUpgradeVersion;
  std::uint16_t status = 0;  // 0: accepted (3 descriptors travel with it); else a StatusCode
  std::uint64_t dialer_to_acceptor_bytes = 0;
  std::uint64_t acceptor_to_dialer_bytes = 0;
  std::uint64_t segment_bytes = 0;  // size of the memfd
};

// Whether `prefix` (at least kShmUpgradeSniffSize bytes) starts an upgrade request.
bool is_shm_upgrade_request(std::string_view prefix);

std::string encode_shm_upgrade_request(const ShmUpgradeRequest& request);
// Exactly kShmUpgradeRequestSize bytes; protocol_error on anything else.
Result<ShmUpgradeRequest> decode_shm_upgrade_request(std::string_view bytes);

std::string encode_shm_upgrade_reply(const ShmUpgradeReply& reply);
// Exactly kShmUpgradeReplySize bytes; protocol_error on anything else (a GOAWAY from a server
// that does not know kind 15 included).
Result<ShmUpgradeReply> decode_shm_upgrade_reply(std::string_view bytes);

// A valid ring capacity: a power of two in [kMinRingBytes, kMaxRingBytes].
bool valid_ring_bytes(std::uint64_t bytes);

}  // namespace plexus::wire
