// Where a session's time comes from: the clock its deadlines and liveness read, and the timers
// that wake it (call deadlines, heartbeats, batch waits, the handshake limit). Injected
// (SessionOptions::time) so that tests drive time by hand instead of sleeping; the default is
// the steady clock and Asio's steady timers.
//
// Threading: a TimeSource is shared and thread-safe. A Timer belongs to one owner on one
// executor; its callback runs on that executor, never inside wait() or cancel().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <asio/any_io_executor.hpp>

namespace plexus::rpc {

using Clock = std::chrono::steady_clock;

class Timer {
 public:
  virtual ~Timer() = default;
  // Runs `fire` once `after` has passed, unless cancel() (or a later wait()) comes first.
  virtual void wait(Clock::duration after, std::function<void()> fire) = 0;
  virtual void cancel() = 0;
};

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual Clock::time_point now() const = 0;
  // Cheaper and exact to a few milliseconds: for liveness, not for deadlines.
  virtual Clock::time_point coarse_now() const = 0;
  virtual std::unique_ptr<Timer> make_timer(const asio::any_io_executor& executor) const = 0;
  // steady_clock and asio::steady_timer (shared, never null).
  static std::shared_ptr<const TimeSource> steady();
};

// Time that moves only when advance() says so; due timers then post their callbacks to their
// executors (run the io_context to see them). For tests.
class ManualTimeSource final : public TimeSource,
                               public std::enable_shared_from_this<ManualTimeSource> {
 public:
  Clock::time_point now() const override;
  Clock::time_point coarse_now() const override { return now(); }
  std::unique_ptr<Timer> make_timer(const asio::any_io_executor& executor) const override;
  void advance(Clock::duration d);
  // Timers waiting now (armed, not fired or cancelled).
  std::size_t armed() const;

 private:
  class ManualTimer;
  mutable std::mutex mu_;
  Clock::time_point now_{std::chrono::seconds(1)};  // not zero: a zero time_point reads "never"
  mutable std::vector<ManualTimer*> timers_;        // guarded by mu_
};

}  // namespace plexus::rpc
