// What tests of metrics and logs share: a series' value in a Prometheus text body, a GET on a
// server's HTTP endpoint, and plexus's log sent to a test's handler for a scope.
#pragma once

#include <httplib.h>

#include <string>
#include <utility>

#include "plexus/log.hpp"

namespace plexus::test {

// The value of one series ("name{labels}" exactly as printed) in a Prometheus text body; -1
// when the series is not there.
inline double series(const std::string& text, const std::string& name_and_labels) {
  const auto key = "\n" + name_and_labels + " ";
  const auto at = ("\n" + text).find(key);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size() - 1));
}

// The body of GET `path` on `base` ("http://127.0.0.1:PORT"); empty unless the status is 200.
inline std::string http_get(const std::string& base, const std::string& path) {
  httplib::Client client(base);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Get(path.c_str());
  return res && res->status == 200 ? res->body : std::string();
}

// Sends plexus's log to `h` until the scope ends, then back to stderr.
struct LogHandlerScope {
  explicit LogHandlerScope(LogHandler h) { set_log_handler(std::move(h)); }
  ~LogHandlerScope() { set_log_handler({}); }
  LogHandlerScope(const LogHandlerScope&) = delete;
  LogHandlerScope& operator=(const LogHandlerScope&) = delete;
};

}  // namespace plexus::test
