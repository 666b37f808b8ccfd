// plexus_bench_nats: a call across the NATS bridge beside a bare NATS request/reply, in one run.
//
// One nats-server on loopback and two `plexus serve` daemons bridged through it: `a` (--demo)
// exports `echo`, `b` imports it as `a.echo` (docs/PROTOCOL.md §25). Rows, one call at a time:
//   nats-request        the NATS C client: natsConnection_Request to a responder on a second
//                       connection of this process, which publishes the payload back (the
//                       baseline: what NATS alone costs between two hosts' programs)
//   plexus-nats-bridge  a plexus client calls `a.echo` on daemon b: b -> NATS -> a's bridge ->
//                       a's echo and back (what an application sees across hosts)
//   plexus-nats-bridge-block  the same through a second pair of daemons started with
//                       --idle-wait block: their I/O threads sleep at once instead of polling,
//                       leaving the CPU to the NATS client's threads on a small machine
//   plexus-direct       the same client calls `echo` on daemon a over its Unix socket (context:
//                       one local plexus round trip)
// Round-trip p50/p99 per payload size; ratios to nats-request (target for the bridge: <= 1.30).
//
// usage: plexus_bench_nats [--quick] [--reps N] [--json PATH]
#include <nats/nats.h>
#include "bench_args.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "exec_child.hpp"
#include "machine_info.hpp"
#include "nats_server.hpp"
#include "plexus/plexus.hpp"
#include "scratch_dir.hpp"

#ifndef PLEXUS_BENCH_NATS_SERVER
#error "bench/CMakeLists.txt defines PLEXUS_BENCH_NATS_SERVER (the nats-server program)"
#endif
#ifndef PLEXUS_CLI_PATH
#error "bench/CMakeLists.txt defines PLEXUS_CLI_PATH (the plexus CLI)"
#endif

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

void check(natsStatus s, const char* what) {
  if (s == NATS_OK) return;
  std::string msg = std::string("NATS ") + what + ": " + natsStatus_GetText(s);
  if (const char* last = nats_GetLastError(nullptr); last && *last) msg += ": " + std::string(last);
  throw std::runtime_error(msg);
}

// The baseline's responder: the request's payload back to its reply subject.
void echo_back(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  if (const char* reply = natsMsg_GetReply(msg)) {
    natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  }
  natsMsg_Destroy(msg);
}

