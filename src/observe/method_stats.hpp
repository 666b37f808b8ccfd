// Statistics of one served method: calls, errors by status code, latency. A session reaches it
// through a pointer cached on the method's handler-table entry, so recording a call is a few
// relaxed atomic adds, with no lookup and no lock (the first error of a given code takes the
// family's lock once to create its counter).
// Ownership: shared by the handler-table entries of that name; the Registry must outlive it.
// Threading: record() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <string>

#include "observe/metrics.hpp"
#include "plexus/status.hpp"

namespace plexus::observe {

class MethodStats {
 public:
  // Registers (or finds) the server-side method families in `registry` and this method's
  // children in them.
  MethodStats(Registry& registry, std::string method);

  void record(StatusCode code, std::chrono::nanoseconds elapsed) noexcept {
    calls_.inc();
    latency_.record(static_cast<std::uint64_t>(elapsed.count() < 0 ? 0 : elapsed.count()));
    if (code != StatusCode::ok) error(code);
  }

 private:
  void error(StatusCode code) noexcept;

  std::string method_;
  Counter& calls_;
  Histogram& latency_;
  CounterFamily& errors_;
  // Counters of the codes seen so far, by code number; created on first use.
  std::array<std::atomic<Counter*>, 128> errors_by_code_{};
};

}  // namespace plexus::observe
