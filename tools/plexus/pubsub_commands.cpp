// `plexus pub ADDR TOPIC JSON` and `plexus sub ADDR PATTERN`.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct PubArgs {
  std::string address;
  std::string topic;
  std::string payload = "{}";
  int connect_timeout_ms = 3000;
};

struct SubArgs {
  std::string address;
  std::string pattern;
  long count = 0;  // 0: until interrupted
  std::size_t queue = 1024;
  std::string policy = "drop_oldest";
  int connect_timeout_ms = 3000;
  int wait_ms = -1;  // for a server to come up; -1: as long as it takes
};

int pub(const PubArgs& a) {
  Runtime runtime;
  auto client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-cli");
  if (!client) {
    return fail(client.error());
  }
  PublishOptions now;
  now.immediate = true;
  if (auto r = (*client)->publish(a.topic, a.payload, now); !r) {
    return fail(r.error());
  }
  // The server reads frames in order: once it answers this PING it has routed the publish.
  if (auto r = (*client)->ping(Millis{a.connect_timeout_ms}); !r) {
    return fail(r.error());
  }
  return 0;
}

int sub(const SubArgs& a) {
  // SIGINT/SIGTERM end the command; SIGUSR1 is how the I/O thread says --count was reached.
  // Blocked before any thread exists, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGUSR2);  // the connect below finished
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto policy = parse_slow_policy(a.policy);
  if (!policy) {
    return fail(policy.error());
  }
  Runtime runtime;
  // Waits for a server that is not up yet (--wait-ms, by default as long as it takes), and
  // reconnects (and re-subscribes) when the server restarts. The wait happens on a thread of
  // its own so that Ctrl-C still ends the command meanwhile.
  Result<std::unique_ptr<Client>> client = tl::unexpected(Error{});
  std::thread connector([&] {
    client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-cli",
                            /*reconnect=*/true, a.wait_ms < 0 ? Millis::max() : Millis{a.wait_ms});
    ::kill(::getpid(), SIGUSR2);
  });
  int sig = 0;
  sigwait(&signals, &sig);
  if (sig != SIGUSR2) {
    // Interrupted while still waiting for the server: nothing was received, nothing to close
    // (the connect cannot be abandoned, so the process ends here).
    std::fflush(stdout);
    std::_Exit(0);
  }
  connector.join();
  if (!client) {
    return fail(client.error());
  }
  SubscribeOptions options;
  options.queue_limit = a.queue;
  options.policy = *policy;
  std::atomic<long> seen{0};
  auto id = (*client)->subscribe(
      a.pattern,
      [&seen, count = a.count](std::string_view topic, std::string_view payload) {
        if (count > 0 && seen.load() >= count) return;
        std::fwrite(topic.data(), 1, topic.size(), stdout);
        std::fputc(' ', stdout);
        std::fwrite(payload.data(), 1, payload.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        if (++seen == count) ::kill(::getpid(), SIGUSR1);
      },
      options);
  if (!id) {
    return fail(id.error());
  }
  sigwait(&signals, &sig);
  (*client)->close();
  return 0;
}

}  // namespace

Run add_pub(CLI::App& app) {
  auto args = std::make_shared<PubArgs>();
  auto* cmd = app.add_subcommand("pub", "Publish a JSON payload on TOPIC through the server");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("topic", args->topic, "Topic: dot-separated segments, e.g. db.users")->required();
  cmd->add_option("payload", args->payload, "Payload (JSON text)");
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  return [cmd, args] { return cmd->parsed() ? pub(*args) : -1; };
}

Run add_sub(CLI::App& app) {
  auto args = std::make_shared<SubArgs>();
  auto* cmd = app.add_subcommand(
      "sub", "Subscribe to PATTERN; prints `topic payload` per message until Ctrl-C or --count");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("pattern", args->pattern,
                  "Pattern: segments, `*` one segment, `>` (last) one or more, e.g. db.>")
      ->required();
  cmd->add_option("-n,--count", args->count, "Exit after this many messages (0: never)");
  cmd->add_option("--queue", args->queue, "Messages the server queues for this subscriber");
  cmd->add_option("--policy", args->policy,
                  "When the queue is full: drop_oldest, drop_newest, block, disconnect");
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  cmd->add_option("--wait-ms", args->wait_ms,
                  "How long to wait for a server that is not up yet (-1: as long as it takes)")
      ->capture_default_str();
  return [cmd, args] { return cmd->parsed() ? sub(*args) : -1; };
}

}  // namespace plexus::cli
