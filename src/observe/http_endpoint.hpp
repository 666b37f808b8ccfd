// The HTTP side of observability: GET /metrics (Prometheus text), /health (JSON), /ready (200
// or 503), /live (200), /status.json (the status page's data) and / (the status page itself).
// Runs cpp-httplib on its own two threads, never on the I/O threads; serves only GET.
//
// Ownership: start() returns the owner; destruction stops the server and joins its threads.
// Threading: the providers are called on the HTTP threads, concurrently with everything else.
// Errors: start() fails with invalid_argument (bad address) or unavailable (cannot bind).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "plexus/status.hpp"

namespace plexus::observe {

struct HttpProviders {
  std::function<std::string()> metrics_text;  // body of /metrics
  std::function<nlohmann::json()> health;     // body of /health
  std::function<bool()> ready;                // /ready: 200 when true, else 503
  std::function<nlohmann::json()> status;     // body of /status.json
  // Applied to the listening socket before bind, in place of cpp-httplib's default, which sets
  // SO_REUSEPORT (two servers on one port would each get a random share of the requests).
  // Unset: SO_REUSEPORT stays off and nothing else is set.
  std::function<void(int fd)> socket_options;
};

class HttpEndpoint {
 public:
  // `address`: "HOST:PORT" (port 0 picks one), e.g. "127.0.0.1:9464". Binds before returning;
  // a port another process holds fails with failed_precondition ("address in use").
  static Result<std::unique_ptr<HttpEndpoint>> start(const std::string& address,
                                                     HttpProviders providers);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://HOST:PORT"

 private:
  struct Impl;
  explicit HttpEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string host_;
  int port_ = 0;
};

// The status page (static HTML + JS that polls /status.json), served at "/".
std::string_view status_page_html();

}  // namespace plexus::observe
