#include "rpc/heartbeat.hpp"

#include <algorithm>
#include <string>

namespace plexus::rpc {

Millis Heartbeat::period() const {
  Millis tick = interval_.count() > 0 ? interval_ : Millis{0};
  if (timeout_.count() > 0) {
    // Often enough to notice a silent peer within the timeout.
    const Millis quarter{std::max<Millis::rep>(1, timeout_.count() / 4)};
    if (tick.count() <= 0 || quarter < tick) tick = quarter;
  }
  return tick;
}

Heartbeat::Verdict Heartbeat::tick(Clock::time_point now) {
  Verdict v;
  const auto silent = std::chrono::duration_cast<Millis>(now - last_rx_);
  if (timeout_.count() > 0 && silent >= timeout_) {
    v.dead = Error{StatusCode::unavailable,
                   "peer silent for " + std::to_string(silent.count()) + " ms (heartbeat timeout " +
                       std::to_string(timeout_.count()) + " ms)",
                   {}};
  } else if (interval_.count() > 0 && silent >= interval_) {
    v.ping_nonce = ++nonce_;
  }
  return v;
}

std::uint64_t Heartbeat::start_ping(Clock::time_point now, PingDone done) {
  const auto nonce = ++nonce_;
  pings_.emplace(nonce, PendingPing{now, std::move(done)});
  return nonce;
}

void Heartbeat::pong(std::uint64_t nonce, Clock::time_point now) {
  // Heartbeat pongs only prove the peer alive; an explicit ping waits for its nonce.
  auto it = pings_.find(nonce);
  if (it == pings_.end()) return;
  auto p = std::move(it->second);
  pings_.erase(it);
  p.done(std::chrono::duration_cast<std::chrono::nanoseconds>(now - p.sent));
}

void Heartbeat::fail_pings(const Error& error) {
  auto pings = std::move(pings_);
  pings_.clear();
  for (auto& [_, p] : pings) p.done(tl::unexpected(error));
}

}  // namespace plexus::rpc
