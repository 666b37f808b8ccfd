// Liveness of one session: when a frame last arrived, whether the peer has been silent too long
// (dead) or long enough to be asked (PING), and the explicit pings waiting for their PONG. It
// decides; the session sends and closes. Time comes from the session's TimeSource.
//
// Threading: on the session's strand only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>

#include "plexus/call.hpp"
#include "rpc/time_source.hpp"

namespace plexus::rpc {

class Heartbeat {
 public:
  // interval: ping after this much silence (0: never); timeout: dead after this much (0: never).
  Heartbeat(Millis interval, Millis timeout) : interval_(interval), timeout_(timeout) {}

  // A frame arrived at `at` (any clock reading of the session's TimeSource).
  void alive(Clock::time_point at) { last_rx_ = at; }
  // How often tick() should run; zero when neither pinging nor timing out.
  Millis period() const;

  struct Verdict {
    std::optional<Error> dead;     // the peer is silent past the timeout: close with this
    std::uint64_t ping_nonce = 0;  // non-zero: send a PING with this nonce
  };
  Verdict tick(Clock::time_point now);

  using PingDone = std::function<void(Result<std::chrono::nanoseconds>)>;
  // An explicit ping sent at `now`: the nonce to send it with.
  std::uint64_t start_ping(Clock::time_point now, PingDone done);
  // A PONG with `nonce` arrived at `now`: completes its ping, if it was an explicit one.
  void pong(std::uint64_t nonce, Clock::time_point now);
  // The session closed: waiting pings fail with `error`.
  void fail_pings(const Error& error);

 private:
  struct PendingPing {
    Clock::time_point sent;
    PingDone done;
  };
  Millis interval_;
  Millis timeout_;
  Clock::time_point last_rx_{};
  std::uint64_t nonce_ = 0;
  std::unordered_map<std::uint64_t, PendingPing> pings_;
};

}  // namespace plexus::rpc
