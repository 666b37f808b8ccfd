// The server the integration tests spawn as a real child process: the demo services plus
// handlers that report what happened back to the caller over the same session, so tests wait
// on events instead of sleeping. Prints "READY addr…" once listening; SIGTERM drains and exits.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "demo_services.hpp"
#include "plexus/plexus.hpp"

namespace {

using nlohmann::json;

void register_test_handlers(plexus::Server& server) {
  // {"method":M,"payload":P,"name_prefix":X}: NOTIFY M(P) to every connected client whose name
  // starts with X (all when absent); answers {"queued":n}.
  server.handle(
      "broadcast",
      [&server](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
        const auto args = json::parse(payload);
        const auto prefix = args.value("name_prefix", std::string());
        const auto queued = server.broadcast(
            args.at("method").get<std::string>(), args.at("payload").get<std::string>(),
            [&prefix](const plexus::PeerIdentity& peer) { return peer.name.starts_with(prefix); });
        return json{{"queued", queued}}.dump();
      });
  // Never answers; when the call is cancelled (CANCEL, deadline or lost connection) it sends
  // NOTIFY "event.cancelled" {"id":…,"deadline":bool} back to the caller.
  server.handle_async(
      "block", [](plexus::CallContext& ctx, std::string_view, plexus::Responder done) {
        auto keep = std::make_shared<plexus::Responder>(std::move(done));
        auto peer = ctx.peer();
        const auto id = ctx.id();
        const bool had_deadline = ctx.deadline().has_value();
        ctx.on_cancel([keep, peer, id, had_deadline]() mutable {
          (void)peer.notify("event.cancelled", json{{"id", id}, {"deadline", had_deadline}}.dump());
        });
      });
  // Answers the size of the request, so large-payload tests need not echo megabytes back.
  server.handle("size",
                [](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
                  return json{{"size", payload.size()}}.dump();
                });
  // Answers a payload of the requested size: {"size":N}.
  server.handle("make",
                [](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
                  const auto n = json::parse(payload).value("size", 0);
                  return std::string(static_cast<std::size_t>(n), 'x');
                });
  server.handle("pid", [](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
    return json{{"pid", ::getpid()}}.dump();
  });
  // Symmetric sessions: calls the caller's "client.greet" and answers with what it said.
  server.handle_coro("call_back",
                     [](plexus::CallContext& ctx,
                        std::string payload) -> asio::awaitable<plexus::Result<std::string>> {
                       auto peer = ctx.peer();
                       co_return co_await peer.async_call("client.greet", payload,
                                                          asio::use_awaitable);
                     });
  // Reports the peer identity the server sees (name and kernel credentials).
  server.handle("whoami",
                [](plexus::CallContext& ctx, std::string_view) -> plexus::Result<std::string> {
                  const auto& id = ctx.peer_identity();
                  return json{{"name", id.name},
                              {"pid", id.pid.value_or(-1)},
                              {"uid", id.uid.value_or(0)},
                              {"trace_id", std::string(ctx.trace_id())}}
                      .dump();
                });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plexus integration-test server"};
  std::vector<std::string> listen;
  plexus::ServerOptions options;
  int heartbeat_ms = 5000, heartbeat_timeout_ms = 15000, drain_ms = 5000;
  app.add_option("--listen", listen)->required();
  app.add_option("--max-message-size", options.max_message_size);
  app.add_option("--max-connections", options.max_connections);
  app.add_option("--heartbeat-ms", heartbeat_ms);
  app.add_option("--heartbeat-timeout-ms", heartbeat_timeout_ms);
  app.add_option("--drain-ms", drain_ms);
  app.add_option("--http", options.http, "HOST:PORT of the metrics/status HTTP endpoint");
  bool no_metrics = false;
  app.add_flag("--no-metrics", no_metrics);
  CLI11_PARSE(app, argc, argv);
  // Die with the test that spawned us, even when it is killed mid-test.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  plexus::Runtime runtime;
  options.listen = listen;
  options.name = "test-server";
  options.heartbeat_interval = plexus::Millis{heartbeat_ms};
  options.heartbeat_timeout = plexus::Millis{heartbeat_timeout_ms};
  options.metrics = !no_metrics;
  auto server = plexus::Server::create(runtime, options);
  if (!server) {
    std::printf("ERROR %s\n", server.error().to_string().c_str());
    return 1;
  }
  plexus::cli::register_demo_services(**server);
  register_test_handlers(**server);
  if (auto started = (*server)->start(); !started) {
    std::printf("ERROR %s\n", started.error().to_string().c_str());
    return 1;
  }
  std::string ready = "READY";
  for (const auto& a : (*server)->addresses()) ready += " " + a;
  if (!(*server)->http_address().empty()) ready += " " + (*server)->http_address();
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->shutdown(plexus::Millis{drain_ms});
  return 0;
}
