// Transport addresses: `unix:///abs/path`, `unix:@abstract-name`, `tcp://host:port`, and
// `scheme://rest` for a transport registered with a scheme of its own (transport/registry.hpp).
// The scheme picks the transport; options (`?key=value&…`) travel with the address.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::transport {

struct Address {
  // The built-in forms; any other registered transport's addresses are `other`.
  enum class Kind { unix_path, unix_abstract, tcp, other };
  Kind kind = Kind::unix_path;
  std::string scheme = "unix";  // the registry's key for the transport that serves the address
  std::string path;  // unix_path: filesystem path; unix_abstract: the name without '@'; other: rest
  std::string host;  // tcp
  std::uint16_t port = 0;
  std::vector<std::pair<std::string, std::string>> options;  // ?key=value&… (e.g. shm=1)

  // `other` prints as `scheme://path?options`, which parse_generic_address reads back.
  std::string to_string() const;
};

// Fails with invalid_argument naming what is wrong (unknown scheme, relative path, bad port…).
// The scheme is looked up in the process's transport registry (transports()), whose
// transport parses the rest.
Result<Address> parse_address(std::string_view text);

// The parsers of the built-in forms, which the unix and tcp transports register. Each expects
// `text` to start with its form's prefix and fails as parse_address does.
Result<Address> parse_unix_address(std::string_view text);  // unix:///abs/path, unix:@name
Result<Address> parse_tcp_address(std::string_view text);   // tcp://host:port, tcp://[v6]:port

// `scheme://rest[?options]`, rest not empty: kind `other`, rest in `path`. The parser a
// registered transport gets when it brings none of its own.
Result<Address> parse_generic_address(std::string_view text, std::string_view scheme);

// For parsers: splits "?a=1&b=2" off the end of `rest` into a.options (nothing without a '?').
void take_options(std::string_view& rest, Address& a);

// For parsers: invalid_argument with "bad address \"<text>\": <why>".
tl::unexpected<Error> bad_address(std::string_view text, std::string why);

// The default server socket: $XDG_RUNTIME_DIR/plexus/plexus.sock, else
// /tmp/plexus-$UID/plexus.sock.
std::string default_socket_path();

}  // namespace plexus::transport
