#include "trend.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace plexus::soak {
namespace {

std::string format(const char* fmt, double a, double b) {
  char text[200];
  std::snprintf(text, sizeof text, fmt, a, b);
  return text;
}

double mean(std::vector<double>::const_iterator begin, std::vector<double>::const_iterator end) {
  return std::accumulate(begin, end, 0.0) / static_cast<double>(end - begin);
}

}  // namespace

double least_squares_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = std::min(x.size(), y.size());
  if (n < 2) return 0;
  const double mx = std::accumulate(x.begin(), x.begin() + static_cast<long>(n), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.begin() + static_cast<long>(n), 0.0) / n;
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

Trend judge_trend(const std::vector<Sample>& samples, double warmup_s, const TrendLimits& limits) {
  Trend t;
  t.warmup_s = warmup_s;
  std::vector<double> minutes, rss, fds;
  for (const auto& s : samples) {
    if (s.t_s < warmup_s) continue;
    minutes.push_back(s.t_s / 60);
    rss.push_back(static_cast<double>(s.server.rss_kib));
    fds.push_back(static_cast<double>(s.server.fds));
  }
  t.samples = minutes.size();
  if (t.samples < kMinSamples) return t;
  t.judged = true;

  const auto third = static_cast<long>(t.samples / 3);
  t.rss_slope_kib_per_min = least_squares_slope(minutes, rss);
  t.rss_first_third_mean_kib = mean(rss.begin(), rss.begin() + third);
  t.rss_last_third_mean_kib = mean(rss.end() - third, rss.end());
  const double rise = t.rss_last_third_mean_kib - t.rss_first_third_mean_kib;
  t.rss_growing =
      t.rss_slope_kib_per_min > limits.rss_slope_kib_per_min && rise > limits.rss_rise_kib;
  if (t.rss_growing) {
    t.reasons.push_back(format("RSS grows %.0f KiB/min (limit %.0f)", t.rss_slope_kib_per_min,
                               limits.rss_slope_kib_per_min) +
                        format(" and its last third averages %.0f KiB above its first (limit "
                               "%.0f)",
                               rise, limits.rss_rise_kib));
  }

  t.fd_slope_per_min = least_squares_slope(minutes, fds);
  t.fds_first_third_max =
      static_cast<std::uint64_t>(*std::max_element(fds.begin(), fds.begin() + third));
  t.fds_last_third_min =
      static_cast<std::uint64_t>(*std::min_element(fds.end() - third, fds.end()));
  t.fds_growing = t.fd_slope_per_min > limits.fd_slope_per_min &&
                  t.fds_last_third_min > t.fds_first_third_max + limits.fd_rise;
  if (t.fds_growing) {
    t.reasons.push_back(format("open descriptors grow %.2f a minute (limit %.2f)",
                               t.fd_slope_per_min, limits.fd_slope_per_min) +
                        " and the fewest in the last third (" +
                        std::to_string(t.fds_last_third_min) + ") exceed the most in the first (" +
                        std::to_string(t.fds_first_third_max) + ") by more than " +
                        std::to_string(limits.fd_rise));
  }
  return t;
}

}  // namespace plexus::soak
