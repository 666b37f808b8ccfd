// register_service and ServiceName (plexus/bus.hpp): a provider's registration with the bus,
// sent again by a ready hook after every reconnect (as Consumer registers with its queue).
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <variant>

#include <nlohmann/json.hpp>

#include "api/client_hooks.hpp"
#include "observe/log.hpp"
#include "plexus/bus.hpp"
#include "rpc/handler_table.hpp"
#include "wire/names.hpp"

namespace plexus {

struct ServiceName::Impl : std::enable_shared_from_this<ServiceName::Impl> {
  Impl(Client& c, std::string n, RegisterOptions o)
      : client(c), name(std::move(n)), options(std::move(o)) {}

  Client& client;
  const std::string name;
  const RegisterOptions options;
  std::mutex mu;
  NameState state = NameState::owner;  // guarded by mu
  std::uint64_t hook = 0;
  bool released = false;  // guarded by mu

  // The register payload: the methods named in the options, or every "NAME/..." method the
  // client serves now, each with whether it is a stream.
  Result<std::string> payload() const {
    const auto table = client.handler_table()->snapshot();
    const std::string prefix = name + "/";
    auto methods = nlohmann::json::array();
    const auto row = [](const std::string& short_name, const rpc::HandlerEntry& entry) {
      return nlohmann::json{{"name", short_name},
                            {"stream", std::holds_alternative<StreamHandler>(entry.fn)}};
    };
    if (options.methods.empty()) {
      std::map<std::string, nlohmann::json> sorted;
      for (const auto& [method, entry] : *table) {
        if (method.size() > prefix.size() && method.starts_with(prefix)) {
          sorted.emplace(method, row(method.substr(prefix.size()), *entry));
        }
      }
      for (auto& [_, m] : sorted) methods.push_back(std::move(m));
      if (methods.empty()) {
        return make_error(StatusCode::invalid_argument,
                          "register_service: the client serves no method named \"" + prefix +
                              "...\": register its methods first (handle(\"" + prefix +
                              "query\", ...))",
                          nlohmann::json{{"name", name}}.dump());
      }
    } else {
      for (const auto& m : options.methods) {
        auto it = table->find(prefix + m);
        if (it == table->end()) {
          return make_error(StatusCode::invalid_argument,
                            "register_service: the client serves no method \"" + prefix + m + "\"",
                            nlohmann::json{{"name", name}, {"method", m}}.dump());
        }
        methods.push_back(row(m, *it->second));
      }
    }
    return nlohmann::json{{"name", name}, {"methods", std::move(methods)}, {"queue", options.queue}}
        .dump();
  }

  // Sends the registration through `peer`; `done` gets the outcome.
  void register_with(Peer peer, std::function<void(Result<void>)> done) {
    auto args = payload();
    if (!args) {
      if (done) done(tl::unexpected(args.error()));
      return;
    }
    CallOptions co;
    co.timeout = detail::ClientHooks::connect_timeout(client);
    std::weak_ptr<Impl> weak = weak_from_this();
    peer.call_async("plexus.bus.register", std::move(*args), co,
                    [weak, done = std::move(done)](Result<std::string> r) {
                      auto self = weak.lock();
                      if (!r) {
                        observe::logger().warn("plexus: registering bus name {} failed: {}",
                                               self ? self->name : std::string("?"),
                                               r.error().to_string());
                        if (done) done(tl::unexpected(r.error()));
                        return;
                      }
                      if (self) {
                        auto j = nlohmann::json::parse(*r, nullptr, false);
                        std::lock_guard lock(self->mu);
                        if (j.is_object() && j.value("state", "") == "queued") {
                          self->state = NameState::queued;
                        } else {
                          self->state = NameState::owner;
                        }
                      }
                      if (done) done({});
                    });
  }
};

Result<std::unique_ptr<ServiceName>> register_service(Client& client, std::string name,
                                                      RegisterOptions options) {
  if (auto ok = wire::validate_service_name(name); !ok) return tl::unexpected(ok.error());
  if (detail::ClientHooks::on_io_thread(client)) {
    return make_error(StatusCode::failed_precondition,
                      "register_service waits for the daemon: call it from an application "
                      "thread, not an I/O thread");
  }
  if (client.state() != ConnectionState::connected) {
    return make_error(StatusCode::unavailable, "register_service: the client is not connected (" +
                                                   std::string(to_string(client.state())) + ")");
  }
  auto impl = std::make_shared<ServiceName::Impl>(client, std::move(name), std::move(options));
  if (auto args = impl->payload(); !args) return tl::unexpected(args.error());
  // The first registration is the hook's first run (now: the client is connected); later ones
  // follow each reconnect.
  auto first = std::make_shared<std::promise<Result<void>>>();
  auto first_done = std::make_shared<std::atomic<bool>>(false);
  std::weak_ptr<ServiceName::Impl> weak = impl;
  impl->hook = detail::ClientHooks::add_ready_hook(client, [weak, first, first_done](Peer peer) {
    auto self = weak.lock();
    if (!self) return;
    self->register_with(std::move(peer), [first, first_done](Result<void> r) {
      if (!first_done->exchange(true)) first->set_value(std::move(r));
    });
  });
  auto f = first->get_future();
  Result<void> outcome =
      f.wait_for(detail::ClientHooks::connect_timeout(client) + Millis{1000}) ==
              std::future_status::ready
          ? f.get()
          : make_error(StatusCode::deadline_exceeded, "the daemon did not answer the registration");
  if (!outcome) {
    detail::ClientHooks::remove_ready_hook(client, impl->hook);
    return tl::unexpected(outcome.error());
  }
  return std::make_unique<ServiceName>(std::move(impl));
}

ServiceName::ServiceName(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ServiceName::~ServiceName() {
  (void)release();
}

const std::string& ServiceName::name() const {
  return impl_->name;
}

NameState ServiceName::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

Result<void> ServiceName::release() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.released) return {};
    d.released = true;
  }
  detail::ClientHooks::remove_ready_hook(d.client, d.hook);
  if (d.client.state() != ConnectionState::connected) return {};  // the daemon let go already
  CallOptions co;
  co.timeout = detail::ClientHooks::connect_timeout(d.client);
  auto r = d.client.call("plexus.bus.release", nlohmann::json{{"name", d.name}}.dump(), co);
  if (!r) return tl::unexpected(r.error());
  return {};
}

}  // namespace plexus
