#include "rpc/inbound_calls.hpp"

#include <asio/dispatch.hpp>

#include "rpc/session.hpp"

namespace plexus::rpc {

void InboundCall::reply(Result<std::string> result, ResponseInfo info) {
  // Also when the caller stopped waiting meanwhile: the handler did run (or fail).
  if (acked && !ack_finished.exchange(true)) acked->finish(ctx.message_id(), result.has_value());
  if (answered.exchange(true)) return;
  if (forward) {
    auto fn = std::move(forward);
    fn(std::move(result));
    return;
  }
  auto s = session.lock();
  if (!s) return;  // the session is gone; nobody is waiting
  asio::dispatch(executor, [s, id = ctx.id(), r = std::move(result), info]() mutable {
    s->finish_inbound(id, std::move(r), info);
  });
}

void InboundCall::cancel() {
  answered.store(true);
  ctx.cancel();
}

void InboundCalls::add(CallId id, std::shared_ptr<InboundCall> call,
                       std::unique_ptr<Timer> deadline) {
  calls_.emplace(id, Entry{std::move(call), std::move(deadline)});
  count_.store(calls_.size(), std::memory_order_release);
}

std::shared_ptr<InboundCall> InboundCalls::take(CallId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return nullptr;
  auto call = std::move(it->second.call);
  if (it->second.deadline) it->second.deadline->cancel();
  calls_.erase(it);
  count_.store(calls_.size(), std::memory_order_release);
  return call;
}

void InboundCalls::cancel_all() {
  auto calls = std::move(calls_);
  calls_.clear();
  count_.store(0, std::memory_order_release);
  for (auto& [id, entry] : calls) {
    if (entry.deadline) entry.deadline->cancel();
    entry.call->cancel();
  }
}

}  // namespace plexus::rpc
