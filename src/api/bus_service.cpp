#include "api/bus_service.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

#include "observe/log.hpp"
#include "rpc/trace.hpp"
#include "wire/names.hpp"

namespace plexus::detail {
namespace {

using Names = rpc::NameRegistry<BusClaim>;

constexpr std::size_t kMaxMethods = 1024;
// Names that lost their owner and still answer "no owner now" (BusService::ownerless_); an older
// one answers not_found like any unknown method.
constexpr std::size_t kOwnerlessNames = 1024;

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<nlohmann::json> parse_object(std::string_view payload, std::string_view method) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(StatusCode::invalid_argument,
                      std::string(method) + " takes a JSON object (docs/PROTOCOL.md §Bus)");
  }
  return j;
}

Result<std::string> name_of(const nlohmann::json& args, std::string_view method) {
  if (!args.contains("name") || !args["name"].is_string()) {
    return make_error(StatusCode::invalid_argument,
                      std::string(method) + " needs \"name\": the service name (a string)",
                      R"({"field":"name"})");
  }
  auto name = args["name"].get<std::string>();
  if (auto ok = wire::validate_service_name(name); !ok) return tl::unexpected(ok.error());
  return name;
}

// A forwarded call failed because its provider's connection ended: the caller is told so,
// with the provider's error kept in the details.
Error provider_gone(const std::string& service, const PeerIdentity& owner, const Error& cause) {
  return Error{StatusCode::unavailable,
               "the provider of " + service + " went away (its connection closed) during the call",
               dump({{"service", service},
                     {"reason", "provider_gone"},
                     {"provider", identity_json(owner)},
                     {"cause", cause.message}})};
}

// The caller's time left, for the provider's deadline; nullopt: no deadline.
std::optional<Millis> time_left(const CallContext& ctx) {
  const auto deadline = ctx.deadline();
  if (!deadline) return std::nullopt;
  const auto left = std::chrono::ceil<Millis>(*deadline - std::chrono::steady_clock::now());
  return std::max(left, Millis{1});
}

// What the caller writes on a forwarded stream goes to the provider; its end, too.
asio::awaitable<void> pump_to_provider(Stream from_caller, Stream to_provider) {
  while (true) {
    auto item = co_await from_caller.async_read(asio::use_awaitable);
    if (!item) co_return;  // the stream ended: the other direction reports how
    if (!*item) {
      to_provider.close_write();
      co_return;
    }
    auto written = co_await to_provider.async_write(**item, asio::use_awaitable);
    if (!written) co_return;
  }
}

// One forwarded stream: opens the provider's, and passes items, progress, the end, the outcome
// and a cancel across.
// g++ 12 takes asio's coroutine frame, allocated with aligned_alloc and freed by the frame's own
// operator delete, for a mismatched new/delete here (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<Result<std::string>> forward_stream(
    Peer provider, PeerIdentity owner, std::shared_ptr<std::atomic<std::uint64_t>> forwarded,
    std::string name, CallContext& ctx, std::string payload, Stream to_caller) {
  forwarded->fetch_add(1, std::memory_order_relaxed);
  StreamOptions so;
  so.trace_id = rpc::trace::child_of(ctx.trace_id());
  Stream to_provider = provider.open_stream(ctx.method(), std::move(payload), std::move(so));
  // The caller's cancel (or its deadline, or its connection's end) reaches the
  // provider.
  ctx.on_cancel([to_provider]() mutable { to_provider.cancel("cancelled by the caller"); });
  asio::co_spawn(ctx.io_executor(), pump_to_provider(to_caller, to_provider), asio::detached);
  while (true) {
    auto item = co_await to_provider.async_read(asio::use_awaitable);
    if (!item) {
      if (item.error().code == StatusCode::unavailable && !provider.connected()) {
        co_return tl::unexpected(provider_gone(name, owner, item.error()));
      }
      co_return tl::unexpected(item.error());
    }
    if (!*item) break;
    // Backpressure: the next item is read from the provider only once the caller's
    // window took this one, so the provider waits on its own window meanwhile.
    if (const auto progress = to_provider.progress(); progress.total) {
      to_caller.set_progress(*progress.total, progress.done);
    }
    auto written = co_await to_caller.async_write(**item, asio::use_awaitable);
    if (!written) {
      to_provider.cancel("the caller's side of the stream ended");
      co_return tl::unexpected(written.error());
    }
  }
  auto outcome = to_provider.outcome();
  if (!outcome) co_return std::string();
  co_return std::move(*outcome);
}
#pragma GCC diagnostic pop

}  // namespace

