// Monotonic time at the last timer tick (CLOCK_MONOTONIC_COARSE, the clock steady_clock reads
// finely): ~10 ns against ~30 ns for steady_clock::now(), and exact to a few milliseconds, which
// is what heartbeats and idle checks need (docs/decisions/0011-coarse-clock.md).
#pragma once

#include <time.h>

#include <chrono>

namespace plexus::platform {

inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                               std::chrono::nanoseconds(ts.tv_nsec));
}

}  // namespace plexus::platform
