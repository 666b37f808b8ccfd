/// \file
/// The local bus, provider side: a Client registers a service name with a `plexus serve` daemon
/// (ServerOptions::bus), and other clients then call "NAME/METHOD" through the daemon, which
/// forwards each call or stream to this client (docs/PROTOCOL.md §Bus).
///
/// The provider serves "com.example.search/query" (handle) and registers the name; a caller
/// then calls "com.example.search/query" through the daemon (examples/bus/):
/// ```
/// // Refused (already_exists) if another provider owns the name; RegisterOptions{.queue = true}
/// // would wait for it instead.
/// auto name = plexus::register_service(**client, "com.example.search");
/// ```
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plexus/client.hpp"
#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

/// Options of register_service.
struct PLEXUS_EXPORT RegisterOptions {
  /// When another connection owns the name: wait in its queue and take the name when the owner
  /// releases it or goes away (true), or fail with already_exists (false, as D-Bus's
  /// DBUS_NAME_FLAG_DO_NOT_QUEUE).
  bool queue = false;
  /// The methods the daemon forwards, by their short names ("query" for "NAME/query"); each must
  /// be registered on the client as "NAME/METHOD" (handle, handle_async, handle_coro or
  /// handle_stream). Empty: every method registered under "NAME/" when the registration is sent.
  std::vector<std::string> methods;
};

/// Where a registration stands, as the daemon last answered it.
enum class NameState {
  owner,  ///< calls to the name come to this client
  queued  ///< another connection owns it; this one is next in line (or later)
};

/// A service name registered by a Client. The registration is sent again after every reconnect
/// (before the client says it is connected), so the name comes back with the connection.
/// Ownership: owned by the caller; the Client must outlive it. Destroying it releases the name.
/// Threading: every method is thread-safe; none may be called on an I/O thread.
class PLEXUS_EXPORT ServiceName {
 public:
  ~ServiceName();  ///< release()
  ServiceName(const ServiceName&) = delete;
  ServiceName& operator=(const ServiceName&) = delete;

  /// The service name.
  const std::string& name() const;
  /// The daemon's last answer: owner, or queued. A queued client learns of its promotion on the
  /// topic plexus.bus.names (an "owner_changed" event naming it).
  NameState state() const;
  /// Gives the name (or the place in its queue) back and stops registering it after reconnects.
  /// Idempotent. Fails with the daemon's error (not_found when it did not hold the name); the
  /// name is given up all the same when the connection ends.
  Result<void> release();

  /// The registration's state (internal).
  struct Impl;
  /// Made by register_service; not for applications.
  explicit ServiceName(std::shared_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

/// Registers `name` on the daemon `client` is connected to, with the methods `options` says.
/// Blocks until the daemon answers (up to the client's connect timeout). Fails with
/// invalid_argument (a name that is not a service name: two or more dot-separated segments of
/// A-Z a-z 0-9 _ -, not under "plexus."; a method not registered on the client; no method),
/// already_exists (another connection owns the name and options.queue is false; details name
/// the owner), unavailable (not connected), not_found (the server runs no bus), or
/// failed_precondition on an I/O thread.
PLEXUS_EXPORT Result<std::unique_ptr<ServiceName>> register_service(Client& client,
                                                                    std::string name,
                                                                    RegisterOptions options = {});

}  // namespace plexus