CallId forward_call(const Peer& owner_peer, const PeerIdentity& owner,
                    std::atomic<std::uint64_t>& forwarded, const std::string& service,
                    std::string_view method, std::string payload, std::optional<Millis> timeout,
                    std::string trace, std::shared_ptr<Responder> responder) {
  forwarded.fetch_add(1, std::memory_order_relaxed);
  CallOptions co;
  co.timeout = timeout;
  co.trace_id = std::move(trace);
  Peer provider = owner_peer;
  return provider.call_async(
      method, std::move(payload), std::move(co),
      [responder, provider, owner, service](Result<std::string> r) {
        if (!r && r.error().code == StatusCode::unavailable && !provider.connected()) {
          responder->reply(tl::unexpected(provider_gone(service, owner, r.error())));
          return;
        }
        responder->reply(std::move(r));  // the answer or the provider's error, unchanged
      });
}

nlohmann::json identity_json(const PeerIdentity& identity) {
  nlohmann::json j{{"name", identity.name}};
  j["pid"] = identity.pid ? nlohmann::json(*identity.pid) : nlohmann::json(nullptr);
  j["uid"] = identity.uid ? nlohmann::json(*identity.uid) : nlohmann::json(nullptr);
  j["executable"] = identity.executable;
  return j;
}

BusService::BusService(HandlerRegistry& registry, Publish publish)
    : registry_(registry), publish_(std::move(publish)) {}

void BusService::register_methods() {
  std::weak_ptr<BusService> weak = weak_from_this();
  const auto gone = [] {
    return make_error(StatusCode::unavailable, "the server is shutting down");
  };
  registry_.handle("plexus.bus.register",
                   [weak, gone](CallContext& ctx, std::string_view payload) -> Result<std::string> {
                     auto self = weak.lock();
                     return self ? self->on_register(ctx, payload) : gone();
                   });
  registry_.handle("plexus.bus.release",
                   [weak, gone](CallContext& ctx, std::string_view payload) -> Result<std::string> {
                     auto self = weak.lock();
                     return self ? self->on_release(ctx, payload) : gone();
                   });
  registry_.handle("plexus.bus.list",
                   [weak, gone](CallContext&, std::string_view) -> Result<std::string> {
                     auto self = weak.lock();
                     return self ? self->on_list() : gone();
                   });
  registry_.handle_async("plexus.bus.describe",
                         [weak, gone](CallContext& ctx, std::string_view payload, Responder r) {
                           auto self = weak.lock();
                           if (!self) return r.reply(gone());
                           self->on_describe(ctx, payload, std::move(r));
                         });
}

