// plexus_bench_conns: one server holding many concurrent idle connections, plexus beside ZeroMQ
// in the same run. For each system, against one server process:
//   - accept rate: connections per second while opening N of them, each counted once usable
//     (plexus: WELCOME received; ZeroMQ: the ROUTER received the DEALER's first message);
//   - the server's RSS per connection at 1,000 and at N (default 10,000) idle connections;
//   - echo round trips (p50/p99) from one more client, before the crowd and while it is held;
//   - the server's RSS after every connection closed, beside its RSS before.
// plexus: `plexus serve --demo` (child process) over a Unix socket (plexus_conns_case.cpp);
// ZeroMQ: a ROUTER in a forked child over ipc:// (zmq_conns_case.cpp). Each run checks that the
// server holds all N (plexus.stats; the ROUTER's socket monitor) and fails otherwise.
#include "conns_case.hpp"
#include "conns_report.hpp"
#include "proc_status.hpp"
#include "scratch_dir.hpp"

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef PLEXUS_CLI_PATH
#define PLEXUS_CLI_PATH ""
#endif

namespace plexus_bench {
namespace {

constexpr std::size_t kFirstLevel = 1000;
// Descriptors this process needs besides the N connections (runtime, pipes, stdio).
constexpr std::size_t kDescriptorReserve = 100;

void usage() {
  std::fprintf(stderr,
               "usage: plexus_bench_conns [--quick] [--conns N] [--json PATH] [--plexus-cli PATH] "
               "[--reps N]\n"
               "  --quick       1,000 connections (unless --conns), fewer echo calls\n"
               "  --conns N     the large count (default 10000); memory is also read at 1,000\n"
               "  --plexus-cli  the `plexus` executable (default: the one this build made)\n"
               "  --reps N      ignored (one pass, each system against a fresh server); accepted\n"
               "                because `make bench` passes the same options to every benchmark\n");
}

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  using namespace plexus_bench;
  std::string json_path = "bench/results/conns.json";
  std::string plexus_cli = PLEXUS_CLI_PATH;
  bool quick = false;
  std::size_t conns = 0;  // 0: the default for the mode
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--conns" && i + 1 < argc) {
      conns = std::strtoull(argv[++i], nullptr, 10);
      if (conns == 0) {
        usage();
        return 2;
      }
    } else if (a == "--plexus-cli" && i + 1 < argc) {
      plexus_cli = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      ++i;  // one pass regardless: see usage()
    } else if (a == "--quick") {
      quick = true;
    } else {
      usage();
      return 2;
    }
  }
  if (conns == 0) conns = quick ? kFirstLevel : 10000;

  const auto wall_start = std::chrono::steady_clock::now();
  try {
    ConnsPlan plan;
    plan.levels = conns > kFirstLevel ? std::vector<std::size_t>{kFirstLevel, conns}
                                      : std::vector<std::size_t>{conns};
    plan.echo_calls = quick ? 1000 : 5000;
    plan.plexus_cli = plexus_cli;
    plan.open_file_limit = raise_open_file_limit();
    if (conns + kDescriptorReserve > plan.open_file_limit) {
      throw std::runtime_error("--conns " + std::to_string(conns) +
                               " needs more descriptors than " + "the open-file limit (" +
                               std::to_string(plan.open_file_limit) +
                               ") allows: raise the hard limit (ulimit -Hn) or ask for fewer");
    }
    if (plexus_cli.empty() || access(plexus_cli.c_str(), X_OK) != 0) {
      throw std::runtime_error("no plexus executable at \"" + plexus_cli +
                               "\": build the plexus_cli target or pass --plexus-cli PATH");
    }
    ScratchDir dir;
    plan.scratch_dir = dir.path();
    // ZeroMQ first: its ROUTER is a fork of this process, whose RSS it starts from, and this
    // process is smallest before the plexus run (`plexus serve` is a program of its own).
    ConnsResult zmq = run_zmq_conns(plan);
    ConnsResult plexus = run_plexus_conns(plan);
    const std::vector<ConnsResult> rows{plexus, zmq};  // the table compares plexus with ZeroMQ
    print_conns_table(stdout, plan, rows);
    ConnsRunInfo info;
    info.quick = quick;
    info.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    write_conns_json(json_path, plan, rows, info);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus_bench_conns: %s\n", e.what());
    return 1;
  }
  return 0;
}
