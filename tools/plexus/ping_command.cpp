#include <algorithm>
#include <cstdio>
#include <vector>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct PingArgs {
  std::string address;
  int count = 10;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int ping(const PingArgs& a) {
  Runtime runtime;
  ClientOptions options;
  options.address = resolve_address(a.address);
  options.name = "plexus-ping";
  options.reconnect.enabled = false;
  auto client = Client::connect(runtime, options);
  if (!client) {
    return fail(client.error());
  }
  std::vector<double> us;
  for (int i = 0; i < a.count; ++i) {
    auto rtt = (*client)->ping();
    if (!rtt) {
      return fail(rtt.error());
    }
    us.push_back(static_cast<double>(rtt->count()) / 1000.0);
  }
  std::printf("%d round trips to %s (PING/PONG): min %.1f us  p50 %.1f us  p99 %.1f us\n", a.count,
              options.address.c_str(), *std::min_element(us.begin(), us.end()),
              percentile(us, 0.50), percentile(us, 0.99));
  return 0;
}

}  // namespace

Run add_ping(CLI::App& app) {
  auto args = std::make_shared<PingArgs>();
  auto* cmd = app.add_subcommand("ping", "Measure protocol round trips: min/p50/p99");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("-c,--count", args->count, "Round trips")->check(CLI::Range(1, 1000000));
  return [cmd, args] { return cmd->parsed() ? ping(*args) : -1; };
}

}  // namespace plexus::cli