// Round trips of `call` in microseconds, after `warmup` untimed ones.
std::vector<double> time_calls(std::size_t n, std::size_t warmup,
                               const std::function<void()>& call) {
  for (std::size_t i = 0; i < warmup; ++i) call();
  std::vector<double> us;
  us.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto start = Clock::now();
    call();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return us;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

double median(std::vector<double> v) {
  return quantile(std::move(v), 0.5);
}

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

struct Row {
  std::string name;
  std::size_t payload = 0;
  std::vector<double> p50s, p99s;  // one per repetition
  std::string error;
};

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  using namespace plexus_bench;
  if (!std::getenv("PLEXUS_LOG")) plexus::set_log_level(plexus::LogLevel::warn);
  BenchArgs args{"bench/results/nats.json"};
  if (!parse_bench_args(argc, argv, "plexus_bench_nats", args)) return 2;
  const std::string& json_path = args.json_path;
  const int reps = args.reps;
  const bool quick = args.quick;
  const std::size_t calls = quick ? 2'000 : 20'000;
  const std::size_t warmup = quick ? 200 : 1'000;
  const std::vector<std::size_t> payloads = {64, 4096};
  std::vector<Row> rows;
  try {
    ScratchDir dir;
    const auto& root = dir.path();
    const int port = free_port();
    const std::string url = "nats://127.0.0.1:" + std::to_string(port);
    ExecChild nats({PLEXUS_BENCH_NATS_SERVER, "-a", "127.0.0.1", "-p", std::to_string(port)},
                   root + "/nats-server.log");
    wait_accepting(nats, port, root + "/nats-server.log");

    plexus::Runtime runtime;
    // Two pairs of daemons, each pair in its own subject space: their I/O threads idle as the
    // default (adaptive: they poll a while before sleeping) or block at once.
    struct Pair {
      std::unique_ptr<ExecChild> a, b;
      std::unique_ptr<plexus::Client> client_a, client_b;
    };
    auto start_pair = [&](const std::string& idle_wait) {
      const auto base = root + "/" + idle_wait;
      const auto nats_table = "[nats]\nurl = \"" + url + "\"\nprefix = \"" + idle_wait + "\"\n";
      const auto config_a = write(base + "-a.toml", nats_table + "export-methods = [\"echo\"]\n");
      const auto config_b =
          write(base + "-b.toml", nats_table + "import-methods = [\"a.echo=echo\"]\n");
      const std::string sock_a = "unix://" + base + "-a.sock";
      const std::string sock_b = "unix://" + base + "-b.sock";
      Pair pair;
      pair.a = std::make_unique<ExecChild>(
          std::vector<std::string>{PLEXUS_CLI_PATH, "serve", "--demo", "--no-http", "--idle-wait",
                                   idle_wait, "--listen", sock_a, "--config", config_a},
          base + "-a.log");
      pair.b = std::make_unique<ExecChild>(
          std::vector<std::string>{PLEXUS_CLI_PATH, "serve", "--no-http", "--idle-wait", idle_wait,
                                   "--listen", sock_b, "--config", config_b},
          base + "-b.log");
      auto connect = [&](const std::string& address) {
        plexus::ClientOptions o;
        o.address = address;
        o.wait_for_server = plexus::Millis{10000};
        auto c = plexus::Client::connect(runtime, o);
        if (!c) throw std::runtime_error("connect " + address + ": " + c.error().to_string());
        return std::move(*c);
      };
      pair.client_a = connect(sock_a);
      pair.client_b = connect(sock_b);
      // b serves a.echo once its bridge is up (it listens a moment before).
      for (const auto until = Clock::now() + std::chrono::seconds(10);;) {
        auto r = pair.client_b->call("a.echo", "{}");
        if (r) break;
        if (Clock::now() > until) {
          throw std::runtime_error("a.echo through the bridge: " + r.error().to_string() + "; " +
                                   tail_of_file(base + "-b.log", 5));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return pair;
    };
    Pair adaptive = start_pair("adaptive");
    Pair block = start_pair("block");

    natsConnection* responder = nullptr;
    natsConnection* requester = nullptr;
    natsSubscription* sub = nullptr;
    // The responder writes each reply at once, as the C client's documentation advises for a
    // replier (and as the bridge does); its requests Request() sends at once by itself.
    natsOptions* responder_options = nullptr;
    check(natsOptions_Create(&responder_options), "options");
    check(natsOptions_SetURL(responder_options, url.c_str()), "options");
    check(natsOptions_SetSendAsap(responder_options, true), "options");
    check(natsConnection_Connect(&responder, responder_options), "connect the responder");
    natsOptions_Destroy(responder_options);
    check(natsConnection_ConnectTo(&requester, url.c_str()), "connect the requester");
    check(natsConnection_Subscribe(&sub, responder, "bench.echo", echo_back, nullptr), "subscribe");
    check(natsConnection_Flush(responder), "flush");

    for (const auto size : payloads) {
      // A JSON string of `size` bytes: the demo echo takes any payload, and so does NATS.
      const std::string payload = "\"" + std::string(size > 2 ? size - 2 : 0, 'p') + "\"";
      Row nats_row{"nats-request", size, {}, {}, {}};
      Row bridge_row{"plexus-nats-bridge", size, {}, {}, {}};
      Row bridge_block_row{"plexus-nats-bridge-block", size, {}, {}, {}};
      Row direct_row{"plexus-direct", size, {}, {}, {}};
      for (int rep = 0; rep < reps; ++rep) {
        // The rows take turns in each repetition, so a busy moment of the machine falls on all.
        auto us = time_calls(calls, warmup, [&] {
          natsMsg* reply = nullptr;
          check(natsConnection_Request(&reply, requester, "bench.echo", payload.data(),
                                       static_cast<int>(payload.size()), 5000),
                "request");
          if (natsMsg_GetDataLength(reply) != static_cast<int>(payload.size()))
            throw std::runtime_error("NATS echoed another payload");
          natsMsg_Destroy(reply);
        });
        nats_row.p50s.push_back(quantile(us, 0.5));
        nats_row.p99s.push_back(quantile(us, 0.99));
        for (auto* row : {&bridge_row, &bridge_block_row}) {
          auto& client = *(row == &bridge_row ? adaptive : block).client_b;
          us = time_calls(calls, warmup, [&] {
            auto r = client.call("a.echo", payload);
            if (!r) throw std::runtime_error("a.echo: " + r.error().to_string());
            if (r->size() != payload.size()) throw std::runtime_error("a.echo: another payload");
          });
          row->p50s.push_back(quantile(us, 0.5));
          row->p99s.push_back(quantile(us, 0.99));
        }
        us = time_calls(calls, warmup, [&] {
          auto r = adaptive.client_a->call("echo", payload);
          if (!r) throw std::runtime_error("echo: " + r.error().to_string());
        });
        direct_row.p50s.push_back(quantile(us, 0.5));
        direct_row.p99s.push_back(quantile(us, 0.99));
      }
      rows.push_back(std::move(nats_row));
      rows.push_back(std::move(bridge_row));
      rows.push_back(std::move(bridge_block_row));
      rows.push_back(std::move(direct_row));
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    natsConnection_Close(requester);
    natsConnection_Destroy(requester);
    natsConnection_Close(responder);
    natsConnection_Destroy(responder);
    for (auto* pair : {&adaptive, &block}) {
      pair->client_a.reset();
      pair->client_b.reset();
      pair->b->stop(5000);
      pair->a->stop(5000);
    }
    nats.stop(5000);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus_bench_nats: %s\n", e.what());
    rows.push_back(Row{"nats-bridge", 0, {}, {}, e.what()});
  }

  // The table, and the JSON scripts/bench_table.py reads.
  std::map<std::size_t, double> base;  // nats-request's p50 by payload
  for (const auto& r : rows) {
    if (r.name == "nats-request" && !r.p50s.empty()) base[r.payload] = median(r.p50s);
  }
  std::printf("%-26s %8s %12s %12s %14s\n", "case", "payload", "rt p50 us", "rt p99 us",
              "x nats-request");
  std::string results;
  for (const auto& r : rows) {
    std::string entry =
        "{\"case\":" + json_quote(r.name) + ",\"payload_bytes\":" + std::to_string(r.payload);
    if (!r.error.empty()) {
      std::printf("%-26s error: %s\n", r.name.c_str(), r.error.c_str());
      entry += ",\"error\":" + json_quote(r.error) + "}";
    } else {
      const double p50 = median(r.p50s), p99 = median(r.p99s);
      const double x = base.count(r.payload) ? p50 / base[r.payload] : 0;
      std::printf("%-26s %8zu %12.1f %12.1f %14.2f\n", r.name.c_str(), r.payload, p50, p99, x);
      entry += ",\"rt_us\":{\"p50\":" + json_number(p50) + ",\"p99\":" + json_number(p99) +
               ",\"p50_min\":" + json_number(*std::min_element(r.p50s.begin(), r.p50s.end())) +
               ",\"p50_max\":" + json_number(*std::max_element(r.p50s.begin(), r.p50s.end())) +
               "},\"ratio_to_nats-request\":{\"rt_p50\":" + json_number(x) + "}}";
    }
    results += (results.empty() ? "" : ",") + entry;
  }
  std::ofstream(json_path) << "{\"machine\":" << machine_json()
                           << ",\"config\":{\"calls\":" << calls << ",\"warmup\":" << warmup
                           << ",\"repetitions\":" << reps
                           << ",\"quick\":" << (quick ? "true" : "false") << "},\"results\":["
                           << results << "]}\n";
  for (const auto& r : rows) {
    if (!r.error.empty()) return 1;
  }
  return 0;
}
