// Policy rows: what the full handler-policy chain costs, against the same handler without it,
// in the same run. The handler stands for a small search: it parses its JSON request and
// hashes the query 64 times (a few microseconds of work), then answers with the request.
// One server registers it three times:
//   policy-bare        "search": the handler without options
//   policy-chain-hit   "search-hit": every policy on (rate limits per handler and per client,
//                      JSON Schema, cache, timeout, breaker, concurrency limit) with a working
//                      cache: after the first call every call is answered from the cache
//                      without running the handler
//   policy-chain-miss  "search-miss": the same chain whose cache keeps nothing (max_entries 0),
//                      so every call looks up, misses and runs the handler
// The three differ by a few microseconds in a round trip that the VM's wake-ups make tens of
// microseconds noisy, so they are measured together: round trips take turns (bare, hit, miss,
// bare, …) on one connection, each completion starting the next call on the client's I/O
// thread; pipelined calls run in slices that take turns the same way. The summary below the
// table gives each chain row as a ratio to policy-bare.
#include <algorithm>
#include <array>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "plexus_drivers.hpp"
#include "rr_case.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

namespace plexus_bench {
namespace {

constexpr int kIoThreads = 1;  // the drivers' counters are touched by one I/O thread only
// Pipelined calls of each method run in this many slices, taking turns with the other methods.
constexpr std::uint64_t kPipelineSlices = 10;
const std::array<std::string, 3> kMethods = {"search", "search-hit", "search-miss"};

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

void serve(const std::string& path, const std::function<void()>& ready) {
  plexus::Runtime runtime(plexus::RuntimeOptions{kIoThreads});
  std::promise<void> bye;
  auto bye_said = bye.get_future();
  plexus::ServerOptions options;
  options.listen = {"unix://" + path};
  options.name = "plexus-bench-policy";
  auto server = unwrap(plexus::Server::create(runtime, std::move(options)), "Server::create");
  server->handle(kMethods[0], search);
  check(server->handle(kMethods[1], search, full_chain(true)), "register search-hit");
  check(server->handle(kMethods[2], search, full_chain(false)), "register search-miss");
  server->handle("bye", [&bye, said = false](plexus::CallContext&, std::string_view) mutable {
    if (!std::exchange(said, true)) bye.set_value();
    return plexus::Result<std::string>(std::string());
  });
  check(server->start(), "Server::start");
  ready();
  bye_said.wait();
  server->shutdown(plexus::Millis{1000});
}

RrResult run_policy(const RrParams& params) {
  setenv("PLEXUS_LOG", "warn", 0);
  const std::string path = params.scratch_dir + "/policy.sock";
  SocketFileGuard guard(path);
  ServerProcess server([&](const std::function<void()>& ready) { serve(path, ready); });
  std::array<RrResult, kMethods.size()> results;
  {
    // Drivers before the client: its close() completes calls still in flight (see
    // plexus_drivers.hpp); the runtime joins its thread before they go.
    Pipeliner pipeliner;
    RoundTripper round_tripper;
    plexus::Runtime runtime(plexus::RuntimeOptions{kIoThreads});
    plexus::ClientOptions options;
    options.address = "unix://" + path;
    options.name = "plexus-bench-client";
    options.reconnect.enabled = false;
    auto client = unwrap(plexus::Client::connect(runtime, options), "connect");
    const std::string query(std::max<std::size_t>(params.payload_size, 8) - 8, 'x');
    const std::string payload = nlohmann::json{{"q", query}}.dump();

    auto samples =
        round_tripper.run(runtime, *client, params, {kMethods.begin(), kMethods.end()}, payload);
    const std::uint64_t slice =
        std::max<std::uint64_t>(params.pipelined_count / kPipelineSlices, 1);
    for (std::size_t m = 0; m < kMethods.size(); ++m) {
      results[m].rt_us = std::move(samples[m]);
      results[m].pipeline_mode = PipelineMode::windowed;
    }
    for (std::uint64_t done = 0; done < params.pipelined_count; done += slice) {
      const std::uint64_t n = std::min(slice, params.pipelined_count - done);
      for (std::size_t m = 0; m < kMethods.size(); ++m) {
        results[m].pipelined_seconds +=
            pipeliner.run(runtime, *client, kMethods[m], payload, n, params.window);
        results[m].pipelined_calls += n;
      }
    }
    unwrap(client->call("bye", ""), "bye");
    client->close();
  }
  if (!server.join(5000)) throw std::runtime_error("policy bench server did not exit cleanly");
  RrResult bare = std::move(results[0]);
  bare.companions = {std::move(results[1]), std::move(results[2])};
  return bare;
}

const RrRegistrar policy_case{
    RrCase{"policy-bare", run_policy, {"policy-chain-hit", "policy-chain-miss"}}};

}  // namespace
}  // namespace plexus_bench
