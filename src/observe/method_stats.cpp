#include "observe/method_stats.hpp"

namespace plexus::observe {

MethodStats::MethodStats(Registry& registry, std::string method)
    : method_(std::move(method)),
      calls_(registry
                 .counter("plexus_rpc_server_calls_total",
                          "Calls served, by method (every outcome)", {"method"})
                 .with({method_})),
      latency_(registry
                   .histogram("plexus_rpc_server_latency_seconds",
                              "Time from a request's arrival to its answer being queued",
                              {"method"})
                   .with({method_})),
      errors_(registry.counter("plexus_rpc_server_errors_total",
                               "Calls answered with an error, by method and status code",
                               {"method", "code"})) {}

void MethodStats::error(StatusCode code) noexcept {
  const auto n = static_cast<std::size_t>(code);
  if (n >= errors_by_code_.size()) {
    errors_.with({method_, std::string(to_string(code))}).inc();  // no such code today
    return;
  }
  auto* c = errors_by_code_[n].load(std::memory_order_acquire);
  if (!c) {
    c = &errors_.with({method_, std::string(to_string(code))});
    errors_by_code_[n].store(c, std::memory_order_release);  // racing writers store the same
  }
  c->inc();
}

}  // namespace plexus::observe
