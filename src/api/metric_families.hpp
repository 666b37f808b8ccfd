// Metric families that both a Server and a Client feed, so each is registered with the same
// labels in one place. Private to src/api.
//
// Circuit breakers: the server has one per handler with BreakerOptions, the client one per
// method on its target (ClientOptions::breaker):
//
//   plexus_breaker_state{side,target,method,state}       gauge, one-hot: 1 on the current state
//                                                          (closed | open | half_open), 0 on
//                                                          the other two
//   plexus_breaker_transitions_total{side,target,method,to}  counter (to: open|half_open|closed)
//   plexus_breaker_rejections_total{side,target,method}      counter: calls failed fast
//
// side is "server" or "client"; target is the server's name (server side) or the address the
// client dials (client side).
//
// Streams, per owner (side = "server" or "client"), from rpc::StreamTotals:
//
//   plexus_streams_open{side}                     gauge
//   plexus_streams_started_total{side,direction}  counter (direction: opened = this side sent
//                                                 STREAM_OPEN, accepted = the peer did)
//   plexus_stream_items_total{side,direction}     counter (direction: sent | received)
//   plexus_stream_bytes_total{side,direction}     counter, item payload bytes
//   plexus_stream_credit_waits_total{side}        counter: writes that waited for credit
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "observe/metrics.hpp"
#include "plexus/policy.hpp"
#include "policy/breaker.hpp"
#include "rpc/stream_core.hpp"

namespace plexus {

struct BreakerRow {
  std::string side;
  std::string target;
  std::string method;
  policy::BreakerState state = policy::BreakerState::closed;
  PolicyStats stats;
};
using BreakerRows = std::function<std::vector<BreakerRow>()>;

// Registers the three breaker families and the "breakers" status-page section, all reading
// `rows` at scrape time. Returns the collector ids and the section id through the vectors, for
// the owner to remove before what `rows` reads goes away.
void add_breaker_metrics(observe::Registry& registry, BreakerRows rows,
                         std::vector<std::uint64_t>& collectors,
                         std::vector<std::uint64_t>& sections);

// Registers the stream families for one owner's totals (appended to `collectors`).
void add_stream_metrics(observe::Registry& registry, const std::string& side,
                        std::shared_ptr<rpc::StreamTotals> totals,
                        std::vector<std::uint64_t>& collectors);

}  // namespace plexus
