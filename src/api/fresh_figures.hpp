// Figures that several metric families of one scrape read (a store's aggregates, a directory's
// file counts): read once and shared by the reads that follow within `fresh`, so a scrape of
// many families costs one read. Private to src/api.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "observe/log.hpp"
#include "plexus/status.hpp"

namespace plexus::detail {

template <typename T>
class FreshFigures {
 public:
  // `read` gives the figures; `what` names them in the warning logged when it fails.
  FreshFigures(std::function<Result<T>()> read, std::string what, std::chrono::milliseconds fresh)
      : read_(std::move(read)), what_(std::move(what)), fresh_(fresh) {}

  // The latest figures; nullopt when the read failed (logged once per read: a failure is
  // remembered for as long as figures are).
  std::optional<T> get() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (read_once_ && now - read_at_ < fresh_) return last_;
    auto figures = read_();
    read_once_ = true;
    read_at_ = now;
    if (!figures) {
      observe::logger().warn("plexus: reading {} failed: {}", what_, figures.error().to_string());
      last_.reset();
    } else {
      last_ = std::move(*figures);
    }
    return last_;
  }

 private:
  const std::function<Result<T>()> read_;
  const std::string what_;
  const std::chrono::milliseconds fresh_;
  std::mutex mu_;
  bool read_once_ = false;                         // guarded by mu_
  std::optional<T> last_;                          // guarded by mu_; nullopt after a failed read
  std::chrono::steady_clock::time_point read_at_;  // guarded by mu_
};

}  // namespace plexus::detail
