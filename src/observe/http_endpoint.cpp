#include "observe/http_endpoint.hpp"

#include <atomic>
#include <thread>

#include <httplib.h>

#include "observe/prometheus_text.hpp"

namespace plexus::observe {

struct HttpEndpoint::Impl {
  httplib::Server server;
  HttpProviders providers;
  std::thread thread;
  std::atomic<bool> finished{false};  // the listening loop returned
};

namespace {

void reply_json(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

}  // namespace

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(const std::string& address,
                                                          HttpProviders providers) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error(StatusCode::invalid_argument,
                      "HTTP address must be HOST:PORT, e.g. 127.0.0.1:9464: " + address);
  }
  const std::string host = address.substr(0, colon);
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(address.substr(colon + 1), &used);
    if (used != address.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return make_error(StatusCode::invalid_argument, "bad HTTP port in " + address);
  }

  auto impl = std::make_unique<Impl>();
  impl->providers = std::move(providers);
  auto& svr = impl->server;
  // Two workers: a browser's keep-alive connection must not hold up a scrape.
  svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
  svr.set_keep_alive_timeout(1);
  svr.set_read_timeout(5);
  svr.set_payload_max_length(64 * 1024);
  svr.set_socket_options([options = impl->providers.socket_options](int fd) {
    if (options) options(fd);
  });
  const HttpProviders* p = &impl->providers;
  svr.Get("/metrics", [p](const httplib::Request&, httplib::Response& res) {
    res.set_content(p->metrics_text(), std::string(kPrometheusContentType).c_str());
  });
  svr.Get("/health",
          [p](const httplib::Request&, httplib::Response& res) { reply_json(res, p->health()); });
  svr.Get("/ready", [p](const httplib::Request&, httplib::Response& res) {
    const bool ready = p->ready();
    reply_json(res, {{"ready", ready}}, ready ? 200 : 503);
  });
  svr.Get("/live", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, {{"live", true}});
  });
  svr.Get("/status.json",
          [p](const httplib::Request&, httplib::Response& res) { reply_json(res, p->status()); });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(std::string(status_page_html()), "text/html; charset=utf-8");
  });

  const int bound =
      port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    // httplib does not say why; a port that is taken is by far the usual reason on loopback.
    return make_error(StatusCode::failed_precondition,
                      "cannot bind the HTTP endpoint to " + address +
                          ": the port is taken or the host is not an address of this machine");
  }
  auto* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->finished = true;
  });
  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint(std::move(impl)));
  endpoint->host_ = host;
  endpoint->port_ = bound;
  return endpoint;
}

HttpEndpoint::HttpEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpEndpoint::~HttpEndpoint() {
  // httplib's stop() does nothing until the listening loop has begun: wait for that first (it
  // begins at once; the socket is already bound).
  while (!impl_->server.is_running() && !impl_->finished) std::this_thread::yield();
  impl_->server.stop();
  impl_->thread.join();
}

std::string HttpEndpoint::url() const {
  return "http://" + host_ + ":" + std::to_string(port_);
}

}  // namespace plexus::observe
