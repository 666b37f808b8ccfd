#include "rpc/outbound_calls.hpp"

namespace plexus::rpc {

void OutboundCalls::add(CallId id, PendingCall&& call) {
  if (spare_.empty()) {
    calls_.emplace(id, std::move(call));
    return;
  }
  auto node = std::move(spare_.back());
  spare_.pop_back();
  node.key() = id;
  node.mapped() = std::move(call);
  calls_.insert(std::move(node));
}

bool OutboundCalls::take(CallId id, PendingCall& out) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return false;
  auto node = calls_.extract(it);
  out.done = std::move(node.mapped().done);
  out.answer_view = std::move(node.mapped().answer_view);
  node.mapped().answer_view = nullptr;
  if (node.mapped().deadline) {
    node.mapped().deadline->cancel();
    node.mapped().deadline.reset();  // destroyed now, as erase() would
  }
  if (spare_.size() < kMaxSpareNodes) spare_.push_back(std::move(node));
  return true;
}

ResponseInfo* OutboundCalls::response_info(CallId id) const {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.info_out;
}

void OutboundCalls::fail_all(const Error& error) {
  auto calls = std::move(calls_);
  calls_.clear();
  for (auto& [id, pending] : calls) {
    if (pending.deadline) pending.deadline->cancel();
    pending.done(tl::unexpected(error));
  }
}

}  // namespace plexus::rpc
