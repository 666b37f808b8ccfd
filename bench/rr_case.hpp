// Request/response benchmark case registry.
//
// Each transport ("raw-unix", "zmq-dealer-router", later "plexus-unix", ...)
// is one RrCase. A case registers itself from a static initializer in its own
// translation unit:
//
//   static const RrRegistrar registrar{{"my-transport", run_my_transport}};
//
// so adding a row to the benchmark is one new .cpp file plus one
// target_sources() line in bench/CMakeLists.txt. The translation unit must be
// compiled into the executable itself (not a static library), otherwise the
// linker may drop the unreferenced registrar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace plexus_bench {

// What one invocation of RrCase::run must measure. Every field is decided by
// the harness so all rows of a run are comparable.
struct RrParams {
  std::size_t payload_size = 64;      // request and reply payload, bytes
  std::uint64_t warmup_count = 100;   // untimed round trips before timing
  std::uint64_t rt_count = 1000;      // timed sequential round trips
  std::uint64_t pipelined_count = 0;  // calls in the pipelined phase
  std::uint32_t window = 128;         // max requests in flight (pipelined)
  std::string scratch_dir;            // private dir for socket files; exists
};

// How the pipelined figure was obtained; transports that cannot keep several
// requests in flight (REQ/REP) report sequential calls/s and say so.
enum class PipelineMode { windowed, sequential };

// Raw figures of one repetition; the harness computes all statistics.
struct RrResult {
  std::vector<double> rt_us;          // one sample per timed round trip
  std::uint64_t pipelined_calls = 0;  // calls completed in the pipelined phase
  double pipelined_seconds = 0;       // wall time of the pipelined phase
  PipelineMode pipeline_mode = PipelineMode::windowed;
  // The companion rows' figures (RrCase::companions), in that order.
  std::vector<RrResult> companions;
};

struct RrCase {
  std::string name;  // transport label, unique, shown in the table
  // Runs one repetition: start a server (as a separate process), measure,
  // stop the server, remove socket files. Throws on failure.
  std::function<RrResult(const RrParams&)> run;
  // Further rows that `run` measures together with `name`, interleaving their calls one by
  // one, so that the machine's noise falls on all of them alike: what a comparison of small
  // differences needs on a shared VM (the policy rows). Each gets a row of its own.
  std::vector<std::string> companions = {};
};

void register_rr_case(RrCase rr_case);

// Registered cases, baselines ("raw-unix", "raw-unix-busypoll") first, then sorted by name so the
// table order does not depend on static initialization order.
std::vector<RrCase> registered_rr_cases();

// Name of the case all ratios are relative to.
inline constexpr const char* kBaselineCase = "raw-unix";
// The second limit: the same ping-pong with both sides polling instead of sleeping, what a
// library that spins before it sleeps (plexus's default) compares with like for like.
inline constexpr const char* kBusyPollBaselineCase = "raw-unix-busypoll";

struct RrRegistrar {
  explicit RrRegistrar(RrCase rr_case) { register_rr_case(std::move(rr_case)); }
};

// A single figure measured once beside the rows, not a round trip (TLS handshakes per
// second): selected by --filter like the cases, printed after the table, and written to the
// JSON's "figures".
struct RrFigure {
  std::string name;  // unique, e.g. "plexus-tls-handshakes"
  std::string unit;  // e.g. "connects/s"
  // Measures it (a scratch directory for files, as RrParams::scratch_dir). Throws on failure.
  std::function<double(const std::string& scratch_dir)> measure;
};

void register_rr_figure(RrFigure figure);
std::vector<RrFigure> registered_rr_figures();  // sorted by name

struct RrFigureRegistrar {
  explicit RrFigureRegistrar(RrFigure figure) { register_rr_figure(std::move(figure)); }
};

// Comma-separated substrings; any match selects the case, so the baseline can be kept next to
// a subset: --filter plexus,raw-unix. An empty filter selects every case.
bool matches_filter(const std::string& name, const std::string& filter);

}  // namespace plexus_bench
