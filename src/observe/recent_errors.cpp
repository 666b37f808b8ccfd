#include "observe/recent_errors.hpp"

namespace plexus::observe {

void RecentErrors::record(std::string_view method, const Error& error, std::string_view peer,
                          std::string_view trace_id) {
  FailedCall call{std::chrono::system_clock::now(),
                  std::string(method),
                  error.code,
                  error.message,
                  std::string(peer),
                  std::string(trace_id)};
  std::lock_guard lock(mu_);
  calls_.push_front(std::move(call));
  if (calls_.size() > kKept) calls_.pop_back();
}

std::vector<FailedCall> RecentErrors::snapshot() const {
  std::lock_guard lock(mu_);
  return {calls_.begin(), calls_.end()};
}

}  // namespace plexus::observe
