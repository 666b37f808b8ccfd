// The table and the JSON file of plexus_bench_conns.
#pragma once

#include "conns_case.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace plexus_bench {

struct ConnsRunInfo {
  bool quick = false;
  double wall_seconds = 0;
};

// One line per figure, one column per system, and plexus's figure over ZeroMQ's.
void print_conns_table(std::FILE* out, const ConnsPlan& plan, const std::vector<ConnsResult>& rows);

// Creates the parent directories; throws when the file cannot be written.
void write_conns_json(const std::string& path, const ConnsPlan& plan,
                      const std::vector<ConnsResult>& rows, const ConnsRunInfo& info);

}  // namespace plexus_bench
