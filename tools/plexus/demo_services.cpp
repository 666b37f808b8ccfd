#include "demo_services.hpp"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <utility>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace plexus::cli {
namespace {

using nlohmann::json;

Result<json> parse_object(std::string_view payload) {
  json j = json::parse(payload.empty() ? std::string_view("{}") : payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(StatusCode::invalid_argument, "payload must be a JSON object",
                      json{{"payload", std::string(payload.substr(0, 64))}}.dump());
  }
  return j;
}

StatusCode code_from_name(const std::string& name) {
  for (int v = 0; v <= 101; ++v) {
    const auto code = status_code_from_wire(static_cast<std::uint16_t>(v));
    if (code != StatusCode::unknown && to_string(code) == name) return code;
  }
  return StatusCode::internal;
}

}  // namespace

void register_demo_services(HandlerRegistry& registry) {
  registry.handle("echo", [](CallContext&, std::string_view payload) -> Result<std::string> {
    return std::string(payload);
  });

  registry.handle_async("sleep", [](CallContext& ctx, std::string_view payload, Responder done) {
    auto args = parse_object(payload);
    if (!args) return done.reply(tl::unexpected(args.error()));
    const auto ms = args->value("ms", 1000);
    if (ms < 0 || ms > 3'600'000) {
      return done.reply(make_error(StatusCode::invalid_argument, "ms must be 0..3600000"));
    }
    struct Sleep {
      asio::steady_timer timer;
      Responder done;
    };
    // The timer runs on the I/O thread that serves this call.
    auto sleep = std::make_shared<Sleep>(Sleep{
        asio::steady_timer(ctx.io_executor(), std::chrono::milliseconds(ms)), std::move(done)});
    ctx.on_cancel([sleep] { sleep->timer.cancel(); });
    sleep->timer.async_wait([sleep, ms](std::error_code ec) {
      if (ec) return;  // cancelled: the caller no longer waits
      sleep->done.reply(json{{"slept_ms", ms}}.dump());
    });
  });

  registry.handle("fail", [](CallContext&, std::string_view payload) -> Result<std::string> {
    auto args = parse_object(payload);
    if (!args) return tl::unexpected(args.error());
    if (args->value("throw", false)) throw std::runtime_error("demo handler threw on purpose");
    return make_error(code_from_name(args->value("code", std::string("internal"))),
                      args->value("message", std::string("demo failure")),
                      json{{"requested", *args}}.dump());
  });

  registry.handle_stream(
      "count_stream",
      [](CallContext& ctx, std::string payload,
         Stream out) -> asio::awaitable<Result<std::string>> {
        auto args = parse_object(payload);
        if (!args) co_return tl::unexpected(args.error());
        const auto n = args->value("n", std::int64_t{10});
        const auto delay_ms = args->value("delay_ms", std::int64_t{100});
        if (n < 0 || delay_ms < 0 || delay_ms > 60'000) {
          co_return make_error(StatusCode::invalid_argument, "n must be >= 0, delay_ms 0..60000");
        }
        out.set_progress(static_cast<std::uint64_t>(n));
        asio::steady_timer timer(ctx.io_executor());
        for (std::int64_t i = 0; i < n; ++i) {
          if (i > 0 && delay_ms > 0) {
            timer.expires_after(std::chrono::milliseconds(delay_ms));
            std::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          }
          const std::string item = json{{"i", i}}.dump();
          auto written = co_await out.async_write(item, asio::use_awaitable);
          if (!written) co_return tl::unexpected(written.error());  // cancelled or lost
        }
        co_return json{{"sent", n}}.dump();
      });

  auto counter = std::make_shared<std::atomic<std::uint64_t>>(0);
  registry.handle("count", [counter](CallContext&, std::string_view) -> Result<std::string> {
    return json{{"count", counter->fetch_add(1) + 1}}.dump();
  });

  // Policies on show: a JSON Schema (see `plexus describe`) and a 10 s response cache, so a
  // repeated call answers without running the handler (the RESPONSE says hit, age, handler time).
  HandlerOptions fib_options;
  fib_options.schema =
      json::parse(R"({"type":"object","required":["n"],"additionalProperties":false,
    "properties":{"n":{"type":"integer","minimum":0,"maximum":90}}})");
  fib_options.cache = CacheOptions{};
  fib_options.cache->ttl = std::chrono::seconds(10);
  (void)registry.handle(
      "fib",
      [](CallContext&, std::string_view payload) -> Result<std::string> {
        const auto n = json::parse(payload).at("n").get<int>();
        std::uint64_t a = 0, b = 1;
        for (int i = 0; i < n; ++i) b = std::exchange(a, b) + b;
        return json{{"n", n}, {"fib", a}}.dump();
      },
      std::move(fib_options));
}

DemoDirectEcho::~DemoDirectEcho() {
  std::lock_guard lock(mu_);
  for (auto& ch : channels_) ch.close();
  for (auto& t : threads_) t.join();
}

void DemoDirectEcho::register_on(HandlerRegistry& registry) {
  handle_direct(registry, "echo.direct", [this](CallContext&, DirectChannel ch) {
    std::lock_guard lock(mu_);
    channels_.push_back(ch);
    threads_.emplace_back([ch]() mutable {
      for (;;) {
        auto message = ch.receive();
        if (!message || !ch.send(*message)) break;
      }
      ch.close();
    });
  });
}

}  // namespace plexus::cli
