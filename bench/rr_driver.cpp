#include "rr_driver.hpp"

#include <algorithm>
#include <chrono>

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

std::vector<double> time_round_trips(const RrParams& params, const std::function<void()>& call) {
  for (std::uint64_t i = 0; i < params.warmup_count; ++i) call();

  // Reserve up front so no allocation happens inside the timed loop.
  std::vector<double> samples;
  samples.reserve(params.rt_count);
  for (std::uint64_t i = 0; i < params.rt_count; ++i) {
    const auto start = Clock::now();
    call();
    const auto stop = Clock::now();
    samples.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
  }
  return samples;
}

double time_windowed(std::uint64_t count, std::uint32_t window,
                     const std::function<void()>& send_one, const std::function<void()>& recv_one) {
  const std::uint64_t limit = std::max<std::uint32_t>(window, 1);
  const auto start = Clock::now();
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  // Fill the window, then replace each completed call with a new one.
  while (received < count) {
    while (sent < count && sent - received < limit) {
      send_one();
      ++sent;
    }
    recv_one();
    ++received;
  }
  return seconds_since(start);
}

double time_sequential(std::uint64_t count, const std::function<void()>& call) {
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < count; ++i) call();
  return seconds_since(start);
}

}  // namespace plexus_bench
