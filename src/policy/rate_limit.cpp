#include "policy/rate_limit.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace plexus::policy {

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(limit_.burst, tokens_ + seconds * limit_.per_second);
  last_ = now;
}

std::optional<std::chrono::nanoseconds> TokenBucket::take(Clock::time_point now) {
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  if (limit_.per_second <= 0) return std::chrono::hours(24);  // never refills
  const double wait_s = (1.0 - tokens_) / limit_.per_second;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::ceil(wait_s * 1e9)));
}

bool TokenBucket::full(Clock::time_point now) {
  refill(now);
  return tokens_ >= limit_.burst;
}

namespace {
Result<void> refuse(std::string_view which, std::chrono::nanoseconds wait) {
  // Rounded up: retrying after retry_after_ms always finds a token.
  const auto ms = (wait.count() + 999'999) / 1'000'000;
  return make_error(
      StatusCode::resource_exhausted,
      "rate limit (" + std::string(which) + ") exceeded; retry after " + std::to_string(ms) + " ms",
      nlohmann::json{{"limit", which}, {"retry_after_ms", ms}}.dump());
}
}  // namespace

std::string_view RateLimiter::client_key(const PeerIdentity& peer, std::string& owned) const {
  switch (options_.client_key) {
    case ClientKey::uid:
      if (peer.uid) owned = std::to_string(*peer.uid);
      return owned;
    case ClientKey::pid:
      if (peer.pid) owned = std::to_string(*peer.pid);
      return owned;
    case ClientKey::verified:
      owned = peer.verified_key();
      return owned;
    case ClientKey::peer_name:
      break;
  }
  return peer.name;
}

void RateLimiter::make_room(Clock::time_point now) {
  // A full bucket is the same as a new one: dropping those loses nothing.
  for (auto it = clients_.begin(); it != clients_.end();) {
    it = it->second.full(now) ? clients_.erase(it) : std::next(it);
  }
  if (clients_.size() >= options_.max_clients && !clients_.empty()) {
    clients_.erase(clients_.begin());  // limit: still full of active clients; drop any one
  }
}

Result<void> RateLimiter::admit(const PeerIdentity& peer) {
  const auto now = clock_->now();
  std::lock_guard lock(mu_);
  if (options_.per_handler) {
    if (!handler_bucket_) handler_bucket_.emplace(*options_.per_handler, now);
    if (auto wait = handler_bucket_->take(now)) {
      bump(counters_.rate_limited_handler);
      return refuse("handler", *wait);
    }
  }
  if (options_.per_client) {
    std::string owned;
    const std::string_view key = client_key(peer, owned);
    auto it = clients_.find(key);
    if (it == clients_.end()) {
      if (clients_.size() >= options_.max_clients) make_room(now);
      it = clients_.emplace(std::string(key), TokenBucket(*options_.per_client, now)).first;
    }
    if (auto wait = it->second.take(now)) {
      bump(counters_.rate_limited_client);
      return refuse("client", *wait);
    }
  }
  bump(counters_.rate_allowed);
  return {};
}

}  // namespace plexus::policy
