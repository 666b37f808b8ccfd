// The soak's command line.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "child_clients.hpp"

namespace plexus::soak {

struct Options {
  double seconds = 1800;         // how long the load runs
  double interval = 10;          // between samples
  std::optional<double> warmup;  // unset: the larger of 30 s and a fifth of the run
  std::string json_path;         // samples and summary as JSON; empty: none
  std::string plexus;            // the CLI to run `serve --demo` from
  std::uint64_t seed = 0;        // of every random choice; 0: drawn, and printed to repeat the run
  int callers = 3;
  int streamers = 2;
  int reconnectors = 2;
  ChildPlan children;

  // Set in a client process the soak started (run_child).
  std::string child_mode;
  std::string address;
  std::uint64_t child_index = 0;

  // The samples from here on are judged: the first ones show the server filling its caches,
  // buffers and allocator arenas, which is growth that stops.
  double warmup_seconds() const { return warmup ? *warmup : std::max(30.0, seconds / 5); }
};

// The options, or the exit status to return at once (--help, a usage error).
struct ParsedOptions {
  Options options;
  std::optional<int> exit_now;
};
ParsedOptions parse_options(int argc, char** argv);

}  // namespace plexus::soak
