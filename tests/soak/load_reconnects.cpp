#include <random>

#include "load.hpp"

namespace plexus::soak {
namespace {

constexpr Millis kReconnectDeadline{10000};
constexpr Millis kReconnectPause{20};

bool tolerated_on_connect(StatusCode code) {
  // Many clients connecting at once may find the listener's backlog full or the handshake
  // slow; a healthy server refuses no other way.
  return code == StatusCode::unavailable || code == StatusCode::deadline_exceeded ||
         code == StatusCode::resource_exhausted;
}

class ReconnectLoop {
 public:
  ReconnectLoop(const LoadContext& load, int index)
      : load_(load),
        rng_(load.seed * 4000 + index),
        name_("soak-reconnect-" + std::to_string(index)) {}

  bool step() {
    cycle();
    return !load_.tally.failed() && load_.tally.pause(kReconnectPause);
  }

 private:
  void cycle() {
    ClientOptions options;
    options.address = load_.address;
    options.name = name_;
    options.reconnect.enabled = false;
    auto client = Client::connect(load_.runtime, options);
    if (!client) {
      if (tolerated_on_connect(client.error().code)) return load_.tally.tolerate();
      return load_.tally.unexpected(name_ + ": connect: " + client.error().to_string());
    }
    const int calls = 1 + static_cast<int>(rng_() % 5);
    for (int i = 0; i < calls; ++i) {
      const std::string payload = load_.pool.make(rng_, draw_size(rng_, 4096), name_ + ":");
      CallOptions deadline;
      deadline.timeout = kReconnectDeadline;
      auto answer = (*client)->call("echo", payload, deadline);
      if (!answer) return load_.tally.unexpected(name_ + ": echo: " + answer.error().to_string());
      if (auto diff = echo_mismatch(payload, *answer); !diff.empty()) {
        return load_.tally.unexpected(name_ + ": echo answered wrong bytes: " + diff);
      }
      load_.tally.calls.fetch_add(1);
      load_.tally.echoed_bytes.fetch_add(payload.size());
    }
    // Now and then the client goes away with something still open, which the server must clean
    // up on its own: a subscription, a stream midway, a call in flight.
    Stream left_open;
    switch (rng_() % 5) {
      case 0:
        if (auto id = (*client)->subscribe("soak.>", [](std::string_view, std::string_view) {});
            !id) {
          return load_.tally.unexpected(name_ + ": subscribe: " + id.error().to_string());
        }
        break;
      case 1:
        left_open = (*client)->open_stream("count_stream", R"({"n":1000,"delay_ms":1})");
        if (auto first = read_within(left_open, kReconnectDeadline);
            !first || !*first || !**first) {
          return load_.tally.unexpected(
              name_ + ": count_stream's first read: " +
              (!first ? "nothing" : (*first ? "the end" : first->error().to_string())));
        }
        break;
      case 2:
        (*client)->call_async("sleep", R"({"ms":500})", {}, [](Result<std::string>) {});
        break;
      default:
        break;
    }
    client->reset();  // closes; `left_open` outlives its session on purpose
    load_.tally.reconnect_cycles.fetch_add(1);
  }

  const LoadContext& load_;
  std::mt19937_64 rng_;
  std::string name_;
};

}  // namespace

void run_reconnector(const LoadContext& load, int index) {
  ReconnectLoop loop(load, index);
  while (loop.step()) {
  }
}

}  // namespace plexus::soak
