// Server observability: the metric collectors that read the server's own state at scrape time,
// the `plexus.stats` built-in method, the JSON snapshot and the HTTP endpoint.
#include "observe/log.hpp"

#include "api/metric_families.hpp"
#include "api/server_impl.hpp"
#include "observe/method_stats.hpp"
#include "observe/prometheus_text.hpp"
#include "platform/posix/process.hpp"
#include "plexus/version.hpp"
#include "policy/chain.hpp"
#include "rpc/handler_table.hpp"
#include "rpc/pubsub_router.hpp"
#include "rpc/session.hpp"
#include "transport/shm/direct_endpoint.hpp"

namespace plexus {
namespace {

using observe::MetricType;
using observe::Sample;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

const observe::FamilySnapshot* find_family(const observe::Snapshot& s, std::string_view name) {
  for (const auto& f : s) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double sum_of(const observe::Snapshot& s, std::string_view name) {
  double total = 0;
  if (const auto* f = find_family(s, name)) {
    for (const auto& x : f->samples) total += x.value;
  }
  return total;
}

}  // namespace

std::string transport_kind(const std::string& description) {
  const auto colon = description.find(':');
  return colon == std::string::npos ? description : description.substr(0, colon);
}

void Server::Impl::init_observability() {
  auto& reg = observe_.registry;
  if (options_.metrics) {
    self_.handler_table()->set_stats_factory([&reg](const std::string& method) {
      return std::make_shared<observe::MethodStats>(reg, method);
    });
  }
  observe_.heartbeat_failures =
      &reg.counter("plexus_heartbeat_failures_total",
                   "Sessions closed because the peer sent nothing within the heartbeat timeout",
                   {"side"})
           .with({"server"});

  auto add = [this, &reg](const std::string& name, const std::string& help, MetricType type,
                          std::vector<std::string> labels, observe::Registry::CollectFn fn) {
    observe_.collectors.push_back(
        reg.add_collector(name, help, type, std::move(labels), std::move(fn)));
  };
  add("plexus_connections_open", "Connections open now (handshaking or ready)", MetricType::gauge,
      {}, [this](std::vector<Sample>& out) {
        out.push_back({{}, static_cast<double>(connection_count()), {}});
      });
  add("plexus_connections_accepted_total", "Connections accepted", MetricType::counter, {},
      [this](std::vector<Sample>& out) {
        out.push_back({{}, static_cast<double>(accepted_.load()), {}});
      });
  add("plexus_connections_handshaking", "Connections open now and still in their handshake",
      MetricType::gauge, {}, [this](std::vector<Sample>& out) {
        out.push_back({{}, static_cast<double>(handshaking_count()), {}});
      });
  add("plexus_connections_refused_total", "Connections refused (a connection limit, or draining)",
      MetricType::counter, {}, [this](std::vector<Sample>& out) {
        out.push_back({{}, static_cast<double>(refused_.load()), {}});
      });
  add("plexus_rpc_server_in_flight", "Calls being served now", MetricType::gauge, {},
      [this](std::vector<Sample>& out) {
        std::size_t n = 0;
        std::lock_guard lock(mu_);
        for (const auto& [_, s] : sessions_) n += s->inbound_in_flight();
        out.push_back({{}, static_cast<double>(n), {}});
      });
  // Transport counts: the closed connections' totals plus the open ones' live counts.
  using Field = transport::StatCount transport::ConnectionStats::*;
  auto traffic = [this](Field field) {
    return [this, field](std::vector<Sample>& out) {
      std::map<std::string, std::uint64_t> by_kind;
      std::lock_guard lock(mu_);
      for (const auto& [kind, st] : observe_.closed_traffic) by_kind[kind] += (st.*field).get();
      for (const auto& [_, s] : sessions_) {
        const auto& c = s->connection();
        by_kind[transport_kind(c.describe())] += (c.stats().*field).get();
      }
      for (const auto& [kind, n] : by_kind) out.push_back({{kind}, static_cast<double>(n), {}});
    };
  };
  add("plexus_transport_received_bytes_total", "Bytes read from connections", MetricType::counter,
      {"transport"}, traffic(&transport::ConnectionStats::bytes_in));
  add("plexus_transport_sent_bytes_total", "Bytes written to connections", MetricType::counter,
      {"transport"}, traffic(&transport::ConnectionStats::bytes_out));
  add("plexus_transport_received_frames_total", "Frames read from connections", MetricType::counter,
      {"transport"}, traffic(&transport::ConnectionStats::frames_in));
  add("plexus_transport_sent_frames_total", "Frames written to connections", MetricType::counter,
      {"transport"}, traffic(&transport::ConnectionStats::frames_out));
  add("plexus_transport_write_batches_total",
      "Gather writes issued; sent frames / write batches = frames per batch", MetricType::counter,
      {"transport"}, traffic(&transport::ConnectionStats::write_batches));
  add("plexus_transport_in_place_bytes_total",
      "Payload bytes received in shared memory and read where they lay (not copied out)",
      MetricType::counter, {"transport"}, traffic(&transport::ConnectionStats::bytes_in_place));
  add("plexus_transport_hot_reads_total",
      "Socket reads made by the idle I/O thread polling the socket itself, not the reactor",
      MetricType::counter, {"transport"}, traffic(&transport::ConnectionStats::hot_reads));
  add("plexus_transport_shm_mapped_bytes",
      "Shared memory mapped by open shared-memory connections (both rings and the header)",
      MetricType::gauge, {"transport"}, [this](std::vector<Sample>& out) {
        std::uint64_t total = 0;
        std::lock_guard lock(mu_);
        for (const auto& [_, s] : sessions_)
          total += s->connection().stats().shm_mapped_bytes.get();
        out.push_back({{"shm"}, static_cast<double>(total), {}});
      });
  // Direct channels live outside sessions: counted per process (plexus/direct.hpp).
  add("plexus_direct_channels", "Direct channel ends held in this process (their memory mapped)",
      MetricType::gauge, {}, [](std::vector<Sample>& out) {
        const auto totals = transport::shm::DirectEndpoint::process_totals();
        out.push_back({{}, static_cast<double>(totals.endpoints), {}});
      });
  add("plexus_direct_mapped_bytes", "Shared memory mapped by direct channels in this process",
      MetricType::gauge, {}, [](std::vector<Sample>& out) {
        const auto totals = transport::shm::DirectEndpoint::process_totals();
        out.push_back({{}, static_cast<double>(totals.mapped_bytes), {}});
      });
  add("plexus_server_uptime_seconds", "Seconds since the server was created", MetricType::gauge,
      {"server"}, [this](std::vector<Sample>& out) {
        out.push_back({{options_.name}, seconds_since(observe_.started_at), {}});
      });
  add("plexus_server_ready", "1 while listening and not draining (what /ready reports)",
      MetricType::gauge, {"server"}, [this](std::vector<Sample>& out) {
        out.push_back({{options_.name}, ready() ? 1.0 : 0.0, {}});
      });

  init_module_metrics();

  // Reserved name (docs/PROTOCOL.md): the metrics snapshot, for `plexus stats ADDR`.
  self_.handle("plexus.stats", [this](CallContext&, std::string_view) -> Result<std::string> {
    return metrics().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  });
}

// Pub/sub, streams and handler policies: counters their modules keep, read at scrape time.
void Server::Impl::init_module_metrics() {
  auto& reg = observe_.registry;
  auto add = [this, &reg](const std::string& name, const std::string& help, MetricType type,
                          std::vector<std::string> labels, observe::Registry::CollectFn fn) {
    observe_.collectors.push_back(
        reg.add_collector(name, help, type, std::move(labels), std::move(fn)));
  };
  auto n = [](std::uint64_t v) { return static_cast<double>(v); };

  // ---- acknowledged messages (rpc::AckedIds, PROTOCOL.md §22.1) ----
  add("plexus_acked_messages_total",
      "Acknowledged messages received, by outcome: handled (the handler succeeded), duplicate "
      "(a resend of a handled id, acknowledged without running the handler), busy (a resend "
      "refused while the first delivery was still being handled)",
      MetricType::counter, {"outcome"}, [this, n](std::vector<Sample>& out) {
        out.push_back({{"handled"}, n(acked_ids_->handled()), {}});
        out.push_back({{"duplicate"}, n(acked_ids_->duplicates()), {}});
        out.push_back({{"busy"}, n(acked_ids_->busy()), {}});
      });

  // ---- pub/sub (rpc::Router) ----
  add("plexus_pubsub_published_total", "Publishes routed, from clients and from the server",
      MetricType::counter, {}, [this, n](std::vector<Sample>& out) {
        out.push_back({{}, n(router_->stats().published), {}});
      });
  add("plexus_pubsub_delivered_total", "Messages handed to a subscriber (callback or connection)",
      MetricType::counter, {}, [this, n](std::vector<Sample>& out) {
        out.push_back({{}, n(router_->stats().delivered), {}});
      });
  add("plexus_pubsub_dropped_messages_total",
      "Messages a slow subscriber did not get, by its policy: drop_oldest and drop_newest "
      "discards, block = a server publish that could not wait for room, too_large = over the "
      "subscriber's max_message_size",
      MetricType::counter, {"policy"}, [this, n](std::vector<Sample>& out) {
        const auto st = router_->stats();
        out.push_back({{"drop_oldest"}, n(st.dropped_oldest), {}});
        out.push_back({{"drop_newest"}, n(st.dropped_newest), {}});
        out.push_back({{"block"}, n(st.block_refused), {}});
        out.push_back({{"too_large"}, n(st.dropped_too_large), {}});
      });
  add("plexus_pubsub_publisher_waits_total",
      "Times a publisher had to wait for room in a full block-policy queue", MetricType::counter,
      {}, [this, n](std::vector<Sample>& out) {
        out.push_back({{}, n(router_->stats().blocked), {}});
      });
  add("plexus_pubsub_slow_subscriber_disconnects_total",
      "Subscribers disconnected because their disconnect-policy queue was full",
      MetricType::counter, {}, [this, n](std::vector<Sample>& out) {
        out.push_back({{}, n(router_->stats().disconnected), {}});
      });
  // Per pattern: subscriptions and what waits in their queues.
  auto by_pattern = [this](bool depth) {
    return [this, depth](std::vector<Sample>& out) {
      std::map<std::string, double> sums;
      for (const auto& s : router_->subscriptions()) {
        sums[s.pattern] += depth ? static_cast<double>(s.queued) : 1.0;
      }
      for (const auto& [pattern, v] : sums) out.push_back({{pattern}, v, {}});
    };
  };
  add("plexus_pubsub_subscriptions", "Subscriptions open now, by topic pattern", MetricType::gauge,
      {"pattern"}, by_pattern(false));
  add("plexus_pubsub_queued_messages",
      "Messages waiting in subscription queues now, by topic pattern", MetricType::gauge,
      {"pattern"}, by_pattern(true));
  observe_.sections.push_back(reg.add_section("topics", [this] {
    auto rows = nlohmann::json::array();
    for (const auto& s : router_->subscriptions()) {
      rows.push_back({{"pattern", s.pattern},
                      {"subscriber", s.subscriber},
                      {"policy", to_string(s.policy)},
                      {"queued", s.queued},
                      {"queue_limit", s.queue_limit},
                      {"delivered", s.delivered},
                      {"dropped", s.dropped}});
    }
    return rows;
  }));

  // ---- streams ----
  add_stream_metrics(reg, "server", observe_.streams, observe_.collectors);

  // ---- handler policies (policy::Chain counters, per method with that policy) ----
  // A collector over the chains that have a policy, `emit` adding its samples for one chain.
  auto per_chain =
      [this](bool (*has)(const HandlerOptions&),
             std::function<void(const policy::Chain&, const PolicyStats&, std::vector<Sample>&)>
                 emit) {
        return [this, has, emit = std::move(emit)](std::vector<Sample>& out) {
          for (const auto& c : self_.policy_chains()) {
            if (has(c->options())) emit(*c, c->stats(), out);
          }
        };
      };
  auto cached = [](const HandlerOptions& o) { return o.cache.has_value(); };
  auto limited = [](const HandlerOptions& o) { return o.rate_limit.has_value(); };
  auto validated = [](const HandlerOptions& o) { return o.schema.has_value(); };
  auto bounded = [](const HandlerOptions& o) { return o.concurrency.has_value(); };
  auto timed = [](const HandlerOptions& o) { return o.timeout.has_value(); };
  add("plexus_cache_hits_total", "Response cache hits (answered without running the handler)",
      MetricType::counter, {"method"},
      per_chain(cached, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method()}, n(s.cache_hits), {}});
      }));
  add("plexus_cache_misses_total", "Response cache misses (expired entries included)",
      MetricType::counter, {"method"},
      per_chain(cached, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method()}, n(s.cache_misses), {}});
      }));
  add("plexus_cache_evictions_total",
      "Response cache entries removed, by reason: capacity (LRU past max entries or bytes), "
      "expired (TTL), invalidated (invalidate_cache or an event)",
      MetricType::counter, {"method", "reason"},
      per_chain(cached, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method(), "capacity"}, n(s.cache_evictions), {}});
        out.push_back({{c.method(), "expired"}, n(s.cache_expired), {}});
        out.push_back({{c.method(), "invalidated"}, n(s.cache_invalidated), {}});
      }));
  add("plexus_cache_entries", "Response cache entries held now", MetricType::gauge, {"method"},
      per_chain(cached, [](const policy::Chain& c, const PolicyStats&, auto& out) {
        out.push_back({{c.method()}, static_cast<double>(c.cache()->size()), {}});
      }));
  add("plexus_cache_size_bytes", "Response cache size now (keys and responses)", MetricType::gauge,
      {"method"}, per_chain(cached, [](const policy::Chain& c, const PolicyStats&, auto& out) {
        out.push_back({{c.method()}, static_cast<double>(c.cache()->bytes()), {}});
      }));
  add("plexus_rate_limit_rejections_total",
      "Calls refused by a rate limit (resource_exhausted), by bucket: handler or client",
      MetricType::counter, {"method", "scope"},
      per_chain(limited, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method(), "handler"}, n(s.rate_limited_handler), {}});
        out.push_back({{c.method(), "client"}, n(s.rate_limited_client), {}});
      }));
  add("plexus_validation_failures_total",
      "Requests refused by the handler's JSON Schema (invalid_argument)", MetricType::counter,
      {"method"},
      per_chain(validated, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method()}, n(s.validation_failed), {}});
      }));
  add("plexus_concurrency_rejections_total",
      "Calls refused because the handler's slots and wait queue were full (resource_exhausted)",
      MetricType::counter, {"method"},
      per_chain(bounded, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method()}, n(s.concurrency_rejected), {}});
      }));
  add("plexus_concurrency_queued_total", "Calls that waited for a concurrency slot",
      MetricType::counter, {"method"},
      per_chain(bounded, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method()}, n(s.concurrency_queued), {}});
      }));
  add("plexus_handler_timeouts_total",
      "Calls answered deadline_exceeded because the handler's own time limit passed",
      MetricType::counter, {"method"},
      per_chain(timed, [n](const policy::Chain& c, const PolicyStats& s, auto& out) {
        out.push_back({{c.method()}, n(s.timeouts), {}});
      }));
  add_breaker_metrics(
      reg,
      [this] {
        std::vector<BreakerRow> rows;
        for (const auto& c : self_.policy_chains()) {
          if (const auto* b = c->breaker()) {
            rows.push_back({"server", options_.name, c->method(), b->state(), c->stats()});
          }
        }
        return rows;
      },
      observe_.collectors, observe_.sections);
  observe_.sections.push_back(reg.add_section("caches", [this] {
    auto rows = nlohmann::json::array();
    for (const auto& c : self_.policy_chains()) {
      const auto* cache = c->cache();
      if (!cache) continue;
      const auto s = c->stats();
      const auto lookups = s.cache_hits + s.cache_misses;
      rows.push_back({{"method", c->method()},
                      {"entries", cache->size()},
                      {"bytes", cache->bytes()},
                      {"hits", s.cache_hits},
                      {"misses", s.cache_misses},
                      {"hit_ratio", lookups ? static_cast<double>(s.cache_hits) / lookups : 0.0},
                      {"evicted", s.cache_evictions + s.cache_expired + s.cache_invalidated}});
    }
    return rows;
  }));
  observe_.sections.push_back(reg.add_section("rate_limits", [this] {
    auto rows = nlohmann::json::array();
    auto text = [](const std::optional<RateLimit>& r) -> nlohmann::json {
      if (!r) return nullptr;
      return fmt::format("{:g}/s, burst {:g}", r->per_second, r->burst);
    };
    for (const auto& c : self_.policy_chains()) {
      const auto& o = c->options().rate_limit;
      if (!o) continue;
      const auto s = c->stats();
      rows.push_back({{"method", c->method()},
                      {"per_handler", text(o->per_handler)},
                      {"per_client", text(o->per_client)},
                      {"allowed", s.rate_allowed},
                      {"rejected_handler", s.rate_limited_handler},
                      {"rejected_client", s.rate_limited_client}});
    }
    return rows;
  }));
}

