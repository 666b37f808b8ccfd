#include "transport/address.hpp"

#include <charconv>
#include <cstdlib>

#include "platform/posix/process.hpp"
#include "transport/registry.hpp"

namespace plexus::transport {

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

tl::unexpected<Error> bad_address(std::string_view text, std::string why) {
  return make_error(StatusCode::invalid_argument,
                    "bad address \"" + std::string(text) + "\": " + why);
}

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
      // tcp://, or another transport over TCP with the same host:port form (tls://).
      text = scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
      break;
    }
    case Kind::other:
      text = scheme + "://" + path;
      break;
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
  return transports().parse(text);
}

Result<Address> parse_unix_address(std::string_view text) {
  Address a;
  a.scheme = "unix";
  std::string_view rest;
  if (text.starts_with("unix://")) {
    rest = text.substr(7);
    take_options(rest, a);
    if (rest.empty() || rest.front() != '/')
      return bad_address(text, "a unix path must be absolute");
    // sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
    if (rest.size() > 107) return bad_address(text, "a unix socket path is limited to 107 bytes");
    a.kind = Address::Kind::unix_path;
    a.path = std::string(rest);
    return a;
  }
  if (text.starts_with("unix:@")) {
    rest = text.substr(6);
    take_options(rest, a);
    if (rest.empty()) return bad_address(text, "an abstract socket needs a name");
    if (rest.size() > 106)
      return bad_address(text, "an abstract socket name is limited to 106 bytes");
    a.kind = Address::Kind::unix_abstract;
    a.path = std::string(rest);
    return a;
  }
  return bad_address(text, "expected unix:///abs/path or unix:@name");
}

Result<Address> parse_tcp_address(std::string_view text) {
  if (!text.starts_with("tcp://")) return bad_address(text, "expected tcp://host:port");
  Address a;
  a.kind = Address::Kind::tcp;
  a.scheme = "tcp";
  std::string_view rest = text.substr(6);
  take_options(rest, a);
  std::string_view host, port;
  if (rest.starts_with('[')) {  // [v6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return bad_address(text, "expected [ipv6]:port");
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad_address(text, "expected host:port");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return bad_address(text, "empty host");
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
    return bad_address(text, "port must be a number from 0 to 65535");
  }
  a.host = std::string(host);
  a.port = static_cast<std::uint16_t>(value);
  return a;
}

Result<Address> parse_generic_address(std::string_view text, std::string_view scheme) {
  const std::string prefix = std::string(scheme) + "://";
  if (!text.starts_with(prefix)) return bad_address(text, "expected " + prefix + "<something>");
  Address a;
  a.kind = Address::Kind::other;
  a.scheme = std::string(scheme);
  std::string_view rest = text.substr(prefix.size());
  take_options(rest, a);
  if (rest.empty()) return bad_address(text, "nothing after " + prefix);
  a.path = std::string(rest);
  return a;
}

std::string default_socket_path() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/') {
    return std::string(xdg) + "/plexus/plexus.sock";
  }
  return "/tmp/plexus-" + std::to_string(platform::current_uid()) + "/plexus.sock";
}

}  // namespace plexus::transport
