// One server holding many idle connections (plexus_bench_conns): what each system's run
// measures, and the figures it brings back. plexus_conns_case.cpp and zmq_conns_case.cpp run the
// same plan, one after the other, in the same run.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace plexus_bench {

struct ConnsPlan {
  // Connection counts at which memory is read, ascending; the last one is the run's N, held
  // during the echo round trips.
  std::vector<std::size_t> levels;
  std::size_t echo_calls = 5000;  // timed round trips, alone and with the N held
  // Untimed calls first: plexus clients and servers learn how long to poll before they sleep.
  std::size_t echo_warmup = 1000;
  std::size_t echo_payload = 64;    // bytes
  std::string scratch_dir;          // socket files and the daemon's log
  std::string plexus_cli;           // the `plexus` executable, for `plexus serve`
  std::size_t open_file_limit = 0;  // this process's soft RLIMIT_NOFILE (raised to the hard one)

  std::size_t conns() const { return levels.back(); }
};

struct LatencySummary {
  std::size_t calls = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// Memory with `conns` connections held (and every one of them checked to be served).
struct MemoryAt {
  std::size_t conns = 0;
  long server_rss_kib = 0;
  long client_rss_kib = 0;  // the process(es) holding the connections' other ends
};

struct ConnsResult {
  std::string name;  // "plexus-unix", "zmq-router-ipc"
  std::size_t conns = 0;
  double open_seconds = 0;  // time spent opening the N connections (reading memory not counted)
  // CPU time the server process spent meanwhile: unlike the rate, it leaves out what the
  // connecting side costs (ZeroMQ DEALERs are heavier to make than a raw socket and a HELLO).
  double server_cpu_open_seconds = 0;
  long server_rss_before_kib = 0;  // with only the echo connection
  long client_rss_before_kib = 0;
  std::vector<MemoryAt> held;     // one per plan level
  long server_rss_after_kib = 0;  // once all N closed (and the server saw them go)
  LatencySummary echo_alone;      // before the N are opened
  LatencySummary echo_held;       // while the N are held
  std::string note;               // how this row's connections were made, in a few words

  double server_cpu_us_per_accept() const {
    return conns > 0 ? server_cpu_open_seconds * 1e6 / static_cast<double>(conns) : 0;
  }
  double accept_per_s() const {
    return open_seconds > 0 ? static_cast<double>(conns) / open_seconds : 0;
  }
  double server_kib_per_conn(const MemoryAt& m) const {
    return static_cast<double>(m.server_rss_kib - server_rss_before_kib) /
           static_cast<double>(m.conns);
  }
  double client_kib_per_conn(const MemoryAt& m) const {
    return static_cast<double>(m.client_rss_kib - client_rss_before_kib) /
           static_cast<double>(m.conns);
  }
};

ConnsResult run_plexus_conns(const ConnsPlan& plan);
ConnsResult run_zmq_conns(const ConnsPlan& plan);

// `warmup` untimed calls of round_trip(), then `calls` timed ones: nearest-rank p50 and p99.
template <typename RoundTrip>
LatencySummary time_round_trips(std::size_t warmup, std::size_t calls, RoundTrip&& round_trip) {
  using Clock = std::chrono::steady_clock;
  for (std::size_t i = 0; i < warmup; ++i) round_trip();
  std::vector<double> us(calls);
  for (auto& sample : us) {
    const auto start = Clock::now();
    round_trip();
    sample = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  }
  std::sort(us.begin(), us.end());
  auto rank = [&](double q) {
    const auto r = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us.size())));
    return us[std::clamp<std::size_t>(r, 1, us.size()) - 1];
  };
  LatencySummary s;
  s.calls = calls;
  if (!us.empty()) {
    s.p50_us = rank(0.50);
    s.p99_us = rank(0.99);
  }
  return s;
}

// Pauses between opening connections and reading memory, so the last of them are settled.
inline constexpr std::chrono::milliseconds kSettle{200};

}  // namespace plexus_bench
