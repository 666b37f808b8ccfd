#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include <systemd/sd-daemon.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "demo_services.hpp"
#include "demo_ticker.hpp"
#include "serve_config.hpp"

namespace plexus::cli {
namespace {

struct ServeArgs {
  std::vector<std::string> listen;
  std::string name = "plexus";
  bool demo = false;
  std::uint32_t max_message_size = 8u << 20;
  std::size_t max_connections = 1024;
  std::size_t max_handshaking = 512;
  std::size_t max_connections_per_peer = 0;
  int heartbeat_ms = 5000;
  int heartbeat_timeout_ms = 15000;
  int drain_ms = 5000;
  std::string http = "127.0.0.1:9464";  // metrics, health and the status page
  bool no_http = false;
  bool http_given = false;     // --http on the command line: its port or nothing
  std::string config;          // --config FILE (TOML)
  ConfigValues config_values;  // what the file said at start, for SIGHUP
  std::string log_level;       // empty: PLEXUS_LOG, else info
  bool shm = false;            // accept the shared-memory upgrade on every Unix listener
  bool insecure_tcp = false;   // plain TCP beyond loopback (ServerOptions::allow_insecure_tcp)
  std::string socket_mode = "0600";       // ServerOptions::unix_socket_mode, in octal
  std::vector<std::string> allow_users;   // ServerOptions::allow_uids, by name or number
  std::vector<std::string> allow_groups;  // ServerOptions::allow_gids, by name or number
  std::vector<std::string> token_keys;    // public key files (ServerOptions::tokens)
  bool token_optional = false;            // admit clients without a token
  std::string acl;                        // access policy file (ServerOptions::access_policy)
  std::string tls_cert;                   // ServerOptions::tls.certificate_file
  std::string tls_key;                    // ServerOptions::tls.private_key_file
  std::string tls_client_ca;              // ServerOptions::tls.client_ca_file (mutual TLS)
  std::string idle_wait = "adaptive";
  std::string data_dir;                     // ServerOptions::durable.data_dir: durable queues
  bool no_bus = false;                      // ServerOptions::bus off
  std::vector<std::string> services_dirs;   // ServerOptions::bus_service_dirs (else defaults)
  std::string durability = "group_commit";  // ServerOptions::durable.durability
  QueueConfig queues;                       // [queue-defaults] and [queues.NAME] of --config
  std::string nats;                         // --nats URL: the NATS bridge (NatsBridge)
  NatsBridgeOptions nats_options;           // [nats] of --config
};

Durability parse_durability(const std::string& text) {
  if (text == "none") return Durability::none;
  if (text == "every_message") return Durability::every_message;
  return Durability::group_commit;
}

// The token keys from --token-key files; null when none is given.
Result<std::shared_ptr<const TokenVerifier>> load_token_keys(const ServeArgs& a) {
  if (a.token_keys.empty()) return std::shared_ptr<const TokenVerifier>();
  auto verifier = std::make_shared<TokenVerifier>();
  // A directory stands for the .pub files in it, read again on each reload: a rotation adds
  // the new key's file, later removes the old one, and signals each time.
  std::vector<std::string> files;
  for (const auto& path : a.token_keys) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> in_dir;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      if (entry.path().extension() == ".pub") in_dir.push_back(entry.path().string());
    }
    if (ec)
      return make_error(StatusCode::invalid_argument, "--token-key " + path + ": " + ec.message());
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }
  for (const auto& file : files) {
    if (auto added = verifier->add_key_file(file); !added) {
      return make_error(added.error().code, "--token-key " + file + ": " + added.error().message,
                        added.error().details);
    }
  }
  return std::shared_ptr<const TokenVerifier>(std::move(verifier));
}

// SIGHUP and `plexus acl reload`: the access policy and the token keys read again. A file that
// does not load changes nothing (the running policy or keys stay) and is reported. Returns
// what was done, one line each, or the first error.
Result<std::string> reload_security(Server& server, const ServeArgs& a) {
  std::string done;
  std::optional<AccessPolicy> policy;
  if (!a.acl.empty()) {
    auto loaded = AccessPolicy::load(a.acl);
    if (!loaded) {
      return make_error(
          loaded.error().code,
          "access policy not reloaded, the running one stays: " + loaded.error().message,
          loaded.error().details);
    }
    policy = std::move(*loaded);
  }
  auto keys = load_token_keys(a);
  if (!keys) {
    return make_error(keys.error().code,
                      "token keys not reloaded, the running ones stay: " + keys.error().message,
                      keys.error().details);
  }
  if (policy) {
    const auto rules = policy->rule_count();
    if (auto set = server.set_access_policy(std::move(*policy)); !set) {
      return tl::unexpected(set.error());
    }
    done += "access policy " + a.acl + " (" + std::to_string(rules) + " rules)";
  }
  if (*keys) {
    const auto count = (*keys)->key_count();
    server.set_token_verifier(std::move(*keys));
    done += std::string(done.empty() ? "" : "; ") + std::to_string(count) + " token keys";
  }
  return done;
}

