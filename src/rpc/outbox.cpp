#include "rpc/outbox.hpp"

#include <algorithm>
#include <iterator>

namespace plexus::rpc {

namespace {
// Waits longer than this are taken as this long: no time_point arithmetic overflows.
constexpr std::chrono::milliseconds kLongestWait = std::chrono::hours(24 * 365);
}  // namespace

Result<bool> Outbox::push(OutboxItem&& item, std::chrono::milliseconds wait, bool past_limit) {
  const std::size_t cost = item.cost();
  std::unique_lock lock(mu_);
  if (closed_) return tl::unexpected(*closed_);
  if (!past_limit && bytes_ > 0 && bytes_ + cost > limit_) {
    if (wait.count() <= 0) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return make_error(StatusCode::resource_exhausted,
                        "send queue full: the peer reads slower than this side sends (" +
                            std::to_string(bytes_) + " bytes waiting)",
                        "{\"queued_bytes\":" + std::to_string(bytes_) +
                            ",\"limit\":" + std::to_string(limit_) + "}");
    }
    ++waiters_;
    waits_.fetch_add(1, std::memory_order_relaxed);
    const auto deadline = std::chrono::steady_clock::now() + std::min(wait, kLongestWait);
    const bool room = room_.wait_until(
        lock, deadline, [&] { return closed_ || bytes_ == 0 || bytes_ + cost <= limit_; });
    --waiters_;
    if (closed_) return tl::unexpected(*closed_);
    if (!room) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return make_error(StatusCode::resource_exhausted,
                        "send queue still full when the wait for room ended (" +
                            std::to_string(bytes_) + " bytes waiting)",
                        "{\"queued_bytes\":" + std::to_string(bytes_) +
                            ",\"limit\":" + std::to_string(limit_) + "}");
    }
  }
  bytes_ += cost;
  items_.push_back(std::move(item));
  count_.store(items_.size(), std::memory_order_relaxed);
  if (drain_posted_ || stalled_.load(std::memory_order_relaxed)) return false;
  drain_posted_ = true;
  return true;
}

void Outbox::take(std::vector<OutboxItem>& out) {
  std::lock_guard lock(mu_);
  out.swap(items_);
  count_.store(0, std::memory_order_relaxed);
  drain_posted_ = false;
}

void Outbox::put_back(std::vector<OutboxItem>& items, std::size_t from) {
  std::lock_guard lock(mu_);
  stalled_.store(true, std::memory_order_relaxed);
  if (closed_) return;  // dropped with the rest; their bytes no longer matter
  items_.insert(items_.begin(), std::make_move_iterator(items.begin() + static_cast<long>(from)),
                std::make_move_iterator(items.end()));
  count_.store(items_.size(), std::memory_order_relaxed);
}

void Outbox::release(std::size_t bytes) {
  if (bytes == 0) return;
  std::lock_guard lock(mu_);
  bytes_ = bytes > bytes_ ? 0 : bytes_ - bytes;
  if (waiters_ > 0) room_.notify_all();
}

void Outbox::stall() {
  std::lock_guard lock(mu_);
  stalled_.store(true, std::memory_order_relaxed);
}

bool Outbox::resume() {
  std::lock_guard lock(mu_);
  stalled_.store(false, std::memory_order_relaxed);
  return !items_.empty();
}

std::size_t Outbox::close(const Error& reason, std::atomic<std::uint64_t>* tally,
                          std::size_t also_lost, std::vector<OutboxItem>* calls) {
  std::lock_guard lock(mu_);
  if (closed_) return 0;
  closed_ = reason;
  std::size_t dropped = 0;
  for (auto& item : items_) {
    if (item.kind != OutboxItem::Kind::call) {
      ++dropped;
    } else if (calls) {
      calls->push_back(std::move(item));
    }
  }
  if (tally) tally->fetch_add(dropped + also_lost, std::memory_order_relaxed);
  items_.clear();
  count_.store(0, std::memory_order_relaxed);
  bytes_ = 0;
  room_.notify_all();
  return dropped;
}

}  // namespace plexus::rpc
