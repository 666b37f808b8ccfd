/// \file
/// WaitStrategy: how a thread that has run out of work waits for more.
#pragma once

#include <optional>
#include <string_view>

namespace plexus {

/// How a thread that has run out of work waits for more: the runtime's I/O threads
/// (RuntimeOptions::idle_wait) and a shared-memory connection's reader (`shm_wait=`) both take it.
/// Threading and errors: plain values and pure functions.
enum class WaitStrategy {
  /// Never sleeps: lowest latency; the thread keeps a core busy even when idle.
  spin,
  /// Keeps looking for an adaptive time after the last work, then sleeps: a conversation with a
  /// quick peer never pays a wake-up, an idle process costs nothing. The time doubles when a look
  /// caught work and halves when it ran out, within the configured bounds.
  adaptive,
  /// Sleeps as soon as there is nothing to do: no CPU spent waiting; every wake-up is paid.
  block,
};

/// "spin", "adaptive" or "block".
constexpr std::string_view to_string(WaitStrategy wait) {
  switch (wait) {
    case WaitStrategy::spin:
      return "spin";
    case WaitStrategy::adaptive:
      return "adaptive";
    case WaitStrategy::block:
      return "block";
  }
  return "?";
}

/// Parses "spin", "adaptive" or "block"; nullopt for anything else.
constexpr std::optional<WaitStrategy> parse_wait_strategy(std::string_view text) {
  if (text == "spin") return WaitStrategy::spin;
  if (text == "adaptive") return WaitStrategy::adaptive;
  if (text == "block") return WaitStrategy::block;
  return std::nullopt;
}

}  // namespace plexus
