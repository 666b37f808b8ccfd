#include "policy/concurrency.hpp"

#include <string>

namespace plexus::policy {

bool ConcurrencyLimiter::try_acquire() {
  std::lock_guard lock(mu_);
  if (in_flight_ >= options_.max_in_flight) return false;
  ++in_flight_;
  bump(counters_.concurrency_admitted);
  return true;
}

Result<ConcurrencyLimiter::Admission> ConcurrencyLimiter::enqueue(Start start) {
  std::lock_guard lock(mu_);
  if (in_flight_ < options_.max_in_flight) {
    ++in_flight_;
    bump(counters_.concurrency_admitted);
    return Admission::run_now;
  }
  if (queue_.size() < options_.max_queue) {
    queue_.push_back(std::move(start));
    bump(counters_.concurrency_queued);
    return Admission::queued;
  }
  bump(counters_.concurrency_rejected);
  return make_error(StatusCode::resource_exhausted,
                    "handler is at its concurrency limit (" +
                        std::to_string(options_.max_in_flight) + " running, " +
                        std::to_string(options_.max_queue) + " waiting)",
                    "{\"max_in_flight\":" + std::to_string(options_.max_in_flight) +
                        ",\"max_queue\":" + std::to_string(options_.max_queue) + "}");
}

std::optional<ConcurrencyLimiter::Start> ConcurrencyLimiter::release() {
  std::lock_guard lock(mu_);
  if (!queue_.empty()) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    bump(counters_.concurrency_admitted);
    return next;  // the slot passes to it
  }
  if (in_flight_ > 0) --in_flight_;
  return std::nullopt;
}

std::size_t ConcurrencyLimiter::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

std::size_t ConcurrencyLimiter::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace plexus::policy