Result<std::string> BusService::on_register(CallContext& ctx, std::string_view payload) {
  auto args = parse_object(payload, "plexus.bus.register");
  if (!args) return tl::unexpected(args.error());
  auto name = name_of(*args, "plexus.bus.register");
  if (!name) return tl::unexpected(name.error());
  BusClaim claim;
  claim.key = &ctx.peer_identity();
  claim.peer = ctx.peer();
  claim.identity = ctx.peer_identity();
  const auto& methods = args->value("methods", nlohmann::json::array());
  if (!methods.is_array() || methods.size() > kMaxMethods) {
    return make_error(StatusCode::invalid_argument,
                      "plexus.bus.register: \"methods\" must be a list of at most " +
                          std::to_string(kMaxMethods) + " methods",
                      R"({"field":"methods"})");
  }
  std::set<std::string> seen;
  for (const auto& m : methods) {
    BusMethod method;
    if (m.is_string()) {
      method.name = m.get<std::string>();
    } else if (m.is_object() && m.contains("name") && m["name"].is_string()) {
      method.name = m["name"].get<std::string>();
      method.stream = m.value("stream", false);
    } else {
      return make_error(StatusCode::invalid_argument,
                        "plexus.bus.register: each method is a name or {\"name\", \"stream\"}",
                        R"({"field":"methods"})");
    }
    if (auto ok = wire::validate_name(method.name, "method name"); !ok) {
      return tl::unexpected(ok.error());
    }
    if (!seen.insert(method.name).second) {
      return make_error(StatusCode::invalid_argument,
                        "plexus.bus.register: method \"" + method.name + "\" is listed twice",
                        dump({{"field", "methods"}, {"method", method.name}}));
    }
    claim.methods.push_back(std::move(method));
  }
  const bool queue = args->value("queue", false);

  std::string event;
  Names::Requested requested;
  std::size_t queue_length = 0;
  {
    std::lock_guard lock(mu_);
    std::optional<BusClaim> previous;  // this connection's claim, when it owns the name already
    if (const auto* o = names_.owner(*name); o && o->key == claim.key) previous = *o;
    Names::Change acquired;
    requested = names_.request(*name, claim, queue, &acquired);
    if (requested.outcome == Names::Outcome::owner) {
      if (acquired.new_owner) {
        event = apply(acquired, "registered");
      } else if (previous) {
        // The owner's methods replaced: those it no longer lists go.
        for (const auto& m : previous->methods) {
          if (std::none_of(claim.methods.begin(), claim.methods.end(),
                           [&](const BusMethod& n) { return n.name == m.name; })) {
            registry_.remove(*name + "/" + m.name);
          }
        }
        install(*name, claim);
      }
    }
    queue_length = names_.queue_length(*name);
  }
  if (!event.empty()) publish_(kBusNamesTopic, std::move(event));
  const auto owner = identity_json(requested.owner.identity);
  switch (requested.outcome) {
    case Names::Outcome::owner:
      observe::logger().info("plexus: bus name {} owned by \"{}\" ({} methods)", *name,
                             claim.identity.name, claim.methods.size());
      return dump({{"name", *name}, {"state", "owner"}, {"owner", owner}});
    case Names::Outcome::queued:
      return dump({{"name", *name},
                   {"state", "queued"},
                   {"position", requested.position},
                   {"owner", owner}});
    case Names::Outcome::refused:
      break;
  }
  return make_error(StatusCode::already_exists,
                    "service name " + *name + " is owned by \"" + requested.owner.identity.name +
                        "\"; register with queue=true to wait for it",
                    dump({{"name", *name}, {"owner", owner}, {"queue_length", queue_length}}));
}

Result<std::string> BusService::on_release(CallContext& ctx, std::string_view payload) {
  auto args = parse_object(payload, "plexus.bus.release");
  if (!args) return tl::unexpected(args.error());
  auto name = name_of(*args, "plexus.bus.release");
  if (!name) return tl::unexpected(name.error());
  std::string event;
  Names::Released released;
  {
    std::lock_guard lock(mu_);
    std::optional<Names::Change> change;
    released = names_.release(*name, &ctx.peer_identity(), &change);
    if (change) event = apply(*change, "released");
  }
  if (!event.empty()) publish_(kBusNamesTopic, std::move(event));
  switch (released) {
    case Names::Released::released:
      return dump({{"name", *name}, {"state", "released"}});
    case Names::Released::left_queue:
      return dump({{"name", *name}, {"state", "left_queue"}});
    case Names::Released::not_held:
      break;
  }
  return make_error(StatusCode::not_found,
                    "this connection neither owns nor waits for service name " + *name,
                    dump({{"name", *name}}));
}