// A user or group id from a name (the passwd/group databases) or a number; nullopt when
// neither.
std::optional<std::uint32_t> id_number(const std::string& text) {
  if (text.empty() || text.size() > 10 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const unsigned long long n = std::stoull(text);
  if (n > 0xFFFFFFFFull) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

std::optional<std::uint32_t> user_id(const std::string& name_or_number) {
  if (auto n = id_number(name_or_number)) return n;
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwnam_r(name_or_number.c_str(), &entry, buffer, sizeof buffer, &found) != 0 || !found) {
    return std::nullopt;
  }
  return found->pw_uid;
}

std::optional<std::uint32_t> group_id(const std::string& name_or_number) {
  if (auto n = id_number(name_or_number)) return n;
  group entry{};
  group* found = nullptr;
  char buffer[4096];
  if (::getgrnam_r(name_or_number.c_str(), &entry, buffer, sizeof buffer, &found) != 0 || !found) {
    return std::nullopt;
  }
  return found->gr_gid;
}

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

std::optional<LogLevel> parse_log_level(const std::string& text) {
  const char* names[] = {"trace", "debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 6; ++i) {
    if (text == names[i]) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

// SIGHUP: reads the config file again. What can change while connections stay (the log level)
// takes effect; for anything else it says that a restart is needed.
void reload(const CLI::App& cmd, const ServeArgs& a, ConfigValues& current) {
  if (a.config.empty()) {
    std::printf("plexus serve: SIGHUP without --config: nothing to reload\n");
    return;
  }
  auto fresh = read_serve_config(cmd, a.config);
  if (!fresh) {
    std::printf("plexus serve: reload refused, keeping the running settings: %s\n",
                fresh.error().message.c_str());
    return;
  }
  std::string changed;
  for (const auto& key : [&] {
         std::set<std::string> keys;
         for (const auto& [k, v] : current) keys.insert(k);
         for (const auto& [k, v] : *fresh) keys.insert(k);
         return keys;
       }()) {
    const auto before = current.find(key);
    const auto after = fresh->find(key);
    const std::string was = before == current.end() ? "" : before->second;
    const std::string now = after == fresh->end() ? "" : after->second;
    if (was == now) continue;
    if (key == "log-level") {
      if (auto level = parse_log_level(now.empty() ? "info" : now)) {
        set_log_level(*level);
        changed += " log-level=" + (now.empty() ? std::string("info") : now);
      } else {
        std::printf("plexus serve: reload: log-level \"%s\" is not a level\n", now.c_str());
      }
    } else {
      std::printf("plexus serve: reload: %s changed; it takes a restart\n", key.c_str());
    }
  }
  current = std::move(*fresh);
  std::printf("plexus serve: reloaded %s:%s\n", a.config.c_str(),
              changed.empty() ? " nothing to apply" : changed.c_str());
}

// A daemon holds a descriptor per connection, and the soft limit of open files is often 1,024:
// take the hard limit, and say so when even that is below --max-connections. Only the daemon
// does this; the library never changes the limits of the process it runs in.
void raise_open_file_limit(std::size_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  // Listeners, the HTTP endpoint, the runtime's own descriptors and the process's.
  constexpr rlim_t kForTheServerItself = 64;
  if (limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < static_cast<rlim_t>(max_connections) + kForTheServerItself) {
    std::fprintf(stderr,
                 "plexus serve: warning: the open-file limit is %llu (hard limit %llu), too low "
                 "for --max-connections %zu: connections past about %llu will fail to be "
                 "accepted. Raise the hard limit (ulimit -Hn, or LimitNOFILE= in the service) "
                 "or lower --max-connections.\n",
                 static_cast<unsigned long long>(limit.rlim_cur),
                 static_cast<unsigned long long>(limit.rlim_max), max_connections,
                 static_cast<unsigned long long>(limit.rlim_cur > kForTheServerItself
                                                     ? limit.rlim_cur - kForTheServerItself
                                                     : 0));
  }
}

int serve(const CLI::App& cmd, ServeArgs& a) {
  raise_open_file_limit(a.max_connections);
  if (!a.log_level.empty()) {
    set_log_level(*parse_log_level(a.log_level));  // checked by the option
  } else if (!std::getenv("PLEXUS_LOG")) {
    set_log_level(LogLevel::info);
  }
  // SIGINT/SIGTERM start the graceful shutdown, SIGHUP reloads --config; block them before any
  // thread exists so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
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
  options.max_handshaking = a.max_handshaking;
  options.max_connections_per_peer = a.max_connections_per_peer;
  options.allow_insecure_tcp = a.insecure_tcp;
  options.tls.certificate_file = a.tls_cert;
  options.tls.private_key_file = a.tls_key;
  options.tls.client_ca_file = a.tls_client_ca;
  try {
    std::size_t used = 0;
    options.unix_socket_mode = static_cast<unsigned>(std::stoul(a.socket_mode, &used, 8));
    if (used != a.socket_mode.size() || options.unix_socket_mode > 0777)
      throw std::out_of_range("");
  } catch (const std::exception&) {
    return fail(Error{StatusCode::invalid_argument,
                      "--socket-mode: " + a.socket_mode + " is not an octal mode like 0660",
                      {}});
  }
  for (const auto& user : a.allow_users) {
    const auto uid = user_id(user);
    if (!uid) return fail(Error{StatusCode::invalid_argument, "--allow-user: no user " + user, {}});
    options.allow_uids.push_back(*uid);
  }
  for (const auto& name : a.allow_groups) {
    const auto gid = group_id(name);
    if (!gid)
      return fail(Error{StatusCode::invalid_argument, "--allow-group: no group " + name, {}});
    options.allow_gids.push_back(*gid);
  }
  auto keys = load_token_keys(a);
  if (!keys) return fail(keys.error());
  options.tokens = std::move(*keys);
  options.require_token = !a.token_optional;
  if (!a.acl.empty()) {
    auto policy = AccessPolicy::load(a.acl);
    if (!policy) return fail(policy.error());
    options.access_policy = std::move(*policy);
  }
  options.durable.data_dir = a.data_dir;
  options.bus = !a.no_bus;
  options.bus_service_dirs = a.services_dirs;
  if (options.bus_service_dirs.empty()) {
    // Where service files live: the user's own first, then the system's (docs/PROTOCOL.md §24.6).
    const char* config = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (config && *config) {
      options.bus_service_dirs.push_back(std::string(config) + "/plexus/services");
    } else if (home && *home) {
      options.bus_service_dirs.push_back(std::string(home) + "/.config/plexus/services");
    }
    options.bus_service_dirs.push_back("/usr/share/plexus/services");
  }
  options.durable.durability = parse_durability(a.durability);  // checked by the option
  options.durable.queue_defaults = a.queues.defaults;
  options.durable.queues = a.queues.queues;
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
  // `plexus acl reload`: what SIGHUP does to the policy and keys, for the server's own user
  // (and root) only; the access policy must also allow calling it.
  (*server)->handle(
      "plexus.acl.reload",
      [&server = **server, &a](CallContext& ctx, std::string_view) -> Result<std::string> {
        const auto uid = ctx.peer_identity().uid;
        if (!uid || (*uid != ::getuid() && *uid != 0)) {
          return make_error(StatusCode::permission_denied,
                            "only the server's own user or root may reload its "
                            "access policy");
        }
        auto done = reload_security(server, a);
        if (!done) return tl::unexpected(done.error());
        std::printf("plexus serve: reloaded (plexus acl reload): %s\n", done->c_str());
        std::fflush(stdout);
        return nlohmann::json{{"reloaded", *done}}.dump();
      });
  std::unique_ptr<DemoTicker> ticker;  // stopped before the server shuts down
  if (auto started = (*server)->start(); !started) {
    return fail(started.error());
  }
  // The NATS bridge: --nats wins over [nats]'s url. A URL nobody answers stops the daemon
  // (the operator asked for a bridge; a daemon that silently has none would hide it).
  std::unique_ptr<NatsBridge> nats;  // stopped before the server shuts down
  if (!a.nats.empty()) a.nats_options.url = a.nats;
  if (!a.nats_options.url.empty()) {
    auto bridge = NatsBridge::start(runtime, **server, a.nats_options);
    if (!bridge) {
      (*server)->shutdown(Millis{0});
      return fail(Error{bridge.error().code, "NATS bridge: " + bridge.error().message,
                        bridge.error().details});
    }
    nats = std::move(*bridge);
  } else if (!a.nats_options.export_methods.empty() || !a.nats_options.import_methods.empty() ||
             !a.nats_options.export_topics.empty() || !a.nats_options.import_topics.empty()) {
    (*server)->shutdown(Millis{0});
    return fail(Error{StatusCode::invalid_argument,
                      a.config + ": [nats] names what to export or import but no url (set "
                                 "url in [nats] or give --nats nats://HOST:PORT)",
                      {}});
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
  if (!a.data_dir.empty()) {
    std::printf(
        "durable queues in %s/plexus.db (%s): plexus queue stats ADDR, plexus dlq list ADDR\n",
        a.data_dir.c_str(), a.durability.c_str());
  }
  if (!a.no_bus) {
    std::printf("bus: services register their names here; plexus ls %s lists them\n",
                addresses.front().c_str());
  }
  if (nats) {
    const auto& n = a.nats_options;
    std::printf(
        "NATS bridge on %s (subjects %s.call.METHOD, %s.topic.TOPIC): %zu exported "
        "methods, %zu imported, %zu exported topics, %zu imported\n",
        n.url.c_str(), n.prefix.c_str(), n.prefix.c_str(), n.export_methods.size(),
        n.import_methods.size(), n.export_topics.size(), n.import_topics.size());
  }
  std::printf("Ctrl-C drains in-flight calls (up to %d ms) and stops.\n", a.drain_ms);
  std::fflush(stdout);
  // A Type=notify service is "started" now; elsewhere ($NOTIFY_SOCKET unset) this does nothing.
  sd_notify(0, "READY=1");

  int sig = 0;
  for (sigwait(&signals, &sig); sig == SIGHUP; sigwait(&signals, &sig)) {
    reload(cmd, a, a.config_values);
    if (!a.acl.empty() || !a.token_keys.empty()) {
      if (auto done = reload_security(**server, a)) {
        std::printf("plexus serve: reloaded %s\n", done->c_str());
      } else {
        std::printf("plexus serve: %s\n", done.error().message.c_str());
      }
    }
    if (!a.tls_cert.empty()) {
      // New TLS connections get the files' certificates; open ones keep theirs.
      if (auto done = (*server)->reload_tls()) {
        std::printf("plexus serve: reloaded the TLS certificate %s\n", a.tls_cert.c_str());
      } else {
        std::printf("plexus serve: TLS certificate not reloaded, the running one stays: %s\n",
                    done.error().message.c_str());
      }
    }
    std::fflush(stdout);
  }
  std::printf("plexus serve: signal %d, draining\n", sig);
  std::fflush(stdout);
  sd_notify(0, "STOPPING=1");
  ticker.reset();
  nats.reset();
  (*server)->shutdown(Millis{a.drain_ms});
  return 0;
}

}  // namespace

Run add_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Run a plexus server");
  cmd->add_option(
      "-l,--listen", args->listen,
      "Address to listen on, repeatable: unix:///path, unix:@name, tcp://127.0.0.1:PORT, "
      "tls://HOST:PORT (with --tls-cert and --tls-key), inherited: (as the helper of a "
      "parent that dialed exec://) "
      "(default: the default Unix socket, unless systemd passed sockets: LISTEN_FDS)");
  cmd->add_option("--name", args->name, "Server name sent in WELCOME");
  cmd->add_flag("--demo", args->demo,
                "Register the demo services (echo, sleep, fail, count, count_stream, fib, the "
                "direct channel echo.direct) and the demo.ticker topic");
  cmd->add_option("--max-message-size", args->max_message_size, "Largest payload accepted, bytes");
  cmd->add_option("--max-connections", args->max_connections, "Connections served at once");
  cmd->add_option("--max-handshaking", args->max_handshaking,
                  "Connections still in their handshake at once; past it new ones are refused")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-peer", args->max_connections_per_peer,
                  "Connections one verified peer (a user; a host over TCP) may hold (0: no cap)")
      ->capture_default_str();
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
  cmd->add_option(
         "--socket-mode", args->socket_mode,
         "Mode of the Unix socket files, in octal (0660: the group may connect too, if the "
         "directory lets it reach the socket)")
      ->capture_default_str();
  cmd->add_option("--allow-user", args->allow_users,
                  "Only these users (names or uids, repeatable) and --allow-group's members may "
                  "connect over Unix sockets; TCP peers are then refused (nothing proves who they "
                  "are)");
  cmd->add_option("--allow-group", args->allow_groups,
                  "Only members of these groups (primary group; names or gids, repeatable) and "
                  "--allow-user's users may connect");
  cmd->add_option("--token-key", args->token_keys,
                  "Public key file (plexus token keygen's .pub), or a directory of them, that "
                  "verifies clients' tokens; repeatable. Clients without a valid token are "
                  "refused; SIGHUP and plexus acl reload read them again (a directory's "
                  "files as they are then: how a key is added or retired while running)")
      ->check(CLI::ExistingPath);
  cmd->add_flag("--token-optional", args->token_optional,
                "With --token-key: admit clients that present no token (a token presented "
                "must still verify)");
  cmd->add_option("--acl", args->acl,
                  "Access policy file (TOML; docs/SECURITY.md): who may call, notify, publish, "
                  "subscribe and stream what; default deny. SIGHUP and plexus acl reload read it "
                  "again")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-cert", args->tls_cert,
                  "Certificate chain (PEM) of the tls:// listeners; SIGHUP reads it again");
  cmd->add_option("--tls-key", args->tls_key, "Private key (PEM) of --tls-cert");
  cmd->add_option("--tls-client-ca", args->tls_client_ca,
                  "Mutual TLS: clients must present a certificate signed by this CA (PEM); "
                  "handlers see its subject (PeerIdentity::certificate)");
  cmd->add_flag("--insecure-tcp", args->insecure_tcp,
                "Allow plain TCP on addresses beyond loopback (tcp://0.0.0.0:PORT): anyone on the "
                "network can then connect and read the traffic");
  cmd->add_flag("--no-bus", args->no_bus,
                "Do not serve the local bus (plexus.bus.*: named services that clients register "
                "and call through this server; plexus ls lists them)");
  cmd->add_option("--services-dir", args->services_dirs,
                  "Read bus service files (*.toml: name, exec, args, env, start_timeout_ms) from "
                  "DIR instead of ~/.config/plexus/services and /usr/share/plexus/services; the "
                  "first call to such a name starts its provider (repeatable)");
  cmd->add_option("--data-dir", args->data_dir,
                  "Keep durable queues (plexus queue, plexus dlq, QueueClient) in DIR/plexus.db, "
                  "created when missing; one server at a time. [queue-defaults] and "
                  "[queues.NAME] tables in --config set their bounds and retries");
  cmd->add_option("--durability", args->durability,
                  "With --data-dir: what a stored message survives. none: kill -9 (no fsync); "
                  "group_commit: also a power cut, sends arriving together share one fsync; "
                  "every_message: one fsync per message")
      ->check(CLI::IsMember({"none", "group_commit", "every_message"}))
      ->capture_default_str();
  cmd->add_option("--log-level", args->log_level,
                  "trace, debug, info, warn, error or off (default: PLEXUS_LOG, else info); "
                  "SIGHUP applies a new value from --config")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  cmd->add_option("--config", args->config,
                  "TOML file whose keys are these options without their dashes (listen = "
                  "[\"unix:///path\"], demo = true, max-connections = 4096…); the command line "
                  "wins; SIGHUP reads it again")
      ->check(CLI::ExistingFile);
  cmd->add_option("--nats", args->nats,
                  "Join a NATS subject space: nats://HOST:PORT (the [nats] table of --config "
                  "says which methods and topics cross; nothing does by default; "
                  "docs/PROTOCOL.md §24). A URL no server answers stops plexus serve");
  auto* http = cmd->get_option("--http");
  return [cmd, args, http] {
    if (!cmd->parsed()) return -1;
    if (!args->config.empty()) {
      auto values = apply_serve_config(*cmd, args->config);
      if (!values) {
        std::fprintf(stderr, "plexus serve: %s\n", values.error().message.c_str());
        return 64;  // a usage error, as a bad option on the command line
      }
      args->config_values = std::move(*values);
      auto queues = read_queue_config(args->config);
      if (!queues) {
        std::fprintf(stderr, "plexus serve: %s\n", queues.error().message.c_str());
        return 64;
      }
      args->queues = std::move(*queues);
      auto nats = read_nats_bridge_config(args->config);
      if (!nats) {
        std::fprintf(stderr, "plexus serve: %s\n", nats.error().message.c_str());
        return 64;
      }
      args->nats_options = std::move(*nats);
    }
    args->http_given = http->count() > 0;
    return serve(*cmd, *args);
  };
}

}  // namespace plexus::cli
