/// \file
/// Server: listeners, sessions and the handler table; ServerOptions and ServerStats.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "plexus/caller.hpp"
#include "plexus/durable.hpp"
#include "plexus/export.hpp"
#include "plexus/handlers.hpp"
#include "plexus/pubsub.hpp"
#include "plexus/runtime.hpp"
#include "plexus/security.hpp"
#include "plexus/tls.hpp"

namespace plexus {

/// "unix://" + the default socket path: $XDG_RUNTIME_DIR/plexus/plexus.sock, else
/// /tmp/plexus-$UID/plexus.sock. Servers and clients use it when given no address.
PLEXUS_EXPORT std::string default_address();

/// Options of Server::create. A plain value, copied into the server.
struct PLEXUS_EXPORT ServerOptions {
  /// Addresses to listen on: `unix:///path`, `unix:@name`, `tcp://127.0.0.1:0`,
  /// `tls://0.0.0.0:7443` (TCP with TLS: needs tls.certificate_file). Empty: the default
  /// socket ($XDG_RUNTIME_DIR/plexus/plexus.sock, else /tmp/plexus-$UID/plexus.sock).
  std::vector<std::string> listen;
  std::string name = "plexus-server";         ///< sent in the WELCOME; names the server in logs
  std::uint32_t max_message_size = 8u << 20;  ///< payload bytes this server accepts per frame
  std::size_t max_connections = 1024;         ///< past it: GOAWAY resource_exhausted, then close
  Millis heartbeat_interval{5000};  ///< PING the client after this much silence (0: never)
  Millis heartbeat_timeout{15000};  ///< close when the client is silent this long (0: never)
  Millis handshake_timeout{5000};   ///< a connection must finish its handshake within this
  /// Connections still in their handshake (no HELLO yet) at once; past it a new connection is
  /// refused (GOAWAY resource_exhausted): silent connections cannot take more than this many of
  /// max_connections's slots before handshake_timeout drops them. Half of max_connections by
  /// default: a crowd of clients starting at once still gets in.
  std::size_t max_handshaking = 512;
  /// Connections one verified peer (PeerIdentity::verified_key(): a user over Unix sockets, a
  /// host over TCP) may hold at once; past it: GOAWAY resource_exhausted. 0: no cap but
  /// max_connections. Peers with nothing verified (in-process) are not counted.
  std::size_t max_connections_per_peer = 0;
  unsigned unix_socket_mode = 0600;  ///< owner-only unless asked otherwise
  /// Who may connect, by the kernel's credentials (SO_PEERCRED): when either list is set, a peer
  /// whose user id is in allow_uids or whose primary group id is in allow_gids is admitted, and
  /// any other is refused with GOAWAY permission_denied before its HELLO is read; so is every
  /// peer without credentials (TCP), since nothing proves who it is. Empty (the default): anyone
  /// who can open the socket (its mode decides).
  std::vector<std::uint32_t> allow_uids;
  std::vector<std::uint32_t> allow_gids;  ///< see allow_uids
  /// Plain TCP on an address other than loopback (tcp://0.0.0.0:…, a LAN address) lets anyone
  /// on the network connect and read the traffic: create() refuses it with
  /// failed_precondition unless this says the risk is taken.
  bool allow_insecure_tcp = false;
  /// Certificate, key and (for mutual TLS) client CA of the tls:// listeners; read only when
  /// `listen` has a tls:// address. tls:// may listen beyond loopback without
  /// allow_insecure_tcp. Server::reload_tls re-reads the files.
  TlsOptions tls;
  /// The public keys that verify the token a client presents in its HELLO
  /// (ClientOptions::token, docs/SECURITY.md). A client whose token does not verify (malformed,
  /// unknown key, bad signature, expired, not yet valid) is refused with GOAWAY
  /// unauthenticated; one that verifies is known by its subject and scopes
  /// (PeerIdentity::subject, PeerIdentity::scopes). Null (the default): tokens are not read.
  std::shared_ptr<const TokenVerifier> tokens;
  /// With `tokens`: a client without a token is refused (unauthenticated). False: it is
  /// admitted, known by what the kernel verified (and the access policy decides what it may do).
  bool require_token = true;
  /// Who may call, notify, publish, subscribe and open streams (AccessPolicy): once set,
  /// anything no rule allows is refused (permission_denied; one-way messages are dropped and
  /// counted in plexus_access_denials_total). Replace it while running with
  /// Server::set_access_policy. Unset (the default): every admitted peer may do anything a
  /// handler serves.
  std::optional<AccessPolicy> access_policy;
  /// Coalescing of NOTIFY/PUBLISH frames to each client (off unless enabled; see BatchOptions).
  BatchOptions batching;
  /// Durable queues (plexus/queue.hpp): off unless durable.data_dir is set. create() fails when
  /// the database cannot be opened (read-only, not SQLite, held by another server).
  DurableOptions durable;
  /// Per connection: one-way messages to the client (Peer::notify, lanes) accepted and not yet
  /// handed to the connection, in bytes (as ClientOptions::max_queued_send_bytes).
  std::size_t max_queued_send_bytes = 16u << 20;
  /// Per-method calls, errors by code and latency histograms: a clock read and a few relaxed
  /// atomic adds per call. Off: only what costs nothing per call (connections, bytes, frames).
  bool metrics = true;
  /// HOST:PORT for the HTTP endpoint: /metrics (Prometheus), /health, /ready, /live and the
  /// status page at /. Port 0 picks a free one (see http_address()). Empty: no HTTP (default).
  /// Keep it on loopback: it has no authentication. A port another process holds fails
  /// start() with failed_precondition, unless http_any_port_if_taken.
  std::string http;
  /// The local bus (docs/PROTOCOL.md §Bus): clients register service names with
  /// plexus.bus.register (plexus/bus.hpp) and other clients call "NAME/METHOD" through this
  /// server, which forwards each call or stream to the name's owner. Off by default;
  /// `plexus serve` turns it on.
  bool bus = false;
  /// With `bus`: directories of service files (`*.toml`, docs/PROTOCOL.md §24.6) that say how to
  /// start the provider of a name; the first call to such a name while no one owns it starts
  /// the provider and waits until it registers (or its start timeout passes). Read by create();
  /// a bad file is logged and answers its name's calls with its error. Empty: no activation.
  /// `plexus serve` reads ~/.config/plexus/services and /usr/share/plexus/services.
  std::vector<std::string> bus_service_dirs;
  /// When the `http` port is taken: take a free port instead (a warning is logged, and
  /// http_address() says which). `plexus serve` sets it for its default port only.
  bool http_any_port_if_taken = false;
};

/// A snapshot of a Server's connection counters (Server::stats).
struct PLEXUS_EXPORT ServerStats {
  std::uint64_t connections_accepted = 0;  ///< connections taken on since the server started
  /// refused: over max_connections, max_handshaking or max_connections_per_peer, or while
  /// draining
  std::uint64_t connections_refused = 0;
  std::uint64_t connections_open = 0;         ///< open now (handshaking ones included)
  std::uint64_t connections_handshaking = 0;  ///< of those, still in their handshake
  std::uint64_t calls_in = 0;                 ///< calls received by the connections open now
};

/// Listeners + sessions + the handler table. Serves many clients on Unix and TCP
/// addresses at once; each connected client is also a Peer the server can call or notify.
/// Ownership: created by Server::create, owned by the caller; the Runtime must outlive it.
/// Threading: every method is thread-safe; shutdown() blocks and must not run on an I/O thread.
class PLEXUS_EXPORT Server final : public HandlerRegistry {
 public:
  /// Validates the options (addresses parse). Listening starts with start(). Fails with
  /// invalid_argument for an address that does not parse or a max_message_size of 0.
  static Result<std::unique_ptr<Server>> create(Runtime& runtime, ServerOptions options);
  ~Server() override;  ///< shutdown(0) if still running

