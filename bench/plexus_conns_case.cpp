// The plexus row of plexus_bench_conns: a `plexus serve --demo` daemon in a child process (its
// defaults, but for a connection limit above N), N idle sessions opened by hand from this
// process (plexus_idle_conns.hpp), and one ordinary plexus::Client for the echo round trips and
// for asking the daemon how many sessions it holds (plexus.stats).
#include "conns_case.hpp"
#include "exec_child.hpp"
#include "plexus_idle_conns.hpp"
#include "proc_status.hpp"

#include <unistd.h>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <thread>

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

// The idle sessions' name in their HELLO: the daemon's peer list shows which sessions are ours.
constexpr const char* kIdlePeerName = "bench-idle";
constexpr std::size_t kHandshakesInFlight = 256;
constexpr std::chrono::seconds kOpenTimeout{90};
constexpr std::chrono::seconds kCloseTimeout{30};
// The daemon's connection limit above N: the echo client, and room to spare.
constexpr std::size_t kSpareConnections = 64;

template <typename T>
T unwrap(plexus::Result<T> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().to_string());
  return std::move(*r);
}

struct SessionCount {
  std::size_t open = 0;        // every connection, handshaking or not
  std::size_t idle_ready = 0;  // ours, past the handshake
};

// What the daemon itself says it holds.
SessionCount count_sessions(plexus::Client& client) {
  const auto stats =
      nlohmann::json::parse(unwrap(client.call("plexus.stats", "{}"), "plexus.stats"));
  SessionCount c;
  c.open = stats.at("connections").at("open").get<std::size_t>();
  for (const auto& peer : stats.at("peers")) c.idle_ready += peer.at("name") == kIdlePeerName;
  return c;
}

// Fails the run unless the daemon serves exactly `idle` of our sessions plus the echo client.
void check_held(plexus::Client& client, const PlexusIdleConnections& idle, std::size_t expected) {
  const SessionCount c = count_sessions(client);
  if (c.open != expected + 1 || c.idle_ready != expected || idle.lost() != 0) {
    throw std::runtime_error("plexus: expected " + std::to_string(expected) +
                             " idle sessions + the echo client; the server holds " +
                             std::to_string(c.open) + " connections, " +
                             std::to_string(c.idle_ready) + " of them idle and ready; " +
                             std::to_string(idle.lost()) + " lost on this side");
  }
}

ConnsResult run(const ConnsPlan& plan, const std::string& log_path) {
  const std::string socket_path = plan.scratch_dir + "/plexus.sock";
  ExecChild server(
      {plan.plexus_cli, "serve", "--listen", "unix://" + socket_path, "--demo", "--no-http",
       "--max-connections", std::to_string(plan.conns() + kSpareConnections), "--drain-ms", "1000"},
      log_path);

  // The echo client's session lines (ready, closed) would land in the middle of the table.
  if (!std::getenv("PLEXUS_LOG")) plexus::set_log_level(plexus::LogLevel::warn);
  plexus::Runtime runtime;
  plexus::ClientOptions options;
  options.address = "unix://" + socket_path;
  options.name = "bench-echo";
  options.reconnect.enabled = false;
  options.wait_for_server = plexus::Millis{10000};  // while the daemon starts
  auto client = unwrap(plexus::Client::connect(runtime, options), "connect to plexus serve");
  const std::string payload(plan.echo_payload, 'x');
  auto echo = [&] {
    if (unwrap(client->call("echo", payload), "echo") != payload) {
      throw std::runtime_error("plexus: echo answered something else");
    }
  };

  ConnsResult r;
  r.name = "plexus-unix";
  r.conns = plan.conns();
  r.note = "N sessions opened by hand from this process (HELLO, WELCOME, PONGs), " +
           std::to_string(kHandshakesInFlight) +
           " handshakes in flight; `plexus serve --demo` with its defaults; echo: one "
           "plexus::Client, blocking calls";
  r.echo_alone = time_round_trips(plan.echo_warmup, plan.echo_calls, echo);

  PlexusIdleConnections idle(socket_path, kIdlePeerName);
  check_held(*client, idle, 0);
  std::this_thread::sleep_for(kSettle);
  r.server_rss_before_kib = vm_rss_kib(server.pid());
  r.client_rss_before_kib = vm_rss_kib(getpid());
  const std::size_t server_fds_before = open_fd_count(server.pid());
  for (const std::size_t level : plan.levels) {
    idle.stop_keeping();  // open_until answers PINGs itself
    const double cpu_start = cpu_seconds(server.pid());
    const auto start = Clock::now();
    idle.open_until(level, kHandshakesInFlight, kOpenTimeout);
    r.open_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    r.server_cpu_open_seconds += cpu_seconds(server.pid()) - cpu_start;
    idle.start_keeping();
    std::this_thread::sleep_for(kSettle);
    r.held.push_back({level, vm_rss_kib(server.pid()), vm_rss_kib(getpid())});
    check_held(*client, idle, level);
  }
  r.echo_held = time_round_trips(plan.echo_warmup, plan.echo_calls, echo);
  check_held(*client, idle, plan.conns());  // none dropped while the echo ran

  idle.stop_keeping();
  idle.close_all();
  // Watched from outside: asking plexus.stats while the sessions close would make the daemon
  // build peer lists after it gave its freed memory back, and the RSS read next would show them.
  const auto give_up = Clock::now() + kCloseTimeout;
  while (open_fd_count(server.pid()) > server_fds_before) {
    if (Clock::now() > give_up) throw std::runtime_error("plexus: closed sessions linger");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The daemon gives freed memory back (malloc_trim) on a task posted once a crowd has gone.
  std::this_thread::sleep_for(kSettle);
  r.server_rss_after_kib = vm_rss_kib(server.pid());
  check_held(*client, idle, 0);

  client->close();
  if (!server.stop(5000)) throw std::runtime_error("plexus serve did not exit cleanly on SIGTERM");
  return r;
}

}  // namespace

ConnsResult run_plexus_conns(const ConnsPlan& plan) {
  const std::string log_path = plan.scratch_dir + "/plexus-serve.log";
  try {
    return run(plan, log_path);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) +
                             "\n--- last lines of plexus serve's log ---\n" +
                             tail_of_file(log_path, 15));
  }
}

}  // namespace plexus_bench