Result<std::string> BusService::on_list() const {
  auto services = nlohmann::json::array();
  std::lock_guard lock(mu_);
  for (const auto& row : names_.rows()) {
    auto methods = nlohmann::json::array();
    for (const auto& m : row.owner.methods) {
      methods.push_back({{"name", row.name + "/" + m.name}, {"stream", m.stream}});
    }
    const auto it = forwarded_.find(row.name);
    services.push_back({{"name", row.name},
                        {"owner", identity_json(row.owner.identity)},
                        {"methods", std::move(methods)},
                        {"queued", row.queued},
                        {"forwarded", it == forwarded_.end() ? 0 : it->second->load()}});
  }
  auto activatable = nlohmann::json::array();
  for (const auto& [name, a] : activations_) {
    nlohmann::json row{{"name", name}, {"file", a.file.file}, {"exec", a.file.exec}};
    if (a.file.error) {
      row["state"] = "broken";
      row["error"] = a.file.error->message;
    } else if (names_.owner(name)) {
      row["state"] = "running";
    } else {
      row["state"] = a.process ? "starting" : "not_running";
    }
    activatable.push_back(std::move(row));
  }
  return dump({{"services", std::move(services)}, {"activatable", std::move(activatable)}});
}

void BusService::on_describe(CallContext& ctx, std::string_view payload, Responder responder) {
  auto args = parse_object(payload, "plexus.bus.describe");
  if (!args) return responder.reply(tl::unexpected(args.error()));
  auto name = name_of(*args, "plexus.bus.describe");
  if (!name) return responder.reply(tl::unexpected(name.error()));
  std::optional<BusClaim> owner;
  {
    std::lock_guard lock(mu_);
    if (const auto* o = names_.owner(*name)) owner = *o;
  }
  if (!owner) {
    return responder.reply(make_error(StatusCode::not_found,
                                      "no connection owns service name " + *name,
                                      dump({{"name", *name}})));
  }
  CallOptions co;
  co.timeout = time_left(ctx).value_or(Millis{5000});
  co.trace_id = rpc::trace::child_of(ctx.trace_id());
  auto shared = std::make_shared<Responder>(std::move(responder));
  // The provider describes every method it serves (schemas, policies); only this service's are
  // shown, with what the bus knows of them.
  owner->peer.call_async(
      "plexus.describe", "", co, [shared, service = *name, owner = *owner](Result<std::string> r) {
        std::map<std::string, nlohmann::json> described;
        if (r) {
          auto doc = nlohmann::json::parse(*r, nullptr, false);
          if (doc.is_object() && doc.contains("methods") && doc["methods"].is_array()) {
            for (auto& m : doc["methods"]) {
              if (m.is_object() && m.contains("name") && m["name"].is_string()) {
                described[m["name"].get<std::string>()] = m;
              }
            }
          }
        }
        auto methods = nlohmann::json::array();
        for (const auto& m : owner.methods) {
          const std::string full = service + "/" + m.name;
          nlohmann::json row{{"name", full}};
          if (auto it = described.find(full); it != described.end()) row = it->second;
          row["stream"] = m.stream;
          methods.push_back(std::move(row));
        }
        nlohmann::json out{{"service", service},
                           {"owner", identity_json(owner.identity)},
                           {"methods", std::move(methods)}};
        // Without the provider's own description the bus still says what it forwards.
        if (!r) out["describe_error"] = r.error().to_string();
        shared->reply(dump(out));
      });
}

void BusService::connection_closed(const PeerIdentity* key) {
  std::vector<std::string> events;
  {
    std::lock_guard lock(mu_);
    for (const auto& change : names_.drop(key)) events.push_back(apply(change, "disconnected"));
  }
  for (auto& e : events) publish_(kBusNamesTopic, std::move(e));
}

