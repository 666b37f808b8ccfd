#include <condition_variable>
#include <mutex>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "load.hpp"

namespace plexus::soak {
namespace {

using nlohmann::json;

// A healthy server answers in well under a millisecond; a call unanswered for 10 s is a stall.
constexpr Millis kDeadline{10000};
// Between operations: enough load to matter, with room left on a 2-core machine for the server
// (whose behaviour over time is the subject) and the other threads.
constexpr Millis kPause{1};
// Calls in flight at once in a pipelined burst.
constexpr int kBurst = 16;

// The codes `fail` is asked for; each must come back as asked.
constexpr StatusCode kFailCodes[] = {
    StatusCode::invalid_argument,   StatusCode::not_found,           StatusCode::permission_denied,
    StatusCode::resource_exhausted, StatusCode::failed_precondition, StatusCode::internal};

std::uint64_t fibonacci(int n) {
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) b = std::exchange(a, b) + b;
  return a;
}

class CallerLoop {
 public:
  CallerLoop(const LoadContext& load, Client& client, int index)
      : load_(load),
        client_(client),
        rng_(load.seed * 1000 + index),
        name_("caller-" + std::to_string(index)) {}

  // One operation, chosen by weight; false to stop (the tally says so, or it failed).
  bool step() {
    const auto pick = rng_() % 100;
    if (pick < 80) {
      echo();
    } else if (pick < 85) {
      echo_burst();
    } else if (pick < 90) {
      fail_as_asked();
    } else if (pick < 92) {
      sleep_past_deadline();
    } else if (pick < 96) {
      fib();
    } else {
      count();
    }
    return !load_.tally.failed() && load_.tally.pause(kPause);
  }

 private:
  CallOptions with_deadline(Millis timeout = kDeadline) const {
    CallOptions o;
    o.timeout = timeout;
    return o;
  }
  std::string next_payload() {
    return load_.pool.make(rng_, draw_size(rng_), name_ + "#" + std::to_string(seq_++) + ":");
  }
  void check_echo(const std::string& sent, const Result<std::string>& answer) {
    if (!answer) return load_.tally.unexpected(name_ + ": echo: " + answer.error().to_string());
    if (auto diff = echo_mismatch(sent, *answer); !diff.empty()) {
      return load_.tally.unexpected(name_ + ": echo answered wrong bytes: " + diff);
    }
    load_.tally.calls.fetch_add(1);
    load_.tally.echoed_bytes.fetch_add(sent.size());
  }

  void echo() {
    const std::string payload = next_payload();
    check_echo(payload, client_.call("echo", payload, with_deadline()));
  }

  // Several calls in flight on the one connection, answered in any order.
  void echo_burst() {
    struct Burst {
      std::mutex mu;
      std::condition_variable cv;
      std::vector<std::optional<Result<std::string>>> answers;
      int left = kBurst;
    };
    auto burst = std::make_shared<Burst>();  // shared: a late answer may outlive this call
    burst->answers.resize(kBurst);
    std::vector<std::string> sent;
    for (int i = 0; i < kBurst; ++i) {
      sent.push_back(next_payload());
      client_.call_async("echo", sent.back(), with_deadline(), [burst, i](Result<std::string> r) {
        std::lock_guard lock(burst->mu);
        burst->answers[static_cast<std::size_t>(i)] = std::move(r);
        if (--burst->left == 0) burst->cv.notify_all();
      });
    }
    std::unique_lock lock(burst->mu);
    if (!burst->cv.wait_for(lock, kDeadline + Millis(5000), [&] { return burst->left == 0; })) {
      return load_.tally.unexpected(name_ + ": a pipelined burst of echoes never completed");
    }
    for (int i = 0; i < kBurst; ++i) {
      check_echo(sent[static_cast<std::size_t>(i)], *burst->answers[static_cast<std::size_t>(i)]);
    }
  }

  void fail_as_asked() {
    const bool throws = rng_() % 4 == 0;
    const StatusCode code =
        throws ? StatusCode::internal : kFailCodes[rng_() % std::size(kFailCodes)];
    const std::string args =
        throws ? R"({"throw":true})"
               : json{{"code", std::string(to_string(code))}, {"message", "soak"}}.dump();
    auto r = client_.call("fail", args, with_deadline());
    if (r || r.error().code != code) {
      return load_.tally.unexpected(name_ + ": fail " + args + " answered " +
                                    (r ? "ok" : r.error().to_string()));
    }
    load_.tally.calls.fetch_add(1);
  }

  // The caller gives up first: the server must cancel the handler's timer and forget the call.
  void sleep_past_deadline() {
    auto r = client_.call("sleep", R"({"ms":200})", with_deadline(Millis(20)));
    if (r || r.error().code != StatusCode::deadline_exceeded) {
      return load_.tally.unexpected(name_ + ": sleep 200 ms with a 20 ms deadline answered " +
                                    (r ? *r : r.error().to_string()));
    }
    load_.tally.calls.fetch_add(1);
  }

  // fib has a schema and a response cache on the server: both policies run.
  void fib() {
    const int n = static_cast<int>(rng_() % 91);
    auto r = client_.call("fib", json{{"n", n}}.dump(), with_deadline());
    if (!r) return load_.tally.unexpected(name_ + ": fib: " + r.error().to_string());
    const json answer = json::parse(*r, nullptr, false);
    if (answer.is_discarded() || answer.value("n", -1) != n ||
        answer.value("fib", std::uint64_t{0}) != fibonacci(n)) {
      return load_.tally.unexpected(name_ + ": fib " + std::to_string(n) + " answered " + *r);
    }
    load_.tally.calls.fetch_add(1);
  }

  // The server's counter only grows: each answer to this thread is above its previous one.
  void count() {
    auto r = client_.call("count", "", with_deadline());
    if (!r) return load_.tally.unexpected(name_ + ": count: " + r.error().to_string());
    const json answer = json::parse(*r, nullptr, false);
    const auto value = answer.is_discarded() ? 0 : answer.value("count", std::uint64_t{0});
    if (value <= last_count_) {
      return load_.tally.unexpected(name_ + ": count answered " + *r + " after " +
                                    std::to_string(last_count_));
    }
    last_count_ = value;
    load_.tally.calls.fetch_add(1);
  }

  const LoadContext& load_;
  Client& client_;
  std::mt19937_64 rng_;
  std::string name_;
  std::uint64_t seq_ = 0;
  std::uint64_t last_count_ = 0;
};

}  // namespace

void run_caller(const LoadContext& load, int index) {
  auto client = connect_client(load, "soak-caller-" + std::to_string(index));
  if (!client) return;
  CallerLoop loop(load, *client, index);
  while (loop.step()) {
  }
}

}  // namespace plexus::soak
