// What the soak's load has done, what went wrong, and the stop signal every load thread obeys.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace plexus::soak {

// A snapshot of the counters (each only grows), for the samples and the summary.
struct Counts {
  std::uint64_t calls = 0;              // blocking and pipelined calls answered as expected
  std::uint64_t echoed_bytes = 0;       // payload bytes echoed back intact
  std::uint64_t published = 0;          // publishes the soak's publisher sent
  std::uint64_t delivered = 0;          // messages its subscribers received and checked
  std::uint64_t ticks = 0;              // demo.ticker messages received
  std::uint64_t subscribe_cycles = 0;   // subscribe + unsubscribe pairs
  std::uint64_t streams = 0;            // streams read to their end and checked
  std::uint64_t stream_items = 0;       // items read from them
  std::uint64_t streams_cancelled = 0;  // streams the soak cancelled midway
  std::uint64_t reconnect_cycles = 0;   // connect, a few operations, close
  std::uint64_t children_started = 0;   // client processes forked
  std::uint64_t children_killed = 0;    // of those, SIGKILLed and reaped
  std::uint64_t tolerated_errors = 0;   // errors the soak expects now and then (see tolerate())
};

class Tally {
 public:
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> echoed_bytes{0};
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> ticks{0};
  std::atomic<std::uint64_t> subscribe_cycles{0};
  std::atomic<std::uint64_t> streams{0};
  std::atomic<std::uint64_t> stream_items{0};
  std::atomic<std::uint64_t> streams_cancelled{0};
  std::atomic<std::uint64_t> reconnect_cycles{0};
  std::atomic<std::uint64_t> children_started{0};
  std::atomic<std::uint64_t> children_killed{0};

  Counts snapshot() const;

  // Something a healthy server never does (wrong bytes, an unexpected status, a stall): the soak
  // fails. The first failures are kept for the summary; the first one also stops the load, since
  // the trend no longer matters then.
  void unexpected(std::string what);
  // An error that is part of the load's design (a connection refused while many connect at once);
  // counted and shown, never a failure.
  void tolerate() { tolerated_.fetch_add(1, std::memory_order_relaxed); }

  bool failed() const { return failed_.load(); }
  std::vector<std::string> failures() const;
  std::uint64_t failure_count() const { return failure_count_.load(); }

  // Every load thread checks this between operations and leaves once it is true.
  void request_stop();
  bool stopping() const { return stopping_.load(); }
  // Sleeps for `d`, or less when a stop is requested meanwhile; false once stopping.
  bool pause(std::chrono::milliseconds d);

 private:
  std::atomic<std::uint64_t> tolerated_{0};
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> failure_count_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  std::vector<std::string> failures_;  // the first kKeptFailures, under mu_
};

}  // namespace plexus::soak
