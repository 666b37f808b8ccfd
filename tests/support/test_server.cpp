// The server the integration tests spawn as a real child process: the demo services plus
// handlers that report what happened back to the caller over the same session, so tests wait
// on events instead of sleeping. Prints "READY addr…" once listening; SIGTERM drains and exits.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "demo_services.hpp"
#include "plexus/coalesce.hpp"
#include "plexus/plexus.hpp"

namespace {

using nlohmann::json;

// The stream handlers the stream tests open. Each answers with the producer's own accounting
// (StreamStats) as its final payload, so a test asserts on both ends' buffers.
json stream_report(const plexus::Stream& stream, std::uint64_t count) {
  const auto st = stream.stats();
  return json{{"count", count},
              {"items_sent", st.items_sent},
              {"peak_queued_bytes", st.peak_queued_bytes},
              {"credit_waits", st.credit_waits},
              {"peak_buffered_bytes", st.peak_buffered_bytes},
              {"peak_buffered_items", st.peak_buffered_items}};
}

void register_stream_handlers(plexus::Server& server) {
  // {"n":N,"size":S,"fail_at":K,"cancel_at":K}: writes N items "i" padded to S bytes, with the
  // total as progress. fail_at ends with resource_exhausted after K items; cancel_at cancels
  // the stream from this side. When the reader cancels, NOTIFY "event.stream_cancelled"
  // {"sent":n} tells the test where the producer stopped.
  server.handle_stream(
      "stream.count",
      [](plexus::CallContext& ctx, std::string payload,
         plexus::Stream out) -> asio::awaitable<plexus::Result<std::string>> {
        const auto args = json::parse(payload);
        const auto n = args.value("n", std::uint64_t{10});
        const auto size = args.value("size", std::size_t{8});
        const auto fail_at = args.value("fail_at", ~std::uint64_t{0});
        const auto cancel_at = args.value("cancel_at", ~std::uint64_t{0});
        auto peer = ctx.peer();
        out.set_progress(n);
        std::uint64_t sent = 0;
        for (; sent < n; ++sent) {
          if (sent == fail_at) {
            co_return plexus::make_error(
                plexus::StatusCode::resource_exhausted,
                "failed on purpose after " + std::to_string(sent) + " items",
                json{{"sent", sent}}.dump());
          }
          if (sent == cancel_at) {
            out.cancel("producer gave up after " + std::to_string(sent));
            co_return stream_report(out, sent).dump();
          }
          std::string item = std::to_string(sent);
          if (item.size() < size) item.resize(size, ' ');
          auto written = co_await out.async_write(item, asio::use_awaitable);
          if (!written) {
            (void)peer.notify(
                "event.stream_cancelled",
                json{{"sent", sent}, {"code", plexus::to_string(written.error().code)}}.dump());
            co_return tl::unexpected(written.error());
          }
        }
        co_return stream_report(out, sent).dump();
      });
  // Client-to-server: sums the integers the opener writes; answers {"count":c,"sum":s}.
  server.handle_stream("stream.sum",
                       [](plexus::CallContext&, std::string,
                          plexus::Stream in) -> asio::awaitable<plexus::Result<std::string>> {
                         std::uint64_t count = 0, sum = 0;
                         for (;;) {
                           auto item = co_await in.async_read(asio::use_awaitable);
                           if (!item) co_return tl::unexpected(item.error());
                           if (!*item) break;
                           ++count;
                           sum += std::stoull(**item);
                         }
                         auto report = stream_report(in, count);
                         report["sum"] = sum;
                         co_return report.dump();
                       });
  // Bidirectional: answers each item with "echo:" + item until the opener closes its side.
  server.handle_stream("stream.echo",
                       [](plexus::CallContext&, std::string,
                          plexus::Stream io) -> asio::awaitable<plexus::Result<std::string>> {
                         std::uint64_t count = 0;
                         for (;;) {
                           auto item = co_await io.async_read(asio::use_awaitable);
                           if (!item) co_return tl::unexpected(item.error());
                           if (!*item) break;
                           ++count;
                           const std::string reply = "echo:" + **item;
                           auto written = co_await io.async_write(reply, asio::use_awaitable);
                           if (!written) co_return tl::unexpected(written.error());
                         }
                         co_return json{{"count", count}}.dump();
                       });
}

// De-duplication and batching. "dedup.work" (de-duplicated) holds every run until
// "dedup.release" is called, so a test can have its calls all in flight at once; the run
// answers {"runs":n} with how many times the handler body ran. "batch.square" squares integers
// in batches of 5 (no timer: "batch.flush" hands over the rest); a negative number fails with
// invalid_argument on its own. "coalesce.stats" reports the counters.
void register_coalesce_handlers(plexus::Server& server) {
  struct Gate {
    std::vector<std::shared_ptr<asio::steady_timer>> waiting;
    std::uint64_t runs = 0;
  };
  auto gate = std::make_shared<Gate>();  // touched on the I/O thread only
  auto counters = std::make_shared<plexus::CoalesceCounters>();
  server.handle_async(
      "dedup.work",
      plexus::deduplicate(
          [gate](plexus::CallContext& ctx,
                 std::string payload) -> asio::awaitable<plexus::Result<std::string>> {
            ++gate->runs;
            auto timer =
                std::make_shared<asio::steady_timer>(ctx.io_executor(), std::chrono::hours(1));
            gate->waiting.push_back(timer);
            std::error_code ec;
            co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
            co_return json{{"runs", gate->runs}, {"payload", payload}}.dump();
          },
          counters));
  server.handle("dedup.release",
                [gate](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  const auto n = gate->waiting.size();
                  for (auto& t : gate->waiting) t->cancel();
                  gate->waiting.clear();
                  return json{{"released", n}}.dump();
                });
  auto batcher = plexus::RequestBatcher::create(
      [](const std::vector<std::string>& payloads) {
        std::vector<plexus::Result<std::string>> out;
        for (const auto& p : payloads) {
          const auto v = std::stoll(p);
          if (v < 0) {
            out.push_back(
                plexus::make_error(plexus::StatusCode::invalid_argument, "negative: " + p));
          } else {
            out.push_back(json{{"square", v * v}, {"batch", payloads.size()}}.dump());
          }
        }
        return out;
      },
      plexus::BatchOptions{5, plexus::Millis{0}}, counters);
  server.handle_async("batch.square", batcher->handler());
  server.handle("batch.flush",
                [batcher](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  batcher->flush();
                  return std::string("{}");
                });
  server.handle("coalesce.stats",
                [counters](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  const auto s = counters->snapshot();
                  return json{{"calls", s.calls},
                              {"handler_runs", s.handler_runs},
                              {"deduplicated", s.deduplicated},
                              {"batches", s.batches},
                              {"batched_calls", s.batched_calls}}
                      .dump();
                });
}

// A typed channel: answers each {"text":t,"n":n} with {"text":upper(t),"n":n+1} until the
// opener closes its side; a message without "text" ends the channel with invalid_argument.
void register_channel_handlers(plexus::Server& server) {
  plexus::handle_channel<json>(
      server, "chan.upper",
      [](plexus::CallContext&, plexus::Channel<json> ch) -> asio::awaitable<plexus::Result<void>> {
        for (;;) {
          auto message = co_await ch.async_receive();
          if (!message) co_return tl::unexpected(message.error());
          if (!*message) break;
          if (!(*message)->contains("text")) {
            co_return plexus::make_error(plexus::StatusCode::invalid_argument, "no text");
          }
          std::string text = (**message)["text"].get<std::string>();
          for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          const json reply{{"text", text}, {"n", (**message).value("n", 0) + 1}};
          auto sent = co_await ch.async_send(reply);
          if (!sent) co_return tl::unexpected(sent.error());
        }
        co_return plexus::Result<void>{};
      });
}

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
  auto server = plexus::Server::create(runtime, options);
  if (!server) {
    std::printf("ERROR %s\n", server.error().to_string().c_str());
    return 1;
  }
  plexus::cli::register_demo_services(**server);
  register_test_handlers(**server);
  register_stream_handlers(**server);
  register_coalesce_handlers(**server);
  register_channel_handlers(**server);
  if (auto started = (*server)->start(); !started) {
    std::printf("ERROR %s\n", started.error().to_string().c_str());
    return 1;
  }
  std::string ready = "READY";
  for (const auto& a : (*server)->addresses()) ready += " " + a;
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->shutdown(plexus::Millis{drain_ms});
  return 0;
}