  /// Binds every address and starts accepting. Fails with failed_precondition when an address is
  /// in use by a live server, unavailable for other socket errors; nothing stays bound then.
  /// Also starts the HTTP endpoint (ServerOptions::http) and runs the cache warm-up hooks
  /// (warm_up) before the first connection is accepted. failed_precondition when already started.
  Result<void> start();

  /// The bound addresses (a tcp port 0 shows the chosen port).
  std::vector<std::string> addresses() const;
  /// Connections open now, those still in their handshake included.
  std::size_t connection_count() const;
  /// A Peer for every connected client whose handshake is done.
  std::vector<Peer> peers() const;
  /// Connection counters and calls received.
  ServerStats stats() const;
  /// True once shutdown() began.
  bool draining() const;
  /// Listening and not draining: what /ready reports.
  bool ready() const;

  /// A snapshot of the runtime's metrics as one JSON document: status, uptime, connections,
  /// transport totals, per-method calls/errors/p50/p99, peers, module sections and every metric
  /// family. The same document answers the built-in method `plexus.stats` and /status.json.
  nlohmann::json metrics() const;
  /// The same numbers in the Prometheus text format, as /metrics serves them.
  std::string metrics_text() const;
  /// "http://HOST:PORT" of the running HTTP endpoint; empty when there is none.
  std::string http_address() const;

