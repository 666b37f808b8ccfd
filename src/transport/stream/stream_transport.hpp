// The two stream-socket transports, unix:// (and unix:@) and tcp://: listeners, dialers and
// their address parsers, for the registry (transport/registry.hpp).
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "transport/registry.hpp"
#include "transport/socket_upgrade.hpp"

namespace plexus::transport::stream {

// unix:///abs/path and unix:@name. `upgrade` reads each address's options; when it returns an
// upgrade, the listener offers it on every accepted socket and the dialer asks for it. Empty:
// none is offered and the options are not read.
Transport unix_transport(SocketUpgradeFactory upgrade);

// tcp://host:port, host a numeric IP or localhost (no DNS), TCP_NODELAY. `upgrade_options`
// (may be empty) is consulted only to refuse at listen an address that asks for an upgrade or
// carries bad upgrade options: a TCP socket carries none (dialing ignores them, as it always has).
Transport tcp_transport(SocketUpgradeFactory upgrade_options);

// A listening TCP socket for `a` (host a numeric IP or localhost) and the address it is bound to
// (port 0 resolved); tcp:// and tls:// listen through it. invalid_argument for another host,
// failed_precondition when the address is in use, unavailable for other socket errors.
struct BoundTcp {
  asio::ip::tcp::acceptor acceptor;
  Address address;
};
Result<BoundTcp> bind_tcp(asio::io_context& io, const Address& a);

// fd://N: listens on socket N that this process inherited already bound and listening (systemd
// socket activation); Listener::address() is the unix:// or tcp:// address it is bound to, and
// a Unix one reads `upgrade` from fd://N's options as unix:// does. Dialing fails with
// invalid_argument.
Transport fd_transport(SocketUpgradeFactory upgrade);

}  // namespace plexus::transport::stream
