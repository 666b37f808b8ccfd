// Policy rows: what the full handler-policy chain costs, against the same handler without it,
// in the same run. The handler stands for a small search: it parses its JSON request and
// hashes the query 64 times (a few microseconds of work), then answers with the request.
//   policy-bare        the handler registered without options
//   policy-chain-miss  every policy on (rate limits per handler and per client, JSON Schema,
//                      cache, timeout, breaker, concurrency limit); the cache keeps nothing
//                      (max_entries 0), so every call looks up, misses and runs the handler
//   policy-chain-hit   the same chain with a working cache: after the first call every call
//                      is answered from the cache without running the handler
// Calls are blocking client.call() from the benchmark thread (sequential, shown as (seq));
// the summary below the table gives each chain row as a ratio to policy-bare.
#include <algorithm>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <string>

#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

namespace plexus_bench {
namespace {

enum class Mode { bare, chain_miss, chain_hit };

plexus::Result<std::string> search(plexus::CallContext&, std::string_view payload) {
  const auto request = nlohmann::json::parse(payload);
  const auto& q = request.at("q").get_ref<const std::string&>();
  std::size_t h = 0;
  for (int i = 0; i < 64; ++i) h = std::hash<std::string_view>{}(q) ^ (h << 1);
  if (h == 42) return std::string("{}");  // keeps the work from being optimized away
  return std::string(payload);
}

plexus::HandlerOptions full_chain(bool cache_keeps_entries) {
  plexus::HandlerOptions o;
  o.schema = nlohmann::json::parse(
      R"({"type":"object","required":["q"],"properties":{"q":{"type":"string"}}})");
  o.rate_limit = plexus::RateLimitOptions{};
  o.rate_limit->per_handler = plexus::RateLimit{1e9, 1e9};
  o.rate_limit->per_client = plexus::RateLimit{1e9, 1e9};
  o.cache = plexus::CacheOptions{};
  if (!cache_keeps_entries) o.cache->max_entries = 0;
  o.timeout = plexus::Millis{10000};
  o.breaker = plexus::BreakerOptions{};
  o.concurrency = plexus::ConcurrencyOptions{};
  return o;
}

void serve(const std::string& path, Mode mode, const std::function<void()>& ready) {
  plexus::Runtime runtime;
  std::promise<void> bye;
  auto bye_said = bye.get_future();
  plexus::ServerOptions options;
  options.listen = {"unix://" + path};
  options.name = "plexus-bench-policy";
  auto server = plexus::Server::create(runtime, std::move(options));
  if (!server) throw std::runtime_error(server.error().to_string());
  if (mode == Mode::bare) {
    (*server)->handle("search", search);
  } else if (!(*server)->handle("search", search, full_chain(mode == Mode::chain_hit))) {
    throw std::runtime_error("policy registration failed");
  }
  (*server)->handle("bye", [&bye, said = false](plexus::CallContext&, std::string_view) mutable {
    if (!std::exchange(said, true)) bye.set_value();
    return plexus::Result<std::string>(std::string());
  });
  if (auto started = (*server)->start(); !started) {
    throw std::runtime_error(started.error().to_string());
  }
  ready();
  bye_said.wait();
  (*server)->shutdown(plexus::Millis{1000});
}

RrResult run_policy(const RrParams& params, const char* file, Mode mode) {
  setenv("PLEXUS_LOG", "warn", 0);
  const std::string path = params.scratch_dir + "/" + file;
  SocketFileGuard guard(path);
  ServerProcess server([&](const std::function<void()>& ready) { serve(path, mode, ready); });
  RrResult result;
  {
    plexus::Runtime runtime;
    plexus::ClientOptions options;
    options.address = "unix://" + path;
    options.name = "plexus-bench-client";
    options.reconnect.enabled = false;
    auto client = plexus::Client::connect(runtime, options);
    if (!client) throw std::runtime_error(client.error().to_string());
    const std::string query(std::max<std::size_t>(params.payload_size, 8) - 8, 'x');
    const std::string payload = nlohmann::json{{"q", query}}.dump();
    const auto call = [&] {
      auto reply = (*client)->call("search", payload);
      if (!reply) throw std::runtime_error("search failed: " + reply.error().to_string());
      if (reply->size() != payload.size()) throw std::runtime_error("bad search reply size");
    };
    result.rt_us = time_round_trips(params, call);
    result.pipelined_calls = std::min(params.pipelined_count, params.rt_count);
    result.pipelined_seconds = time_sequential(result.pipelined_calls, call);
    result.pipeline_mode = PipelineMode::sequential;
    (void)(*client)->call("bye", "");
    (*client)->close();
  }
  if (!server.join(5000)) throw std::runtime_error("policy bench server did not exit cleanly");
  return result;
}

const RrRegistrar bare_case{RrCase{"policy-bare", [](const RrParams& p) {
                                     return run_policy(p, "policy-bare.sock", Mode::bare);
                                   }}};
const RrRegistrar miss_case{RrCase{"policy-chain-miss", [](const RrParams& p) {
                                     return run_policy(p, "policy-miss.sock", Mode::chain_miss);
                                   }}};
const RrRegistrar hit_case{RrCase{"policy-chain-hit", [](const RrParams& p) {
                                    return run_policy(p, "policy-hit.sock", Mode::chain_hit);
                                  }}};

}  // namespace
}  // namespace plexus_bench
