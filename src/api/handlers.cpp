#include "plexus/handlers.hpp"

#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "policy/chain.hpp"
#include "rpc/handler_table.hpp"
#include "rpc/offload.hpp"

namespace plexus {

// The chains of the methods that have policies, and the invalidation events. Shared with the
// `plexus.describe` handler, which must not keep the registry itself alive.
struct HandlerRegistry::Policies {
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<policy::Chain>, std::less<>> chains;  // guarded by mu
  std::map<std::string, std::vector<std::string>, std::less<>> events;        // guarded by mu

  // A handler registered again without options, or removed, has no chain any more.
  void forget(std::string_view method) {
    std::lock_guard lock(mu);
    if (auto it = chains.find(method); it != chains.end()) chains.erase(it);
  }

  std::shared_ptr<policy::Chain> find(std::string_view method) const {
    std::lock_guard lock(mu);
    auto it = chains.find(method);
    return it == chains.end() ? nullptr : it->second;
  }
};

namespace {

nlohmann::json describe_policies(const HandlerOptions& o) {
  nlohmann::json p = nlohmann::json::object();
  if (o.rate_limit) {
    auto limit = [](const RateLimit& r) {
      return nlohmann::json{{"per_second", r.per_second}, {"burst", r.burst}};
    };
    nlohmann::json r = nlohmann::json::object();
    if (o.rate_limit->per_handler) r["per_handler"] = limit(*o.rate_limit->per_handler);
    if (o.rate_limit->per_client) r["per_client"] = limit(*o.rate_limit->per_client);
    p["rate_limit"] = std::move(r);
  }
  if (o.cache) {
    p["cache"] = {{"ttl_ms", o.cache->ttl.count()},
                  {"max_entries", o.cache->max_entries},
                  {"max_bytes", o.cache->max_bytes}};
  }
  if (o.timeout) p["timeout_ms"] = o.timeout->count();
  if (o.offload) p["offload"] = true;
  if (o.breaker) {
    p["breaker"] = {{"failures_to_open", o.breaker->failures_to_open},
                    {"successes_to_close", o.breaker->successes_to_close},
                    {"open_ms", o.breaker->open_for.count()},
                    {"half_open_max_calls", o.breaker->half_open_max_calls}};
  }
  if (o.concurrency) {
    p["concurrency"] = {{"max_in_flight", o.concurrency->max_in_flight},
                        {"max_queue", o.concurrency->max_queue}};
  }
  return p;
}

}  // namespace

HandlerRegistry::HandlerRegistry()
    : table_(std::make_shared<rpc::HandlerTable>()), policies_(std::make_shared<Policies>()) {
  // Weak: the table owns this handler, so a strong reference would keep the table alive forever.
  std::weak_ptr<rpc::HandlerTable> table = table_;
  std::weak_ptr<Policies> policies = policies_;
  handle("plexus.describe",
         [table, policies](CallContext&, std::string_view) -> Result<std::string> {
           auto t = table.lock();
           auto p = policies.lock();
           if (!t || !p) return make_error(StatusCode::unavailable, "registry is gone");
           nlohmann::json methods = nlohmann::json::array();
           std::map<std::string, nlohmann::json> sorted;
           for (const auto& [name, entry] : *t->snapshot()) {
             nlohmann::json m{{"name", name}};
             if (auto chain = p->find(name)) {
               if (chain->options().schema) m["schema"] = *chain->options().schema;
               m["policies"] = describe_policies(chain->options());
             }
             sorted.emplace(name, std::move(m));
           }
           for (auto& [_, m] : sorted) methods.push_back(std::move(m));
           return nlohmann::json{{"methods", std::move(methods)}}.dump(
               -1, ' ', false, nlohmann::json::error_handler_t::replace);
         });
}
HandlerRegistry::~HandlerRegistry() = default;

// A handler registered without options replaces any chain the name had.
void HandlerRegistry::set_bare(std::string name, rpc::HandlerEntry entry) {
  policies_->forget(name);
  table_->set(std::move(name), std::move(entry));
}

void HandlerRegistry::handle(std::string name, SyncHandler handler) {
  set_bare(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr, nullptr});
}
void HandlerRegistry::handle_async(std::string name, AsyncHandler handler) {
  set_bare(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr, nullptr});
}
void HandlerRegistry::handle_coro(std::string name, CoroHandler handler) {
  set_bare(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr, nullptr});
}
void HandlerRegistry::handle_stream(std::string name, StreamHandler handler) {
  set_bare(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr, nullptr});
}

