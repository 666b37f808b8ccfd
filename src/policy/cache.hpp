// Response cache policy: one LRU per handler, bounded by entries and bytes, entries expire after
// a TTL. A hit hands out the stored response by shared pointer (no copy under the lock).
// Thread-safe (one mutex); time comes from the Clock.
#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "plexus/policy.hpp"
#include "policy/stats.hpp"

namespace plexus::policy {

class ResponseCache {
 public:
  struct Hit {
    std::shared_ptr<const std::string> response;
    std::chrono::nanoseconds age{0};
    std::chrono::nanoseconds handler_time{0};  // what the handler took when the entry was made
  };

  ResponseCache(CacheOptions options, std::shared_ptr<const Clock> clock, PolicyCounters& counters)
      : options_(std::move(options)), clock_(std::move(clock)), counters_(counters) {}

  const CacheOptions& options() const { return options_; }
  // A fresh entry whose key or alias is `key`, or nullopt (an expired entry is dropped). A miss
  // is counted unless `count_miss` is false (a first, cheap probe that another lookup follows).
  std::optional<Hit> get(std::string_view key, bool count_miss = true);
  // Stores (replacing any entry for `key`); an entry larger than max_bytes is not kept. `alias`
  // (when not empty and not the key itself) finds the entry too: the raw request bytes whose
  // canonical form is `key`, so that the same bytes next time are a hit without a JSON parse.
  void put(std::string key, std::string response, std::chrono::nanoseconds handler_time,
           std::string_view alias = {});
  // Makes `alias` find the entry stored under `key` (replacing that entry's previous alias).
  void add_alias(std::string_view key, std::string_view alias);
  // Drops every entry (prefix empty) or those whose key starts with `prefix`; returns how many.
  std::size_t invalidate(std::string_view prefix = {});
  std::size_t size() const;
  std::size_t bytes() const;

 private:
  struct Entry {
    std::string key;
    std::string alias;  // empty: none
    std::shared_ptr<const std::string> response;
    Clock::time_point stored;
    std::chrono::nanoseconds handler_time;
  };
  using Lru = std::list<Entry>;  // front: most recently used
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void erase(Lru::iterator it);
  void set_alias(Lru::iterator it, std::string_view alias);  // under mu_
  static std::size_t cost(const Entry& e) {
    return e.key.size() + e.alias.size() + e.response->size();
  }

  CacheOptions options_;
  std::shared_ptr<const Clock> clock_;
  PolicyCounters& counters_;
  mutable std::mutex mu_;
  Lru lru_;  // guarded by mu_
  std::unordered_map<std::string_view, Lru::iterator, Hash, std::equal_to<>> index_;  // by mu_
  std::size_t bytes_ = 0;  // guarded by mu_
};

}  // namespace plexus::policy
