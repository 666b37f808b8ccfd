// JSON output of the request/response benchmark. Hand-written (no JSON
// dependency): the schema is flat and only this file produces it.
#include "bench_report.hpp"

#include <sys/utsname.h>
#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace plexus_bench {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

std::string machine_json() {
  utsname uts{};
  uname(&uts);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::ostringstream o;
  o << "{\"nproc\": " << sysconf(_SC_NPROCESSORS_ONLN) << ", \"date\": " << quote(utc_now_iso8601())
    << ", \"hostname\": " << quote(host)
    << ", \"kernel\": " << quote(std::string(uts.sysname) + " " + uts.release)
    << ", \"arch\": " << quote(uts.machine) << ", \"cpu_model\": " << quote(cpu_model())
    << ", \"compiler\": " << quote("g++ " __VERSION__) << "}";
  return o.str();
}

std::string ratio(double value, const RowSummary* base, double RowSummary::*field) {
  if (base == nullptr || base->*field <= 0) return "null";
  return number(value / (base->*field));
}

void write_row(std::ostream& o, const RowSummary& row, const RowSummary* base,
               const RowSummary* busy_base, const RowSummary* policy_base) {
  o << "    {\"case\": " << quote(row.case_name) << ", \"payload_bytes\": " << row.payload_size
    << ", \"rt_count\": " << row.rt_count << ", \"pipelined_calls\": " << row.pipelined_calls
    << ", \"pipeline_mode\": "
    << quote(row.pipeline_mode == PipelineMode::sequential ? "sequential" : "windowed")
    << ",\n     \"error\": " << (row.error.empty() ? "null" : quote(row.error));
  if (!row.reps.empty()) {
    o << ",\n     \"rt_us\": {\"p50\": " << number(row.p50_us)
      << ", \"p50_min\": " << number(row.p50_lo_us) << ", \"p50_max\": " << number(row.p50_hi_us)
      << ", \"p99\": " << number(row.p99_us) << ", \"min\": " << number(row.min_us)
      << ", \"mean\": " << number(row.mean_us) << "}"
      << ",\n     \"pipelined\": {\"calls_per_s\": " << number(row.calls_per_s)
      << ", \"calls_per_s_min\": " << number(row.calls_lo)
      << ", \"calls_per_s_max\": " << number(row.calls_hi)
      << ", \"mb_per_s\": " << number(row.calls_per_s * static_cast<double>(row.payload_size) / 1e6)
      << "}"
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
      o << ",\n     \"paired\": {\"delta_us_median\": " << number(row.paired_delta_us)
        << ", \"shorter_share\": " << number(row.paired_shorter_share) << "}";
    }
    o << ",\n     \"repetitions\": [";
    for (std::size_t i = 0; i < row.reps.size(); ++i) {
      const RepStats& r = row.reps[i];
      o << (i ? ", " : "") << "{\"p50\": " << number(r.p50_us) << ", \"p99\": " << number(r.p99_us)
        << ", \"min\": " << number(r.min_us) << ", \"mean\": " << number(r.mean_us)
        << ", \"calls_per_s\": " << number(r.calls_per_s) << "}";
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
    << ", \"filter\": " << quote(info.filter) << ", \"wall_seconds\": " << number(info.wall_seconds)
    << ", \"baseline\": " << quote(kBaselineCase) << "},\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    write_row(o, rows[i], find_baseline(rows, rows[i].payload_size),
              find_baseline(rows, rows[i].payload_size, kBusyPollBaselineCase),
              find_policy_baseline(rows, rows[i]));
    o << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  o << "  ]\n}\n";
  if (!o) throw std::runtime_error("error writing " + path);
}

}  // namespace plexus_bench
