#include "plexus/server.hpp"

#include <algorithm>
#include <cerrno>
#include <future>

#include <asio/dispatch.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>
#include "observe/log.hpp"

#include "api/runtime_internals.hpp"
#include "api/server_impl.hpp"
#include "api/tls_options.hpp"
#include "platform/posix/process.hpp"
#include "rpc/pubsub_router.hpp"
#include "rpc/session.hpp"
#include "rpc/trace.hpp"
#include "transport/transport.hpp"
#include "wire/envelope.hpp"
#include "wire/topic_pattern.hpp"

namespace plexus {

std::string default_address() {
  return "unix://" + transport::default_socket_path();
}

namespace {
// Whether a TCP listen host stays on this machine: a loopback address, or "localhost".
bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  std::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}
}  // namespace

Result<std::unique_ptr<Server>> Server::create(Runtime& runtime, ServerOptions options) {
  if (options.listen.empty()) options.listen.push_back(default_address());
  bool tls = false;
  for (const auto& a : options.listen) {
    auto parsed = transport::parse_address(a);
    if (!parsed) return tl::unexpected(parsed.error());
    tls = tls || parsed->scheme == "tls";
    // tls:// is the secure form: it may listen anywhere.
    if (parsed->kind == transport::Address::Kind::tcp && parsed->scheme == "tcp" &&
        !options.allow_insecure_tcp && !is_loopback_host(parsed->host)) {
      return make_error(StatusCode::failed_precondition,
                        a + " would serve plain TCP beyond this machine: anyone on the network "
                            "could connect and read the traffic. Listen on 127.0.0.1 (or ::1), "
                            "or set ServerOptions::allow_insecure_tcp (plexus serve "
                            "--insecure-tcp) to take that risk",
                        nlohmann::json{{"address", a}}.dump());
    }
  }
  if (options.max_message_size == 0) {
    return make_error(StatusCode::invalid_argument, "max_message_size must be positive");
  }
  // Loads the certificate files now: a bad one fails create(), naming the file.
  auto tls_config = detail::tls_config_for(options.tls, /*server=*/true, tls);
  if (!tls_config) return tl::unexpected(tls_config.error());
  // The durable queues' database is opened now: a bad data directory fails create(), naming it.
  std::shared_ptr<detail::QueueService> queues;
  if (!options.durable.data_dir.empty()) {
    auto opened = detail::QueueService::open(options.durable, options.max_message_size);
    if (!opened) return tl::unexpected(opened.error());
    queues = std::move(*opened);
  }
  std::unique_ptr<Server> server(new Server(runtime, std::move(options)));
  server->impl_->tls_ = std::move(*tls_config);
  if (queues) {
    queues->register_methods(*server);
  } else {
    detail::QueueService::register_unavailable(*server);
  }
  server->impl_->queues_ = std::move(queues);
  server->impl_->init_queue_metrics();
  if (server->impl_->options_.bus) {
    // The names topic is published by the server itself: no session, never waiting.
    std::weak_ptr<rpc::Router> names_router = server->impl_->router_;
    auto bus = std::make_shared<detail::BusService>(
        *server, [names_router](std::string_view topic, std::string payload) {
          auto r = names_router.lock();
          if (!r) return;
          auto m = std::make_shared<rpc::PubMessage>();
          m->topic = std::string(topic);
          m->payload = std::move(payload);
          (void)r->publish(nullptr, std::move(m), /*may_wait=*/false);
        });
    bus->register_methods();
    if (const auto& dirs = server->impl_->options_.bus_service_dirs; !dirs.empty()) {
      // The daemon's first address, which started providers connect to; read once started.
      auto* impl = server->impl_.get();
      bus->set_activation(runtime.serial_executor(), detail::load_service_files(dirs), [impl] {
        return impl->addresses_.empty() ? std::string() : impl->addresses_.front();
      });
    }
    server->impl_->bus_ = std::move(bus);
    server->impl_->init_bus_metrics();
  }
  // Acknowledged publishes (publish_acked): routed like any publish, acknowledged once every
  // subscription matching now has the message in its queue.
  std::weak_ptr<rpc::Router> router = server->impl_->router_;
  server->handle(std::string(rpc::kAckedPublishMethod),
                 [router](CallContext& ctx, std::string_view payload) -> Result<std::string> {
                   auto env = wire::decode_envelope(payload);
                   if (!env) {
                     return make_error(StatusCode::invalid_argument, env.error().message);
                   }
                   const std::string_view topic = env->fields.method;
                   if (auto ok = wire::validate_topic(topic); !ok)
                     return tl::unexpected(ok.error());
                   auto r = router.lock();
                   if (!r) return make_error(StatusCode::unavailable, "server is shutting down");
                   auto m = std::make_shared<rpc::PubMessage>();
                   m->topic = std::string(topic);
                   m->payload = std::string(env->payload);
                   m->trace = std::string(ctx.trace_id());
                   if (auto ok = r->publish(nullptr, std::move(m), /*may_wait=*/false); !ok) {
                     return tl::unexpected(ok.error());
                   }
                   return std::string();
                 });
  return server;
}