void HandlerRegistry::handle_stream(std::string name, StreamHandler handler,
                                    StreamHandlerOptions options) {
  if (options.offload) handler = rpc::offload(std::move(handler));
  handle_stream(std::move(name), std::move(handler));
}

template <typename Fn>
Result<void> HandlerRegistry::handle_with(std::string name, Fn handler, HandlerOptions options) {
  // Offloaded, the handler the chain runs is the wrapper that moves it to a worker: the
  // policies stay in front, on the I/O thread.
  policy::AnyHandler runs = options.offload ? policy::AnyHandler(rpc::offload(std::move(handler)))
                                            : policy::AnyHandler(std::move(handler));
  auto chain = policy::Chain::create(name, std::move(options), runs);
  if (!chain) return tl::unexpected(chain.error());
  {
    std::lock_guard lock(policies_->mu);
    policies_->chains[name] = *chain;
  }
  rpc::HandlerEntry entry{{}, *chain, nullptr};
  std::visit([&entry](auto&& fn) { entry.fn = std::move(fn); }, std::move(runs));
  table_->set(std::move(name), std::move(entry));
  return {};
}

Result<void> HandlerRegistry::handle(std::string name, SyncHandler handler,
                                     HandlerOptions options) {
  return handle_with(std::move(name), std::move(handler), std::move(options));
}
Result<void> HandlerRegistry::handle_async(std::string name, AsyncHandler handler,
                                           HandlerOptions options) {
  return handle_with(std::move(name), std::move(handler), std::move(options));
}
Result<void> HandlerRegistry::handle_coro(std::string name, CoroHandler handler,
                                          HandlerOptions options) {
  return handle_with(std::move(name), std::move(handler), std::move(options));
}

void HandlerRegistry::remove(std::string_view name) {
  policies_->forget(name);
  table_->remove(name);
}

std::optional<PolicyStats> HandlerRegistry::policy_stats(std::string_view method) const {
  auto chain = policies_->find(method);
  if (!chain) return std::nullopt;
  return chain->stats();
}

std::vector<std::shared_ptr<policy::Chain>> HandlerRegistry::policy_chains() const {
  std::vector<std::shared_ptr<policy::Chain>> out;
  std::lock_guard lock(policies_->mu);
  out.reserve(policies_->chains.size());
  for (const auto& [_, c] : policies_->chains) out.push_back(c);
  return out;
}

std::size_t HandlerRegistry::invalidate_cache(std::string_view method,
                                              std::string_view key_prefix) {
  auto chain = policies_->find(method);
  if (!chain || !chain->cache()) return 0;
  return chain->cache()->invalidate(key_prefix);
}

void HandlerRegistry::invalidate_on(std::string event, std::vector<std::string> methods) {
  std::lock_guard lock(policies_->mu);
  auto& list = policies_->events[std::move(event)];
  list.insert(list.end(), std::make_move_iterator(methods.begin()),
              std::make_move_iterator(methods.end()));
}

std::size_t HandlerRegistry::fire(std::string_view event) {
  std::vector<std::string> methods;
  {
    std::lock_guard lock(policies_->mu);
    auto it = policies_->events.find(event);
    if (it == policies_->events.end()) return 0;
    methods = it->second;
  }
  std::size_t dropped = 0;
  for (const auto& m : methods) dropped += invalidate_cache(m);
  return dropped;
}

std::size_t HandlerRegistry::warm_up() {
  std::vector<std::shared_ptr<policy::Chain>> chains;
  {
    std::lock_guard lock(policies_->mu);
    for (const auto& [_, c] : policies_->chains) chains.push_back(c);
  }
  std::size_t stored = 0;
  for (const auto& c : chains) stored += c->warm_up();  // user code: outside the lock
  return stored;
}

}  // namespace plexus
