// The bytes the soak sends, made so that whoever receives them can tell whether they arrived
// intact: echo answers are compared with what was sent, published messages are rebuilt from the
// sequence number they carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace plexus::soak {

// The largest payload the load sends: 64 KiB, past the sizes a read buffer starts with, so that
// buffers grow and shrink again all through the run.
inline constexpr std::size_t kMaxPayload = 64 * 1024;

// A fixed block of random bytes (every byte value occurs); payloads are slices of it at random
// offsets, cheap to make at any rate.
class PayloadPool {
 public:
  explicit PayloadPool(std::uint64_t seed);
  // `tag` followed by bytes from the pool, `size` bytes in all (at least the tag).
  std::string make(std::mt19937_64& rng, std::size_t size, std::string_view tag) const;
  // The same slice every time for one `key`: for messages the receiver must rebuild.
  std::string_view slice(std::uint64_t key, std::size_t size) const;

 private:
  std::string bytes_;
};

// Drawn log-uniformly from 1..max: mostly small payloads, now and then one near `max`, as real
// traffic has it.
std::size_t draw_size(std::mt19937_64& rng, std::size_t max = kMaxPayload);

// A published message: "<seq>|" and a slice of the pool whose size and place depend on seq alone,
// so every subscriber can rebuild what it should have received.
std::string published_message(const PayloadPool& pool, std::uint64_t seq);
// The sequence number a published message carries; nullopt when it does not start with one.
std::optional<std::uint64_t> published_seq(std::string_view message);

}  // namespace plexus::soak
