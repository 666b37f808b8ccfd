/// \file
/// The library's log: where plexus writes what it logs, and how much. plexus logs through a
/// logger of its own, never through spdlog's default logger or any other of the application's.
/// By default its lines go to stderr, at the level `PLEXUS_LOG` names (trace, debug, info,
/// warn, error, off; info when unset), one JSON object per line when `PLEXUS_LOG_FORMAT=json`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "plexus/export.hpp"

namespace plexus {

/// How much plexus logs, from the most to nothing.
enum class LogLevel { trace, debug, info, warn, error, off };

/// One line of plexus's log, as a LogHandler receives it. The views are valid only during the
/// handler's call.
struct LogRecord {
  LogLevel level = LogLevel::info;             ///< how important
  std::chrono::system_clock::time_point time;  ///< when it was logged
  std::string_view logger;                     ///< "plexus"
  std::string_view message;                    ///< the text, without the fields below
  std::uint64_t call_id = 0;                   ///< the call it is about; 0: none
  std::string_view trace_id;                   ///< the call's trace id; empty: none
  std::string_view method;                     ///< the method it is about; empty: none
  std::string_view peer;                       ///< the peer's name; empty: none
};

/// Receives each line plexus logs at or above log_level(), on the thread that logs it (often
/// an I/O thread: keep it short, never block).
using LogHandler = std::function<void(const LogRecord&)>;

/// Sends plexus's log to `handler` instead of stderr (to the application's own logger, for
/// instance); an empty handler goes back to stderr. Any thread; takes effect for the lines
/// logged after it returns.
PLEXUS_EXPORT void set_log_handler(LogHandler handler);

/// Sets how much plexus logs (what PLEXUS_LOG sets at start). Any thread.
PLEXUS_EXPORT void set_log_level(LogLevel level);

/// How much plexus logs now. Any thread.
PLEXUS_EXPORT LogLevel log_level();

}  // namespace plexus
