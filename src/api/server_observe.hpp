// The server's observability state, private to src/api (server.cpp, server_observe.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "observe/http_endpoint.hpp"
#include "observe/metrics.hpp"
#include "plexus/server.hpp"
#include "rpc/stream_core.hpp"
#include "transport/connection.hpp"

namespace plexus {

struct Server::Observability {
  explicit Observability(observe::Registry& r) : registry(r) {}

  observe::Registry& registry;
  std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> collectors;  // removed in ~Server
  std::vector<std::uint64_t> sections;    // status-page sections, removed in ~Server
  // What every stream of this server's sessions did (SessionOptions::stream_totals).
  std::shared_ptr<rpc::StreamTotals> streams = std::make_shared<rpc::StreamTotals>();
  observe::Counter* heartbeat_failures = nullptr;
  // Transport counts of the connections already closed, by transport ("unix", "tcp").
  std::map<std::string, transport::ConnectionStats> closed_traffic;  // guarded by Server::mu_
  std::unique_ptr<observe::HttpEndpoint> http;
};

// "unix" or "tcp" from a connection's description ("unix:///path fd=7").
std::string transport_kind(const std::string& description);

}  // namespace plexus