  /// NOTIFY to every connected peer, or those `filter` accepts. Returns how many were queued
  /// (a peer whose notify fails is skipped; see Caller::notify).
  std::size_t broadcast(std::string_view method, const std::string& payload,
                        const std::function<bool(const PeerIdentity&)>& filter = {});

  /// Subscribes the server itself to `pattern`.
  /// Publish/subscribe (docs/PROTOCOL.md §Publish/subscribe). The server routes every publish,
  /// from a client or from publish() below, to every matching subscription: its own (these) and
  /// its clients'. A server-local `handler` runs on an I/O thread, in publish order, never
  /// inside publish(). Fails with invalid_argument (bad pattern or options, no handler).
  Result<SubscriptionId> subscribe(std::string_view pattern, MessageHandler handler,
                                   SubscribeOptions options = {});
  /// Ends a server-local subscription. Unknown ids are ignored.
  void unsubscribe(SubscriptionId id);
  /// Publishes `payload` on `topic` to every matching subscription, local and remote.
  /// Fails with invalid_argument (bad topic). A full `block` subscriber makes this wait for
  /// room; on an I/O thread it cannot wait and fails with resource_exhausted instead (every
  /// other subscriber still gets the message).
  Result<void> publish(std::string_view topic, std::string payload, PublishOptions options = {});
  /// The pub/sub counters of this server's router.
  PubSubStats pubsub_stats() const;

  /// Replaces the access policy (a reload): each connection asks the new one from its next
  /// call or message on; none is dropped. failed_precondition when the server was created
  /// without one (ServerOptions::access_policy).
  Result<void> set_access_policy(AccessPolicy policy);
  /// The access policy in force; nullopt when there is none.
  std::optional<AccessPolicy> access_policy() const;
  /// Replaces the token keys (a rotation): new connections are verified against them;
  /// connections already admitted stay. Null: tokens are no longer read.
  void set_token_verifier(std::shared_ptr<const TokenVerifier> tokens);
  /// Re-reads the TLS certificate, key and client CA files (ServerOptions::tls) into a new TLS
  /// context, which connections accepted afterwards use; connections already open keep theirs.
  /// On failure (invalid_argument naming the file) the current context stays;
  /// failed_precondition when the server has no tls:// listener.
  Result<void> reload_tls();

  /// Graceful shutdown: stop accepting, GOAWAY to every peer, let in-flight calls finish up to
  /// `drain`, then close every connection. Idempotent.
  void shutdown(Millis drain = Millis{5000});

 private:
  // Listeners, sessions, the pub/sub router and the observability state (src/api/
  // server_impl.hpp). Owned alone: everything that refers to it (session callbacks, metric
  // collectors, the HTTP endpoint) is closed or removed by ~Server before it goes.
  struct Impl;
  Server(Runtime& runtime, ServerOptions options);

  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus
