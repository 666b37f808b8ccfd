// A call's effective deadline: a handler's own limit (its timeout policy) combined with the
// caller's deadline; the shorter wins. Pure; the session arms its timer at the result and answers
// deadline_exceeded itself when the handler's limit was the shorter (the caller is still waiting
// then).
#pragma once

#include <chrono>
#include <optional>

namespace plexus::rpc {

struct EffectiveDeadline {
  std::optional<std::chrono::steady_clock::time_point> at;
  bool handler_limit_won = false;  // the caller's deadline is later (or absent)
};

inline EffectiveDeadline effective_deadline(
    std::chrono::steady_clock::time_point now,
    std::optional<std::chrono::steady_clock::time_point> caller_deadline,
    std::optional<std::chrono::milliseconds> handler_timeout) {
  if (!handler_timeout) return {caller_deadline, false};
  const auto own = now + *handler_timeout;
  if (caller_deadline && *caller_deadline <= own) return {caller_deadline, false};
  return {own, true};
}

}  // namespace plexus::rpc
