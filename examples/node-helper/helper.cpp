// node_helper: the native half of examples/node-helper. A C++ helper process that a Node.js (or
// Electron) main process spawns and talks to through plexus: it serves a call (`thumbnail`), a
// stream with progress (`render`) and publishes its status on `helper.status`.
//
//   node_helper unix:///run/user/1000/app/helper.sock
//
// It listens on the address given (shared memory accepted on it), prints "ready" on stdout once
// it does, and exits on SIGTERM or SIGINT, or when its parent closes its stdin.
#include <unistd.h>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>
#include <string>
#include <thread>
#include <utility>

namespace {

using nlohmann::json;

void serve_methods(plexus::Server& server) {
  server.handle("thumbnail",
                [](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
                  const json args = json::parse(payload, nullptr, false);
                  if (!args.is_object() || !args.value("width", json()).is_number_integer() ||
                      !args.value("height", json()).is_number_integer()) {
                    return plexus::make_error(
                        plexus::StatusCode::invalid_argument, "width and height must be integers",
                        json{{"got", std::string(payload.substr(0, 64))}}.dump());
                  }
                  const auto w = args["width"].get<std::int64_t>();
                  const auto h = args["height"].get<std::int64_t>();
                  return json{{"pixels", w * h}, {"pid", static_cast<int>(::getpid())}}.dump();
                });

  // A stream with progress; every tenth frame is also announced on helper.status.
  server.handle_stream(
      "render",
      [&server](plexus::CallContext& ctx, std::string payload,
                plexus::Stream out) -> asio::awaitable<plexus::Result<std::string>> {
        const json args = json::parse(payload, nullptr, false);
        const auto frames = args.is_object() ? args.value("frames", std::int64_t{20}) : 20;
        const auto delay_ms = args.is_object() ? args.value("delay_ms", std::int64_t{5}) : 5;
        if (frames < 0 || delay_ms < 0 || delay_ms > 10'000) {
          co_return plexus::make_error(plexus::StatusCode::invalid_argument,
                                       "frames >= 0, delay_ms 0..10000");
        }
        out.set_progress(static_cast<std::uint64_t>(frames));
        asio::steady_timer timer(ctx.io_executor());
        for (std::int64_t i = 0; i < frames; ++i) {
          timer.expires_after(std::chrono::milliseconds(delay_ms));
          std::error_code ec;
          co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          // Made before the co_await: GCC 12 rejects a braced json initializer inside one
          // ("array used as initializer").
          std::string item = json{{"frame", i}}.dump();
          auto written = co_await out.async_write(std::move(item), asio::use_awaitable);
          if (!written) co_return tl::unexpected(written.error());  // the reader went away
          if (i % 10 == 0) {
            (void)server.publish("helper.status",
                                 json{{"state", "rendering"}, {"frame", i}}.dump());
          }
        }
        (void)server.publish("helper.status", json{{"state", "idle"}}.dump());
        co_return json{{"rendered", frames}}.dump();
      });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: node_helper ADDRESS\n");
    return 64;
  }
  // Block the stop signals before any thread starts, so that only sigwait below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  plexus::Runtime runtime;
  plexus::ServerOptions options;
  options.listen = {argv[1]};
  options.name = "node-helper";
  auto server = plexus::Server::create(runtime, options);
  if (!server) {
    std::fprintf(stderr, "node_helper: %s\n", server.error().to_string().c_str());
    return 1;
  }
  serve_methods(**server);
  if (auto started = (*server)->start(); !started) {
    std::fprintf(stderr, "node_helper: %s\n", started.error().to_string().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  // A helper must not outlive its parent: stdin closing (the parent gone) stops it too.
  std::thread([] {
    char byte;
    while (::read(STDIN_FILENO, &byte, 1) > 0) {
    }
    ::kill(::getpid(), SIGTERM);
  }).detach();
  int signal = 0;
  sigwait(&stop, &signal);
  (*server)->shutdown(plexus::Millis{1000});
  return 0;
}
