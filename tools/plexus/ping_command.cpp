#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct PingArgs {
  std::string address;
  int count = 1000;
  int warmup = 100;  // round trips before measuring: connection, caches and wait learning settle
  bool direct = false;
  std::size_t size = 64;
  std::string wait;  // empty: the library's default (DirectOptions)
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
  options.tls = client_tls();
  auto client = Client::connect(runtime, options);
  if (!client) {
    return fail(client.error());
  }
  std::vector<double> us;
  if (a.direct) {
    // The demo's echo.direct: this thread sends and reads the rings itself.
    DirectOptions direct_options;
    if (!a.wait.empty()) direct_options.wait = *parse_wait_strategy(a.wait);
    auto channel = open_direct(**client, "echo.direct", direct_options);
    if (!channel) return fail(channel.error());
    const std::string payload(a.size, 'p');
    for (int i = 0; i < a.warmup; ++i) {
      if (auto sent = channel->send(payload); !sent) return fail(sent.error());
      if (auto reply = channel->receive(std::chrono::seconds(10)); !reply) {
        return fail(reply.error());
      }
    }
    for (int i = 0; i < a.count; ++i) {
      const auto start = std::chrono::steady_clock::now();
      if (auto sent = channel->send(payload); !sent) return fail(sent.error());
      auto reply = channel->receive(std::chrono::seconds(10));
      if (!reply) return fail(reply.error());
      us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count());
    }
    channel->close();
  } else {
    for (int i = 0; i < a.warmup; ++i) {
      if (auto rtt = (*client)->ping(); !rtt) return fail(rtt.error());
    }
    for (int i = 0; i < a.count; ++i) {
      auto rtt = (*client)->ping();
      if (!rtt) {
        return fail(rtt.error());
      }
      us.push_back(static_cast<double>(rtt->count()) / 1000.0);
    }
  }
  const std::string what = a.direct
                               ? "direct channel echo.direct, " + std::to_string(a.size) + " B, " +
                                     (a.wait.empty() ? std::string("default wait") : a.wait)
                               : std::string("PING/PONG");
  std::printf("%d round trips to %s (%s): min %.2f us  p50 %.2f us  p99 %.2f us\n", a.count,
              options.address.c_str(), what.c_str(), *std::min_element(us.begin(), us.end()),
              percentile(us, 0.50), percentile(us, 0.99));
  return 0;
}

}  // namespace

Run add_ping(CLI::App& app) {
  auto args = std::make_shared<PingArgs>();
  auto* cmd = app.add_subcommand("ping", "Measure protocol round trips: min/p50/p99");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("-c,--count", args->count, "Round trips measured")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Round trips before measuring")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd->add_flag("--direct", args->direct,
                "Round trips of a message on a direct channel to the demo's echo.direct "
                "(Unix socket only; plexus/direct.hpp)");
  cmd->add_option("--size", args->size, "With --direct: message bytes")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 19));
  cmd->add_option("--wait", args->wait,
                  "With --direct: spin, adaptive or block (default: the library's default)")
      ->check(CLI::IsMember({"spin", "adaptive", "block"}));
  return [cmd, args] { return cmd->parsed() ? ping(*args) : -1; };
}

}  // namespace plexus::cli
