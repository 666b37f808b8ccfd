// What the soak prints as it goes and at its end, and writes as JSON (--json).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "footprint.hpp"
#include "soak_options.hpp"
#include "trend.hpp"

namespace plexus::soak {

struct SoakResult {
  Options options;
  TrendLimits limits;
  pid_t server_pid = -1;
  Footprint before_load;                // the server with no client yet
  std::optional<Footprint> after_load;  // once every client was gone (see soak_run.cpp)
  std::vector<Sample> samples;
  double load_seconds = 0;  // from the start of the load until it was told to stop
  Counts load;              // what the load did in all, counted once it stopped
  Trend trend;
  std::vector<std::string> failures;  // what went wrong besides the trend
  std::uint64_t failure_count = 0;    // all of them, where `failures` keeps the first
  bool interrupted = false;           // SIGINT/SIGTERM ended the run early
  std::string server_exit;            // "exit 0", …
  bool passed = false;
};

// One line per sample: time, the server's RSS and descriptors, what the load did since the last.
void print_sample(const Sample& sample, const Sample* previous);
void print_summary(const SoakResult& result);
// false when the file cannot be written.
bool write_json(const SoakResult& result, const std::string& path);

}  // namespace plexus::soak
