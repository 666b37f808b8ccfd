// Shared-memory options, read from a Unix address's query: `?shm=1` asks for (dialer) or
// accepts (listener) the upgrade; `shm_wait=spin|adaptive|block`; `shm_ring=BYTES` (a power of
// two, 4 KiB..256 MiB, each direction). The RPC layer never sees these.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "plexus/status.hpp"
#include "plexus/wait_strategy.hpp"
#include "transport/address.hpp"

namespace plexus::transport::shm {

// spin never sleeps (keeps the connection's I/O thread busy); adaptive spins on the ring for an
// adaptive time after the last message, then sleeps on the eventfd; block sleeps on the eventfd
// as soon as the ring is empty.
using WaitStrategy = plexus::WaitStrategy;

struct ShmOptions {
  WaitStrategy wait = WaitStrategy::adaptive;
  // Each direction; the acceptor's choice wins if set. 4 MiB: a frame with a 1 MiB payload fits
  // whole (read in place, docs/ARCHITECTURE.md section 15) with room for two more behind it.
  std::uint64_t ring_bytes = 4u << 20;
  bool ring_bytes_set = false;  // the dialer asked for a size explicitly
  // Adaptive spin bounds: the budget doubles when a spin caught a message, halves when not.
  std::chrono::microseconds min_spin{5};
  std::chrono::microseconds max_spin{200};
};

// nullopt when the address does not ask for shared memory (no shm=1); invalid_argument for a
// bad value or for shm on an address that is not a Unix socket.
Result<std::optional<ShmOptions>> shm_options(const Address& address);

}  // namespace plexus::transport::shm
