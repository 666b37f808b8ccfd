#include "policy/breaker.hpp"

#include <nlohmann/json.hpp>
#include "observe/log.hpp"

namespace plexus::policy {

std::string_view to_string(BreakerState state) {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
  }
  return "closed";
}

bool counts_as_failure(StatusCode code) {
  return code == StatusCode::internal || code == StatusCode::unavailable ||
         code == StatusCode::deadline_exceeded || code == StatusCode::unknown;
}

void CircuitBreaker::transition(BreakerState to) {
  observe::logger().warn("plexus: circuit breaker \"{}\": {} -> {}", name_, to_string(state_),
                         to_string(to));
  state_ = to;
  failures_ = 0;
  successes_ = 0;
  trials_in_flight_ = 0;
  switch (to) {
    case BreakerState::open:
      opened_at_ = clock_->now();
      bump(counters_.breaker_opened);
      break;
    case BreakerState::half_open:
      bump(counters_.breaker_half_opened);
      break;
    case BreakerState::closed:
      bump(counters_.breaker_closed);
      break;
  }
}

Result<void> CircuitBreaker::admit() {
  std::lock_guard lock(mu_);
  if (state_ == BreakerState::open) {
    const auto waited = clock_->now() - opened_at_;
    if (waited < options_.open_for) {
      bump(counters_.breaker_rejected);
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.open_for - waited) +
          std::chrono::milliseconds(1);
      return make_error(StatusCode::unavailable,
                        "circuit breaker \"" + name_ + "\" is open: failing fast",
                        nlohmann::json{{"breaker", "open"}, {"retry_after_ms", left.count()}}.dump(
                            -1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    transition(BreakerState::half_open);
  }
  if (state_ == BreakerState::half_open) {
    if (trials_in_flight_ >= options_.half_open_max_calls) {
      bump(counters_.breaker_rejected);
      return make_error(StatusCode::unavailable,
                        "circuit breaker \"" + name_ +
                            "\" is half-open and its trial calls are "
                            "all in flight: failing fast",
                        nlohmann::json{{"breaker", "half_open"}, {"retry_after_ms", 0}}.dump(
                            -1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    ++trials_in_flight_;
  }
  return {};
}

void CircuitBreaker::record(bool success) {
  std::lock_guard lock(mu_);
  bump(success ? counters_.breaker_successes : counters_.breaker_failures);
  switch (state_) {
    case BreakerState::closed:
      failures_ = success ? 0 : failures_ + 1;
      if (failures_ >= options_.failures_to_open) transition(BreakerState::open);
      break;
    case BreakerState::half_open:
      if (trials_in_flight_ > 0) --trials_in_flight_;
      if (!success) {
        transition(BreakerState::open);
      } else if (++successes_ >= options_.successes_to_close) {
        transition(BreakerState::closed);
      }
      break;
    case BreakerState::open:
      break;  // an answer to a call admitted before it opened: already counted against it
  }
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace plexus::policy
