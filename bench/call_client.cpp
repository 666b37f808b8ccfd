// plexus_bench_call: the C++ client's call round trip and pipelined calls/s against a server
// that is already running (any plexus server with an `echo` method, e.g. `plexus serve --demo`).
// The Node.js benchmark (bench/node/node_bench.js) runs it against the same server as its Node
// rows, so that Node → C++ and C++ → C++ are measured in the same run, with the same driver as
// plexus_bench_rr's plexus rows (bench/plexus_drivers.hpp: call_async chains on the I/O thread).
//
// Prints one JSON object on stdout: round trip p50/p99/min/mean in µs and pipelined calls/s.
#include "plexus_drivers.hpp"
#include "rr_case.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <plexus/plexus.hpp>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string address;
  std::string method = "echo";
  std::size_t payload = 64;
  std::uint64_t warmup = 500;
  std::uint64_t count = 5000;
  std::uint64_t pipelined = 50000;
  std::uint32_t window = 128;
};

void print_usage(std::ostream& out) {
  out << "usage: plexus_bench_call --address ADDR [--method echo] [--payload BYTES]\n"
         "                         [--warmup N] [--count N] [--pipelined N] [--window W]\n"
         "  --address ADDR   the server: unix:///path, unix:///path?shm=1, tcp://host:port\n"
         "  --method NAME    a method that answers its payload unchanged (default echo)\n"
         "  --payload BYTES  request size, the answer's too (default 64)\n"
         "  --warmup N       untimed round trips first (default 500)\n"
         "  --count N        timed round trips, one call at a time (default 5000)\n"
         "  --pipelined N    calls with a window in flight, 0: none (default 50000)\n"
         "  --window W       calls in flight when pipelined (default 128)\n";
}

bool parse_options(int argc, char** argv, Options& opts) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg == "--address") {
      opts.address = value;
    } else if (arg == "--method") {
      opts.method = value;
    } else if (arg == "--payload") {
      opts.payload = std::strtoull(value.c_str(), nullptr, 10);
    } else if (arg == "--warmup") {
      opts.warmup = std::strtoull(value.c_str(), nullptr, 10);
    } else if (arg == "--count") {
      opts.count = std::strtoull(value.c_str(), nullptr, 10);
    } else if (arg == "--pipelined") {
      opts.pipelined = std::strtoull(value.c_str(), nullptr, 10);
    } else if (arg == "--window") {
      opts.window = static_cast<std::uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else {
      return false;
    }
  }
  return !opts.address.empty() && opts.count > 0 && opts.window > 0;
}

// The nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1));
  return sorted[rank];
}

int run(const Options& opts) {
  using namespace plexus_bench;
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);
  const std::string payload(opts.payload, 'x');
  RrParams params;
  params.payload_size = opts.payload;
  params.warmup_count = opts.warmup;
  params.rt_count = opts.count;

  std::vector<double> samples;
  double seconds = 0;
  {
    // The drivers outlive the client, whose close() completes any call still in flight.
    Pipeliner pipeliner;
    RoundTripper round_tripper;
    plexus::Runtime runtime;  // the defaults, as the Node binding's runtime
    plexus::ClientOptions options;
    options.address = opts.address;
    options.name = "plexus-bench-call";
    options.reconnect.enabled = false;  // a lost connection fails the run
    auto client =
        unwrap(plexus::Client::connect(runtime, std::move(options)), "connect " + opts.address);
    samples = std::move(round_tripper.run(runtime, *client, params, {opts.method}, payload)[0]);
    if (opts.pipelined > 0) {
      seconds = pipeliner.run(runtime, *client, opts.method, payload, opts.pipelined, opts.window);
    }
    client->close();
  }
  std::sort(samples.begin(), samples.end());
  const double mean =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  std::cout << std::setprecision(6) << "{\"payload_bytes\": " << opts.payload
            << ", \"rt_count\": " << samples.size()
            << ", \"rt_us\": {\"p50\": " << percentile(samples, 50)
            << ", \"p99\": " << percentile(samples, 99) << ", \"min\": " << samples.front()
            << ", \"mean\": " << mean << "}, \"pipelined_calls\": " << opts.pipelined
            << ", \"window\": " << opts.window << ", \"calls_per_s\": "
            << (seconds > 0 ? static_cast<double>(opts.pipelined) / seconds : 0) << "}\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!parse_options(argc, argv, opts)) {
    print_usage(std::cerr);
    return 2;
  }
  try {
    return run(opts);
  } catch (const std::exception& e) {
    std::cerr << "plexus_bench_call: " << e.what() << "\n";
    return 1;
  }
}
