// Reconnect delays: exponential backoff with jitter. Pure, so tests check it exactly.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>

namespace plexus::rpc {

struct BackoffPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5000};
  double multiplier = 2.0;
  double jitter = 0.2;  // fraction of the delay taken off at random
};

// Delay before attempt `attempt` (0-based): min(max, initial * multiplier^attempt), less a random
// share of up to `jitter` of it (`unit_random` in [0, 1)), so that many clients restarting at
// once spread their reconnects.
inline std::chrono::milliseconds backoff_delay(const BackoffPolicy& p, int attempt,
                                               double unit_random) {
  const double base = static_cast<double>(p.initial.count()) *
                      std::pow(p.multiplier, static_cast<double>(std::max(0, attempt)));
  const double capped = std::min(base, static_cast<double>(p.max.count()));
  const double jitter = std::clamp(p.jitter, 0.0, 1.0) * std::clamp(unit_random, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(std::llround(capped * (1.0 - jitter))));
}

}  // namespace plexus::rpc