Result<void> Server::reload_tls() {
  auto tls = impl_->tls_;
  if (!tls) {
    return make_error(StatusCode::failed_precondition,
                      "this server has no tls:// listener: nothing to reload");
  }
  return tls->reload();
}

Server::Impl::Impl(Server& self, Runtime& runtime, ServerOptions options)
    : self_(self),
      runtime_(runtime),
      options_(std::move(options)),
      router_(std::make_shared<rpc::Router>()),
      observe_(detail::runtime_metrics(runtime)) {
  // Always there, so that set_token_verifier() needs no lock: with no keys and no policy,
  // admitting a peer costs a mutex and a null check per handshake.
  access_ = std::make_shared<AccessControl>(options_.tokens, options_.require_token,
                                            options_.access_policy, &observe_.registry);
}

Server::Impl::~Impl() = default;

Server::Server(Runtime& runtime, ServerOptions options)
    : impl_(std::make_unique<Impl>(*this, runtime, std::move(options))) {
  impl_->init_observability();
}

Server::~Server() {
  auto& d = *impl_;
  d.shutdown(Millis{0});
  if (d.queues_) d.queues_->stop();
  d.observe_.http.reset();  // its threads read this server
  for (const auto id : d.observe_.collectors) d.observe_.registry.remove_collector(id);
  for (const auto id : d.observe_.sections) d.observe_.registry.remove_section(id);
}

Result<void> Server::start() {
  return impl_->start();
}

Result<void> Server::Impl::start() {
  if (started_.exchange(true)) {
    return make_error(StatusCode::failed_precondition, "server already started");
  }
  transport::ListenOptions lo;
  lo.unix_socket_mode = options_.unix_socket_mode;
  // A TLS handshake happens before the session exists: bounded like the HELLOs that follow.
  lo.max_pending_handshakes = options_.max_handshaking;
  lo.connection_executor = [this] { return runtime_.serial_executor(); };
  lo.connection.receive_limits.max_message_size = options_.max_message_size;
  lo.connection.hot_read = detail::hot_read_slot(runtime_);
  lo.connection.tls = tls_;
  lo.on_accept_trouble = [this](std::error_code error, std::uint64_t failures) {
    log_accept_trouble(error, failures);
  };
  for (const auto& text : options_.listen) {
    auto address = *transport::parse_address(text);
    if (address.kind == transport::Address::Kind::unix_path &&
        address.path == transport::default_socket_path()) {
      // The default directory is private to this user (0700), like $XDG_RUNTIME_DIR itself.
      const auto dir = address.path.substr(0, address.path.rfind('/'));
      if (auto made = platform::make_private_dir(dir, 0700); !made) {
        listeners_.clear();
        addresses_.clear();
        started_ = false;
        return made;
      }
    }
    auto listener = transport::listen(runtime_.io(), address, lo);
    if (!listener) {
      listeners_.clear();  // nothing stays bound on failure
      addresses_.clear();
      started_ = false;
      return tl::unexpected(listener.error());
    }
    addresses_.push_back((*listener)->address());
    listeners_.push_back(std::move(*listener));
  }
  if (auto http = start_http(); !http) {
    listeners_.clear();  // nothing stays bound on failure
    addresses_.clear();
    started_ = false;
    return http;
  }
  // Cache warm-up hooks fill their caches before the first connection is accepted.
  if (const auto stored = self_.warm_up(); stored > 0) {
    observe::logger().info("plexus: \"{}\" warmed its caches with {} entries", options_.name,
                           stored);
  }
  for (auto& l : listeners_) {
    // Accept handlers run on the io_context; each connection then lives on its own strand.
    l->accept([this](std::shared_ptr<transport::Connection> c) { on_connection(std::move(c)); });
  }
  listening_ = true;
  for (const auto& a : addresses_)
    observe::logger().info("plexus: \"{}\" listening on {}", options_.name, a);
  return {};
}