Result<void> Server::Impl::start_http() {
  if (options_.http.empty()) return {};
  observe::HttpProviders p;
  p.metrics_text = [this] { return metrics_text(); };
  p.health = [this] { return health(); };
  p.ready = [this] { return ready(); };
  p.status = [this] { return metrics(); };
  p.socket_options = platform::allow_address_reuse;
  auto endpoint = observe::HttpEndpoint::start(options_.http, p);
  if (!endpoint && endpoint.error().code == StatusCode::failed_precondition &&
      options_.http_any_port_if_taken) {
    const auto any_port = options_.http.substr(0, options_.http.rfind(':')) + ":0";
    endpoint = observe::HttpEndpoint::start(any_port, std::move(p));
    if (endpoint) {
      observe::logger().warn("plexus: \"{}\": HTTP port {} is taken (another server?); serving {}",
                             options_.name, options_.http, (*endpoint)->url());
    }
  }
  if (!endpoint) return tl::unexpected(endpoint.error());
  {
    std::lock_guard lock(mu_);
    observe_.http_url = (*endpoint)->url();
  }
  observe_.http = std::move(*endpoint);
  observe::logger().info("plexus: \"{}\" metrics and status page on {}", options_.name,
                         observe_.http->url());
  return {};
}

std::string Server::http_address() const {
  const auto& http = impl_->observe_.http;
  return http ? http->url() : std::string();
}

