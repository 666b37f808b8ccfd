// The upgrade from a Unix socket to shared memory (docs/PROTOCOL.md §19), done by the transport
// right after connect and before HELLO, so the session above never knows which one it got.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <asio/local/stream_protocol.hpp>

#include "transport/connection.hpp"
#include "transport/shm/shm_options.hpp"
#include "transport/socket_upgrade.hpp"

namespace plexus::transport::shm {

using UpgradeDone = std::function<void(Result<std::shared_ptr<Connection>>)>;

// Dialer side, on a freshly connected socket bound to the connection's strand: sends the
// request, waits up to `timeout` for the reply, and hands `done` (on the strand) a shared-memory
// connection, or a plain Unix connection when the acceptor refuses. Fails with unavailable
// (closed, malformed reply, bad segment) or deadline_exceeded.
void upgrade_as_dialer(asio::local::stream_protocol::socket socket, const ShmOptions& shm,
                       const ConnectionOptions& options, std::string label,
                       std::chrono::milliseconds timeout, UpgradeDone done);

// Acceptor side, on every accepted Unix socket: looks at the first bytes without consuming
// them. A HELLO (anything but an upgrade request), silence for `sniff_timeout`, or EOF hands a
// plain connection to `done`; an upgrade request is answered, accepted when `shm` is set
// (then `done` gets a shared-memory connection) and refused otherwise (plain connection). A
// malformed request closes the socket without calling `done`. `done` runs on the socket's strand.
void upgrade_as_acceptor(asio::local::stream_protocol::socket socket,
                         const std::optional<ShmOptions>& shm, const ConnectionOptions& options,
                         std::string label, std::chrono::milliseconds sniff_timeout,
                         std::function<void(std::shared_ptr<Connection>)> done);

// The upgrade the Unix transport runs for an address with ?shm=1 (a SocketUpgradeFactory,
// installed by register_builtin_transports): null without shm=1, invalid_argument for a bad
// shm option or shm=1 on a non-Unix address (shm_options()). The acceptor side waits up to
// 1 s for a silent peer's first bytes before it hands the socket on as a plain connection.
Result<std::shared_ptr<const SocketUpgrade>> socket_upgrade(const Address& address);

}  // namespace plexus::transport::shm
