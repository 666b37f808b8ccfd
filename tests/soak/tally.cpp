#include "tally.hpp"

#include <cstdio>

namespace plexus::soak {
namespace {
// Enough to see what went wrong; a broken server can produce thousands of the same failure.
constexpr std::size_t kKeptFailures = 20;
}  // namespace

Counts Tally::snapshot() const {
  Counts c;
  c.calls = calls.load();
  c.echoed_bytes = echoed_bytes.load();
  c.published = published.load();
  c.delivered = delivered.load();
  c.ticks = ticks.load();
  c.subscribe_cycles = subscribe_cycles.load();
  c.streams = streams.load();
  c.stream_items = stream_items.load();
  c.streams_cancelled = streams_cancelled.load();
  c.reconnect_cycles = reconnect_cycles.load();
  c.children_started = children_started.load();
  c.children_killed = children_killed.load();
  c.tolerated_errors = tolerated_.load();
  return c;
}

void Tally::unexpected(std::string what) {
  failure_count_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    if (failures_.size() < kKeptFailures) {
      std::fprintf(stderr, "soak: UNEXPECTED: %s\n", what.c_str());
      failures_.push_back(std::move(what));
    }
  }
  failed_.store(true);
  request_stop();
}

std::vector<std::string> Tally::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

void Tally::request_stop() {
  std::lock_guard lock(mu_);
  stopping_.store(true);
  stop_cv_.notify_all();
}

bool Tally::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
  return !stopping_.load();
}

}  // namespace plexus::soak