std::string Server::metrics_text() const {
  return impl_->metrics_text();
}

std::string Server::Impl::metrics_text() const {
  return observe::to_prometheus_text(observe_.registry.collect());
}

std::string Server::Impl::http_url() const {
  std::lock_guard lock(mu_);
  return observe_.http_url;
}

nlohmann::json Server::Impl::health() const {
  const auto snap = observe_.registry.collect();
  const auto status = draining_ ? "draining" : listening_ ? "serving" : "starting";
  return {{"status", status},
          {"name", options_.name},
          {"pid", platform::current_pid()},
          {"listen", addresses_},
          {"http", http_url()},
          {"version", std::string(plexus::version())},
          {"uptime_seconds", seconds_since(observe_.started_at)},
          {"connections_open", connection_count()},
          {"totals",
           {{"calls", sum_of(snap, "plexus_rpc_server_calls_total")},
            {"errors", sum_of(snap, "plexus_rpc_server_errors_total")},
            {"connections_accepted", accepted_.load()},
            {"connections_refused", refused_.load()},
            {"bytes_in", sum_of(snap, "plexus_transport_received_bytes_total")},
            {"bytes_out", sum_of(snap, "plexus_transport_sent_bytes_total")}}}};
}

nlohmann::json Server::metrics() const {
  return impl_->metrics();
}

