// AckedIds: the ids of acknowledged messages a receiver handled (docs/PROTOCOL.md §22.1), so
// that a resent message (its acknowledgement was lost or late) is acknowledged again without
// running its handler twice. Bounded: the newest `capacity` ids. Shared by every session of a
// server (or of a client), so a resend over a new connection is recognised too.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace plexus::rpc {

// The server method an acknowledged publish calls (PROTOCOL.md §22.4): its payload is an envelope
// whose `method` is the topic, and an access policy checks it as a publish on that topic.
inline constexpr std::string_view kAckedPublishMethod = "plexus.publish";

// Thread-safe.
class AckedIds {
 public:
  explicit AckedIds(std::size_t capacity = 100000) : capacity_(capacity ? capacity : 1) {}

  enum class Seen { fresh, handled, in_progress };
  // A delivery of `id` begins: fresh (run the handler; finish() follows), handled before
  // (acknowledge again without running it), or being handled by an earlier delivery still
  // under way (refuse this one: the sender resends, and by then it is handled or failed).
  Seen begin(std::string_view id) {
    std::lock_guard lock(mu_);
    std::string key(id);
    if (ids_.count(key)) {
      duplicates_.fetch_add(1, std::memory_order_relaxed);
      return Seen::handled;
    }
    if (!running_.insert(std::move(key)).second) {
      busy_.fetch_add(1, std::memory_order_relaxed);
      return Seen::in_progress;
    }
    return Seen::fresh;
  }
  // The delivery begun with a fresh begin() ended: `ok` remembers the id as handled.
  void finish(std::string_view id, bool ok) {
    std::lock_guard lock(mu_);
    running_.erase(std::string(id));
    if (ok) {
      handled_.fetch_add(1, std::memory_order_relaxed);
      remember_locked(id);
    }
  }
  bool contains(std::string_view id) const {
    std::lock_guard lock(mu_);
    return ids_.count(std::string(id)) != 0;
  }
  void remember(std::string_view id) {
    std::lock_guard lock(mu_);
    remember_locked(id);
  }
  // Deliveries whose handler succeeded, repeats acknowledged without running it, and repeats
  // refused while an earlier delivery was still being handled (metrics).
  std::uint64_t handled() const { return handled_.load(std::memory_order_relaxed); }
  std::uint64_t duplicates() const { return duplicates_.load(std::memory_order_relaxed); }
  std::uint64_t busy() const { return busy_.load(std::memory_order_relaxed); }

 private:
  void remember_locked(std::string_view id) {
    if (!ids_.insert(std::string(id)).second) return;
    order_.emplace_back(id);
    if (order_.size() > capacity_) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
  }

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> ids_;      // guarded by mu_
  std::deque<std::string> order_;            // guarded by mu_; oldest first
  std::unordered_set<std::string> running_;  // guarded by mu_; deliveries under way
  std::atomic<std::uint64_t> handled_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> busy_{0};
};

}  // namespace plexus::rpc
