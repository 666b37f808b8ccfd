// A switch away from a freshly connected Unix socket, negotiated on it before HELLO and asked
// for by the address's options: shared memory (`?shm=1`, src/transport/shm/) is the one there
// is. The Unix transport runs an upgrade without knowing what it is; the folder that provides
// it hands it over in register_builtin_transports(), so that stream/ never includes shm/.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <asio/local/stream_protocol.hpp>

#include "transport/address.hpp"
#include "transport/connection.hpp"
#include "transport/transport.hpp"

namespace plexus::transport {

// One address's upgrade, its options already read. Immutable, so one is shared by a listener
// and every upgrade it runs; each call runs on the socket's strand.
class SocketUpgrade {
 public:
  using Socket = asio::local::stream_protocol::socket;
  virtual ~SocketUpgrade() = default;

  // Dialer side, right after connect: asks for the upgrade and hands `done` (on the strand)
  // the upgraded connection, a plain one when the acceptor refuses, or unavailable /
  // deadline_exceeded (`timeout`). `label` names the socket in logs.
  virtual void as_dialer(Socket socket, const ConnectionOptions& options, std::string label,
                         std::chrono::milliseconds timeout, DialCallback done) const = 0;

  // Acceptor side, on every socket accepted by a listener whose address asked for the upgrade:
  // answers a request if the peer opens with one and hands `done` the connection to use (not
  // called when the peer's request is malformed: the socket is closed).
  virtual void as_acceptor(Socket socket, const ConnectionOptions& options, std::string label,
                           std::function<void(std::shared_ptr<Connection>)> done) const = 0;
};

// Reads `address`'s options: null when they ask for no upgrade; invalid_argument for a bad
// value, or when the address's transport cannot carry the upgrade (anything but unix).
using SocketUpgradeFactory =
    std::function<Result<std::shared_ptr<const SocketUpgrade>>(const Address& address)>;

}  // namespace plexus::transport