nlohmann::json Server::Impl::recent_error_rows() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& c : observe_.recent_errors->snapshot()) {
    rows.push_back({{"at", std::chrono::duration<double>(c.at.time_since_epoch()).count()},
                    {"method", c.method},
                    {"code", std::string(to_string(c.code))},
                    {"message", c.message},
                    {"peer", c.peer},
                    {"trace_id", c.trace_id}});
  }
  return rows;
}

nlohmann::json Server::Impl::metrics() const {
  const auto snap = observe_.registry.collect();
  using nlohmann::json;
  // Per-method rows from the three method families.
  std::map<std::string, json> methods;
  auto row = [&methods](const std::string& m) -> json& {
    auto& r = methods[m];
    if (r.is_null()) r = {{"method", m}, {"calls", 0}, {"errors", json::object()}};
    return r;
  };
  if (const auto* f = find_family(snap, "plexus_rpc_server_calls_total")) {
    for (const auto& s : f->samples) row(s.label_values.at(0))["calls"] = s.value;
  }
  if (const auto* f = find_family(snap, "plexus_rpc_server_errors_total")) {
    for (const auto& s : f->samples) {
      row(s.label_values.at(0))["errors"][s.label_values.at(1)] = s.value;
    }
  }
  if (const auto* f = find_family(snap, "plexus_rpc_server_latency_seconds")) {
    for (const auto& s : f->samples) {
      auto& r = row(s.label_values.at(0));
      const auto& h = s.histogram;
      r["p50_seconds"] = h.quantile(0.50) * f->scale;
      r["p90_seconds"] = h.quantile(0.90) * f->scale;
      r["p99_seconds"] = h.quantile(0.99) * f->scale;
      r["mean_seconds"] =
          h.count ? static_cast<double>(h.sum) * f->scale / static_cast<double>(h.count) : 0.0;
    }
  }
  auto method_rows = json::array();
  for (auto& [_, r] : methods) method_rows.push_back(std::move(r));

  auto peer_rows = json::array();
  {
    std::lock_guard lock(mu_);
    for (const auto& [_, s] : sessions_) {
      const auto& id = s->identity();
      peer_rows.push_back({{"name", s->ready() ? id.name : std::string("(handshaking)")},
                           {"address", id.address},
                           {"pid", id.pid ? json(*id.pid) : json(nullptr)},
                           {"uid", id.uid ? json(*id.uid) : json(nullptr)},
                           {"executable", id.executable},
                           {"host", id.host},
                           // Set with the name, before ready(): read only after it.
                           {"subject", s->ready() ? id.subject : std::string()},
                           {"calls_in", s->counters().calls_in.load(std::memory_order_relaxed)},
                           {"bytes_in", s->connection().stats().bytes_in.get()},
                           {"bytes_out", s->connection().stats().bytes_out.get()}});
    }
  }

  const double frames_out = sum_of(snap, "plexus_transport_sent_frames_total");
  const double batches = sum_of(snap, "plexus_transport_write_batches_total");
  auto sections = observe_.registry.sections();
  for (const char* key : {"topics", "breakers", "caches", "rate_limits", "queues"}) {
    if (!sections.contains(key)) sections[key] = json::array();
  }
  return {{"name", options_.name},
          {"version", std::string(plexus::version())},
          {"pid", platform::current_pid()},
          {"listen", addresses_},
          {"http", http_url()},
          {"status", draining_    ? "draining"
                     : listening_ ? "serving"
                                  : "starting"},
          {"ready", ready()},
          {"uptime_seconds", seconds_since(observe_.started_at)},
          {"connections",
           {{"open", connection_count()},
            {"accepted", accepted_.load()},
            {"refused", refused_.load()},
            {"handshaking", handshaking_count()}}},
          {"totals",
           {{"calls", sum_of(snap, "plexus_rpc_server_calls_total")},
            {"errors", sum_of(snap, "plexus_rpc_server_errors_total")}}},
          {"transport",
           {{"bytes_in", sum_of(snap, "plexus_transport_received_bytes_total")},
            {"bytes_out", sum_of(snap, "plexus_transport_sent_bytes_total")},
            {"frames_in", sum_of(snap, "plexus_transport_received_frames_total")},
            {"frames_out", frames_out},
            {"write_batches", batches},
            {"frames_per_batch", batches > 0 ? frames_out / batches : 0.0},
            {"in_place_bytes", sum_of(snap, "plexus_transport_in_place_bytes_total")}}},
          {"direct",
           {{"channels", sum_of(snap, "plexus_direct_channels")},
            {"mapped_bytes", sum_of(snap, "plexus_direct_mapped_bytes")}}},
          {"pubsub",
           {{"published", sum_of(snap, "plexus_pubsub_published_total")},
            {"delivered", sum_of(snap, "plexus_pubsub_delivered_total")},
            {"dropped", sum_of(snap, "plexus_pubsub_dropped_messages_total")},
            {"publisher_waits", sum_of(snap, "plexus_pubsub_publisher_waits_total")},
            {"disconnects", sum_of(snap, "plexus_pubsub_slow_subscriber_disconnects_total")},
            {"subscriptions", sum_of(snap, "plexus_pubsub_subscriptions")},
            {"queued", sum_of(snap, "plexus_pubsub_queued_messages")}}},
          {"streams",
           {{"open", sum_of(snap, "plexus_streams_open")},
            {"started", sum_of(snap, "plexus_streams_started_total")},
            {"items", sum_of(snap, "plexus_stream_items_total")},
            {"bytes", sum_of(snap, "plexus_stream_bytes_total")},
            {"credit_waits", sum_of(snap, "plexus_stream_credit_waits_total")}}},
          {"durable", durable_json()},
          {"bus", bus_json()},
          {"heartbeat_failures", sum_of(snap, "plexus_heartbeat_failures_total")},
          {"reconnects", sum_of(snap, "plexus_client_reconnects_total")},
          {"process", {{"rss_bytes", sum_of(snap, "plexus_process_resident_memory_bytes")}}},
          {"methods", method_rows},
          {"recent_errors", recent_error_rows()},
          {"peers", peer_rows},
          {"sections", sections},
          {"metrics", observe::to_json(snap)}};
}

