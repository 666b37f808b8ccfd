#include "observe/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <nlohmann/json.hpp>

namespace plexus::observe {
namespace {

thread_local const LogFields* tls_fields = nullptr;

LogLevel to_public(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return LogLevel::trace;
    case spdlog::level::debug:
      return LogLevel::debug;
    case spdlog::level::info:
      return LogLevel::info;
    case spdlog::level::warn:
      return LogLevel::warn;
    case spdlog::level::err:
    case spdlog::level::critical:
      return LogLevel::error;
    default:
      return LogLevel::off;
  }
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return spdlog::level::trace;
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
    case LogLevel::off:
      break;
  }
  return spdlog::level::off;
}

// "2026-12-06T07:30:00.123456Z": UTC, microseconds.
std::string utc_text(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds);
  const std::time_t t = seconds.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%06lldZ", static_cast<long long>(micros.count()));
  return text;
}

// The one sink of the library's logger: stderr (spdlog's colored pattern, or JSON lines), or
// the application's handler. Swapped under the sink's own lock, which spdlog holds while it
// writes a line.
class PlexusSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit PlexusSink(bool json) : json_(json) {}

  void set_handler(LogHandler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const LogFields* fields = current_log_fields();
    const std::string_view message(msg.payload.data(), msg.payload.size());
    if (handler_) {
      LogRecord record;
      record.level = to_public(msg.level);
      record.time = msg.time;
      record.logger = std::string_view(msg.logger_name.data(), msg.logger_name.size());
      record.message = message;
      if (fields) {
        record.call_id = fields->call_id;
        record.trace_id = fields->trace_id;
        record.method = fields->method;
        record.peer = fields->peer;
      }
      handler_(record);
      return;
    }
    if (!json_) {
      stderr_.log(msg);
      return;
    }
    nlohmann::json line = {{"time", utc_text(msg.time)},
                           {"level", spdlog::level::to_string_view(msg.level).data()},
                           {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
                           {"message", message}};
    if (fields) {
      if (fields->call_id != 0) line["call_id"] = fields->call_id;
      if (!fields->trace_id.empty()) line["trace_id"] = fields->trace_id;
      if (!fields->method.empty()) line["method"] = fields->method;
      if (!fields->peer.empty()) line["peer"] = fields->peer;
    }
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  bool json_;
  LogHandler handler_;
  spdlog::sinks::stderr_color_sink_st stderr_;  // used under this sink's lock
};

struct Logger {
  std::shared_ptr<PlexusSink> sink;
  std::shared_ptr<spdlog::logger> logger;

  Logger() {
    const char* format = std::getenv("PLEXUS_LOG_FORMAT");
    sink = std::make_shared<PlexusSink>(format && std::string_view(format) == "json");
    // Not in spdlog's registry: the application's spdlog::set_level and set_default_logger
    // leave it alone, and it leaves theirs alone.
    logger = std::make_shared<spdlog::logger>("plexus", sink);
    logger->set_level(spdlog::level::info);
    if (const char* level = std::getenv("PLEXUS_LOG")) {
      logger->set_level(spdlog::level::from_str(level));
    }
  }
};

Logger& instance() {
  static Logger l;
  return l;
}

}  // namespace

spdlog::logger& logger() {
  return *instance().logger;
}

ScopedLogFields::ScopedLogFields(const LogFields& fields)
    : fields_(fields), previous_(tls_fields) {
  tls_fields = &fields_;
}

ScopedLogFields::~ScopedLogFields() {
  tls_fields = previous_;
}

const LogFields* current_log_fields() {
  return tls_fields;
}

void set_handler(LogHandler handler) {
  instance().sink->set_handler(std::move(handler));
}

}  // namespace plexus::observe

namespace plexus {

void set_log_handler(LogHandler handler) {
  observe::set_handler(std::move(handler));
}

void set_log_level(LogLevel level) {
  observe::logger().set_level(observe::to_spdlog(level));
}

LogLevel log_level() {
  return observe::to_public(observe::logger().level());
}

}  // namespace plexus
