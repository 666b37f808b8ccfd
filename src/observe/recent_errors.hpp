// The last failed calls a server answered, with their trace ids, for the status page
// (/status.json "recent_errors"): where an operator starts when the error rate rises, and the
// trace id that finds the same call in every log it went through.
//
// Threading: record() from any session's strand, snapshot() from the HTTP threads (one mutex,
// held for a copy).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::observe {

struct FailedCall {
  std::chrono::system_clock::time_point at;
  std::string method;
  StatusCode code = StatusCode::ok;
  std::string message;
  std::string peer;
  std::string trace_id;
};

class RecentErrors {
 public:
  // Enough for the page to show what just happened; older ones are in the logs.
  static constexpr std::size_t kKept = 20;

  void record(std::string_view method, const Error& error, std::string_view peer,
              std::string_view trace_id);
  // Newest first.
  std::vector<FailedCall> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::deque<FailedCall> calls_;  // guarded by mu_; newest at the front
};

}  // namespace plexus::observe
