#include "demo_ticker.hpp"

#include <chrono>
#include <future>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

namespace plexus::cli {

struct DemoTicker::State : std::enable_shared_from_this<State> {
  State(Runtime& runtime, Server& server, Millis period)
      : timer(runtime.executor()), server(server), period(period) {}
  asio::steady_timer timer;
  Server& server;
  Millis period;
  std::uint64_t tick = 0;
  bool stopped = false;  // on the I/O thread

  void arm() {
    timer.expires_after(period);
    timer.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->stopped) return;
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch());
      (void)self->server.publish(
          kTickerTopic, nlohmann::json{{"tick", self->tick++}, {"unix_ms", now.count()}}.dump());
      self->arm();
    });
  }
};

DemoTicker::DemoTicker(Runtime& runtime, Server& server, Millis period)
    : state_(std::make_shared<State>(runtime, server, period)) {
  asio::post(state_->timer.get_executor(), [s = state_] { s->arm(); });
}

DemoTicker::~DemoTicker() {
  std::promise<void> stopped;
  asio::post(state_->timer.get_executor(), [s = state_, &stopped] {
    s->stopped = true;
    s->timer.cancel();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

}  // namespace plexus::cli
