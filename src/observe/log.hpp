// The library's own logger, "plexus" (include/plexus/log.hpp): every file of the library logs
// through logger(), never through spdlog's default logger, which belongs to the application.
// Made on first use: stderr, PLEXUS_LOG's level, JSON lines when PLEXUS_LOG_FORMAT=json.
//
// Threading: logger() and LogFields may be used from any thread; set_handler() swaps the
// sink under the logger's own lock.
#pragma once

#include <cstdint>
#include <string_view>

#include <spdlog/logger.h>

#include "plexus/log.hpp"

namespace plexus::observe {

spdlog::logger& logger();

// What a line is about, for the JSON format and a LogHandler: set around a log call on this
// thread (the guard keeps a copy; the views must outlive it).
struct LogFields {
  std::uint64_t call_id = 0;
  std::string_view trace_id;
  std::string_view method;
  std::string_view peer;
};

class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields& fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  LogFields fields_;
  const LogFields* previous_;
};

// The fields of the innermost ScopedLogFields on this thread, or null.
const LogFields* current_log_fields();

void set_handler(LogHandler handler);

}  // namespace plexus::observe
