// Does the server keep growing? The soak's verdict on its samples of RSS and open descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "footprint.hpp"
#include "tally.hpp"

namespace plexus::soak {

struct Sample {
  double t_s = 0;  // since the load started
  Footprint server;
  Counts counts;
};

// The criterion. A healthy server's RSS moves in steps (buffers grow with a large payload and are
// given back, the allocator keeps and returns free pages) and its descriptor count moves with
// the connections open at the moment of the sample; a leak is what keeps rising under a load
// that does not. So each resource fails only on two signs of growth at once:
//   RSS: the least-squares slope over the samples after the warm-up is above
//        rss_slope_kib_per_min, AND the mean of the last third of those samples is above the
//        mean of the first third by more than rss_rise_kib. The slope alone is thrown by one
//        late step up (a larger arena, a big buffer kept); the rise alone by a short run's noise.
//   fds: the slope is above fd_slope_per_min, AND even the fewest descriptors seen in the last
//        third are more than fd_rise above the most seen in the first: the floor rose above the
//        old ceiling, which the coming and going of connections alone does not do.
// Both thresholds are per minute, so they mean the same for a 2-minute run and a 30-minute one;
// a longer run sees a slower leak, since the rise it needs accumulates over more minutes.
struct TrendLimits {
  // 256 KiB a minute is 15 MiB an hour: a server left up for days would not survive it. Over
  // the 90 s a 2-minute run judges, a healthy server's RSS wanders by a few hundred KiB, which
  // alone makes slopes of ±300 KiB/min: the rise below is what keeps those from failing it.
  double rss_slope_kib_per_min = 256;
  // 1 MiB: about three times the rise such wandering makes between thirds (measured: -370 to
  // +160 KiB); a leak at the slope limit makes it within a 30-minute run's judged 24 minutes.
  double rss_rise_kib = 1024;
  // Half a descriptor a minute: any sustained growth. The floor-over-ceiling test above is what
  // keeps the noise of connections from failing the run.
  double fd_slope_per_min = 0.5;
  // One connection more or less open at the moment of a sample: three samples a third, so a
  // run whose last three samples each caught one more client connecting failed on that alone
  // (18, 18, 18 then 19, 19, 19). A leaked descriptor per reconnect (thousands a run) or one
  // kept after the load (soak_run.cpp compares before and after) is still caught.
  std::uint64_t fd_rise = 1;
};

struct Trend {
  bool judged = false;      // enough samples after the warm-up to tell (kMinSamples)
  std::size_t samples = 0;  // samples after the warm-up
  double warmup_s = 0;
  double rss_slope_kib_per_min = 0;
  double rss_first_third_mean_kib = 0;
  double rss_last_third_mean_kib = 0;
  double fd_slope_per_min = 0;
  std::uint64_t fds_first_third_max = 0;
  std::uint64_t fds_last_third_min = 0;
  bool rss_growing = false;
  bool fds_growing = false;
  std::vector<std::string> reasons;  // why it grows, for the summary
};

// Two per third: fewer cannot tell a trend from noise.
inline constexpr std::size_t kMinSamples = 6;

// Slope of the least-squares line through (x, y); 0 for fewer than two distinct x.
double least_squares_slope(const std::vector<double>& x, const std::vector<double>& y);

// The verdict over the samples taken at or after `warmup_s`.
Trend judge_trend(const std::vector<Sample>& samples, double warmup_s, const TrendLimits& limits);

}  // namespace plexus::soak
