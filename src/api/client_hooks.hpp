// What other parts of the public API need of a Client's session life beyond its public methods:
// Consumer registers with the server again after every reconnect, before the client says it is
// connected (as subscriptions are re-sent).
#pragma once

#include <cstdint>
#include <functional>

#include "plexus/client.hpp"

namespace plexus::detail {

class ClientHooks {
 public:
  // Calls `hook` with the session's Peer each time a session becomes ready, on the client's
  // serial executor before the state turns connected; and once soon (on that executor) when a
  // session is ready now. Returns the id remove_ready_hook takes.
  static std::uint64_t add_ready_hook(Client& client, std::function<void(Peer)> hook);
  // After it returns the hook is not called again (waits for a call under way on another thread).
  static void remove_ready_hook(Client& client, std::uint64_t id);
  // The client's connect timeout (how long a registration may take).
  static Millis connect_timeout(const Client& client);
  // True on an I/O thread of the client's runtime (where waiting for the client would block it).
  static bool on_io_thread(const Client& client);
};

}  // namespace plexus::detail
