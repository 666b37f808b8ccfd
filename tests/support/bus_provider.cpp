// A bus provider run as a real child process by the bus tests (tests/integration/bus_test.cpp),
// written as an application would write one with the public API (plexus/bus.hpp). It serves
// NAME/echo (the payload back, byte for byte), NAME/query (what it saw: its label, the trace,
// the time left), NAME/fail (an error with details), NAME/hang (answers only when cancelled)
// and the stream NAME/count (N items with progress, then "counted N"); and reports on stdout,
// one line per event, each written with one write(2):
//   "READY owner" / "READY queued" once registered, "REFUSED <error>" (then exit 3),
//   "PROMOTED" when the names topic says this process took the name over,
//   "HANG <trace> <ms left or none>" when a hang call starts, "CANCELLED" when it is cancelled,
//   "STREAM CANCELLED" when a count stream is cancelled.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "plexus/plexus.hpp"

namespace {

void say(const std::string& line) {
  const std::string l = line + "\n";
  (void)::write(STDOUT_FILENO, l.data(), l.size());
}

std::string ms_left(const plexus::CallContext& ctx) {
  if (!ctx.deadline()) return "none";
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      *ctx.deadline() - std::chrono::steady_clock::now());
  return std::to_string(left.count());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plexus bus test provider"};
  std::string address;
  std::string name = "com.example.search";
  std::string label = "provider";
  bool queue = false;
  app.add_option("--address", address,
                 "the daemon (default: $PLEXUS_ADDRESS, set by a daemon that starts this "
                 "provider from a service file)");
  app.add_option("--name", name);
  app.add_option("--label", label, "the client's name (the owner the bus shows)");
  app.add_flag("--queue", queue, "wait in the name's queue when it is owned");
  CLI11_PARSE(app, argc, argv);
  if (address.empty()) {
    const char* from_daemon = std::getenv("PLEXUS_ADDRESS");
    if (!from_daemon || !*from_daemon) {
      say("ERROR no --address and no PLEXUS_ADDRESS");
      return 2;
    }
    address = from_daemon;
  }
  // Die with the test that spawned us, even when it is killed mid-test.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);

  plexus::Runtime runtime;
  plexus::ClientOptions co;
  co.address = address;
  co.name = label;
  co.wait_for_server = plexus::Millis{10000};
  co.reconnect.initial_delay = plexus::Millis{20};
  co.reconnect.max_delay = plexus::Millis{200};
  auto client = plexus::Client::connect(runtime, co);
  if (!client) {
    say("ERROR " + client.error().to_string());
    return 1;
  }
  auto& c = **client;
  c.handle(name + "/echo",
           [](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
             return std::string(payload);
           });
  c.handle(
      name + "/query",
      [label](plexus::CallContext& ctx, std::string_view payload) -> plexus::Result<std::string> {
        return nlohmann::json{{"provider", label},
                              {"query", std::string(payload)},
                              {"trace", std::string(ctx.trace_id())},
                              {"ms_left", ms_left(ctx)}}
            .dump();
      });
  c.handle(name + "/fail",
           [](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
             return plexus::make_error(plexus::StatusCode::failed_precondition,
                                       "the index is not built yet",
                                       R"({"index":"main","progress":0.42})");
           });
  c.handle_async(name + "/hang",
                 [](plexus::CallContext& ctx, std::string_view, plexus::Responder r) {
                   auto shared = std::make_shared<plexus::Responder>(std::move(r));
                   say("HANG " + std::string(ctx.trace_id()) + " " + ms_left(ctx));
                   ctx.on_cancel([shared] {
                     say("CANCELLED");
                     shared->reply(plexus::make_error(plexus::StatusCode::cancelled, "cancelled"));
                   });
                 });
  c.handle_stream(name + "/count",
                  [](plexus::CallContext& ctx, std::string payload,
                     plexus::Stream s) -> asio::awaitable<plexus::Result<std::string>> {
                    const auto n = std::stoull(payload.empty() ? "0" : payload);
                    s.set_progress(n);
                    for (std::uint64_t i = 0; i < n; ++i) {
                      const std::string item = std::to_string(i);
                      auto written = co_await s.async_write(item, asio::use_awaitable);
                      if (!written) {
                        if (ctx.cancelled()) say("STREAM CANCELLED");
                        co_return tl::unexpected(written.error());
                      }
                    }
                    co_return "counted " + std::to_string(n);
                  });
  const auto pid = static_cast<std::int64_t>(::getpid());
  auto sub = c.subscribe("plexus.bus.names", [pid](std::string_view, std::string_view payload) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_object() && j.value("event", "") == "owner_changed" && j["owner"].is_object() &&
        j["owner"].value("pid", std::int64_t{-1}) == pid) {
      say("PROMOTED");
    }
  });
  if (!sub) {
    say("ERROR " + sub.error().to_string());
    return 1;
  }
  plexus::RegisterOptions ro;
  ro.queue = queue;
  auto registered = plexus::register_service(c, name, ro);
  if (!registered) {
    say("REFUSED " + registered.error().to_string());
    return 3;
  }
  say(std::string("READY ") +
      ((*registered)->state() == plexus::NameState::owner ? "owner" : "queued"));
  for (;;) ::pause();  // until killed
}
