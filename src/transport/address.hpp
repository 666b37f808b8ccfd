// Transport addresses: `unix:///abs/path`, `unix:@abstract-name`, `tcp://host:port`.
// A new transport adds one scheme here and one folder under src/transport/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::transport {

struct Address {
  enum class Kind { unix_path, unix_abstract, tcp };
  Kind kind = Kind::unix_path;
  std::string path;  // unix_path: filesystem path; unix_abstract: the name without '@'
  std::string host;  // tcp
  std::uint16_t port = 0;
  std::vector<std::pair<std::string, std::string>> options;  // ?key=value&… (reserved, e.g. shm=1)

  std::string to_string() const;
};

// Fails with invalid_argument naming what is wrong (unknown scheme, relative path, bad port…).
Result<Address> parse_address(std::string_view text);

// The default server socket: $XDG_RUNTIME_DIR/plexus/plexus.sock, else
// /tmp/plexus-$UID/plexus.sock.
std::string default_socket_path();

}  // namespace plexus::transport
