#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "child_clients.hpp"

namespace plexus::soak {
namespace {

// Exit statuses of a child; the soak reports them with the child's line on stderr.
constexpr int kWrongBytes = 3;
constexpr int kOperationFailed = 5;
constexpr Millis kChildDeadline{10000};

[[noreturn]] void die(int status, const std::string& what) {
  std::fprintf(stderr, "soak client process %d: %s\n", static_cast<int>(::getpid()), what.c_str());
  std::fflush(stderr);
  std::_Exit(status);  // no destructors: the connection just vanishes, as when killed
}

std::unique_ptr<Client> connect_until_up(Runtime& runtime, const std::string& address,
                                         const std::string& name) {
  ClientOptions options;
  options.address = address;
  options.name = name;
  options.reconnect.enabled = false;
  for (;;) {  // the soak kills it anyway; a refusal under load is worth another try
    auto client = Client::connect(runtime, options);
    if (client) return std::move(*client);
    const auto code = client.error().code;
    if (code != StatusCode::unavailable && code != StatusCode::deadline_exceeded &&
        code != StatusCode::resource_exhausted) {
      die(kOperationFailed, "connect: " + client.error().to_string());
    }
    std::this_thread::sleep_for(Millis(50));
  }
}

// Bursts of pipelined echoes, so that the kill usually finds calls in flight.
[[noreturn]] void call_forever(Client& client, const PayloadPool& pool, std::mt19937_64& rng) {
  constexpr int kBurst = 8;
  for (std::uint64_t round = 0;; ++round) {
    std::mutex mu;
    std::condition_variable cv;
    int left = kBurst;
    std::vector<std::string> sent;
    for (int i = 0; i < kBurst; ++i) sent.push_back(pool.make(rng, draw_size(rng), "child:"));
    for (int i = 0; i < kBurst; ++i) {
      CallOptions deadline;
      deadline.timeout = kChildDeadline;
      client.call_async(
          "echo", sent[static_cast<std::size_t>(i)], deadline, [&, i](Result<std::string> r) {
            if (!r) die(kOperationFailed, "echo: " + r.error().to_string());
            if (auto d = echo_mismatch(sent[static_cast<std::size_t>(i)], *r); !d.empty()) {
              die(kWrongBytes, "echo answered wrong bytes: " + d);
            }
            std::lock_guard lock(mu);
            if (--left == 0) cv.notify_all();
          });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return left == 0; });  // each call has a deadline: this ends
    lock.unlock();
    std::this_thread::sleep_for(Millis(1));
  }
}

// Subscribes with short queues and checks what the soak's publisher sends, then only waits:
// the kill comes with messages queued for it at the server.
[[noreturn]] void subscribe_forever(Client& client, const PayloadPool& pool) {
  SubscribeOptions short_queue;
  short_queue.queue_limit = 8;
  auto check = [&pool](std::string_view topic, std::string_view message) {
    const auto seq = published_seq(message);
    if (!seq || message != published_message(pool, *seq)) {
      die(kWrongBytes, "a message on " + std::string(topic) + " arrived altered");
    }
  };
  for (const char* pattern : {"soak.>", "child.>", "demo.ticker"}) {
    auto handler = std::string_view(pattern) == "soak.>"
                       ? MessageHandler(check)
                       : MessageHandler([](std::string_view, std::string_view) {});
    if (auto id = client.subscribe(pattern, handler, short_queue); !id) {
      die(kOperationFailed, std::string("subscribe ") + pattern + ": " + id.error().to_string());
    }
  }
  for (;;) ::pause();
}

// A long stream read slowly through a small window: the producer waits for credit, and the
// kill leaves it waiting.
[[noreturn]] void stream_forever(Client& client) {
  StreamOptions small_window;
  small_window.window = StreamWindow{8, 4096};
  for (;;) {
    Stream s = client.open_stream("count_stream", R"({"n":100000,"delay_ms":0})", small_window);
    for (std::int64_t i = 0;; ++i) {
      auto item = read_within(s, kChildDeadline);
      if (!item || !*item) {
        die(kOperationFailed, "count_stream read " + std::to_string(i) + ": " +
                                  (item ? item->error().to_string() : "nothing within 10 s"));
      }
      if (!**item) break;
      if (***item != nlohmann::json{{"i", i}}.dump()) {
        die(kWrongBytes, "count_stream item " + std::to_string(i) + " was " + ***item);
      }
      if (i % 16 == 0) std::this_thread::sleep_for(Millis(1));
    }
  }
}

// Bursts of publishes nobody in the soak checks (child.>), 1 B..64 KiB.
[[noreturn]] void publish_forever(Client& client, const PayloadPool& pool, std::mt19937_64& rng,
                                  std::uint64_t index) {
  const std::string topic = "child." + std::to_string(index) + ".news";
  for (;;) {
    for (int i = 0; i < 20; ++i) {
      if (auto sent = client.publish(topic, pool.make(rng, draw_size(rng), "child:")); !sent) {
        die(kOperationFailed, "publish: " + sent.error().to_string());
      }
    }
    std::this_thread::sleep_for(Millis(5));
  }
}

}  // namespace

int run_child(const std::string& mode, const std::string& address, std::uint64_t seed,
              std::uint64_t index) {
  set_log_level(LogLevel::error);  // its connection dies with it: nothing worth a line
  RuntimeOptions quiet;
  quiet.idle_wait = WaitStrategy::block;  // leave the cores to the server
  Runtime runtime(quiet);
  const PayloadPool pool(seed);  // the soak's: the same bytes, to check its messages
  std::mt19937_64 rng(seed * 6000 + index);
  auto client = connect_until_up(runtime, address, "soak-child-" + mode);
  if (mode == "caller") call_forever(*client, pool, rng);
  if (mode == "subscriber") subscribe_forever(*client, pool);
  if (mode == "streamer") stream_forever(*client);
  if (mode == "publisher") publish_forever(*client, pool, rng, index);
  std::fprintf(stderr, "soak client process: unknown mode %s\n", mode.c_str());
  return 64;
}

}  // namespace plexus::soak
