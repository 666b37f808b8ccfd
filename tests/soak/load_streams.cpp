#include <random>

#include <nlohmann/json.hpp>

#include "load.hpp"

namespace plexus::soak {
namespace {

using nlohmann::json;

// count_stream sends its items as fast as credit allows (or 1 ms apart): an item not there
// within 10 s is a stall.
constexpr Millis kItemTimeout{10000};
constexpr Millis kStreamPause{5};

class StreamLoop {
 public:
  StreamLoop(const LoadContext& load, Client& client, int index)
      : load_(load),
        client_(client),
        rng_(load.seed * 2000 + index),
        name_("streamer-" + std::to_string(index)) {}

  bool step() {
    const auto pick = rng_() % 100;
    if (pick < 5) {
      refused();
    } else {
      read_through(pick < 15);
    }
    return !load_.tally.failed() && load_.tally.pause(kStreamPause);
  }

 private:
  StreamOptions options() {
    StreamOptions o;
    if (rng_() % 5 == 0) o.window = StreamWindow{4, 1024};  // credit runs out every few items
    return o;
  }

  // Reads every item (or, when `cancel_midway`, some of them and then cancels) and checks each.
  void read_through(bool cancel_midway) {
    const std::int64_t n = static_cast<std::int64_t>(rng_() % 300);
    const int delay_ms = rng_() % 5 == 0 ? 1 : 0;
    const std::int64_t stop_after =
        cancel_midway && n > 0 ? static_cast<std::int64_t>(rng_() % n) : n;
    Stream s = client_.open_stream("count_stream", json{{"n", n}, {"delay_ms", delay_ms}}.dump(),
                                   options());
    if (rng_() % 2 == 0) s.close_write();  // the opener writes nothing; half of them say so
    for (std::int64_t i = 0;; ++i) {
      if (i == stop_after && cancel_midway) {
        s.cancel("the soak cancels midway");
        load_.tally.streams_cancelled.fetch_add(1);
        return;
      }
      auto item = read_within(s, kItemTimeout);
      if (!item) {
        s.cancel("stalled");
        return fail("item " + std::to_string(i) + " of " + std::to_string(n) + " never came");
      }
      if (!*item) return fail("read " + std::to_string(i) + ": " + item->error().to_string());
      if (!**item) {  // the end: all items, then the handler's final payload
        if (i != n) return fail("ended after " + std::to_string(i) + " of " + std::to_string(n));
        return check_outcome(s, n);
      }
      const std::string expected = json{{"i", i}}.dump();
      if (***item != expected) return fail("item " + std::to_string(i) + " was " + ***item);
      load_.tally.stream_items.fetch_add(1);
    }
  }

  void check_outcome(const Stream& s, std::int64_t n) {
    const auto outcome = s.outcome();
    const std::string expected = json{{"sent", n}}.dump();
    if (!outcome || !*outcome || **outcome != expected) {
      return fail("final payload " +
                  (!outcome ? std::string("missing")
                            : (*outcome ? **outcome : outcome->error().to_string())) +
                  ", expected " + expected);
    }
    load_.tally.streams.fetch_add(1);
  }

  // Bad arguments: the handler refuses, and the first read says why.
  void refused() {
    Stream s = client_.open_stream("count_stream", R"({"n":-1})", options());
    auto item = read_within(s, kItemTimeout);
    if (!item || *item || item->error().code != StatusCode::invalid_argument) {
      return fail(
          "a stream opened with n=-1 read " +
          (!item ? std::string("nothing") : (*item ? "an item" : item->error().to_string())));
    }
    load_.tally.streams.fetch_add(1);
  }

  void fail(const std::string& what) { load_.tally.unexpected(name_ + ": count_stream: " + what); }

  const LoadContext& load_;
  Client& client_;
  std::mt19937_64 rng_;
  std::string name_;
};

}  // namespace

void run_streamer(const LoadContext& load, int index) {
  auto client = connect_client(load, "soak-streamer-" + std::to_string(index));
  if (!client) return;
  StreamLoop loop(load, *client, index);
  while (loop.step()) {
  }
}

}  // namespace plexus::soak
