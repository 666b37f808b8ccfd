// The measurement loop of plexus_bench_rr and plexus_bench_shm: every case at every payload
// size, repetitions outermost, into one table row per case (and per companion row) and size.
#pragma once

#include "bench_report.hpp"
#include "rr_case.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace plexus_bench {

struct SizeProfile {
  std::size_t payload_size;
  std::uint64_t warmup_count;
  std::uint64_t rt_count;
  std::uint64_t pipelined_count;
};

struct RrRunOptions {
  int repetitions = 1;
  std::uint32_t window = 128;
  std::string scratch_dir;
  // Rows for which it returns false are neither run nor reported (null: every row).
  std::function<bool(const std::string& case_name, std::size_t payload)> measured;
};

// Rows in table order: payload-major, then the cases in the given order, each followed by its
// companions. Repetitions are the outer loop so slow drift of the machine (thermal, noisy
// neighbours) spreads over all cases instead of biasing one. A case that throws is reported
// as failed (RowSummary::error) and not run again. Rows come back finalized.
std::vector<RowSummary> run_rr_cases(const std::vector<RrCase>& cases,
                                     const std::vector<SizeProfile>& profiles,
                                     const RrRunOptions& options);

}  // namespace plexus_bench
