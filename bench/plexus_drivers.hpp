// How the plexus rows drive a plexus::Client: call_async chains on the client's I/O thread, so
// no call crosses threads (co_await async_call measured 0.4-0.8 µs slower per round trip: the
// coroutine machinery; a blocking call() pays a hand-off to the I/O thread and back).
// A driver must outlive every callback it hands out: its owner declares it before the client,
// whose close() completes any call still in flight.
#pragma once

#include "rr_case.hpp"

#include <chrono>
#include <cstdint>
#include <future>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus_bench {

// Bounds every wait for the I/O thread, so a lost reply fails the row instead of hanging the run.
inline constexpr auto kStallTimeout = std::chrono::seconds(30);

template <typename T>
T unwrap(plexus::Result<T> result, const std::string& what) {
  if (!result) throw std::runtime_error(what + ": " + result.error().to_string());
  return std::move(*result);
}

inline void check(const plexus::Result<void>& result, const std::string& what) {
  if (!result) throw std::runtime_error(what + ": " + result.error().to_string());
}

// Sequential round trips, each completion recording its sample and starting the next call.
// With several methods the calls take turns (a, b, c, a, b, c, …) and each method gets its own
// samples: rows compared that way see the same moments of the machine. Every reply must be as
// long as the payload. params.warmup_count untimed rounds, then params.rt_count timed ones.
class RoundTripper {
 public:
  // Answers as views (Client::call_async_view): over shared memory a large answer is read where
  // it lies in the ring instead of being copied into a string. Set before run().
  void use_views(bool views) { views_ = views; }
  // One vector of samples (µs) per method, in the order given. Throws on a failed call.
  std::vector<std::vector<double>> run(plexus::Runtime& runtime, plexus::Client& client,
                                       const RrParams& params, std::vector<std::string> methods,
                                       const std::string& payload);

 private:
  void issue();
  template <typename Reply>
  void on_reply(const plexus::Result<Reply>& reply);

  bool views_ = false;
  plexus::Client* client_ = nullptr;
  const std::string* payload_ = nullptr;
  std::vector<std::string> methods_;
  std::uint64_t total_ = 0;  // calls, all methods
  std::uint64_t warmup_ = 0;
  std::uint64_t completed_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::vector<double>> samples_;
  std::promise<void> done_;
};

// Keeps `window` calls of one method in flight; each completion issues the next call. Returns
// the seconds `count` calls took. Throws on a failed call.
class Pipeliner {
 public:
  void use_views(bool views) { views_ = views; }  // as RoundTripper::use_views
  double run(plexus::Runtime& runtime, plexus::Client& client, const std::string& method,
             const std::string& payload, std::uint64_t count, std::uint32_t window);

 private:
  void issue();
  template <typename Reply>
  void on_reply(const plexus::Result<Reply>& reply);

  bool views_ = false;
  plexus::Client* client_ = nullptr;
  const std::string* method_ = nullptr;
  const std::string* payload_ = nullptr;
  std::uint64_t count_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::promise<double> done_;
};

// Lane ping-pong: each message goes on a lane to the server's `ping` method, whose handler sends
// it back on a lane to this client's `pong` method (registered here). One LANE_DATA frame each
// way and no answer frame: the message round trip that the iceoryx row (publisher and
// subscriber on two topics) and raw-shm-busypoll measure, where RoundTripper measures a call.
// Attach before the first run; the client must be closed before this driver goes.
class LanePingPong {
 public:
  void attach(plexus::Client& client, const std::string& ping, const std::string& pong);
  // Sequential round trips, as RoundTripper::run with one method: samples in µs.
  std::vector<double> round_trips(plexus::Runtime& runtime, const RrParams& params,
                                  const std::string& payload);
  // `window` messages in flight, each pong sending the next ping; seconds for `count`.
  double pipelined(plexus::Runtime& runtime, const std::string& payload, std::uint64_t count,
                   std::uint32_t window);

 private:
  void on_pong(std::string_view payload);
  void send_ping();
  void fail(const std::string& why);

  enum class Phase { round_trips, pipelined };
  Phase phase_ = Phase::round_trips;
  plexus::Lane ping_;
  const std::string* payload_ = nullptr;
  std::uint64_t total_ = 0;  // round trips: warm-up + timed; pipelined: messages
  std::uint64_t warmup_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;  // of the round trip, or of the pipelined run
  double seconds_ = 0;                           // the pipelined run's, once finished
  std::vector<double> samples_;
  std::promise<void> done_;
};

}  // namespace plexus_bench
