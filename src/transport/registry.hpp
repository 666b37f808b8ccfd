// The transports by scheme: listen(), dial() and parse_address() look the address's scheme up
// here, and only they do (a connection, once made, never comes back here). A transport is a
// folder under src/transport/ plus one line in register_builtin_transports().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include "transport/address.hpp"
#include "transport/connection.hpp"
#include "transport/transport.hpp"

namespace plexus::transport {

// What one transport brings. Its factories keep listen()'s and dial()'s contracts
// (transport.hpp): in particular a dial factory never calls `done` before it returns.
struct Transport {
  using Parse = std::function<Result<Address>(std::string_view text)>;
  using Listen = std::function<Result<std::unique_ptr<Listener>>(
      asio::io_context& io, const Address& address, const ListenOptions& options)>;
  using Dial = std::function<void(asio::any_io_executor strand, const Address& address,
                                  const ConnectionOptions& options,
                                  std::chrono::milliseconds timeout, DialCallback done)>;

  std::string scheme;  // the key, and every parsed address's Address::scheme: "unix", "tcp"
  // The forms of its addresses, each `scheme:` and more; empty means {"scheme://"}. An address
  // goes to the transport whose form it starts with; unknown-scheme errors list them all.
  std::vector<std::string> forms;
  Parse parse;  // the whole text; empty: parse_generic_address (then `forms` must be empty)
  Listen listen;
  Dial dial;
};

// Thread-safe. Lookups copy an entry out under the lock and call the transport outside it;
// entries are never removed.
class TransportRegistry {
 public:
  // Fails with invalid_argument for a scheme that is not lowercase [a-z][a-z0-9+.-]*, a missing
  // factory or a bad form, and failed_precondition when the scheme is registered already (the
  // first registration stays).
  Result<void> add(Transport transport);

  // The transport registered under `scheme`, or null.
  std::shared_ptr<const Transport> find(std::string_view scheme) const;

  // Hands `text` to the transport whose form it starts with. invalid_argument, with
  // "unknown scheme (expected unix://, unix:@ or tcp://)" listing the registered forms, when none.
  Result<Address> parse(std::string_view text) const;

  // The transport of address.scheme listens or dials; an unregistered scheme fails as parse()
  // does (invalid_argument, "unknown scheme"), dial() through `done` on `strand`.
  Result<std::unique_ptr<Listener>> listen(asio::io_context& io, const Address& address,
                                           const ListenOptions& options) const;
  void dial(asio::any_io_executor strand, const Address& address, const ConnectionOptions& options,
            std::chrono::milliseconds timeout, DialCallback done) const;

 private:
  // "unix://, unix:@ or tcp://"
  std::string forms_text() const;
  Error unknown_scheme(std::string_view text, std::string_view scheme) const;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const Transport>> transports_;  // guarded by mu_; in order added
};

// The process's registry, which listen(), dial() and parse_address() use. Made on first use
// (a function-local static: no static-initialisation order to get wrong) and filled then by
// register_builtin_transports(); never destroyed, so a late dial during exit still finds it.
// Tests may add schemes of their own to it.
TransportRegistry& transports();

// Adds every built-in transport, one line each (transport/builtin_transports.cpp). Fails as
// add() does, e.g. when called twice on one registry.
Result<void> register_builtin_transports(TransportRegistry& registry);

}  // namespace plexus::transport
