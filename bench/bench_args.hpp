// The options every small benchmark takes: --json PATH, --reps N, --quick (one repetition,
// fewer iterations). One parser, so their command lines agree.
#pragma once

#include <string>

namespace plexus_bench {

struct BenchArgs {
  std::string json_path;  // the default given to parse_bench_args, or --json
  int reps = 3;
  bool quick = false;
};

// Parses argv into `args` (which holds the defaults). On anything else prints
// "usage: PROGRAM [--quick] [--reps N] [--json PATH]" to stderr and returns false.
bool parse_bench_args(int argc, char** argv, const char* program, BenchArgs& args);

}  // namespace plexus_bench