void Server::Impl::on_connection(std::shared_ptr<transport::Connection> connection) {
  if (draining_) {
    refused_.fetch_add(1);
    observe::logger().info("plexus: refusing {}: server is shutting down", connection->describe());
    asio::dispatch(connection->executor(), [connection] {
      connection->close(Error{StatusCode::unavailable, "server is shutting down", {}}, false);
    });
    return;
  }
  // What this side verified of the peer (the session's PeerIdentity fills the same fields).
  PeerIdentity verified;
  if (auto cred = connection->credentials()) verified.uid = cred->uid;
  verified.host = connection->remote_host();
  verified.certificate = connection->peer_certificate_subject();
  const std::string peer_key = verified.verified_key();
  std::unique_lock lock(mu_);
  const auto limit_error = [](const std::string& what, std::size_t limit) {
    return Error{StatusCode::resource_exhausted, what + " (limit " + std::to_string(limit) + ")",
                 "{\"limit\":" + std::to_string(limit) + "}"};
  };
  std::optional<Error> refusal;
  if (!admitted(connection->credentials())) {
    // Says what this side saw, not what would be let in.
    refusal = Error{StatusCode::permission_denied, "this peer may not connect to this server", {}};
  } else if (sessions_.size() >= options_.max_connections) {
    refusal = limit_error("too many connections", options_.max_connections);
  } else if (handshaking_.size() >= options_.max_handshaking) {
    refusal = limit_error("too many connections in their handshake", options_.max_handshaking);
  } else if (options_.max_connections_per_peer > 0 && !peer_key.empty() &&
             per_peer_[peer_key] >= options_.max_connections_per_peer) {
    refusal =
        limit_error("too many connections from " + peer_key, options_.max_connections_per_peer);
  }
  if (refusal) {
    lock.unlock();
    std::string seen;
    if (const auto cred = connection->credentials()) {
      seen = " (uid " + std::to_string(cred->uid) + ", gid " + std::to_string(cred->gid) +
             ", pid " + std::to_string(cred->pid) + ")";
    }
    refuse(connection, *refusal, seen);
    return;
  }
  if (!peer_key.empty()) ++per_peer_[peer_key];
  accepted_.fetch_add(1);
  rpc::SessionOptions so;
  so.role = rpc::SessionOptions::Role::acceptor;
  so.local_name = options_.name;
  so.workers = detail::worker_pool(runtime_);
  so.max_message_size = options_.max_message_size;
  so.heartbeat_interval = options_.heartbeat_interval;
  so.heartbeat_timeout = options_.heartbeat_timeout;
  so.handshake_timeout = options_.handshake_timeout;
  so.batching = options_.batching;
  so.max_queued_send_bytes = options_.max_queued_send_bytes;
  so.heartbeat_failures = observe_.heartbeat_failures;
  so.recent_errors = observe_.recent_errors;
  so.stream_totals = observe_.streams;
  so.acked_ids = acked_ids_;
  rpc::SessionCallbacks cb;
  cb.on_hello = [access = access_](rpc::Session& s, const wire::PeerHello& hello) {
    return access->admit(s.identity(), hello);
  };
  cb.on_closed = [this](rpc::Session& s, const Error&) {
    router_->drop_session(&s);
    if (bus_) bus_->connection_closed(&s.identity());
    forget(&s);
  };
  cb.on_ready = [this](rpc::Session& s, Result<void>) {
    std::lock_guard l(mu_);
    handshaking_.erase(&s);
  };
  cb.on_subscribe = [router = router_](rpc::Session& s, SubscriptionId id, std::string_view pattern,
                                       std::string_view options) -> Result<void> {
    auto parsed = rpc::parse_subscribe_options(options);
    if (!parsed) return tl::unexpected(parsed.error());
    return router->subscribe(&s, id, pattern, *parsed,
                             rpc::Router::Target{s.weak_from_this(), {}, s.executor()});
  };
  cb.on_unsubscribe = [router = router_](rpc::Session& s, SubscriptionId id) {
    router->unsubscribe(&s, id);
  };
  cb.on_publish = [router = router_](rpc::Session& s, SubscriptionId, std::string_view topic,
                                     std::string_view payload) {
    auto m = std::make_shared<rpc::PubMessage>();
    m->topic = std::string(topic);
    m->payload = std::string(payload);
    m->trace = std::string(rpc::trace::current());  // the PUBLISH's, which the session made current
    if (auto r = router->publish(s.shared_from_this(), std::move(m), false); !r) {
      observe::logger().debug("plexus: publish from \"{}\" dropped: {}", s.identity().name,
                              r.error().to_string());
    }
  };
  cb.on_writable = [router = router_](rpc::Session& s) { router->on_writable(&s); };
  cb.on_idle = [this](rpc::Session&) {
    std::lock_guard l(mu_);
    changed_.notify_all();
  };
  auto session = rpc::Session::create(connection, self_.handler_table(), so, std::move(cb));
  sessions_.emplace(session.get(), session);
  handshaking_.insert(session.get());
  peak_sessions_ = std::max(peak_sessions_, sessions_.size());
  lock.unlock();
  session->start();
}

