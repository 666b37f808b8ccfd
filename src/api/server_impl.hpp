// Server's state and the operations that touch internal types, private to src/api: server.cpp
// (listeners, sessions, pub/sub, shutdown) and server_observe.cpp (collectors, plexus.stats,
// the JSON snapshot, the HTTP endpoint).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/access_control.hpp"
#include "api/bus_service.hpp"
#include "api/queue_service.hpp"
#include "observe/http_endpoint.hpp"
#include "observe/metrics.hpp"
#include "observe/recent_errors.hpp"
#include "plexus/server.hpp"
#include "rpc/acked_ids.hpp"
#include "rpc/stream_core.hpp"
#include "transport/connection.hpp"

namespace plexus {

namespace rpc {
class Router;
class Session;
}  // namespace rpc
namespace transport {
class Listener;
}  // namespace transport
class QueueFigures;  // queue_observe.cpp

struct Server::Impl {
  // Observability state (server_observe.cpp).
  struct Observability {
    explicit Observability(observe::Registry& r) : registry(r) {}

    observe::Registry& registry;  // the runtime's
    std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> collectors;  // removed in ~Server
    std::vector<std::uint64_t> sections;    // status-page sections, removed in ~Server
    // What every stream of this server's sessions did (SessionOptions::stream_totals).
    std::shared_ptr<rpc::StreamTotals> streams = std::make_shared<rpc::StreamTotals>();
    observe::Counter* heartbeat_failures = nullptr;
    // The last failed calls, with their trace ids (/status.json "recent_errors").
    std::shared_ptr<observe::RecentErrors> recent_errors =
        std::make_shared<observe::RecentErrors>();
    // Transport counts of the connections already closed, by transport ("unix", "tcp").
    std::map<std::string, transport::ConnectionStats> closed_traffic;  // guarded by mu_
    std::unique_ptr<observe::HttpEndpoint> http;
    // http's URL for /health and the stats, read on the HTTP threads: guarded by mu_.
    std::string http_url;
    // The durable queues' figures, shared by their collectors (null without queues).
    std::shared_ptr<QueueFigures> queue_figures;
  };

  // `self` is the Server that owns this: its HandlerRegistry half (the handler table,
  // handle(), warm_up(), policy_chains()).
  Impl(Server& self, Runtime& runtime, ServerOptions options);
  ~Impl();

  // server.cpp
  Result<void> start();
  void on_connection(std::shared_ptr<transport::Connection> connection);
  void forget(const rpc::Session* session);
  void log_accept_trouble(std::error_code error, std::uint64_t failures);
  std::size_t connection_count() const;
  std::vector<Peer> peers() const;
  bool ready() const { return listening_.load() && !draining_.load(); }
  void shutdown(Millis drain);

  // server_observe.cpp
  void init_observability();
  void init_module_metrics();  // pub/sub, streams, handler policies
  // queue_observe.cpp: the durable queues' families and status-page section (after queues_ is
  // set; nothing without queues), and plexus.stats's `durable` member (null without queues).
  void init_queue_metrics();
  nlohmann::json durable_json() const;
  // server_observe.cpp: the bus's families (nothing without the bus), and plexus.stats's `bus`
  // member (null without it).
  void init_bus_metrics();
  nlohmann::json bus_json() const;
  Result<void> start_http();
  std::string http_url() const;  // empty without HTTP
  nlohmann::json health() const;
  nlohmann::json metrics() const;
  // The last failed calls, newest first (/status.json "recent_errors").
  nlohmann::json recent_error_rows() const;
  std::string metrics_text() const;

  Server& self_;
  Runtime& runtime_;
  ServerOptions options_;
  std::vector<std::unique_ptr<transport::Listener>> listeners_;  // touched on start/shutdown only
  std::vector<std::string> addresses_;

  mutable std::mutex mu_;
  std::condition_variable changed_;  // a session closed or went idle
  std::unordered_map<const rpc::Session*, std::shared_ptr<rpc::Session>>
      sessions_;  // guarded by mu_
  // The most sessions open since the allocator last gave memory back (guarded by mu_).
  std::size_t peak_sessions_ = 0;
  // Sessions still in their handshake (ServerOptions::max_handshaking), and open connections
  // per verified peer (max_connections_per_peer); guarded by mu_.
  std::unordered_set<const rpc::Session*> handshaking_;
  std::unordered_map<std::string, std::size_t> per_peer_;
  std::size_t handshaking_count() const {
    std::lock_guard lock(mu_);
    return handshaking_.size();
  }
  // ServerOptions::allow_uids/allow_gids: whether a peer with these credentials may connect.
  bool admitted(const std::optional<platform::PeerCredentials>& credentials) const;
  // Refuses `connection` with GOAWAY `why` (any thread); `seen`, what the log adds (the peer).
  void refuse(const std::shared_ptr<transport::Connection>& connection, const Error& why,
              const std::string& seen = {});
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::shared_ptr<rpc::Router> router_;  // shared with its posted deliveries
  // Tokens and the access policy (either may be absent); made with the server, never replaced.
  std::shared_ptr<AccessControl> access_;
  // The tls:// listeners' certificates (null without one); set by Server::create, reloaded by
  // Server::reload_tls.
  std::shared_ptr<transport::TlsConfig> tls_;
  std::atomic<SubscriptionId> local_subscription_ids_{1};
  std::atomic<bool> listening_{false};
  // The acknowledged messages this server's handlers handled (every session's memory).
  std::shared_ptr<rpc::AckedIds> acked_ids_ = std::make_shared<rpc::AckedIds>();
  // The durable queues (ServerOptions::durable); null without a data directory.
  std::shared_ptr<detail::QueueService> queues_;
  // The local bus (ServerOptions::bus); null without it. Set by Server::create, never replaced.
  std::shared_ptr<detail::BusService> bus_;
  Observability observe_;
};

// "unix" or "tcp" from a connection's description ("unix:///path fd=7").
std::string transport_kind(const std::string& description);

}  // namespace plexus
