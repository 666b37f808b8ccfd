#include "policy/cache.hpp"

namespace plexus::policy {

void ResponseCache::erase(Lru::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(std::string_view(it->key));
  if (!it->alias.empty()) index_.erase(std::string_view(it->alias));
  lru_.erase(it);
}

void ResponseCache::set_alias(Lru::iterator it, std::string_view alias) {
  if (alias.empty() || alias == it->key || alias == it->alias) return;
  // An alias is a request whose canonical form is this entry's key, so it can never name a
  // different entry; a stale mapping (defensive) is left alone rather than stolen.
  if (index_.contains(alias)) return;
  if (bytes_ - cost(*it) + it->key.size() + alias.size() + it->response->size() >
      options_.max_bytes) {
    return;  // an alias never evicts anything
  }
  bytes_ -= cost(*it);
  if (!it->alias.empty()) index_.erase(std::string_view(it->alias));
  it->alias.assign(alias);
  index_.emplace(std::string_view(it->alias), it);
  bytes_ += cost(*it);
}

void ResponseCache::add_alias(std::string_view key, std::string_view alias) {
  std::lock_guard lock(mu_);
  if (auto found = index_.find(key); found != index_.end() && found->second->key == key) {
    set_alias(found->second, alias);
  }
}

std::optional<ResponseCache::Hit> ResponseCache::get(std::string_view key, bool count_miss) {
  const auto now = clock_->now();
  std::lock_guard lock(mu_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    if (count_miss) bump(counters_.cache_misses);
    return std::nullopt;
  }
  auto it = found->second;
  const auto age = now - it->stored;
  if (age >= options_.ttl) {
    erase(it);
    bump(counters_.cache_expired);
    if (count_miss) bump(counters_.cache_misses);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  bump(counters_.cache_hits);
  return Hit{it->response, std::chrono::duration_cast<std::chrono::nanoseconds>(age),
             it->handler_time};
}

void ResponseCache::put(std::string key, std::string response,
                        std::chrono::nanoseconds handler_time, std::string_view alias) {
  const auto now = clock_->now();
  Entry entry{std::move(key),
              {},
              std::make_shared<const std::string>(std::move(response)),
              now,
              handler_time};
  const std::size_t size = cost(entry);
  if (size > options_.max_bytes || options_.max_entries == 0) return;
  std::lock_guard lock(mu_);
  if (auto found = index_.find(std::string_view(entry.key)); found != index_.end()) {
    erase(found->second);
  }
  while (!lru_.empty() &&
         (lru_.size() >= options_.max_entries || bytes_ + size > options_.max_bytes)) {
    erase(std::prev(lru_.end()));
    bump(counters_.cache_evictions);
  }
  lru_.push_front(std::move(entry));
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  bytes_ += size;
  set_alias(lru_.begin(), alias);
  bump(counters_.cache_stores);
}

std::size_t ResponseCache::invalidate(std::string_view prefix) {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (std::string_view(it->key).starts_with(prefix)) {
      erase(it);
      ++n;
    }
    it = next;
  }
  counters_.cache_invalidated.fetch_add(n, std::memory_order_relaxed);
  return n;
}

std::size_t ResponseCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

std::size_t ResponseCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace plexus::policy
