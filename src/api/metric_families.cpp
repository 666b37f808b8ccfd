#include "api/metric_families.hpp"

#include <nlohmann/json.hpp>

namespace plexus {
namespace {
constexpr policy::BreakerState kStates[] = {
    policy::BreakerState::closed, policy::BreakerState::open, policy::BreakerState::half_open};
}  // namespace

void add_breaker_metrics(observe::Registry& registry, BreakerRows rows,
                         std::vector<std::uint64_t>& collectors,
                         std::vector<std::uint64_t>& sections) {
  using observe::MetricType;
  using observe::Sample;
  collectors.push_back(registry.add_collector(
      "plexus_breaker_state",
      "Circuit breaker state, one-hot: 1 for the state the breaker is in (closed, open, "
      "half_open), 0 for the others",
      MetricType::gauge, {"side", "target", "method", "state"}, [rows](std::vector<Sample>& out) {
        for (const auto& r : rows()) {
          for (const auto s : kStates) {
            out.push_back({{r.side, r.target, r.method, std::string(policy::to_string(s))},
                           r.state == s ? 1.0 : 0.0,
                           {}});
          }
        }
      }));
  collectors.push_back(registry.add_collector(
      "plexus_breaker_transitions_total", "Circuit breaker state changes, by the state entered",
      MetricType::counter, {"side", "target", "method", "to"}, [rows](std::vector<Sample>& out) {
        for (const auto& r : rows()) {
          out.push_back({{r.side, r.target, r.method, "open"},
                         static_cast<double>(r.stats.breaker_opened),
                         {}});
          out.push_back({{r.side, r.target, r.method, "half_open"},
                         static_cast<double>(r.stats.breaker_half_opened),
                         {}});
          out.push_back({{r.side, r.target, r.method, "closed"},
                         static_cast<double>(r.stats.breaker_closed),
                         {}});
        }
      }));
  collectors.push_back(registry.add_collector(
      "plexus_breaker_rejections_total",
      "Calls a circuit breaker failed fast (unavailable) because it was open or its half-open "
      "trials were all in flight",
      MetricType::counter, {"side", "target", "method"}, [rows](std::vector<Sample>& out) {
        for (const auto& r : rows()) {
          out.push_back(
              {{r.side, r.target, r.method}, static_cast<double>(r.stats.breaker_rejected), {}});
        }
      }));
  sections.push_back(registry.add_section("breakers", [rows] {
    auto out = nlohmann::json::array();
    for (const auto& r : rows()) {
      out.push_back({{"method", r.method},
                     {"side", r.side},
                     {"target", r.target},
                     {"state", policy::to_string(r.state)},
                     {"opened", r.stats.breaker_opened},
                     {"rejected", r.stats.breaker_rejected},
                     {"failures", r.stats.breaker_failures},
                     {"successes", r.stats.breaker_successes}});
    }
    return out;
  }));
}

void add_stream_metrics(observe::Registry& registry, const std::string& side,
                        std::shared_ptr<rpc::StreamTotals> totals,
                        std::vector<std::uint64_t>& collectors) {
  using observe::MetricType;
  using observe::Sample;
  auto read = [](const std::atomic<std::uint64_t>& c) {
    return static_cast<double>(c.load(std::memory_order_relaxed));
  };
  collectors.push_back(registry.add_collector(
      "plexus_streams_open", "Streams open now", MetricType::gauge, {"side"},
      [side, totals](std::vector<Sample>& out) {
        out.push_back(
            {{side}, static_cast<double>(totals->open.load(std::memory_order_relaxed)), {}});
      }));
  collectors.push_back(registry.add_collector(
      "plexus_streams_started_total",
      "Streams started: opened by this side (STREAM_OPEN sent) or accepted from the peer",
      MetricType::counter, {"side", "direction"}, [side, totals, read](std::vector<Sample>& out) {
        out.push_back({{side, "opened"}, read(totals->opened), {}});
        out.push_back({{side, "accepted"}, read(totals->accepted), {}});
      }));
  collectors.push_back(registry.add_collector(
      "plexus_stream_items_total", "Stream items sent and received", MetricType::counter,
      {"side", "direction"}, [side, totals, read](std::vector<Sample>& out) {
        out.push_back({{side, "sent"}, read(totals->items_sent), {}});
        out.push_back({{side, "received"}, read(totals->items_received), {}});
      }));
  collectors.push_back(registry.add_collector(
      "plexus_stream_bytes_total", "Stream item payload bytes sent and received",
      MetricType::counter, {"side", "direction"}, [side, totals, read](std::vector<Sample>& out) {
        out.push_back({{side, "sent"}, read(totals->bytes_sent), {}});
        out.push_back({{side, "received"}, read(totals->bytes_received), {}});
      }));
  collectors.push_back(registry.add_collector(
      "plexus_stream_credit_waits_total",
      "Stream writes that had to wait for the reader to grant credit (backpressure)",
      MetricType::counter, {"side"}, [side, totals, read](std::vector<Sample>& out) {
        out.push_back({{side}, read(totals->credit_waits), {}});
      }));
}

}  // namespace plexus