std::string BusService::apply(const Names::Change& change, std::string_view reason) {
  if (change.old_owner) {
    for (const auto& m : change.old_owner->methods) {
      const bool kept =
          change.new_owner &&
          std::any_of(change.new_owner->methods.begin(), change.new_owner->methods.end(),
                      [&](const BusMethod& n) { return n.name == m.name; });
      if (!kept) registry_.remove(change.name + "/" + m.name);
    }
  }
  if (change.new_owner) {
    clear_ownerless(change.name);
    install(change.name, *change.new_owner);
    flush_held(change.name, *change.new_owner);
  } else if (change.old_owner) {
    mark_ownerless(change.name, reason);
  }
  nlohmann::json event{{"name", change.name}, {"reason", reason}};
  if (change.old_owner && change.new_owner) {
    event["event"] = "owner_changed";
  } else if (change.new_owner) {
    event["event"] = "acquired";
  } else {
    event["event"] = "released";
  }
  event["owner"] =
      change.new_owner ? identity_json(change.new_owner->identity) : nlohmann::json(nullptr);
  event["old_owner"] =
      change.old_owner ? identity_json(change.old_owner->identity) : nlohmann::json(nullptr);
  observe::logger().info("plexus: bus name {} {} ({})", change.name,
                         event["event"].get<std::string>(), reason);
  return dump(event);
}

void BusService::mark_ownerless(const std::string& name, std::string_view reason) {
  // A name that activation serves keeps its own NAME/* entry (it starts the provider again).
  if (activations_.count(name) != 0) return;
  const Error error{StatusCode::unavailable,
                    "service " + name + " has no owner now: its provider " +
                        (reason == "disconnected" ? "went away" : "released the name"),
                    dump({{"service", name}, {"reason", "no_owner"}})};
  registry_.handle_async(name + "/*", [error](CallContext&, std::string_view, Responder r) {
    r.reply(tl::unexpected(error));
  });
  std::erase(ownerless_, name);
  ownerless_.push_back(name);
  if (ownerless_.size() > kOwnerlessNames) {
    registry_.remove(ownerless_.front() + "/*");
    ownerless_.pop_front();
  }
}

void BusService::clear_ownerless(const std::string& name) {
  if (activations_.count(name) != 0) return;
  if (std::erase(ownerless_, name) != 0) registry_.remove(name + "/*");
}

std::shared_ptr<std::atomic<std::uint64_t>> BusService::counter(const std::string& name) {
  auto& c = forwarded_[name];
  if (!c) c = std::make_shared<std::atomic<std::uint64_t>>(0);
  return c;
}

void BusService::install(const std::string& name, const BusClaim& claim) {
  auto forwarded = counter(name);
  const Peer peer = claim.peer;
  const PeerIdentity owner = claim.identity;
  for (const auto& m : claim.methods) {
    const std::string full = name + "/" + m.name;
    if (m.stream) {
      registry_.handle_stream(full, [peer, owner, forwarded, name](
                                        CallContext& ctx, std::string payload, Stream to_caller) {
        // The coroutine takes copies: it outlives this lambda when the name changes hands.
        return forward_stream(peer, owner, forwarded, name, ctx, std::move(payload),
                              std::move(to_caller));
      });
      continue;
    }
    registry_.handle_async(full, [peer, owner, forwarded, name](CallContext& ctx,
                                                                std::string_view payload,
                                                                Responder responder) {
      const CallId id = forward_call(
          peer, owner, *forwarded, name, ctx.method(), std::string(payload), time_left(ctx),
          rpc::trace::child_of(ctx.trace_id()), std::make_shared<Responder>(std::move(responder)));
      ctx.on_cancel([provider = peer, id]() mutable { provider.cancel(id); });
    });
  }
}

