#include "rpc/time_source.hpp"

#include <algorithm>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "platform/posix/coarse_clock.hpp"

namespace plexus::rpc {
namespace {

class SteadyTimer final : public Timer {
 public:
  explicit SteadyTimer(const asio::any_io_executor& executor) : timer_(executor) {}
  void wait(Clock::duration after, std::function<void()> fire) override {
    timer_.expires_after(after);
    timer_.async_wait([fire = std::move(fire)](std::error_code ec) {
      if (!ec) fire();
    });
  }
  void cancel() override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

class SteadyTimeSource final : public TimeSource {
 public:
  Clock::time_point now() const override { return Clock::now(); }
  Clock::time_point coarse_now() const override { return platform::coarse_now(); }
  std::unique_ptr<Timer> make_timer(const asio::any_io_executor& executor) const override {
    return std::make_unique<SteadyTimer>(executor);
  }
};

}  // namespace

std::shared_ptr<const TimeSource> TimeSource::steady() {
  static const auto source = std::make_shared<const SteadyTimeSource>();
  return source;
}

// Registered with its source while it lives; advance() fires it under the source's lock by
// posting, so a callback never runs inside advance() itself.
class ManualTimeSource::ManualTimer final : public Timer {
 public:
  ManualTimer(std::shared_ptr<const ManualTimeSource> source, asio::any_io_executor executor)
      : source_(std::move(source)), executor_(std::move(executor)) {
    std::lock_guard lock(source_->mu_);
    source_->timers_.push_back(this);
  }
  ~ManualTimer() override {
    std::lock_guard lock(source_->mu_);
    auto& v = source_->timers_;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
  }
  void wait(Clock::duration after, std::function<void()> fire) override {
    std::lock_guard lock(source_->mu_);
    due_ = source_->now_ + after;
    fire_ = std::move(fire);
  }
  void cancel() override {
    std::lock_guard lock(source_->mu_);
    fire_ = nullptr;
  }
  // Under the source's lock.
  void fire_if_due(Clock::time_point now) {
    if (!fire_ || due_ > now) return;
    asio::post(executor_, std::move(fire_));
    fire_ = nullptr;
  }
  bool armed() const { return static_cast<bool>(fire_); }

 private:
  std::shared_ptr<const ManualTimeSource> source_;
  asio::any_io_executor executor_;
  Clock::time_point due_{};
  std::function<void()> fire_;
};

Clock::time_point ManualTimeSource::now() const {
  std::lock_guard lock(mu_);
  return now_;
}

std::unique_ptr<Timer> ManualTimeSource::make_timer(const asio::any_io_executor& executor) const {
  return std::make_unique<ManualTimer>(shared_from_this(), executor);
}

void ManualTimeSource::advance(Clock::duration d) {
  std::lock_guard lock(mu_);
  now_ += d;
  for (auto* t : timers_) t->fire_if_due(now_);
}

std::size_t ManualTimeSource::armed() const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(timers_.begin(), timers_.end(), [](auto* t) { return t->armed(); }));
}

}  // namespace plexus::rpc
