#include "conns_report.hpp"

#include "machine_info.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

namespace plexus_bench {
namespace {

struct Line {
  std::string label;
  std::function<double(const ConnsResult&)> value;
  const char* format;  // printf format of the value
};

double mib(long kib) {
  return static_cast<double>(kib) / 1024.0;
}

std::vector<Line> lines_for(const ConnsPlan& plan) {
  std::vector<Line> lines;
  lines.push_back({"accept rate, conns/s (open + handshake)",
                   [](const ConnsResult& r) { return r.accept_per_s(); }, "%.0f"});
  lines.push_back({"server CPU per accept, µs",
                   [](const ConnsResult& r) { return r.server_cpu_us_per_accept(); }, "%.1f"});
  lines.push_back({"server RSS before, MiB",
                   [](const ConnsResult& r) { return mib(r.server_rss_before_kib); }, "%.1f"});
  for (std::size_t i = 0; i < plan.levels.size(); ++i) {
    lines.push_back({"server RSS per conn @" + std::to_string(plan.levels[i]) + ", KiB",
                     [i](const ConnsResult& r) { return r.server_kib_per_conn(r.held.at(i)); },
                     "%.2f"});
  }
  lines.push_back({"server RSS with " + std::to_string(plan.conns()) + " held, MiB",
                   [](const ConnsResult& r) { return mib(r.held.back().server_rss_kib); }, "%.1f"});
  lines.push_back({"server RSS after all closed, MiB",
                   [](const ConnsResult& r) { return mib(r.server_rss_after_kib); }, "%.1f"});
  lines.push_back({"echo p50 µs, no idle conns",
                   [](const ConnsResult& r) { return r.echo_alone.p50_us; }, "%.1f"});
  lines.push_back({"echo p99 µs, no idle conns",
                   [](const ConnsResult& r) { return r.echo_alone.p99_us; }, "%.1f"});
  lines.push_back({"echo p50 µs, " + std::to_string(plan.conns()) + " held",
                   [](const ConnsResult& r) { return r.echo_held.p50_us; }, "%.1f"});
  lines.push_back({"echo p99 µs, " + std::to_string(plan.conns()) + " held",
                   [](const ConnsResult& r) { return r.echo_held.p99_us; }, "%.1f"});
  lines.push_back({"client side RSS per conn @" + std::to_string(plan.conns()) + ", KiB",
                   [](const ConnsResult& r) { return r.client_kib_per_conn(r.held.back()); },
                   "%.2f"});
  return lines;
}

std::string cell(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Display width in terminal columns: counts UTF-8 code points ("µ").
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad_right(const std::string& s, std::size_t width) {
  const std::size_t w = display_width(s);
  return s + std::string(width > w ? width - w : 0, ' ');
}

std::string pad_left(const std::string& s, std::size_t width) {
  const std::size_t w = display_width(s);
  return std::string(width > w ? width - w : 0, ' ') + s;
}

std::string json_latency(const LatencySummary& l) {
  return "{\"calls\": " + std::to_string(l.calls) + ", \"p50\": " + json_number(l.p50_us) +
         ", \"p99\": " + json_number(l.p99_us) + "}";
}

}  // namespace

void print_conns_table(std::FILE* out, const ConnsPlan& plan,
                       const std::vector<ConnsResult>& rows) {
  const auto lines = lines_for(plan);
  const bool ratio = rows.size() == 2;  // plexus first, ZeroMQ second
  std::size_t label_width = 0;
  for (const auto& l : lines) label_width = std::max(label_width, display_width(l.label));
  std::size_t column = 10;
  for (const auto& r : rows) column = std::max(column, r.name.size());

  std::fprintf(out, "%s",
               pad_right("conns: " + std::to_string(plan.conns()) + " idle", label_width).c_str());
  for (const auto& r : rows) std::fprintf(out, "  %s", pad_left(r.name, column).c_str());
  if (ratio) std::fprintf(out, "  %s", pad_left("plexus/zmq", 10).c_str());
  std::fprintf(out, "\n");
  for (const auto& l : lines) {
    std::fprintf(out, "%s", pad_right(l.label, label_width).c_str());
    for (const auto& r : rows)
      std::fprintf(out, "  %s", pad_left(cell(l.format, l.value(r)), column).c_str());
    if (ratio) {
      const double a = l.value(rows[0]), b = l.value(rows[1]);
      // Three decimals below 0.1 so a tiny ratio does not read as zero.
      const char* format = a / b < 0.1 ? "%.3fx" : "%.2fx";
      std::fprintf(out, "  %s", pad_left(b > 0 && a > 0 ? cell(format, a / b) : "-", 10).c_str());
    }
    std::fprintf(out, "\n");
  }
  std::fprintf(out,
               "RSS: VmRSS of the server process; per conn = (RSS with them held - RSS before) / "
               "count. Client side: this\nprocess (and a DEALER helper process, if any). Echo: "
               "%zu blocking round trips of %zu B after %zu warm-up.\n",
               plan.echo_calls, plan.echo_payload, plan.echo_warmup);
  for (const auto& r : rows) std::fprintf(out, "%s: %s\n", r.name.c_str(), r.note.c_str());
}

void write_conns_json(const std::string& path, const ConnsPlan& plan,
                      const std::vector<ConnsResult>& rows, const ConnsRunInfo& info) {
  const std::filesystem::path file(path);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream o(file);
  if (!o) throw std::runtime_error("cannot write " + path);
  o << "{\n  \"benchmark\": \"conns\",\n  \"machine\": " << machine_json()
    << ",\n  \"config\": {\"quick\": " << (info.quick ? "true" : "false")
    << ", \"conns\": " << plan.conns() << ", \"levels\": [";
  for (std::size_t i = 0; i < plan.levels.size(); ++i) o << (i ? ", " : "") << plan.levels[i];
  o << "], \"echo_calls\": " << plan.echo_calls << ", \"echo_payload_bytes\": " << plan.echo_payload
    << ", \"open_file_limit\": " << plan.open_file_limit
    << ", \"wall_seconds\": " << json_number(info.wall_seconds) << "},\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    o << "    {\"name\": " << json_quote(r.name) << ", \"conns\": " << r.conns
      << ", \"open_seconds\": " << json_number(r.open_seconds)
      << ", \"accept_per_s\": " << json_number(r.accept_per_s())
      << ", \"server_cpu_open_seconds\": " << json_number(r.server_cpu_open_seconds)
      << ", \"server_cpu_us_per_accept\": " << json_number(r.server_cpu_us_per_accept())
      << ",\n     \"server_rss_kib\": {\"before\": " << r.server_rss_before_kib
      << ", \"after_close\": " << r.server_rss_after_kib
      << "}, \"client_rss_kib_before\": " << r.client_rss_before_kib << ",\n     \"held\": [";
    for (std::size_t j = 0; j < r.held.size(); ++j) {
      const auto& m = r.held[j];
      o << (j ? ", " : "") << "{\"conns\": " << m.conns
        << ", \"server_rss_kib\": " << m.server_rss_kib
        << ", \"server_kib_per_conn\": " << json_number(r.server_kib_per_conn(m))
        << ", \"client_rss_kib\": " << m.client_rss_kib
        << ", \"client_kib_per_conn\": " << json_number(r.client_kib_per_conn(m)) << "}";
    }
    o << "],\n     \"echo_us\": {\"alone\": " << json_latency(r.echo_alone)
      << ", \"held\": " << json_latency(r.echo_held) << "},\n     \"note\": " << json_quote(r.note)
      << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  o << "  ]\n}\n";
  if (!o) throw std::runtime_error("error writing " + path);
}

}  // namespace plexus_bench
