#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <systemd/sd-daemon.h>

#include "commands.hpp"
#include "demo_services.hpp"
#include "demo_ticker.hpp"

namespace plexus::cli {
namespace {

struct ServeArgs {
  std::vector<std::string> listen;
  std::string name = "plexus";
  bool demo = false;
  std::uint32_t max_message_size = 8u << 20;
  std::size_t max_connections = 1024;
  int heartbeat_ms = 5000;
  int heartbeat_timeout_ms = 15000;
  int drain_ms = 5000;
  std::string http = "127.0.0.1:9464";  // metrics, health and the status page
  bool no_http = false;
  bool http_given = false;  // --http on the command line: its port or nothing
  bool shm = false;         // accept the shared-memory upgrade on every Unix listener
  std::string idle_wait = "adaptive";
};

// How to run this very binary from the current directory, so the printed examples work when
// copied (the CLI is usually not on PATH after `make run`).
std::string self_command() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "plexus";
  const auto rel = std::filesystem::relative(exe, std::filesystem::current_path(ec), ec);
  if (ec || rel.empty() || rel.native().starts_with("..")) return exe.string();
  return rel.string();
}

int serve(const ServeArgs& a) {
  if (!std::getenv("PLEXUS_LOG")) set_log_level(LogLevel::info);
  // SIGINT/SIGTERM start the graceful shutdown; block them before any thread exists so that
  // only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RuntimeOptions runtime_options;
  runtime_options.idle_wait = *parse_wait_strategy(a.idle_wait);  // checked by the option
  Runtime runtime(runtime_options);
  ServerOptions options;
  for (const auto& l : a.listen) options.listen.push_back(resolve_address(l));
  // Socket activation: the sockets systemd (or anything speaking its LISTEN_FDS protocol) bound
  // for us are listened on, as well as any --listen; with them, no default socket is added.
  const int inherited = sd_listen_fds(1);
  if (inherited < 0) {
    return fail(Error{
        StatusCode::invalid_argument, std::string("LISTEN_FDS: ") + std::strerror(-inherited), {}});
  }
  for (int i = 0; i < inherited; ++i) {
    options.listen.push_back("fd://" + std::to_string(SD_LISTEN_FDS_START + i));
  }
  if (a.shm) {
    // The listener reads its policy from the address: ?shm=1 accepts upgrades (an inherited
    // TCP socket ignores it).
    if (options.listen.empty()) options.listen.push_back(resolve_address("default"));
    for (auto& l : options.listen) {
      if ((l.starts_with("unix:") || l.starts_with("fd:")) && l.find("shm=") == std::string::npos) {
        l += l.find('?') == std::string::npos ? "?shm=1" : "&shm=1";
      }
    }
  }
  options.name = a.name;
  options.max_message_size = a.max_message_size;
  options.max_connections = a.max_connections;
  options.heartbeat_interval = Millis{a.heartbeat_ms};
  options.heartbeat_timeout = Millis{a.heartbeat_timeout_ms};
  if (!a.no_http) options.http = a.http;
  // Two servers on one machine must not share the default port: the second takes a free one.
  options.http_any_port_if_taken = !a.http_given;
  DemoDirectEcho direct_echo;  // outlives the server: its handler refers to it
  auto server = Server::create(runtime, options);
  if (!server) {
    return fail(server.error());
  }
  if (a.demo) {
    register_demo_services(**server);
    direct_echo.register_on(**server);
  }
  std::unique_ptr<DemoTicker> ticker;  // stopped before the server shuts down
  if (auto started = (*server)->start(); !started) {
    return fail(started.error());
  }
  if (a.demo) ticker = std::make_unique<DemoTicker>(runtime, **server);
  const auto addresses = (*server)->addresses();
  std::printf("plexus serve: \"%s\" is listening on\n", a.name.c_str());
  for (const auto& addr : addresses) std::printf("  %s\n", addr.c_str());
  if (const auto http = (*server)->http_address(); !http.empty()) {
    std::printf("status page %s/  metrics %s/metrics  health %s/health\n", http.c_str(),
                http.c_str(), http.c_str());
  }
  if (a.demo) {
    const auto& first = addresses.front();
    const auto cmd = self_command();
    const char* c = cmd.c_str();
    const char* f = first.c_str();
    std::printf(
        "demo services: echo, sleep, fail, count, count_stream, fib, echo.direct (a direct\n"
        "channel). Try, from another terminal:\n"
        "  %s call %s echo '{\"hello\":\"world\"}'\n"
        "  %s call %s sleep '{\"ms\":200}'\n"
        "  %s call %s fail '{\"code\":\"not_found\"}'; echo \"exit status $?\"\n"
        "  %s ping %s            (and --direct: a direct channel's round trips)\n"
        "  %s stream %s count_stream '{\"n\":50,\"delay_ms\":100}'\n"
        "  %s sub %s demo.ticker     (a message every second; pub/sub: %s pub %s TOPIC JSON)\n"
        "  (`default` may stand for the address: %s call default count)\n",
        c, f, c, f, c, f, c, f, c, f, c, f, c, f, c);
  }
  std::printf("Ctrl-C drains in-flight calls (up to %d ms) and stops.\n", a.drain_ms);
  std::fflush(stdout);
  // A Type=notify service is "started" now; elsewhere ($NOTIFY_SOCKET unset) this does nothing.
  sd_notify(0, "READY=1");

  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("plexus serve: signal %d, draining\n", sig);
  std::fflush(stdout);
  sd_notify(0, "STOPPING=1");
  ticker.reset();
  (*server)->shutdown(Millis{a.drain_ms});
  return 0;
}

}  // namespace

