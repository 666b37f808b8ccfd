// Batching: requests gathered within a window go to one batch call (include/plexus/coalesce.hpp).
#include <exception>

#include "plexus/coalesce.hpp"

namespace plexus {

std::shared_ptr<RequestBatcher> RequestBatcher::create(BatchFunction fn,
                                                       RequestBatchOptions options,
                                                       std::shared_ptr<CoalesceCounters> c) {
  if (options.max_items == 0) options.max_items = 1;
  if (!c) c = std::make_shared<CoalesceCounters>();
  return std::shared_ptr<RequestBatcher>(new RequestBatcher(std::move(fn), options, std::move(c)));
}

RequestBatcher::RequestBatcher(BatchFunction fn, RequestBatchOptions options,
                               std::shared_ptr<CoalesceCounters> c)
    : fn_(std::move(fn)), options_(options), counters_(std::move(c)) {}

AsyncHandler RequestBatcher::handler() {
  return [self = shared_from_this()](CallContext& ctx, std::string_view payload, Responder r) {
    self->add(ctx, payload, std::move(r));
  };
}

std::size_t RequestBatcher::pending() const {
  std::lock_guard lock(mu_);
  return gathered_.size();
}

void RequestBatcher::add(CallContext& ctx, std::string_view payload, Responder responder) {
  counters_->calls.fetch_add(1, std::memory_order_relaxed);
  std::vector<Pending> full;
  {
    std::lock_guard lock(mu_);
    gathered_.push_back(Pending{std::string(payload), std::move(responder)});
    if (gathered_.size() >= options_.max_items) {
      full = std::move(gathered_);
      gathered_.clear();
      if (timer_) timer_->cancel();
      timer_.reset();
    } else if (gathered_.size() == 1 && options_.max_wait.count() > 0) {
      // The first request of a batch starts its window.
      timer_ = std::make_shared<asio::steady_timer>(ctx.io_executor(), options_.max_wait);
      timer_->async_wait([weak = weak_from_this(), timer = timer_](std::error_code ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        std::vector<Pending> due;
        {
          std::lock_guard lock(self->mu_);
          if (self->timer_ != timer) return;  // that batch already left
          due = std::move(self->gathered_);
          self->gathered_.clear();
          self->timer_.reset();
        }
        self->run(std::move(due));
      });
    }
  }
  if (!full.empty()) run(std::move(full));
}

void RequestBatcher::flush() {
  std::vector<Pending> due;
  {
    std::lock_guard lock(mu_);
    due = std::move(gathered_);
    gathered_.clear();
    if (timer_) timer_->cancel();
    timer_.reset();
  }
  if (!due.empty()) run(std::move(due));
}

void RequestBatcher::run(std::vector<Pending> batch) {
  counters_->batches.fetch_add(1, std::memory_order_relaxed);
  counters_->handler_runs.fetch_add(1, std::memory_order_relaxed);
  counters_->batched_calls.fetch_add(batch.size(), std::memory_order_relaxed);
  std::vector<std::string> payloads;
  payloads.reserve(batch.size());
  for (auto& p : batch) payloads.push_back(std::move(p.payload));
  std::vector<Result<std::string>> answers;
  try {
    answers = fn_(payloads);
  } catch (const std::exception& e) {
    answers.clear();
    for (auto& p : batch) {
      p.responder.reply(make_error(StatusCode::internal, std::string("batch threw: ") + e.what()));
    }
    return;
  }
  if (answers.size() != batch.size()) {
    const auto e = make_error(StatusCode::internal, "batch handler answered " +
                                                        std::to_string(answers.size()) + " of " +
                                                        std::to_string(batch.size()) + " requests");
    for (auto& p : batch) p.responder.reply(e);
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].responder.reply(std::move(answers[i]));
}

}  // namespace plexus
