// BusService: the daemon as a local bus (docs/PROTOCOL.md §Bus, docs/ARCHITECTURE.md §The bus).
//  - plexus.bus.register gives the calling connection a service name (or a place in its queue)
//    with the methods it serves; plexus.bus.release gives it up; the connection's end does too.
//  - Each method of an owned name is an entry of the server's handler table, "NAME/METHOD", that
//    forwards the call (or the stream) through the owner's Peer: access policies, per-method
//    metrics and plexus.describe see it as any other method. Payloads are passed on as they
//    came; deadlines (the time left), cancels, errors and traces cross the hop.
//  - plexus.bus.list and plexus.bus.describe say who serves what; every change of owner is
//    published on the topic plexus.bus.names.
// Threading: the methods run on the sessions' I/O threads; the registry is guarded by one mutex,
// under which the handler table is updated too, so the table follows the owners in order.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "api/bus_activation.hpp"
#include "plexus/caller.hpp"
#include "plexus/handlers.hpp"
#include "rpc/name_registry.hpp"

namespace plexus::detail {

// The topic on which the bus announces its names.
inline constexpr std::string_view kBusNamesTopic = "plexus.bus.names";

// One method a provider serves under its service name ("query", not "NAME/query").
struct BusMethod {
  std::string name;
  bool stream = false;
};

// What a connection brings when it claims a name.
struct BusClaim {
  rpc::ClaimantKey key = nullptr;  // its session's identity object: one per connection
  Peer peer;
  PeerIdentity identity;
  std::vector<BusMethod> methods;
};

class BusService : public std::enable_shared_from_this<BusService> {
 public:
  // Publishes `payload` on `topic` through the server's router (any thread, never blocks).
  using Publish = std::function<void(std::string_view topic, std::string payload)>;

  // `registry`: the server's handler table, where the services' entries go; it outlives this.
  BusService(HandlerRegistry& registry, Publish publish);

  // plexus.bus.register, .release, .list and .describe on the registry.
  void register_methods();
  // Activation: the service files' names, each served by an entry "NAME/*" that starts the
  // provider on a call while the name has no owner, and holds the call until it registers.
  // `address` gives the daemon's address, passed to the provider as PLEXUS_ADDRESS.
  void set_activation(asio::any_io_executor executor, std::vector<ServiceFile> files,
                      std::function<std::string()> address);
  // The connection whose identity object is `key` closed: its names go to the next in line.
  void connection_closed(const PeerIdentity* key);

  // For metrics: names owned, claimants waiting (by name), forwarded calls (by service).
  struct Figures {
    std::size_t names = 0;
    std::map<std::string, std::size_t> queued;
    std::map<std::string, std::uint64_t> forwarded;
  };
  Figures figures() const;
  // plexus.stats's "bus" member.
  nlohmann::json stats_json() const;

 private:
  Result<std::string> on_register(CallContext& ctx, std::string_view payload);
  Result<std::string> on_release(CallContext& ctx, std::string_view payload);
  Result<std::string> on_list() const;
  void on_describe(CallContext& ctx, std::string_view payload, Responder responder);

  // A call held until a provider started from its service file registers.
  struct Held {
    std::string method;
    std::string payload;
    std::optional<std::chrono::steady_clock::time_point> deadline;
    std::string trace;
    std::shared_ptr<Responder> responder;
    struct Cancel {
      std::mutex mu;
      bool cancelled = false;  // guarded by mu
      Peer peer;               // guarded by mu: set once forwarded
      CallId id = 0;           // guarded by mu
    };
    std::shared_ptr<Cancel> cancel;
  };
  struct Activation {
    ServiceFile file;
    std::shared_ptr<ProviderProcess> process;  // started, not yet exited
    std::vector<Held> held;
    std::unique_ptr<asio::steady_timer> timer;  // the start timeout, while calls are held
    std::uint64_t round = 0;                    // which hold period the timer belongs to
  };
  using Failures = std::vector<std::pair<std::shared_ptr<Responder>, Error>>;

  void on_activate(CallContext& ctx, std::string_view payload, Responder responder);
  // Under mu_: fails every call held for `a` with `error` (replied after mu_ is released).
  void fail_held(Activation& a, const Error& error, Failures& out);
  // Under mu_: forwards the calls held for `name` to its new owner.
  void flush_held(const std::string& name, const BusClaim& owner);
  void provider_exited(const std::string& name, const Error& exit);
  void start_timed_out(const std::string& name, std::uint64_t round);

  // Under mu_: applies a change of owner to the handler table; returns the event to publish on
  // kBusNamesTopic (after mu_ is released).
  std::string apply(const rpc::NameRegistry<BusClaim>::Change& change, std::string_view reason);
  // Under mu_: the entries that forward `name`'s methods to `claim`.
  void install(const std::string& name, const BusClaim& claim);
  std::shared_ptr<std::atomic<std::uint64_t>> counter(const std::string& name);  // under mu_

  HandlerRegistry& registry_;
  Publish publish_;
  mutable std::mutex mu_;
  rpc::NameRegistry<BusClaim> names_;  // guarded by mu_
  // Calls and streams forwarded, by service; kept when the name is freed (a counter).
  std::map<std::string, std::shared_ptr<std::atomic<std::uint64_t>>> forwarded_;  // mu_
  asio::any_io_executor executor_;                 // set by set_activation
  std::function<std::string()> address_;           // set by set_activation
  std::map<std::string, Activation> activations_;  // by service name; guarded by mu_
  // Names whose owner went with nobody after it, oldest first: each has a NAME/* entry that
  // tells a caller so (unavailable) until the name is owned again. Bounded (kOwnerlessNames),
  // so that names that come and go forever do not grow the table. Guarded by mu_.
  std::deque<std::string> ownerless_;
  // Under mu_: `name` lost its owner / gained one again.
  void mark_ownerless(const std::string& name, std::string_view reason);
  void clear_ownerless(const std::string& name);
};

// Forwards one call to the owner of `service` (through `owner_peer`) and answers `responder`
// with its outcome: the answer or the provider's error unchanged, or unavailable saying the
// provider went away. Returns the forwarded call's id (for a cancel).
CallId forward_call(const Peer& owner_peer, const PeerIdentity& owner,
                    std::atomic<std::uint64_t>& forwarded, const std::string& service,
                    std::string_view method, std::string payload, std::optional<Millis> timeout,
                    std::string trace, std::shared_ptr<Responder> responder);

// {"name", "pid", "uid", "executable"} of a connection, as the bus shows owners.
nlohmann::json identity_json(const PeerIdentity& identity);

}  // namespace plexus::detail
