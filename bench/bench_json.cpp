// JSON output of the request/response benchmark. Hand-written (no JSON
// dependency): the schema is flat and only this file produces it.
#include "bench_report.hpp"
#include "machine_info.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace plexus_bench {
namespace {

std::string ratio(double value, const RowSummary* base, double RowSummary::*field) {
  if (base == nullptr || base->*field <= 0) return "null";
  return json_number(value / (base->*field));
}

void write_row(std::ostream& o, const RowSummary& row, const RowSummary* base,
               const RowSummary* busy_base, const RowSummary* policy_base) {
  o << "    {\"case\": " << json_quote(row.case_name) << ", \"payload_bytes\": " << row.payload_size
    << ", \"rt_count\": " << row.rt_count << ", \"pipelined_calls\": " << row.pipelined_calls
    << ", \"pipeline_mode\": "
    << json_quote(row.pipeline_mode == PipelineMode::sequential ? "sequential" : "windowed")
    << ",\n     \"error\": " << (row.error.empty() ? "null" : json_quote(row.error));
  if (!row.reps.empty()) {
    o << ",\n     \"rt_us\": {\"p50\": " << json_number(row.p50_us)
      << ", \"p50_min\": " << json_number(row.p50_lo_us)
      << ", \"p50_max\": " << json_number(row.p50_hi_us) << ", \"p99\": " << json_number(row.p99_us)
      << ", \"min\": " << json_number(row.min_us) << ", \"mean\": " << json_number(row.mean_us)
      << "}"
      << ",\n     \"pipelined\": {\"calls_per_s\": " << json_number(row.calls_per_s)
      << ", \"calls_per_s_min\": " << json_number(row.calls_lo)
      << ", \"calls_per_s_max\": " << json_number(row.calls_hi) << ", \"mb_per_s\": "
      << json_number(row.calls_per_s * static_cast<double>(row.payload_size) / 1e6) << "}"
      << ",\n     \"ratio_to_" << kBaselineCase
      << "\": {\"rt_p50\": " << ratio(row.p50_us, base, &RowSummary::p50_us)
      << ", \"calls_per_s\": " << ratio(row.calls_per_s, base, &RowSummary::calls_per_s) << "}"
      << ",\n     \"ratio_to_" << kBusyPollBaselineCase
      << "\": {\"rt_p50\": " << ratio(row.p50_us, busy_base, &RowSummary::p50_us)
      << ", \"calls_per_s\": " << ratio(row.calls_per_s, busy_base, &RowSummary::calls_per_s)
      << "}";
    if (policy_base) {
      o << ",\n     \"ratio_to_" << kPolicyBaselineCase
        << "\": {\"rt_p50\": " << ratio(row.p50_us, policy_base, &RowSummary::p50_us)
        << ", \"calls_per_s\": " << ratio(row.calls_per_s, policy_base, &RowSummary::calls_per_s)
        << "}";
    }
    if (row.paired) {
      o << ",\n     \"paired\": {\"delta_us_median\": " << json_number(row.paired_delta_us)
        << ", \"shorter_share\": " << json_number(row.paired_shorter_share) << "}";
    }
    o << ",\n     \"repetitions\": [";
    for (std::size_t i = 0; i < row.reps.size(); ++i) {
      const RepStats& r = row.reps[i];
      o << (i ? ", " : "") << "{\"p50\": " << json_number(r.p50_us)
        << ", \"p99\": " << json_number(r.p99_us) << ", \"min\": " << json_number(r.min_us)
        << ", \"mean\": " << json_number(r.mean_us)
        << ", \"calls_per_s\": " << json_number(r.calls_per_s) << "}";
    }
    o << "]";
  }
  o << "}";
}

}  // namespace

void write_json(const std::string& path, const std::vector<RowSummary>& rows, const RunInfo& info) {
  const std::filesystem::path file(path);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream o(file);
  if (!o) throw std::runtime_error("cannot write " + path);
  o << "{\n  \"benchmark\": \"plexus_bench_rr\",\n  \"machine\": " << machine_json()
    << ",\n  \"config\": {\"quick\": " << (info.quick ? "true" : "false")
    << ", \"repetitions\": " << info.repetitions << ", \"window\": " << info.window
    << ", \"filter\": " << json_quote(info.filter)
    << ", \"wall_seconds\": " << json_number(info.wall_seconds)
    << ", \"baseline\": " << json_quote(kBaselineCase) << "},\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    write_row(o, rows[i], find_baseline(rows, rows[i].payload_size),
              find_baseline(rows, rows[i].payload_size, kBusyPollBaselineCase),
              find_policy_baseline(rows, rows[i]));
    o << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  o << "  ]";
  if (!info.figures.empty()) {
    o << ",\n  \"figures\": [\n";
    for (std::size_t i = 0; i < info.figures.size(); ++i) {
      const auto& f = info.figures[i];
      o << "    {\"name\": " << json_quote(f.name) << ", \"unit\": " << json_quote(f.unit)
        << ", \"value\": " << (f.error.empty() ? json_number(f.value) : "null")
        << ", \"error\": " << (f.error.empty() ? "null" : json_quote(f.error)) << "}"
        << (i + 1 < info.figures.size() ? ",\n" : "\n");
    }
    o << "  ]";
  }
  o << "\n}\n";
  if (!o) throw std::runtime_error("error writing " + path);
}

}  // namespace plexus_bench
