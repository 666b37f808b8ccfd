// Listening and dialing by address. The address scheme picks the transport from the registry
// (transport/registry.hpp); the RPC layer only ever receives `Connection`s from here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include "transport/address.hpp"
#include "transport/connection.hpp"

namespace plexus::transport {

struct ListenOptions {
  unsigned unix_socket_mode = 0600;  // owner-only by default
  // The serial executor each accepted connection runs on; unset: a new strand each.
  std::function<asio::any_io_executor()> connection_executor;
  ConnectionOptions connection;
  // Told of every failed accept (`error`, and how many failed in a row, from 1) and once when an
  // accept succeeds again after failures (`error` empty, the count of the failures). Failures
  // such as EMFILE last until connections close: the listener retries every kAcceptRetry.
  // On the listener's executor; unset: not told.
  std::function<void(std::error_code error, std::uint64_t failures)> on_accept_trouble;
  // Transports with a handshake of their own before the connection is handed out (TLS): at
  // most this many at once; past it a new connection is closed at once. 0: no bound but the
  // handshake's timeout.
  std::size_t max_pending_handshakes = 0;
};

// How long a listener waits before it accepts again after a failed accept.
inline constexpr std::chrono::milliseconds kAcceptRetry{50};

// Accepts connections until closed. Each accepted connection gets its own serial executor.
// Not thread-safe: call from one thread (the owner's).
class Listener {
 public:
  virtual ~Listener() = default;
  virtual void accept(std::function<void(std::shared_ptr<Connection>)> on_connection) = 0;
  // Stops accepting; a Unix socket file is removed.
  virtual void close() = 0;
  // The address actually bound (tcp port 0 becomes the chosen port).
  virtual std::string address() const = 0;
};

// Binds `address`. Unix: a stale socket file left by a dead server is replaced; a live one is
// refused with failed_precondition ("address in use"); a non-socket file is never touched.
// A scheme no transport is registered for: invalid_argument ("unknown scheme").
Result<std::unique_ptr<Listener>> listen(asio::io_context& io, const Address& address,
                                         const ListenOptions& options);

using DialCallback = std::function<void(Result<std::shared_ptr<Connection>>)>;

// Connects within `timeout`. The connection runs on the serial executor `strand` (every handler of
// it does), and `done` runs there too, never before dial() returns, with unavailable or
// deadline_exceeded on failure (invalid_argument for a bad or unregistered address).
void dial(asio::any_io_executor strand, const Address& address, const ConnectionOptions& options,
          std::chrono::milliseconds timeout, DialCallback done);

}  // namespace plexus::transport