// ---- the bus (BusService) ----
void Server::Impl::init_bus_metrics() {
  if (!bus_) return;
  auto& reg = observe_.registry;
  auto add = [this, &reg](const std::string& name, const std::string& help, MetricType type,
                          std::vector<std::string> labels, observe::Registry::CollectFn fn) {
    observe_.collectors.push_back(
        reg.add_collector(name, help, type, std::move(labels), std::move(fn)));
  };
  std::weak_ptr<detail::BusService> weak = bus_;
  add("plexus_bus_names", "Service names owned on the bus now", MetricType::gauge, {},
      [weak](std::vector<Sample>& out) {
        if (auto bus = weak.lock()) {
          out.push_back({{}, static_cast<double>(bus->figures().names), {}});
        }
      });
  add("plexus_bus_queued_claimants",
      "Connections waiting in a service name's queue for its owner to go, by name",
      MetricType::gauge, {"name"}, [weak](std::vector<Sample>& out) {
        if (auto bus = weak.lock()) {
          for (const auto& [name, n] : bus->figures().queued) {
            out.push_back({{name}, static_cast<double>(n), {}});
          }
        }
      });
  add("plexus_bus_forwarded_calls_total",
      "Calls and streams the bus forwarded to a service's owner, by service", MetricType::counter,
      {"service"}, [weak](std::vector<Sample>& out) {
        if (auto bus = weak.lock()) {
          for (const auto& [name, n] : bus->figures().forwarded) {
            out.push_back({{name}, static_cast<double>(n), {}});
          }
        }
      });
}

nlohmann::json Server::Impl::bus_json() const {
  return bus_ ? bus_->stats_json() : nlohmann::json(nullptr);
}

}  // namespace plexus
