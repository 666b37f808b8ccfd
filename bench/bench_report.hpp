// Statistics, human table and JSON for the request/response benchmark.
#pragma once

#include "rr_case.hpp"

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace plexus_bench {

// Figures of one repetition.
struct RepStats {
  double p50_us = 0;
  double p99_us = 0;
  double min_us = 0;
  double mean_us = 0;
  double calls_per_s = 0;
  // Companion rows only (RrCase::companions), whose calls took turns with their case's own row:
  // the median over rounds of (this row's round trip − the own row's round trip of the same
  // round), and the share of rounds in which this row's was the shorter. Pairing cancels the
  // machine's slow swings, which a difference of medians does not.
  bool paired = false;
  double paired_delta_us = 0;
  double paired_shorter_share = 0;
};

// Median of `values` (the mean of the middle two for an even count); 0 for none.
double median(std::vector<double> values);

RepStats summarize(const RrResult& result);
// summarize() of a companion row, with the paired figures against `own` (its case's own row).
RepStats summarize_companion(const RrResult& companion, const RrResult& own);

// One table row: a case at one payload size, over all repetitions. The
// headline figures are medians across repetitions so one noisy repetition
// cannot move them; the *_lo/*_hi pairs show the spread.
struct RowSummary {
  std::string case_name;
  std::size_t payload_size = 0;
  std::uint64_t rt_count = 0;
  std::uint64_t pipelined_calls = 0;
  PipelineMode pipeline_mode = PipelineMode::windowed;
  std::vector<RepStats> reps;
  std::string error;  // non-empty if any repetition failed

  double p50_us = 0, p50_lo_us = 0, p50_hi_us = 0;
  double p99_us = 0, min_us = 0, mean_us = 0;
  double calls_per_s = 0, calls_lo = 0, calls_hi = 0;
  bool paired = false;  // medians over repetitions of RepStats' paired figures
  double paired_delta_us = 0, paired_shorter_share = 0;

  void finalize();  // computes the aggregates from reps
};

// One figure measured beside the rows (RrFigure, rr_case.hpp): "figures" in the JSON.
struct FigureValue {
  std::string name;   // "plexus-tls-handshakes"
  std::string unit;   // "connects/s"
  double value = 0;   // when error is empty
  std::string error;  // why it could not be measured
};

struct RunInfo {
  bool quick = false;
  int repetitions = 0;
  std::uint32_t window = 0;
  std::string filter;
  double wall_seconds = 0;
  std::vector<FigureValue> figures;
};

// Baseline row (`name`: raw-unix, or raw-unix-busypoll) with the same payload, or nullptr.
const RowSummary* find_baseline(const std::vector<RowSummary>& rows, std::size_t payload_size,
                                const char* name = kBaselineCase);

std::string payload_label(std::size_t bytes);

// The policy rows (policy_rr_cases.cpp) are also compared with "policy-bare", the same handler
// without policies: that row with the same payload, or nullptr (also for rows that are not
// policy rows).
inline constexpr const char* kPolicyBaselineCase = "policy-bare";
const RowSummary* find_policy_baseline(const std::vector<RowSummary>& rows, const RowSummary& row);
// A second small table: each policy row's p50 and calls/s as a ratio to policy-bare.
void print_policy_ratios(std::ostream& out, const std::vector<RowSummary>& rows);

// Issue 25's target, a 64 B TLS round trip <= 1.3x plain TCP: plexus-tls against plexus-tcp
// (measured together, plexus_rr_cases.cpp) at each payload, p50 as a ratio (median over
// repetitions, and each repetition's), calls/s as a ratio, and the paired round-by-round
// difference.
inline constexpr double kTlsTargetRatio = 1.3;
void print_tls_ratios(std::ostream& out, const std::vector<RowSummary>& rows);

void print_table(std::ostream& out, const std::vector<RowSummary>& rows);

// Writes all figures plus machine info; creates parent directories.
void write_json(const std::string& path, const std::vector<RowSummary>& rows, const RunInfo& info);

}  // namespace plexus_bench
