#include "bench_args.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace plexus_bench {

bool parse_bench_args(int argc, char** argv, const char* program, BenchArgs& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      args.json_path = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      args.reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--quick") {
      args.quick = true;
      args.reps = 1;
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--reps N] [--json PATH]\n", program);
      return false;
    }
  }
  return true;
}

}  // namespace plexus_bench
