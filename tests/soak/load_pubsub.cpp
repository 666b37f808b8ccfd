#include <chrono>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "load.hpp"

namespace plexus::soak {
namespace {

// ~200 messages a second, 1 in 16 of them 32 KiB.
constexpr Millis kPublishPause{5};
// After the load stops, how long the newest message may take to reach its subscriber.
constexpr Millis kLastMessageTimeout{5000};

// Checks each message one subscription receives: rebuilt from its sequence number, and in the
// order published (a full queue may drop messages, never reorder them).
class OrderedSubscriber {
 public:
  OrderedSubscriber(const LoadContext& load, std::string name)
      : load_(load), name_(std::move(name)) {}

  // Runs on the client's I/O thread; this object must outlive the subscription's client.
  MessageHandler handler() {
    return [this](std::string_view topic, std::string_view message) { check(topic, message); };
  }
  std::int64_t last_seq() const { return last_seq_.load(); }

 private:
  void check(std::string_view topic, std::string_view message) {
    const auto seq = published_seq(message);
    if (!seq) return fail(topic, "a message without a sequence number");
    if (message != published_message(load_.pool, *seq)) {
      return fail(topic, "message " + std::to_string(*seq) + " arrived altered (" +
                             std::to_string(message.size()) + " bytes)");
    }
    if (static_cast<std::int64_t>(*seq) <= last_seq_.load()) {
      return fail(topic, "message " + std::to_string(*seq) + " arrived after " +
                             std::to_string(last_seq_.load()));
    }
    last_seq_.store(static_cast<std::int64_t>(*seq));
    load_.tally.delivered.fetch_add(1);
  }
  void fail(std::string_view topic, const std::string& what) {
    load_.tally.unexpected(name_ + " on " + std::string(topic) + ": " + what);
  }

  const LoadContext& load_;
  std::string name_;
  std::atomic<std::int64_t> last_seq_{-1};
};

// demo.ticker: the server's own publishes, one a second.
MessageHandler ticker_handler(const LoadContext& load) {
  return [&load](std::string_view, std::string_view message) {
    const auto tick = nlohmann::json::parse(message, nullptr, false);
    if (tick.is_discarded() || !tick.contains("tick")) {
      return load.tally.unexpected("demo.ticker sent " + std::string(message.substr(0, 80)));
    }
    load.tally.ticks.fetch_add(1);
  };
}

}  // namespace

void run_pubsub(const LoadContext& load) {
  OrderedSubscriber everything(load, "subscriber of soak.>");
  OrderedSubscriber one_topic(load, "subscriber of soak.pub.1");
  auto publisher = connect_client(load, "soak-publisher");
  auto all = connect_client(load, "soak-subscriber-all");
  auto some = connect_client(load, "soak-subscriber-some");
  if (!publisher || !all || !some) return;
  SubscribeOptions small_queue;  // a short queue that drops the newest when full
  small_queue.queue_limit = 64;
  small_queue.policy = SlowPolicy::drop_newest;
  for (auto subscribed : {all->subscribe("soak.>", everything.handler()),
                          some->subscribe("soak.pub.1", one_topic.handler(), small_queue),
                          some->subscribe("demo.ticker", ticker_handler(load))}) {
    if (!subscribed) return load.tally.unexpected("subscribe: " + subscribed.error().to_string());
  }

  const auto start = std::chrono::steady_clock::now();
  std::int64_t last = -1;
  while (!load.tally.failed() && load.tally.pause(kPublishPause)) {
    const auto seq = static_cast<std::uint64_t>(last + 1);
    auto sent = publisher->publish("soak.pub." + std::to_string(seq % 4),
                                   published_message(load.pool, seq));
    if (!sent) return load.tally.unexpected("publish: " + sent.error().to_string());
    last = static_cast<std::int64_t>(seq);
    load.tally.published.fetch_add(1);
  }
  if (load.tally.failed()) return;

  // drop_oldest never drops the newest message: it must arrive.
  const auto deadline = std::chrono::steady_clock::now() + kLastMessageTimeout;
  while (everything.last_seq() < last && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(Millis(10));
  }
  if (everything.last_seq() < last) {
    load.tally.unexpected(
        "the last message published (" + std::to_string(last) +
        ") never reached soak.>; the newest that did: " + std::to_string(everything.last_seq()));
  }
  // One tick a second; half of them is a generous floor on a busy machine.
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  const auto floor = static_cast<std::uint64_t>(seconds.count() / 2);
  if (load.tally.ticks.load() + 2 < floor) {
    load.tally.unexpected("demo.ticker: " + std::to_string(load.tally.ticks.load()) + " ticks in " +
                          std::to_string(static_cast<int>(seconds.count())) + " s");
  }
}

void run_subscription_churn(const LoadContext& load) {
  static constexpr const char* kPatterns[] = {"soak.>", "soak.pub.*", "soak.pub.2", "demo.ticker",
                                              "nobody.publishes.*"};
  static constexpr std::size_t kQueueLimits[] = {1, 16, 1024};
  auto client = connect_client(load, "soak-subscription-churn");
  if (!client) return;
  std::mt19937_64 rng(load.seed * 3000);
  auto received = std::make_shared<std::atomic<std::uint64_t>>(0);  // outlives late deliveries
  while (!load.tally.failed() && !load.tally.stopping()) {
    SubscribeOptions options;
    options.queue_limit = kQueueLimits[rng() % std::size(kQueueLimits)];
    options.policy = rng() % 2 ? SlowPolicy::drop_oldest : SlowPolicy::drop_newest;
    const char* pattern = kPatterns[rng() % std::size(kPatterns)];
    auto id = client->subscribe(
        pattern, [received](std::string_view, std::string_view) { received->fetch_add(1); },
        options);
    if (!id) {
      return load.tally.unexpected(std::string("churn: subscribe ") + pattern + ": " +
                                   id.error().to_string());
    }
    load.tally.pause(Millis(rng() % 300));
    client->unsubscribe(*id);
    load.tally.subscribe_cycles.fetch_add(1);
  }
}

}  // namespace plexus::soak
