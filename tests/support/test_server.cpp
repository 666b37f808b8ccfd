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
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "demo_services.hpp"
#include "demo_ticker.hpp"
#include "plexus/coalesce.hpp"
#include "plexus/plexus.hpp"

namespace {

using nlohmann::json;

json stats_json(const plexus::PubSubStats& s) {
  return json{{"published", s.published},
              {"delivered", s.delivered},
              {"dropped_oldest", s.dropped_oldest},
              {"dropped_newest", s.dropped_newest},
              {"dropped_too_large", s.dropped_too_large},
              {"blocked", s.blocked},
              {"block_refused", s.block_refused},
              {"disconnected", s.disconnected},
              {"subscriptions", s.subscriptions}};
}

// Polls the pub/sub counters on the I/O thread (1 ms timer) until `field` >= `value`, then
// answers the counters; deadline_exceeded after `timeout_ms`. Tests wait on this call instead of
// sleeping.
void await_stat(plexus::Server& server, std::shared_ptr<asio::steady_timer> timer,
                std::string field, std::uint64_t value,
                std::chrono::steady_clock::time_point deadline,
                std::shared_ptr<plexus::Responder> done) {
  const auto st = stats_json(server.pubsub_stats());
  if (st.value(field, std::uint64_t{0}) >= value) {
    done->reply(st.dump());
    return;
  }
  if (std::chrono::steady_clock::now() >= deadline) {
    done->reply(plexus::make_error(plexus::StatusCode::deadline_exceeded, st.dump()));
    return;
  }
  timer->expires_after(std::chrono::milliseconds(1));
  timer->async_wait([&server, timer, field, value, deadline, done](std::error_code ec) {
    if (!ec) await_stat(server, timer, field, value, deadline, done);
  });
}

// Pub/sub and batching helpers: a server-local subscription to "local.>" that records what it
// gets, server-side publishes (one or a burst in one handler run, so every message is queued
// before any is delivered), the counters, and a NOTIFY sequence checker.
void register_pubsub_handlers(plexus::Server& server) {
  struct Shared {
    std::mutex mu;
    std::vector<std::string> local;  // "topic payload" seen by the local subscription
    std::uint64_t seq_count = 0;     // NOTIFY "seq" payloads seen
    bool seq_in_order = true;        // each payload was the decimal of seq_count
    std::uint64_t seq_bytes = 0;
  };
  auto shared = std::make_shared<Shared>();
  (void)server.subscribe("local.>", [shared](std::string_view topic, std::string_view payload) {
    std::lock_guard lock(shared->mu);
    shared->local.push_back(std::string(topic) + " " + std::string(payload));
  });
  server.handle("pubsub.local_received",
                [shared](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  std::lock_guard lock(shared->mu);
                  return json(shared->local).dump();
                });
  // {"topic":T,"payload":P,"immediate":bool}
  server.handle(
      "pubsub.publish",
      [&server](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
        const auto a = json::parse(payload);
        plexus::PublishOptions o;
        o.immediate = a.value("immediate", false);
        auto r =
            server.publish(a.at("topic").get<std::string>(), a.at("payload").get<std::string>(), o);
        if (!r) return tl::unexpected(r.error());
        return std::string("{}");
      });
  // {"topic":T,"n":N}: publishes payloads "0".."N-1" within this one handler run.
  server.handle(
      "pubsub.burst",
      [&server](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
        const auto a = json::parse(payload);
        const auto topic = a.at("topic").get<std::string>();
        const auto n = a.at("n").get<int>();
        int refused = 0;
        for (int i = 0; i < n; ++i) {
          if (!server.publish(topic, std::to_string(i))) ++refused;
        }
        return json{{"refused", refused}}.dump();
      });
  server.handle("pubsub.stats",
                [&server](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  return stats_json(server.pubsub_stats()).dump();
                });
  // {"field":F,"value":V,"timeout_ms":T}
  server.handle_async("pubsub.await", [&server](plexus::CallContext& ctx, std::string_view payload,
                                                plexus::Responder done) {
    const auto a = json::parse(payload);
    auto timer = std::make_shared<asio::steady_timer>(ctx.io_executor());
    await_stat(
        server, timer, a.at("field").get<std::string>(), a.at("value").get<std::uint64_t>(),
        std::chrono::steady_clock::now() + std::chrono::milliseconds(a.value("timeout_ms", 10000)),
        std::make_shared<plexus::Responder>(std::move(done)));
  });
  // "seq.slow": the same, taking ~2 us per message: a receiver slower than any sender.
  for (const char* name : {"seq", "seq.slow"}) {
    const bool slow = std::string_view(name) == "seq.slow";
    server.handle(name,
                  [shared, slow](plexus::CallContext&,
                                 std::string_view payload) -> plexus::Result<std::string> {
                    if (slow) {
                      const auto until =
                          std::chrono::steady_clock::now() + std::chrono::microseconds(2);
                      while (std::chrono::steady_clock::now() < until) {
                      }
                    }
                    std::lock_guard lock(shared->mu);
                    // The number may be padded with spaces to a test's message size.
                    if (payload.substr(0, payload.find(' ')) != std::to_string(shared->seq_count)) {
                      shared->seq_in_order = false;
                    }
                    ++shared->seq_count;
                    shared->seq_bytes += payload.size();
                    return std::string();
                  });
  }
  server.handle("seq.report",
                [shared](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  std::lock_guard lock(shared->mu);
                  auto r = json{{"count", shared->seq_count},
                                {"in_order", shared->seq_in_order},
                                {"bytes", shared->seq_bytes}};
                  shared->seq_count = 0;
                  shared->seq_in_order = true;
                  shared->seq_bytes = 0;
                  return r.dump();
                });
}

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
  // {"n":N,"throw_at":K}: a generator handler (plexus::generator_handler) yielding "g0".."gN-1";
  // with throw_at its body throws after K items (the stream ends with internal).
  server.handle_stream(
      "stream.generated",
      plexus::generator_handler(
          [](plexus::CallContext&, std::string payload) -> plexus::Generator<std::string> {
            const auto args = json::parse(payload);
            const auto n = args.value("n", std::uint64_t{10});
            const auto throw_at = args.value("throw_at", ~std::uint64_t{0});
            for (std::uint64_t i = 0; i < n; ++i) {
              if (i == throw_at)
                throw std::runtime_error("generator gave up at " + std::to_string(i));
              co_yield "g" + std::to_string(i);
            }
          }));
  // {"n":N,"chunk":K}: the integers 1..N written with plexus::write_chunks, K to an item.
  server.handle_stream("stream.chunks",
                       [](plexus::CallContext&, std::string payload,
                          plexus::Stream out) -> asio::awaitable<plexus::Result<std::string>> {
                         const auto args = json::parse(payload);
                         std::vector<int> values(args.value("n", 10));
                         for (std::size_t i = 0; i < values.size(); ++i) {
                           values[i] = static_cast<int>(i) + 1;
                         }
                         auto written = co_await plexus::write_chunks(
                             out, values, args.value("chunk", std::size_t{3}));
                         if (!written) co_return tl::unexpected(written.error());
                         co_return stream_report(out, *written).dump();
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
      plexus::RequestBatchOptions{5, plexus::Millis{0}}, counters);
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
// Direct channels (plexus/direct.hpp). "direct.echo" sends every message back; the message
// "close" makes it close its end instead. Each channel is served by a thread of its own, which
// ends when its channel fails (closed, or the opener gone); the threads are joined when the
// server exits, after every channel was closed.
class DirectEchoes {
 public:
  ~DirectEchoes() {
    std::lock_guard lock(mu_);
    for (auto& ch : channels_) ch.close();
    for (auto& t : threads_) t.join();
  }
  void serve(plexus::DirectChannel ch) {
    std::lock_guard lock(mu_);
    channels_.push_back(ch);
    threads_.emplace_back([ch]() mutable {
      for (;;) {
        auto message = ch.receive();
        if (!message) break;
        if (*message == "close") break;
        if (!ch.send(*message)) break;
      }
      ch.close();
    });
  }

 private:
  std::mutex mu_;
  std::vector<plexus::DirectChannel> channels_;
  std::vector<std::thread> threads_;
};

void register_direct_handlers(plexus::Server& server, DirectEchoes& echoes) {
  plexus::handle_direct(
      server, "direct.echo",
      [&echoes](plexus::CallContext&, plexus::DirectChannel ch) { echoes.serve(std::move(ch)); });
  plexus::DirectOptions blocking;
  blocking.wait = plexus::WaitStrategy::block;
  plexus::handle_direct(
      server, "direct.echo.block",
      [&echoes](plexus::CallContext&, plexus::DirectChannel ch) { echoes.serve(std::move(ch)); },
      blocking);
  plexus::handle_direct(server, "direct.refuse", [](plexus::CallContext&, plexus::DirectChannel) {
    throw std::runtime_error("refused on purpose");
  });
}

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
  // {"status":N}: the server exits at once with status N, answering nothing (a helper that dies
  // with calls in flight, over exec:).
  server.handle("exit",
                [](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
                  ::_exit(json::parse(payload).value("status", 1));
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
  // Reports what the handler's context says about this call (synchronous handlers share one
  // context per connection: nothing of a call may leak into the next).
  server.handle("context",
                [](plexus::CallContext& ctx, std::string_view) -> plexus::Result<std::string> {
                  const bool inherited = ctx.cancelled();
                  ctx.on_cancel([] {});  // must not survive the call
                  return json{{"method", std::string(ctx.method())},
                              {"id", ctx.id()},
                              {"trace_id", std::string(ctx.trace_id())},
                              {"deadline", ctx.deadline().has_value()},
                              {"cancelled", inherited}}
                      .dump();
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

// Handlers with policies, on a clock the test moves with "clock.advance" {"ms":N}, so rate
// limits, cache ages and the breaker's open time are exact across processes.
void register_policy_handlers(plexus::Server& server) {
  auto clock = std::make_shared<plexus::ManualClock>();
  server.handle("clock.advance",
                [clock](plexus::CallContext&, std::string_view p) -> plexus::Result<std::string> {
                  clock->advance(std::chrono::milliseconds(json::parse(p).at("ms").get<int>()));
                  return "{}";
                });
  auto base = [clock] {
    plexus::HandlerOptions o;
    o.clock = clock;
    return o;
  };
  // p.search: cached; answers {"q":…,"runs":N,"version":V} (N: times the handler ran).
  // p.write: bumps the version and fires "p.changed", which invalidates p.search.
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto version = std::make_shared<std::atomic<int>>(0);
  auto search = base();
  search.cache = plexus::CacheOptions{};
  (void)server.handle(
      "p.search",
      [runs, version](plexus::CallContext&, std::string_view p) -> plexus::Result<std::string> {
        return json{
            {"q", json::parse(p).value("q", "")}, {"runs", ++*runs}, {"version", version->load()}}
            .dump();
      },
      search);
  server.invalidate_on("p.changed", {"p.search"});
  server.handle(
      "p.write",
      [&server, version](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
        ++*version;
        return json{{"invalidated", server.fire("p.changed")}}.dump();
      });
  // p.limited: 5 calls per client, refilled at 1 per second.
  auto limited = base();
  limited.rate_limit = plexus::RateLimitOptions{};
  limited.rate_limit->per_client = plexus::RateLimit{1, 5};
  (void)server.handle(
      "p.limited",
      [](plexus::CallContext& ctx, std::string_view) -> plexus::Result<std::string> {
        return json{{"served", ctx.peer_identity().name}}.dump();
      },
      limited);
  // p.dep: behind a breaker (seed defaults); p.dep.health {"healthy":bool} sets its dependency.
  auto healthy = std::make_shared<std::atomic<bool>>(true);
  auto dep = base();
  dep.breaker = plexus::BreakerOptions{};
  (void)server.handle(
      "p.dep",
      [healthy](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
        if (!*healthy)
          return plexus::make_error(plexus::StatusCode::unavailable, "dependency down");
        return "{\"ok\":true}";
      },
      dep);
  server.handle("p.dep.health",
                [healthy](plexus::CallContext&, std::string_view p) -> plexus::Result<std::string> {
                  *healthy = json::parse(p).at("healthy").get<bool>();
                  return "{}";
                });
  // p.stats {"method":M}: that method's policy counters.
  server.handle("p.stats",
                [&server](plexus::CallContext&, std::string_view p) -> plexus::Result<std::string> {
                  const auto s =
                      server.policy_stats(json::parse(p).at("method").get<std::string>());
                  if (!s) return plexus::make_error(plexus::StatusCode::not_found, "no policies");
                  return json{{"cache_hits", s->cache_hits},
                              {"cache_misses", s->cache_misses},
                              {"rate_limited_client", s->rate_limited_client},
                              {"breaker_opened", s->breaker_opened},
                              {"breaker_closed", s->breaker_closed},
                              {"breaker_rejected", s->breaker_rejected}}
                      .dump();
                });
}

// A hop of a trace (--relay-to ADDR): "trace.relay" calls "context" on the server at ADDR through
// a client of this process, publishes "trace.topic" here, and answers
// {"trace":<its own trace>,"next":<what the next server's context said>}. Offloaded: a blocking
// call from a handler on the I/O thread would deadlock.
void register_relay_handler(plexus::Server& server, plexus::Client& next) {
  plexus::HandlerOptions offload;
  offload.offload = true;
  (void)server.handle(
      "trace.relay",
      [&server, &next](plexus::CallContext& ctx,
                       std::string_view payload) -> plexus::Result<std::string> {
        auto answer = next.call("context", "");
        if (!answer) return tl::unexpected(answer.error());
        if (auto published = server.publish("trace.topic", std::string(payload)); !published) {
          return tl::unexpected(published.error());
        }
        return json{{"trace", std::string(ctx.trace_id())}, {"next", json::parse(*answer)}}.dump();
      },
      offload);
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
  int handshake_timeout_ms = 5000;
  app.add_option("--handshake-timeout-ms", handshake_timeout_ms);
  app.add_option("--max-handshaking", options.max_handshaking);
  app.add_option("--max-connections-per-peer", options.max_connections_per_peer);
  app.add_flag("--batch", options.batching.enabled, "batch NOTIFY/PUBLISH to clients");
  int ticker_ms = 0;
  app.add_option("--ticker-ms", ticker_ms, "publish demo.ticker at this period (0: off)");
  app.add_option("--batch-max", options.batching.max_items);
  app.add_option("--http", options.http, "HOST:PORT of the metrics/status HTTP endpoint");
  bool no_metrics = false;
  app.add_flag("--no-metrics", no_metrics);
  std::string relay_to;
  app.add_option("--relay-to", relay_to, "serve trace.relay, which calls this server");
  app.add_option("--data-dir", options.durable.data_dir, "keep durable queues there");
  std::string spool_dir;
  app.add_option("--spool", spool_dir, "run a SpoolSender on this directory, in the metrics");
  std::uint32_t max_retries = 3;
  std::int64_t retry_delay_ms = 5000;
  std::int64_t ack_timeout_ms = 30000;
  app.add_option("--queue-max-retries", max_retries);
  app.add_option("--queue-retry-delay-ms", retry_delay_ms);
  app.add_option("--queue-ack-timeout-ms", ack_timeout_ms);
  CLI11_PARSE(app, argc, argv);
  options.durable.queue_defaults.max_retries = max_retries;
  options.durable.queue_defaults.retry_delay = plexus::Millis{retry_delay_ms};
  options.durable.queue_defaults.ack_timeout = plexus::Millis{ack_timeout_ms};
  // Die with the test that spawned us, even when it is killed mid-test.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  DirectEchoes direct_echoes;                    // outlives the server: its handler refers to it
  plexus::cli::DemoDirectEcho demo_direct_echo;  // the same, for the demo's echo.direct
  plexus::Runtime runtime;
  std::unique_ptr<plexus::SpoolSender> spool;  // goes before the runtime its metrics are in
  options.listen = listen;
  options.name = "test-server";
  options.heartbeat_interval = plexus::Millis{heartbeat_ms};
  options.heartbeat_timeout = plexus::Millis{heartbeat_timeout_ms};
  options.handshake_timeout = plexus::Millis{handshake_timeout_ms};
  options.metrics = !no_metrics;
  auto server = plexus::Server::create(runtime, options);
  if (!server) {
    std::printf("ERROR %s\n", server.error().to_string().c_str());
    return 1;
  }
  if (!spool_dir.empty()) {
    plexus::SpoolOptions so;
    so.sync = false;
    so.runtime = &runtime;
    auto sender = plexus::SpoolSender::create(spool_dir, so);
    if (!sender) {
      std::printf("ERROR %s\n", sender.error().to_string().c_str());
      return 1;
    }
    spool = std::move(*sender);
  }
  plexus::cli::register_demo_services(**server);
  demo_direct_echo.register_on(**server);
  register_test_handlers(**server);
  register_pubsub_handlers(**server);
  register_stream_handlers(**server);
  register_coalesce_handlers(**server);
  register_policy_handlers(**server);
  register_channel_handlers(**server);
  register_direct_handlers(**server, direct_echoes);
  std::unique_ptr<plexus::Client> relay_client;
  if (!relay_to.empty()) {
    plexus::ClientOptions relay_options;
    relay_options.address = relay_to;
    relay_options.name = "test-server-relay";
    auto client = plexus::Client::connect(runtime, relay_options);
    if (!client) {
      std::printf("ERROR %s\n", client.error().to_string().c_str());
      return 1;
    }
    relay_client = std::move(*client);
    register_relay_handler(**server, *relay_client);
  }
  if (auto started = (*server)->start(); !started) {
    std::printf("ERROR %s\n", started.error().to_string().c_str());
    return 1;
  }
  std::unique_ptr<plexus::cli::DemoTicker> ticker;
  if (ticker_ms > 0) {
    ticker =
        std::make_unique<plexus::cli::DemoTicker>(runtime, **server, plexus::Millis{ticker_ms});
  }
  std::string ready = "READY";
  for (const auto& a : (*server)->addresses()) ready += " " + a;
  if (!(*server)->http_address().empty()) ready += " " + (*server)->http_address();
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  ticker.reset();
  (*server)->shutdown(plexus::Millis{drain_ms});
  return 0;
}
