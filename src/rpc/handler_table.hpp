// The methods one side serves. Writers (registration) take a mutex and publish a new immutable
// map; sessions keep the snapshot and reload it only when the version moves, so a call's lookup
// takes no lock.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "observe/method_stats.hpp"
#include "plexus/call.hpp"
#include "plexus/stream.hpp"

namespace plexus::rpc {

// An answer with the response metadata a policy chain adds (cache hit/miss, age, handler time).
struct Answer {
  Result<std::string> result;
  ResponseInfo info;
};

// A handler's policies (src/policy/chain.hpp), run by the session in place of the handler.
class CallInterceptor {
 public:
  using Done = std::function<void(Answer)>;
  virtual ~CallInterceptor() = default;
  // The handler's own time limit; the session combines it with the caller's deadline.
  virtual std::optional<Millis> timeout() const = 0;
  // The handler's limit passed first: the session answered deadline_exceeded (counted here).
  virtual void on_timeout() = 0;
  // Runs the call through the policies and the handler. Called on the session's executor;
  // `done` runs exactly once, maybe before run() returns, maybe later on another thread.
  virtual void run(CallContext& ctx, std::string_view payload, Done done) = 0;
};

struct HandlerEntry {
  std::variant<SyncHandler, AsyncHandler, CoroHandler, StreamHandler> fn;
  // Null for handlers registered without options: the session calls `fn` directly.
  std::shared_ptr<CallInterceptor> policies;
  // Where the session records this method's calls; null when metrics are off.
  std::shared_ptr<observe::MethodStats> stats;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class HandlerTable {
 public:
  using Map = std::unordered_map<std::string, std::shared_ptr<const HandlerEntry>, StringHash,
                                 std::equal_to<>>;

  HandlerTable() : map_(std::make_shared<const Map>()) {}

  // Gives every method registered from now on its statistics (the server's metrics).
  using StatsFactory = std::function<std::shared_ptr<observe::MethodStats>(const std::string&)>;
  void set_stats_factory(StatsFactory factory) {
    std::lock_guard lock(mu_);
    stats_factory_ = std::move(factory);
  }

  void set(std::string name, HandlerEntry entry) {
    std::lock_guard lock(mu_);
    if (stats_factory_ && !entry.stats) entry.stats = stats_factory_(name);
    auto next = std::make_shared<Map>(*map_);
    (*next)[std::move(name)] = std::make_shared<const HandlerEntry>(std::move(entry));
    map_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

  void remove(std::string_view name) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<Map>(*map_);
    if (auto it = next->find(name); it != next->end()) next->erase(it);
    map_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

  std::shared_ptr<const Map> snapshot() const {
    std::lock_guard lock(mu_);
    return map_;
  }

  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // The entry that answers `method` when it has none of its own: "NAME/*" answers every
  // "NAME/METHOD", NAME being what comes before the first '/' (the bus's activation registers
  // one per service it can start; the handler sees the whole method name in its context).
  // Null when there is none.
  static std::shared_ptr<const HandlerEntry> find_fallback(const Map& map,
                                                           std::string_view method) {
    const auto slash = method.find('/');
    if (slash == std::string_view::npos || slash + 1 == method.size() || map.empty()) {
      return nullptr;
    }
    std::string key;
    key.reserve(slash + 2);
    key.append(method.substr(0, slash + 1)).push_back('*');
    const auto it = map.find(key);
    return it == map.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Map> map_;  // guarded by mu_
  StatsFactory stats_factory_;      // guarded by mu_
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace plexus::rpc
