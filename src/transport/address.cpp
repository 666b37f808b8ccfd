#include "transport/address.hpp"

#include <charconv>
#include <cstdlib>

#include "platform/posix/process.hpp"

namespace plexus::transport {
namespace {

Result<Address> bad(std::string_view text, std::string why) {
  return make_error(StatusCode::invalid_argument,
                    "bad address \"" + std::string(text) + "\": " + why);
}

// Splits "?a=1&b=2" off the end of `rest` into options.
void take_options(std::string_view& rest, Address& a) {
  const auto q = rest.find('?');
  if (q == std::string_view::npos) return;
  std::string_view query = rest.substr(q + 1);
  rest = rest.substr(0, q);
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    const auto eq = item.find('=');
    a.options.emplace_back(std::string(item.substr(0, eq)),
                           eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
}

}  // namespace

std::string Address::to_string() const {
  std::string text;
  switch (kind) {
    case Kind::unix_path:
      text = "unix://" + path;
      break;
    case Kind::unix_abstract:
      text = "unix:@" + path;
      break;
    case Kind::tcp: {
      const bool v6 = host.find(':') != std::string::npos;
      text = "tcp://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
      break;
    }
  }
  // The options travel with the address: a server reports "unix:///p?shm=1", and a client
  // that dials what it reports asks for shared memory.
  for (std::size_t i = 0; i < options.size(); ++i) {
    text += (i == 0 ? "?" : "&") + options[i].first;
    if (!options[i].second.empty()) text += "=" + options[i].second;
  }
  return text;
}

Result<Address> parse_address(std::string_view text) {
  Address a;
  std::string_view rest;
  if (text.starts_with("unix://")) {
    rest = text.substr(7);
    take_options(rest, a);
    if (rest.empty() || rest.front() != '/') return bad(text, "a unix path must be absolute");
    // sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
    if (rest.size() > 107) return bad(text, "a unix socket path is limited to 107 bytes");
    a.kind = Address::Kind::unix_path;
    a.path = std::string(rest);
    return a;
  }
  if (text.starts_with("unix:@")) {
    rest = text.substr(6);
    take_options(rest, a);
    if (rest.empty()) return bad(text, "an abstract socket needs a name");
    if (rest.size() > 106) return bad(text, "an abstract socket name is limited to 106 bytes");
    a.kind = Address::Kind::unix_abstract;
    a.path = std::string(rest);
    return a;
  }
  if (text.starts_with("tcp://")) {
    rest = text.substr(6);
    take_options(rest, a);
    std::string_view host, port;
    if (rest.starts_with('[')) {  // [v6]:port
      const auto close = rest.find(']');
      if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
        return bad(text, "expected [ipv6]:port");
      }
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      const auto colon = rest.rfind(':');
      if (colon == std::string_view::npos) return bad(text, "expected host:port");
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (host.empty()) return bad(text, "empty host");
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
      return bad(text, "port must be a number from 0 to 65535");
    }
    a.kind = Address::Kind::tcp;
    a.host = std::string(host);
    a.port = static_cast<std::uint16_t>(value);
    return a;
  }
  return bad(text, "unknown scheme (expected unix://, unix:@ or tcp://)");
}

std::string default_socket_path() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/') {
    return std::string(xdg) + "/plexus/plexus.sock";
  }
  return "/tmp/plexus-" + std::to_string(platform::current_uid()) + "/plexus.sock";
}

}  // namespace plexus::transport
