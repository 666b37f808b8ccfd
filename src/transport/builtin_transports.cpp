// The one place that names every built-in transport: one line each. A new transport is a
// folder under src/transport/ and a line here.
#include "transport/exec/exec_transport.hpp"
#include "transport/registry.hpp"
#include "transport/shm/shm_upgrade.hpp"
#include "transport/spool/spool_transport.hpp"
#include "transport/stream/stream_transport.hpp"
#include "transport/tls/tls_transport.hpp"

namespace plexus::transport {

Result<void> register_builtin_transports(TransportRegistry& registry) {
  Transport builtin[] = {
      stream::unix_transport(shm::socket_upgrade),  // unix:///path, unix:@name; ?shm=1 upgrades
      stream::tcp_transport(shm::socket_upgrade),   // tcp://host:port; refuses ?shm=1
      stream::fd_transport(shm::socket_upgrade),    // fd://N: an inherited listening socket
      tls::tls_transport(),                         // tls://host:port: TCP with TLS
      spool::spool_transport(),  // dir:///path/group: messages as files (plexus/spool.hpp)
      // exec:///path?arg=…: a helper child over a socket pair; inherited: the helper's side
      exec::exec_transport(shm::socket_upgrade),
      exec::inherited_transport(shm::socket_upgrade),
  };
  for (auto& transport : builtin) {
    if (auto added = registry.add(std::move(transport)); !added) return added;
  }
  return {};
}

}  // namespace plexus::transport