void BusService::set_activation(asio::any_io_executor executor, std::vector<ServiceFile> files,
                                std::function<std::string()> address) {
  executor_ = std::move(executor);
  address_ = std::move(address);
  std::weak_ptr<BusService> weak = weak_from_this();
  std::lock_guard lock(mu_);
  for (auto& f : files) {
    // A file whose name is unusable is only listed (and logged when it was read).
    const std::string name =
        f.name.empty() || !wire::validate_service_name(f.name) ? "(" + f.file + ")" : f.name;
    const bool servable = name == f.name;
    activations_[name].file = std::move(f);
    if (!servable) continue;
    registry_.handle_async(
        name + "/*", [weak](CallContext& ctx, std::string_view payload, Responder r) {
          auto self = weak.lock();
          if (!self) {
            r.reply(make_error(StatusCode::unavailable, "the server is shutting down"));
            return;
          }
          self->on_activate(ctx, payload, std::move(r));
        });
  }
}

void BusService::on_activate(CallContext& ctx, std::string_view payload, Responder responder) {
  const std::string method(ctx.method());
  const auto slash = method.find('/');
  const std::string name = method.substr(0, slash);
  const std::string short_name = method.substr(slash + 1);
  auto shared = std::make_shared<Responder>(std::move(responder));
  auto cancel = std::make_shared<Held::Cancel>();
  std::optional<Error> refusal;
  Failures failures;
  {
    std::lock_guard lock(mu_);
    auto it = activations_.find(name);
    if (it == activations_.end() || short_name == "*") {
      refusal = Error{StatusCode::not_found, "no handler for method \"" + method + "\"",
                      dump({{"method", method}})};
    } else if (auto& a = it->second; a.file.error) {
      auto details = nlohmann::json::parse(a.file.error->details, nullptr, false);
      if (!details.is_object()) details = nlohmann::json::object();
      details["service"] = name;
      details["reason"] = "bad_service_file";
      refusal =
          Error{StatusCode::failed_precondition,
                "service " + name + " cannot be started: " + a.file.error->message, dump(details)};
    } else if (names_.owner(name)) {
      refusal =
          Error{StatusCode::not_found, "service " + name + " has no method \"" + short_name + "\"",
                dump({{"service", name}, {"method", method}})};
    } else {
      a.held.push_back(Held{method, std::string(payload), ctx.deadline(),
                            rpc::trace::child_of(ctx.trace_id()), shared, cancel});
      if (!a.process) {
        std::weak_ptr<BusService> weak = weak_from_this();
        auto started = ProviderProcess::start(
            executor_, a.file, {"PLEXUS_ADDRESS=" + (address_ ? address_() : std::string())},
            [weak, name](Error exit) {
              if (auto self = weak.lock()) self->provider_exited(name, exit);
            });
        if (!started) {
          auto details = nlohmann::json::parse(started.error().details, nullptr, false);
          if (!details.is_object()) details = nlohmann::json::object();
          details["service"] = name;
          details["file"] = a.file.file;
          details["reason"] = "cannot_start";
          fail_held(
              a,
              Error{StatusCode::unavailable,
                    "the provider of " + name + " cannot be started: " + started.error().message,
                    dump(details)},
              failures);
        } else {
          a.process = std::move(*started);
        }
      }
      if (!a.held.empty() && !a.timer) {
        a.timer = std::make_unique<asio::steady_timer>(executor_, a.file.start_timeout);
        std::weak_ptr<BusService> weak = weak_from_this();
        a.timer->async_wait([weak, name, round = a.round](std::error_code ec) {
          if (ec) return;
          if (auto self = weak.lock()) self->start_timed_out(name, round);
        });
      }
    }
  }
  if (refusal) {
    shared->reply(tl::unexpected(*refusal));
    return;
  }
  for (auto& [r, e] : failures) r->reply(tl::unexpected(e));
  // Outside mu_: it runs at once when the call is cancelled already.
  ctx.on_cancel([cancel] {
    std::lock_guard lock(cancel->mu);
    cancel->cancelled = true;
    if (cancel->id != 0) cancel->peer.cancel(cancel->id);
  });
}

void BusService::fail_held(Activation& a, const Error& error, Failures& out) {
  for (auto& h : a.held) out.emplace_back(h.responder, error);
  a.held.clear();
  if (a.timer) a.timer->cancel();
  a.timer.reset();
  ++a.round;
}

