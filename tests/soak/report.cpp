#include "report.hpp"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

namespace plexus::soak {
namespace {

using nlohmann::json;

json counts_json(const Counts& c) {
  return json{{"calls", c.calls},
              {"echoed_bytes", c.echoed_bytes},
              {"published", c.published},
              {"delivered", c.delivered},
              {"ticks", c.ticks},
              {"subscribe_cycles", c.subscribe_cycles},
              {"streams", c.streams},
              {"stream_items", c.stream_items},
              {"streams_cancelled", c.streams_cancelled},
              {"reconnect_cycles", c.reconnect_cycles},
              {"children_started", c.children_started},
              {"children_killed", c.children_killed},
              {"tolerated_errors", c.tolerated_errors}};
}

json footprint_json(const Footprint& f) {
  return json{{"rss_kib", f.rss_kib}, {"fds", f.fds}};
}

}  // namespace

void print_sample(const Sample& s, const Sample* previous) {
  const Counts before = previous ? previous->counts : Counts{};
  const Counts& now = s.counts;
  std::printf(
      "[%6.0f s] rss %7llu KiB  fds %4llu  | calls +%llu  published +%llu delivered +%llu  "
      "streams +%llu  reconnects +%llu  killed +%llu\n",
      s.t_s, static_cast<unsigned long long>(s.server.rss_kib),
      static_cast<unsigned long long>(s.server.fds),
      static_cast<unsigned long long>(now.calls - before.calls),
      static_cast<unsigned long long>(now.published - before.published),
      static_cast<unsigned long long>(now.delivered - before.delivered),
      static_cast<unsigned long long>(now.streams - before.streams),
      static_cast<unsigned long long>(now.reconnect_cycles - before.reconnect_cycles),
      static_cast<unsigned long long>(now.children_killed - before.children_killed));
  std::fflush(stdout);
}

void print_summary(const SoakResult& r) {
  const Trend& t = r.trend;
  const Counts& c = r.load;
  std::printf("\nsoak summary: %.0f s of load%s, %zu samples, %zu after a %.0f s warm-up\n",
              r.load_seconds, r.interrupted ? " (interrupted)" : "", r.samples.size(), t.samples,
              t.warmup_s);
  if (t.judged) {
    std::printf(
        "  RSS: slope %+.1f KiB/min (limit %.0f); last third %+.0f KiB against the first "
        "(%.0f -> %.0f KiB, limit %.0f)%s\n",
        t.rss_slope_kib_per_min, r.limits.rss_slope_kib_per_min,
        t.rss_last_third_mean_kib - t.rss_first_third_mean_kib, t.rss_first_third_mean_kib,
        t.rss_last_third_mean_kib, r.limits.rss_rise_kib, t.rss_growing ? "  GROWING" : "");
    std::printf(
        "  fds: slope %+.2f per min (limit %.2f); fewest in the last third %llu, most in the "
        "first %llu%s\n",
        t.fd_slope_per_min, r.limits.fd_slope_per_min,
        static_cast<unsigned long long>(t.fds_last_third_min),
        static_cast<unsigned long long>(t.fds_first_third_max), t.fds_growing ? "  GROWING" : "");
  } else {
    std::printf("  trend: not judged, %zu samples after the warm-up (%zu needed)\n", t.samples,
                kMinSamples);
  }
  std::printf("  server: %llu KiB and %llu fds before the load",
              static_cast<unsigned long long>(r.before_load.rss_kib),
              static_cast<unsigned long long>(r.before_load.fds));
  if (r.after_load) {
    std::printf(", %llu KiB and %llu fds once its clients were gone",
                static_cast<unsigned long long>(r.after_load->rss_kib),
                static_cast<unsigned long long>(r.after_load->fds));
  }
  std::printf("; %s\n", r.server_exit.c_str());
  std::printf(
      "  load: %llu calls (%.1f MiB echoed), %llu published / %llu delivered, %llu ticks, %llu "
      "subscribe cycles, %llu streams (%llu items, %llu cancelled), %llu reconnect cycles, %llu "
      "of %llu client processes killed, %llu tolerated errors\n",
      static_cast<unsigned long long>(c.calls), static_cast<double>(c.echoed_bytes) / (1 << 20),
      static_cast<unsigned long long>(c.published), static_cast<unsigned long long>(c.delivered),
      static_cast<unsigned long long>(c.ticks), static_cast<unsigned long long>(c.subscribe_cycles),
      static_cast<unsigned long long>(c.streams), static_cast<unsigned long long>(c.stream_items),
      static_cast<unsigned long long>(c.streams_cancelled),
      static_cast<unsigned long long>(c.reconnect_cycles),
      static_cast<unsigned long long>(c.children_killed),
      static_cast<unsigned long long>(c.children_started),
      static_cast<unsigned long long>(c.tolerated_errors));
  for (const auto& reason : t.reasons) std::printf("  FAIL: %s\n", reason.c_str());
  for (const auto& failure : r.failures) std::printf("  FAIL: %s\n", failure.c_str());
  if (r.failure_count > r.failures.size()) {
    std::printf("  … and %llu more failures\n",
                static_cast<unsigned long long>(r.failure_count - r.failures.size()));
  }
  std::printf("soak: %s\n",
              r.passed ? "PASS"
                       : (r.interrupted && r.failures.empty() && t.reasons.empty() ? "INTERRUPTED"
                                                                                   : "FAIL"));
  std::fflush(stdout);
}

bool write_json(const SoakResult& r, const std::string& path) {
  const Trend& t = r.trend;
  json samples = json::array();
  for (const auto& s : r.samples) {
    json j = counts_json(s.counts);
    j["t_s"] = s.t_s;
    j["rss_kib"] = s.server.rss_kib;
    j["fds"] = s.server.fds;
    samples.push_back(std::move(j));
  }
  json doc{{"options",
            {{"seconds", r.options.seconds},
             {"interval_s", r.options.interval},
             {"warmup_s", r.options.warmup_seconds()},
             {"seed", r.options.seed},
             {"callers", r.options.callers},
             {"streamers", r.options.streamers},
             {"reconnectors", r.options.reconnectors},
             {"children_alive", r.options.children.max_alive},
             {"children_max", r.options.children.max_total}}},
           {"limits",
            {{"rss_slope_kib_per_min", r.limits.rss_slope_kib_per_min},
             {"rss_rise_kib", r.limits.rss_rise_kib},
             {"fd_slope_per_min", r.limits.fd_slope_per_min}}},
           {"server",
            {{"pid", r.server_pid},
             {"before_load", footprint_json(r.before_load)},
             {"after_load", r.after_load ? footprint_json(*r.after_load) : json(nullptr)},
             {"exit", r.server_exit}}},
           {"samples", samples},
           {"summary",
            {{"judged", t.judged},
             {"samples_after_warmup", t.samples},
             {"rss_slope_kib_per_min", t.rss_slope_kib_per_min},
             {"rss_first_third_mean_kib", t.rss_first_third_mean_kib},
             {"rss_last_third_mean_kib", t.rss_last_third_mean_kib},
             {"rss_growing", t.rss_growing},
             {"fd_slope_per_min", t.fd_slope_per_min},
             {"fds_first_third_max", t.fds_first_third_max},
             {"fds_last_third_min", t.fds_last_third_min},
             {"fds_growing", t.fds_growing},
             {"reasons", t.reasons},
             {"failures", r.failures},
             {"failure_count", r.failure_count},
             {"load_seconds", r.load_seconds},
             {"load", counts_json(r.load)},
             {"interrupted", r.interrupted},
             {"passed", r.passed}}}};
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  return static_cast<bool>(out);
}

}  // namespace plexus::soak
