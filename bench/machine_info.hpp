// JSON text shared by the benchmarks' hand-written reports (no JSON dependency in bench/): string
// and number literals, and the machine a run was taken on, so every results file describes it
// the same way (scripts/bench_table.py reads "machine").
#pragma once

#include <string>

namespace plexus_bench {

// A JSON string literal, quotes included.
std::string json_quote(const std::string& s);
// A JSON number; null for NaN and infinities, which JSON cannot hold.
std::string json_number(double v);
// {"nproc", "date" (UTC, ISO 8601), "hostname", "kernel", "arch", "cpu_model", "compiler"}.
std::string machine_json();

}  // namespace plexus_bench