void BusService::flush_held(const std::string& name, const BusClaim& owner) {
  auto it = activations_.find(name);
  if (it == activations_.end()) return;
  auto& a = it->second;
  if (a.timer) a.timer->cancel();
  a.timer.reset();
  ++a.round;
  auto held = std::move(a.held);
  a.held.clear();
  auto forwarded = counter(name);
  const auto now = std::chrono::steady_clock::now();
  for (auto& h : held) {
    std::lock_guard lock(h.cancel->mu);
    if (h.cancel->cancelled) continue;  // the caller has had its answer
    std::optional<Millis> timeout;
    if (h.deadline) {
      if (*h.deadline <= now) continue;  // answered deadline_exceeded by its session
      timeout = std::chrono::ceil<Millis>(*h.deadline - now);
    }
    h.cancel->peer = owner.peer;
    h.cancel->id = forward_call(owner.peer, owner.identity, *forwarded, name, h.method,
                                std::move(h.payload), timeout, std::move(h.trace), h.responder);
  }
}

void BusService::provider_exited(const std::string& name, const Error& exit) {
  Failures failures;
  {
    std::lock_guard lock(mu_);
    auto it = activations_.find(name);
    if (it == activations_.end()) return;
    auto& a = it->second;
    const auto pid = a.process ? a.process->pid() : 0;
    a.process.reset();
    if (a.held.empty()) {
      observe::logger().info("plexus: provider of {} (pid {}) {}", name, pid, exit.message);
      return;
    }
    observe::logger().warn("plexus: provider of {} (pid {}, {}) {} before it registered", name, pid,
                           a.file.file, exit.message);
    auto details = nlohmann::json::parse(exit.details, nullptr, false);
    if (!details.is_object()) details = nlohmann::json::object();
    details["service"] = name;
    details["file"] = a.file.file;
    details["pid"] = pid;
    details["reason"] = "provider_exited";
    fail_held(a,
              Error{StatusCode::unavailable,
                    "the provider of " + name + " (" + a.file.exec + ", pid " +
                        std::to_string(pid) + ") " + exit.message + " before it registered",
                    dump(details)},
              failures);
  }
  for (auto& [r, e] : failures) r->reply(tl::unexpected(e));
}

void BusService::start_timed_out(const std::string& name, std::uint64_t round) {
  Failures failures;
  {
    std::lock_guard lock(mu_);
    auto it = activations_.find(name);
    if (it == activations_.end() || it->second.round != round) return;
    auto& a = it->second;
    const auto ms = a.file.start_timeout.count();
    observe::logger().warn("plexus: provider of {} did not register within {} ms ({})", name, ms,
                           a.file.file);
    nlohmann::json details{
        {"service", name}, {"file", a.file.file}, {"reason", "start_timeout"}, {"timeout_ms", ms}};
    if (a.process) {
      details["pid"] = a.process->pid();
      // Stopped, so that the next call starts a provider afresh rather than wait on this one.
      a.process->terminate();
    }
    fail_held(a,
              Error{StatusCode::unavailable,
                    "the provider of " + name + " did not register within " + std::to_string(ms) +
                        " ms (started from " + a.file.file + "; it was stopped)",
                    dump(details)},
              failures);
  }
  for (auto& [r, e] : failures) r->reply(tl::unexpected(e));
}

BusService::Figures BusService::figures() const {
  Figures f;
  std::lock_guard lock(mu_);
  for (const auto& row : names_.rows()) {
    ++f.names;
    f.queued[row.name] = row.queued;
  }
  for (const auto& [name, c] : forwarded_) f.forwarded[name] = c->load();
  return f;
}

nlohmann::json BusService::stats_json() const {
  const auto f = figures();
  std::size_t queued = 0;
  std::uint64_t forwarded = 0;
  for (const auto& [_, n] : f.queued) queued += n;
  for (const auto& [_, n] : f.forwarded) forwarded += n;
  return {{"names", f.names}, {"queued", queued}, {"forwarded", forwarded}};
}

}  // namespace plexus::detail