Run add_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Run a plexus server");
  cmd->add_option(
      "-l,--listen", args->listen,
      "Address to listen on, repeatable: unix:///path, unix:@name, tcp://127.0.0.1:PORT "
      "(default: the default Unix socket, unless systemd passed sockets: LISTEN_FDS)");
  cmd->add_option("--name", args->name, "Server name sent in WELCOME");
  cmd->add_flag("--demo", args->demo,
                "Register the demo services (echo, sleep, fail, count, count_stream, fib, the "
                "direct channel echo.direct) and the demo.ticker topic");
  cmd->add_option("--max-message-size", args->max_message_size, "Largest payload accepted, bytes");
  cmd->add_option("--max-connections", args->max_connections, "Connections served at once");
  cmd->add_option("--heartbeat-ms", args->heartbeat_ms, "Ping a silent peer after this long");
  cmd->add_option("--heartbeat-timeout-ms", args->heartbeat_timeout_ms,
                  "Drop a peer silent this long");
  cmd->add_option("--drain-ms", args->drain_ms, "On SIGINT/SIGTERM, wait this long for calls");
  cmd->add_option("--http", args->http,
                  "HOST:PORT of the HTTP endpoint: /metrics, /health, /ready, /live, status page "
                  "at / (port 0: any free port; the default port, when taken, gives way to a "
                  "free one)")
      ->capture_default_str();
  cmd->add_flag("--no-http", args->no_http, "Serve no HTTP endpoint");
  cmd->add_option("--idle-wait", args->idle_wait,
                  "What the I/O thread does when idle: adaptive polls for a learnt while before "
                  "it sleeps, block sleeps at once (no idle CPU), spin never sleeps (a busy core)")
      ->check(CLI::IsMember({"spin", "adaptive", "block"}))
      ->capture_default_str();
  cmd->add_flag("--shm", args->shm,
                "Accept shared-memory upgrades on the Unix listeners (clients ask with "
                "unix:///path?shm=1); same as adding ?shm=1 to each Unix address");
  auto* http = cmd->get_option("--http");
  return [cmd, args, http] {
    if (!cmd->parsed()) return -1;
    args->http_given = http->count() > 0;
    return serve(*args);
  };
}

}  // namespace plexus::cli
