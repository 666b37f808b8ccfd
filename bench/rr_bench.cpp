// plexus_bench_rr: request/response latency and pipelined throughput of
// every registered case (see rr_case.hpp), relative to the raw-unix limit.
#include "bench_report.hpp"
#include "rr_case.hpp"
#include "rr_runner.hpp"
#include "scratch_dir.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

namespace plexus_bench {
namespace {

struct Options {
  bool quick = false;
  bool list = false;
  std::string json_path = "bench/results/rr.json";
  std::string filter;
  int repetitions = 5;
  std::uint32_t window = 128;
  std::size_t only_payload = 0;  // 0: every size
};

// Counts per payload size. Chosen so the full default run of the built-in
// cases takes ~15 s on a 2-vCPU VM, leaving room for the plexus rows.
std::vector<SizeProfile> size_profiles(bool quick) {
  if (quick) return {{64, 50, 500, 2000}, {64 * 1024, 20, 200, 500}};
  return {{64, 500, 5000, 50000}, {64 * 1024, 200, 2000, 5000}};
}

void print_usage(std::ostream& out) {
  out << "usage: plexus_bench_rr [--quick] [--json PATH] [--filter SUBSTR] [--reps N]\n"
         "                       [--window W] [--payload BYTES] [--list]\n"
         "  --quick          few iterations, 1 repetition (smoke test)\n"
         "  --json PATH      JSON output (default bench/results/rr.json)\n"
         "  --filter SUBSTR  only cases whose name contains SUBSTR (comma = or)\n"
         "  --reps N         repetitions per measurement (default 5)\n"
         "  --window W       requests in flight when pipelined (default 128)\n"
         "  --payload BYTES  only this payload size (64 or 65536), e.g. to profile one\n"
         "  --list           print registered case names and exit\n";
}

// Returns false on a usage error.
bool parse_options(int argc, char** argv, Options& opts) {
  bool reps_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      opts.quick = true;
    } else if (arg == "--list") {
      opts.list = true;
    } else if (arg == "--json" && has_value) {
      opts.json_path = argv[++i];
    } else if (arg == "--filter" && has_value) {
      opts.filter = argv[++i];
    } else if (arg == "--reps" && has_value) {
      opts.repetitions = std::atoi(argv[++i]);
      reps_given = true;
    } else if (arg == "--payload" && has_value) {
      opts.only_payload = static_cast<std::size_t>(std::atol(argv[++i]));
    } else if (arg == "--window" && has_value) {
      opts.window = static_cast<std::uint32_t>(std::atol(argv[++i]));
    } else {
      return false;
    }
  }
  if (opts.quick && !reps_given) opts.repetitions = 1;
  return opts.repetitions > 0 && opts.repetitions <= 100 && opts.window > 0;
}

int run(const Options& opts) {
  std::vector<RrCase> cases;
  for (auto& c : registered_rr_cases()) {
    if (matches_filter(c.name, opts.filter)) cases.push_back(std::move(c));
  }
  std::vector<RrFigure> figures;
  for (auto& f : registered_rr_figures()) {
    if (matches_filter(f.name, opts.filter)) figures.push_back(std::move(f));
  }
  if (opts.list) {
    for (const auto& c : cases) std::cout << c.name << '\n';
    for (const auto& f : figures) std::cout << f.name << " (figure)\n";
    return 0;
  }
  if (cases.empty()) {
    std::cerr << "no case matches filter '" << opts.filter << "'\n";
    return 2;
  }

  auto profiles = size_profiles(opts.quick);
  if (opts.only_payload != 0) {
    std::erase_if(profiles,
                  [&](const SizeProfile& p) { return p.payload_size != opts.only_payload; });
    if (profiles.empty()) {
      std::cerr << "no payload size " << opts.only_payload << " (64 or 65536)\n";
      return 2;
    }
  }
  const ScratchDir scratch;
  const auto start = std::chrono::steady_clock::now();

  RrRunOptions run_options;
  run_options.repetitions = opts.repetitions;
  run_options.window = opts.window;
  run_options.scratch_dir = scratch.path();
  const std::vector<RowSummary> rows = run_rr_cases(cases, profiles, run_options);

  bool failed = false;
  for (const auto& row : rows) failed |= !row.error.empty();
  RunInfo info;
  for (const auto& f : figures) {
    FigureValue value{f.name, f.unit, 0, {}};
    try {
      value.value = f.measure(scratch.path());
    } catch (const std::exception& e) {
      value.error = e.what();
      failed = true;
    }
    info.figures.push_back(std::move(value));
  }
  info.quick = opts.quick;
  info.repetitions = opts.repetitions;
  info.window = opts.window;
  info.filter = opts.filter;
  info.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::cout << "request/response, " << opts.repetitions << " repetition(s), window " << opts.window
            << ", " << std::fixed << std::setprecision(1) << info.wall_seconds << " s\n"
            << std::defaultfloat;
  print_table(std::cout, rows);
  print_policy_ratios(std::cout, rows);
  print_tls_ratios(std::cout, rows);
  for (const auto& f : info.figures) {
    std::cout << f.name << ": ";
    if (f.error.empty()) {
      std::cout << std::fixed << std::setprecision(0) << f.value << std::defaultfloat << ' '
                << f.unit << '\n';
    } else {
      std::cout << "failed: " << f.error << '\n';
    }
  }
  write_json(opts.json_path, rows, info);
  std::cout << "json: " << opts.json_path << '\n';
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  // Peers may vanish mid-write; that must be an error return, not a kill.
  std::signal(SIGPIPE, SIG_IGN);
  plexus_bench::Options opts;
  if (!plexus_bench::parse_options(argc, argv, opts)) {
    plexus_bench::print_usage(std::cerr);
    return 2;
  }
  try {
    return plexus_bench::run(opts);
  } catch (const std::exception& e) {
    std::cerr << "plexus_bench_rr: " << e.what() << '\n';
    return 1;
  }
}
