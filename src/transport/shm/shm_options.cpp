#include "transport/shm/shm_options.hpp"

#include <charconv>

#include "wire/shm_upgrade.hpp"

namespace plexus::transport::shm {

Result<std::optional<ShmOptions>> shm_options(const Address& address) {
  bool enabled = false;
  ShmOptions o;
  for (const auto& [key, value] : address.options) {
    if (key == "shm") {
      if (value != "1" && value != "0") {
        return make_error(StatusCode::invalid_argument,
                          "shm must be 1 or 0, not \"" + value + "\"");
      }
      enabled = value == "1";
    } else if (key == "shm_wait") {
      const auto wait = parse_wait_strategy(value);
      if (!wait) {
        return make_error(StatusCode::invalid_argument,
                          "shm_wait must be spin, adaptive or block, not \"" + value + "\"");
      }
      o.wait = *wait;
    } else if (key == "shm_ring") {
      std::uint64_t bytes = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), bytes);
      if (ec != std::errc{} || ptr != value.data() + value.size() ||
          !wire::valid_ring_bytes(bytes)) {
        return make_error(
            StatusCode::invalid_argument,
            "shm_ring must be a power of two from 4096 to 268435456, not \"" + value + "\"");
      }
      o.ring_bytes = bytes;
      o.ring_bytes_set = true;
    }
  }
  if (!enabled) return std::optional<ShmOptions>{};
  if (address.kind != Address::Kind::unix_path && address.kind != Address::Kind::unix_abstract) {
    return make_error(
        StatusCode::invalid_argument,
        "shared memory is negotiated over a Unix socket, not " + address.scheme + "://");
  }
  return std::optional<ShmOptions>{o};
}

}  // namespace plexus::transport::shm
