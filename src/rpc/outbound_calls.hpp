// Calls this side made that wait for the peer's answer (and SUBSCRIBEs waiting for theirs), with
// their deadlines and what the caller asked to receive besides the result.
//
// Threading: on the session's strand only.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plexus/call.hpp"
#include "rpc/time_source.hpp"

namespace plexus::rpc {

struct PendingCall {
  CallCallback done;
  std::unique_ptr<Timer> deadline;                    // null: no timeout
  ResponseInfo* info_out = nullptr;                   // CallOptions::response_info
  std::function<void(std::string_view)> answer_view;  // CallOptions::answer_view
  Clock::time_point expires{};                        // when `deadline` fires
};

class OutboundCalls {
 public:
  bool contains(CallId id) const { return calls_.contains(id); }
  void add(CallId id, PendingCall&& call);
  // Moves the call's callbacks into `out` and stops its deadline; false when the id is not
  // waiting (finished, cancelled, or never made).
  bool take(CallId id, PendingCall& out);
  // The waiting call with `id`, or null. Valid until the table changes.
  const PendingCall* find(CallId id) const {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : &it->second;
  }
  // Where the caller wants the answer's response metadata; null if nowhere.
  ResponseInfo* response_info(CallId id) const;
  // The session closed: every call completes with `error`.
  void fail_all(const Error& error);

 private:
  std::unordered_map<CallId, PendingCall> calls_;
  // Map nodes of finished calls, reused by the next ones: a caller keeping many calls in
  // flight would otherwise allocate and free a node per call. Bounded by kMaxSpareNodes.
  std::vector<std::unordered_map<CallId, PendingCall>::node_type> spare_;
  static constexpr std::size_t kMaxSpareNodes = 256;
};

}  // namespace plexus::rpc
