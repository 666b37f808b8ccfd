#include "bench_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <ostream>

namespace plexus_bench {
namespace {

// Nearest-rank percentile of sorted data.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

template <typename Field>
std::vector<double> collect(const std::vector<RepStats>& reps, Field field) {
  std::vector<double> out;
  for (const auto& r : reps) out.push_back(r.*field);
  return out;
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

// Display width in terminal columns: counts UTF-8 code points ("µ").
std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// Two decimals below 10 µs so sub-microsecond transports stay readable.
std::string fmt_us(double us) {
  return fmt(us < 10 ? "%.2f" : "%.1f", us);
}

std::string ratio_label(double value, double base) {
  if (base <= 0 || value <= 0) return "-";
  const double r = value / base;
  return fmt(r < 0.1 ? "%.3fx" : "%.2fx", r);  // keep tiny ratios non-zero
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

RepStats summarize(const RrResult& result) {
  RepStats stats;
  std::vector<double> sorted = result.rt_us;
  std::sort(sorted.begin(), sorted.end());
  stats.p50_us = percentile(sorted, 0.50);
  stats.p99_us = percentile(sorted, 0.99);
  stats.min_us = sorted.empty() ? 0 : sorted.front();
  stats.mean_us = sorted.empty() ? 0
                                 : std::accumulate(sorted.begin(), sorted.end(), 0.0) /
                                       static_cast<double>(sorted.size());
  stats.calls_per_s = result.pipelined_seconds > 0
                          ? static_cast<double>(result.pipelined_calls) / result.pipelined_seconds
                          : 0;
  return stats;
}

RepStats summarize_companion(const RrResult& companion, const RrResult& own) {
  RepStats stats = summarize(companion);
  const std::size_t rounds = std::min(companion.rt_us.size(), own.rt_us.size());
  if (rounds == 0) return stats;
  std::vector<double> deltas(rounds);
  std::size_t shorter = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    deltas[i] = companion.rt_us[i] - own.rt_us[i];
    shorter += deltas[i] < 0;
  }
  stats.paired = true;
  stats.paired_delta_us = median(std::move(deltas));
  stats.paired_shorter_share = static_cast<double>(shorter) / static_cast<double>(rounds);
  return stats;
}

void RowSummary::finalize() {
  if (reps.empty()) return;
  const auto p50s = collect(reps, &RepStats::p50_us);
  const auto calls = collect(reps, &RepStats::calls_per_s);
  p50_us = median(p50s);
  p50_lo_us = *std::min_element(p50s.begin(), p50s.end());
  p50_hi_us = *std::max_element(p50s.begin(), p50s.end());
  p99_us = median(collect(reps, &RepStats::p99_us));
  const auto mins = collect(reps, &RepStats::min_us);
  min_us = *std::min_element(mins.begin(), mins.end());
  mean_us = median(collect(reps, &RepStats::mean_us));
  calls_per_s = median(calls);
  calls_lo = *std::min_element(calls.begin(), calls.end());
  calls_hi = *std::max_element(calls.begin(), calls.end());
  paired = std::all_of(reps.begin(), reps.end(), [](const RepStats& r) { return r.paired; });
  if (paired) {
    paired_delta_us = median(collect(reps, &RepStats::paired_delta_us));
    paired_shorter_share = median(collect(reps, &RepStats::paired_shorter_share));
  }
}

const RowSummary* find_baseline(const std::vector<RowSummary>& rows, std::size_t payload_size,
                                const char* name) {
  for (const auto& row : rows) {
    if (row.case_name == name && row.payload_size == payload_size && row.error.empty() &&
        !row.reps.empty()) {
      return &row;
    }
  }
  return nullptr;
}

const RowSummary* find_policy_baseline(const std::vector<RowSummary>& rows, const RowSummary& row) {
  if (!row.case_name.starts_with("policy-")) return nullptr;
  for (const auto& r : rows) {
    if (r.case_name == kPolicyBaselineCase && r.payload_size == row.payload_size &&
        r.error.empty() && !r.reps.empty()) {
      return &r;
    }
  }
  return nullptr;
}

void print_policy_ratios(std::ostream& out, const std::vector<RowSummary>& rows) {
  bool header = false;
  for (const auto& row : rows) {
    const RowSummary* base = find_policy_baseline(rows, row);
    if (!base || &row == base || row.reps.empty()) continue;
    if (!header) {
      out << "\npolicy chain vs the bare handler (" << kPolicyBaselineCase
          << ", same run): < 1.00x p50 is faster\n";
      header = true;
    }
    out << "  " << row.case_name << " @ " << payload_label(row.payload_size) << ": p50 "
        << ratio_label(row.p50_us, base->p50_us) << " (" << fmt_us(row.p50_us) << " vs "
        << fmt_us(base->p50_us) << " µs), calls/s "
        << ratio_label(row.calls_per_s, base->calls_per_s);
    if (row.paired) {
      out << "; round by round " << fmt("%+.2f", row.paired_delta_us) << " µs (median), shorter in "
          << fmt("%.0f", 100 * row.paired_shorter_share) << "% of rounds";
    }
    out << "\n";
  }
}

void print_tls_ratios(std::ostream& out, const std::vector<RowSummary>& rows) {
  for (const auto& tls : rows) {
    if (tls.case_name != "plexus-tls" || !tls.error.empty() || tls.reps.empty()) continue;
    const RowSummary* tcp = find_baseline(rows, tls.payload_size, "plexus-tcp");
    if (!tcp || tcp->reps.size() != tls.reps.size()) continue;
    std::vector<double> per_rep;
    for (std::size_t i = 0; i < tls.reps.size(); ++i) {
      if (tcp->reps[i].p50_us > 0) per_rep.push_back(tls.reps[i].p50_us / tcp->reps[i].p50_us);
    }
    if (per_rep.empty()) continue;
    const double p50_ratio = median(per_rep);
    out << "plexus-tls vs plexus-tcp @ " << payload_label(tls.payload_size) << ": p50 "
        << fmt("%.3f", p50_ratio) << "x (repetitions "
        << fmt("%.3f", *std::min_element(per_rep.begin(), per_rep.end())) << "x-"
        << fmt("%.3f", *std::max_element(per_rep.begin(), per_rep.end())) << "x), calls/s "
        << ratio_label(tls.calls_per_s, tcp->calls_per_s);
    if (tls.paired) {
      out << "; round by round " << fmt("%+.2f", tls.paired_delta_us) << " µs (median)";
    }
    if (tls.payload_size == 64) {  // the target's payload
      out << "; target <= " << fmt("%.1f", kTlsTargetRatio) << "x "
          << (p50_ratio <= kTlsTargetRatio ? "met" : "not met");
    }
    out << "\n";
  }
}

std::string payload_label(std::size_t bytes) {
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " B";
}

void print_table(std::ostream& out, const std::vector<RowSummary>& rows) {
  std::vector<std::vector<std::string>> cells{
      {"case", "payload", "rt p50 µs", "p50 range µs", "rt p99 µs", "min µs", "mean µs", "p50/raw",
       "p50/busypoll", "pipelined calls/s", "calls/s vs raw", "MB/s"}};
  bool any_sequential = false;
  for (const auto& row : rows) {
    if (!row.error.empty() || row.reps.empty()) {
      cells.push_back({row.case_name, payload_label(row.payload_size), "FAILED: " + row.error});
      continue;
    }
    const RowSummary* base = find_baseline(rows, row.payload_size);
    const RowSummary* busy = find_baseline(rows, row.payload_size, kBusyPollBaselineCase);
    const bool sequential = row.pipeline_mode == PipelineMode::sequential;
    any_sequential |= sequential;
    cells.push_back({
        row.case_name,
        payload_label(row.payload_size),
        fmt_us(row.p50_us),
        fmt_us(row.p50_lo_us) + "–" + fmt_us(row.p50_hi_us),
        fmt_us(row.p99_us),
        fmt_us(row.min_us),
        fmt_us(row.mean_us),
        base ? ratio_label(row.p50_us, base->p50_us) : "-",
        busy ? ratio_label(row.p50_us, busy->p50_us) : "-",
        fmt("%.0f", row.calls_per_s) + (sequential ? " (seq)" : ""),
        base ? ratio_label(row.calls_per_s, base->calls_per_s) : "-",
        fmt("%.1f", row.calls_per_s * static_cast<double>(row.payload_size) / 1e6),
    });
  }

  std::vector<std::size_t> widths(cells.front().size(), 0);
  for (const auto& line : cells) {
    for (std::size_t i = 0; i < line.size() && i < widths.size(); ++i) {
      // A failure message spans the remaining columns; do not widen for it.
      if (line.size() == widths.size()) widths[i] = std::max(widths[i], display_width(line[i]));
    }
  }
  for (const auto& line : cells) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      const std::size_t pad = i < widths.size() && widths[i] > display_width(line[i])
                                  ? widths[i] - display_width(line[i])
                                  : 0;
      const bool left = i < 2 || line.size() != widths.size();
      if (i > 0) out << "  ";
      if (!left) out << std::string(pad, ' ');
      out << line[i];
      if (left && i + 1 < line.size()) out << std::string(pad, ' ');
    }
    out << '\n';
  }
  out << "p50/p99/min/mean: medians over repetitions of each repetition's figure (min: overall).\n"
         "p50/raw: against raw-unix (both sides sleep in recv); p50/busypoll: against\n"
         "raw-unix-busypoll (both sides poll, never sleep), the like-for-like limit of a row\n"
         "that polls before it sleeps (plexus's default idle_wait, shm).\n"
         "MB/s: request payload bytes per second (the same again flows back).\n";
  if (any_sequential) out << "(seq): transport cannot pipeline; sequential calls/s.\n";
}

}  // namespace plexus_bench