bool Server::Impl::admitted(const std::optional<platform::PeerCredentials>& credentials) const {
  if (options_.allow_uids.empty() && options_.allow_gids.empty()) return true;
  if (!credentials) return false;
  const auto listed = [](const std::vector<std::uint32_t>& ids, std::uint32_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  return listed(options_.allow_uids, credentials->uid) ||
         listed(options_.allow_gids, credentials->gid);
}

void Server::Impl::refuse(const std::shared_ptr<transport::Connection>& connection,
                          const Error& why, const std::string& seen) {
  refused_.fetch_add(1);
  observe::logger().warn("plexus: refusing {}{}: {}", connection->describe(), seen, why.message);
  asio::dispatch(connection->executor(), [connection, why] {
    wire::Metadata md;
    md.status = static_cast<std::uint16_t>(why.code);
    md.error_message = why.message;
    md.error_details = why.details;
    (void)connection->send(wire::FrameKind::goaway, 0, md, {});
    connection->close(why, /*flush=*/true);
  });
}

// A listener that cannot accept (EMFILE when the open-file limit is reached, ENFILE, ENOMEM)
// refuses every new client until connections close: an operator must hear of it, but not 20
// times a second. Said when it starts, every 10 s while it lasts, and when it is over.
void Server::Impl::log_accept_trouble(std::error_code error, std::uint64_t failures) {
  constexpr std::uint64_t kRemindEvery = std::chrono::seconds(10) / transport::kAcceptRetry;
  if (!error) {
    observe::logger().info("plexus: \"{}\" accepts connections again (after {} failed accepts)",
                           options_.name, failures);
    return;
  }
  if (failures != 1 && failures % kRemindEvery != 0) return;
  std::string limit;
  if (const auto n = platform::open_file_limit(); n > 0 && error.value() == EMFILE) {
    limit = " (open-file limit " + std::to_string(n) + ")";
  }
  observe::logger().warn(
      "plexus: \"{}\" cannot accept connections: {}{}; new clients wait until some close "
      "({} failed accepts so far)",
      options_.name, error.message(), limit, failures);
}

void Server::Impl::forget(const rpc::Session* session) {
  std::shared_ptr<rpc::Session> keep;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  if (auto it = sessions_.find(session); it != sessions_.end()) {
    keep = std::move(it->second);
    sessions_.erase(it);
    handshaking_.erase(session);
    // The key the connection was counted under when it was accepted, before any token.
    PeerIdentity accepted_as = keep->identity();
    accepted_as.subject.clear();
    if (const auto key = accepted_as.verified_key(); !key.empty()) {
      if (auto p = per_peer_.find(key); p != per_peer_.end() && --p->second == 0) {
        per_peer_.erase(p);
      }
    }
    // Its transport counts join the closed connections' totals (the metrics never go back).
    const auto& c = keep->connection();
    auto& total = observe_.closed_traffic[transport_kind(c.describe())];
    total.bytes_in += c.stats().bytes_in;
    total.bytes_out += c.stats().bytes_out;
    total.frames_in += c.stats().frames_in;
    total.frames_out += c.stats().frames_out;
    total.write_batches += c.stats().write_batches;
    total.bytes_in_place += c.stats().bytes_in_place;
    total.hot_reads += c.stats().hot_reads;
  }
  // When many connections have gone (a flood, a crowd of clients that left), the memory they
  // used goes back to the system, not only to the allocator. Posted: it runs after the closing
  // sessions have released their buffers; rare: half the peak, and 256 at least, have to close
  // (or the last of 64).
  constexpr std::size_t kClosedBeforeTrim = 256;
  constexpr std::size_t kLastOfACrowd = 64;
  const std::size_t open = sessions_.size();
  if ((peak_sessions_ >= open + kClosedBeforeTrim && open <= peak_sessions_ / 2) ||
      (open == 0 && peak_sessions_ >= kLastOfACrowd)) {
    peak_sessions_ = open;
    asio::post(runtime_.io(), [] { platform::release_free_memory(); });
  }
  changed_.notify_all();
}

std::vector<std::string> Server::addresses() const {
  return impl_->addresses_;
}

std::size_t Server::connection_count() const {
  return impl_->connection_count();
}

std::size_t Server::Impl::connection_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::vector<Peer> Server::peers() const {
  return impl_->peers();
}

std::vector<Peer> Server::Impl::peers() const {
  std::lock_guard lock(mu_);
  std::vector<Peer> out;
  for (const auto& [_, s] : sessions_) {
    if (s->ready()) out.emplace_back(s);
  }
  return out;
}

ServerStats Server::stats() const {
  const auto& d = *impl_;
  ServerStats st;
  st.connections_accepted = d.accepted_.load();
  st.connections_refused = d.refused_.load();
  std::lock_guard lock(d.mu_);
  st.connections_open = d.sessions_.size();
  st.connections_handshaking = d.handshaking_.size();
  for (const auto& [_, s] : d.sessions_) {
    // Transport counters are plain integers written on the strand; a stats read may be a
    // frame behind, which is fine for monitoring.
    st.calls_in += s->counters().calls_in.load(std::memory_order_relaxed);
  }
  return st;
}

std::size_t Server::broadcast(std::string_view method, const std::string& payload,
                              const std::function<bool(const PeerIdentity&)>& filter) {
  std::size_t queued = 0;
  for (auto& peer : peers()) {
    if (filter && !filter(peer.identity())) continue;
    if (peer.notify(method, payload)) ++queued;
  }
  return queued;
}

Result<SubscriptionId> Server::subscribe(std::string_view pattern, MessageHandler handler,
                                         SubscribeOptions options) {
  if (!handler) return make_error(StatusCode::invalid_argument, "subscribe needs a handler");
  auto& d = *impl_;
  const auto id = d.local_subscription_ids_.fetch_add(1);
  auto r = d.router_->subscribe(
      nullptr, id, pattern, options,
      rpc::Router::Target{{}, std::move(handler), d.runtime_.serial_executor()});
  if (!r) return tl::unexpected(r.error());
  return id;
}

void Server::unsubscribe(SubscriptionId id) {
  impl_->router_->unsubscribe(nullptr, id);
}

Result<void> Server::publish(std::string_view topic, std::string payload, PublishOptions options) {
  auto m = std::make_shared<rpc::PubMessage>();
  m->topic = std::string(topic);
  m->payload = std::move(payload);
  m->immediate = options.immediate;
  m->trace = rpc::trace::for_outgoing();
  return impl_->router_->publish(nullptr, std::move(m),
                                 /*may_wait=*/!impl_->runtime_.on_io_thread());
}

Result<void> Server::set_access_policy(AccessPolicy policy) {
  if (!impl_->access_->has_policy()) {
    return make_error(StatusCode::failed_precondition,
                      "this server was created without an access policy "
                      "(ServerOptions::access_policy), so its connections have none to replace");
  }
  observe::logger().info("plexus: \"{}\" now uses the access policy from {} ({} rules)",
                         impl_->options_.name, policy.origin(), policy.rule_count());
  if (auto ok = impl_->access_->set_policy(std::move(policy)); !ok) return ok;
  // Subscriptions and streams were checked when they were made: those it refuses end now.
  std::vector<std::shared_ptr<rpc::Session>> sessions;
  {
    std::lock_guard l(impl_->mu_);
    for (const auto& [raw, session] : impl_->sessions_) sessions.push_back(session);
  }
  for (const auto& s : sessions) s->recheck_access(impl_->router_->patterns_of(s.get()));
  return {};
}

std::optional<AccessPolicy> Server::access_policy() const {
  return impl_->access_->policy();
}

void Server::set_token_verifier(std::shared_ptr<const TokenVerifier> tokens) {
  impl_->access_->set_tokens(std::move(tokens));
}

PubSubStats Server::pubsub_stats() const {
  return impl_->router_->stats();
}

bool Server::draining() const {
  return impl_->draining_.load();
}

bool Server::ready() const {
  return impl_->ready();
}

void Server::shutdown(Millis drain) {
  impl_->shutdown(drain);
}

void Server::Impl::shutdown(Millis drain) {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  // Blocking waits below need the I/O threads free; on one of them, do only what cannot block.
  const bool can_wait = !runtime_.on_io_thread();
  if (started_) {
    if (can_wait) {
      // Listeners are touched only on the io_context; close them there and wait.
      std::promise<void> closed;
      asio::post(runtime_.io(), [this, &closed] {
        for (auto& l : listeners_) l->close();
        closed.set_value();
      });
      closed.get_future().wait();
    } else {
      for (auto& l : listeners_) l->close();  // already on the io_context
    }
  }
  std::vector<std::shared_ptr<rpc::Session>> sessions;
  {
    std::lock_guard lock(mu_);
    for (auto& [_, s] : sessions_) sessions.push_back(s);
  }
  const Error bye{StatusCode::ok, "server shutting down", {}};
  for (auto& s : sessions) asio::dispatch(s->executor(), [s, bye] { s->goaway(bye); });
  observe::logger().info("plexus: \"{}\" draining {} connection(s) for up to {} ms", options_.name,
                         sessions.size(), drain.count());
  if (can_wait) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, drain, [&] {
      for (const auto& [_, s] : sessions_) {
        if (s->serving()) return false;  // calls and streams both hold the drain
      }
      return true;
    });
  }
  // Close with a flush (the GOAWAY and the last answers), give the peers a moment to read, then
  // drop whoever is left without flushing so no session outlives the server.
  const Error gone{StatusCode::unavailable, "server shut down", {}};
  for (auto& s : sessions) asio::dispatch(s->executor(), [s, gone] { s->close(gone, true); });
  if (!can_wait) return;
  std::unique_lock lock(mu_);
  if (!changed_.wait_for(lock, Millis{1000}, [&] { return sessions_.empty(); })) {
    for (auto& [_, s] : sessions_) {
      asio::dispatch(s->executor(), [s, gone] { s->close(gone, false); });
    }
    changed_.wait(lock, [&] { return sessions_.empty(); });
  }
}

}  // namespace plexus
