#include "transport/tls/tls_transport.hpp"

#include <atomic>
#include <functional>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include "transport/stream/stream_transport.hpp"
#include "transport/tls/tls_config.hpp"
#include "transport/tls/tls_connection.hpp"

namespace plexus::transport::tls {
namespace {

using Tcp = asio::ip::tcp;
using Stream = TlsOverTcp::socket;

asio::ip::address host_ip(const std::string& host, std::error_code& ec) {
  return asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
}

std::string missing_config(const Address& a) {
  return "tls:// needs TLS settings (TlsOptions) to reach " + a.to_string();
}

// One TLS handshake in progress: the socket, its session, a timer bounding it.
struct Handshake {
  Handshake(Tcp::socket s, std::unique_ptr<TlsSession> tls)
      : socket(std::move(s)), session(std::move(tls)), timer(socket.get_executor()) {}
  // A handshake flight is a few KiB (certificates); records are at most ~16 KiB.
  static constexpr std::size_t kReadChunk = 17 * 1024;
  Tcp::socket socket;
  std::unique_ptr<TlsSession> session;
  asio::steady_timer timer;
  bool timed_out = false;
  std::unique_ptr<char[]> in{new char[kReadChunk]};
  std::string out;
};

// Called with "" when the handshake is done, else with why it failed.
using HandshakeDone = std::function<void(std::string)>;

// Runs the handshake: each step's records are sent (also the alert of a failed one, so the peer
// learns why), then the peer's next flight is read, until OpenSSL says done or failed.
void run_handshake(std::shared_ptr<Handshake> hs, HandshakeDone done) {
  const auto progress = hs->session->handshake();
  hs->out.clear();
  hs->session->take_output(hs->out);
  auto next = [hs, progress, done](const std::error_code& write_ec) {
    if (progress == TlsSession::Progress::failed) {
      done(hs->session->failure());
    } else if (write_ec) {
      done("cannot send the handshake: " + write_ec.message());
    } else if (progress == TlsSession::Progress::done) {
      done({});
    } else {
      hs->socket.async_read_some(
          asio::buffer(hs->in.get(), Handshake::kReadChunk),
          [hs, done](const std::error_code& ec, std::size_t n) {
            if (ec) {
              done(ec == asio::error::eof || ec == asio::error::connection_reset
                       ? "the peer closed the connection during the handshake"
                       : ec.message());
              return;
            }
            hs->session->put_input(hs->in.get(), n);
            run_handshake(hs, done);
          });
    }
  };
  if (hs->out.empty()) {
    next({});
    return;
  }
  asio::async_write(hs->socket, asio::buffer(hs->out),
                    [next](const std::error_code& ec, std::size_t) { next(ec); });
}

class TlsListener final : public Listener {
 public:
  TlsListener(asio::io_context& io, Tcp::acceptor acceptor, Address address,
              const ListenOptions& options)
      : io_(io),
        acceptor_(std::move(acceptor)),
        retry_(io),
        address_(std::move(address)),
        options_(options.connection),
        connection_executor_(options.connection_executor),
        on_accept_trouble_(options.on_accept_trouble),
        max_pending_(options.max_pending_handshakes) {}
  ~TlsListener() override { close(); }

  void accept(std::function<void(std::shared_ptr<Connection>)> on_connection) override {
    on_connection_ = std::move(on_connection);
    accept_next();
  }

  void close() override {
    if (!acceptor_.is_open()) return;
    *open_ = false;
    std::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

  std::string address() const override { return address_.to_string(); }

 private:
  void accept_next() {
    acceptor_.async_accept(connection_executor_ ? connection_executor_() : asio::make_strand(io_),
                           [this](std::error_code ec, Tcp::socket socket) {
                             if (ec == asio::error::operation_aborted || !acceptor_.is_open())
                               return;
                             if (!ec) {
                               if (failures_in_a_row_ > 0) {
                                 if (on_accept_trouble_) on_accept_trouble_({}, failures_in_a_row_);
                                 failures_in_a_row_ = 0;
                               }
                               handshake(std::move(socket));
                               accept_next();
                               return;
                             }
                             ++failures_in_a_row_;
                             if (on_accept_trouble_) on_accept_trouble_(ec, failures_in_a_row_);
                             retry_.expires_after(kAcceptRetry);
                             retry_.async_wait([this](std::error_code wait_ec) {
                               if (!wait_ec && acceptor_.is_open()) accept_next();
                             });
                           });
  }

  // The server's side of the TLS handshake, within the configured timeout; only then is the
  // connection handed out. A failed or silent handshake is closed without a word (there is no
  // frame to say it in).
  void handshake(Tcp::socket socket) {
    std::error_code ignored;
    if (max_pending_ > 0 && pending_->load() >= max_pending_) {
      socket.close(ignored);  // too many handshakes at once: this one waits for none
      return;
    }
    socket.set_option(Tcp::no_delay(true), ignored);
    std::string label = address_.to_string() + " fd=" + std::to_string(socket.native_handle());
    // The newest context: a reload applies from the next accept.
    auto session = TlsSession::create(options_.tls->context(), /*server=*/true);
    if (!session) return;  // OpenSSL could not make the connection's state: the socket closes
    auto hs = std::make_shared<Handshake>(std::move(socket), std::move(*session));
    pending_->fetch_add(1);
    hs->timer.expires_after(options_.tls->settings().handshake_timeout);
    hs->timer.async_wait([hs](std::error_code ec) {
      if (ec) return;
      hs->timed_out = true;
      std::error_code ignored_close;
      hs->socket.close(ignored_close);
    });
    run_handshake(hs, [hs, open = open_, pending = pending_, on_connection = on_connection_,
                       options = options_, label = std::move(label)](const std::string& failed) {
      pending->fetch_sub(1);
      hs->timer.cancel();
      if (!failed.empty() || hs->timed_out || !*open) {
        std::error_code ignored_close;
        hs->socket.close(ignored_close);
        return;
      }
      auto c = std::make_shared<TlsConnection>(std::move(hs->socket), options, label);
      c->adopt_tls(std::move(hs->session));
      on_connection(std::move(c));
    });
  }

  asio::io_context& io_;
  Tcp::acceptor acceptor_;
  asio::steady_timer retry_;  // paces accept retries after errors
  std::uint64_t failures_in_a_row_ = 0;
  Address address_;
  ConnectionOptions options_;
  std::function<asio::any_io_executor()> connection_executor_;  // unset: a strand each
  std::function<void(std::error_code, std::uint64_t)> on_accept_trouble_;
  std::function<void(std::shared_ptr<Connection>)> on_connection_;
  // Read by handshakes that finish after close(): they must not reach the owner any more.
  std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(true);
  // Handshakes in progress (ListenOptions::max_pending_handshakes; 0: unbounded); shared with
  // them, since they may finish after the listener is gone.
  std::size_t max_pending_ = 0;
  std::shared_ptr<std::atomic<std::size_t>> pending_ =
      std::make_shared<std::atomic<std::size_t>>(0);
};

Result<std::unique_ptr<Listener>> listen_tls(asio::io_context& io, const Address& a,
                                             const ListenOptions& options) {
  if (!options.connection.tls || !options.connection.tls->settings().server) {
    return make_error(StatusCode::failed_precondition,
                      "a tls:// listener needs a certificate and a private key "
                      "(TlsOptions::certificate_file, private_key_file; plexus serve "
                      "--tls-cert, --tls-key): " +
                          a.to_string());
  }
  auto bound = stream::bind_tcp(io, a);
  if (!bound) return tl::unexpected(bound.error());
  return std::make_unique<TlsListener>(io, std::move(bound->acceptor), bound->address, options);
}

// The client's side: connect, then the TLS handshake verifying the server's certificate
// against the CA and the name (an IP address or a DNS name), all within `timeout`.
void dial_tls(asio::any_io_executor strand, const Address& address,
              const ConnectionOptions& options, std::chrono::milliseconds timeout,
              DialCallback done) {
  const std::string label = address.to_string();
  const auto fail = [&](StatusCode code, std::string message) {
    asio::post(strand, [done = std::move(done), code, message = std::move(message)] {
      done(make_error(code, message));
    });
  };
  if (!options.tls || options.tls->settings().server) {
    fail(StatusCode::invalid_argument, missing_config(address));
    return;
  }
  std::error_code ec;
  const auto ip = host_ip(address.host, ec);
  if (ec) {
    fail(StatusCode::invalid_argument, "tls host must be a numeric IP or localhost: " + label);
    return;
  }
  auto session = TlsSession::create(options.tls->context(), /*server=*/false);
  if (!session) {
    fail(session.error().code, session.error().message);
    return;
  }
  auto hs = std::make_shared<Handshake>(Tcp::socket(strand), std::move(*session));
  // The name the server's certificate must carry: an IP address (subjectAltName IP) or a DNS
  // name, which is also sent as SNI.
  const std::string name = options.tls->settings().server_name.empty()
                               ? address.host
                               : options.tls->settings().server_name;
  SSL* ssl = hs->session->native_handle();
  std::error_code name_ec;
  asio::ip::make_address(name, name_ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool name_set = name_ec ? X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0) == 1 &&
                                      SSL_set_tlsext_host_name(ssl, name.c_str()) == 1
                                : X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  if (!name_set) {
    fail(StatusCode::invalid_argument, "bad TLS server name \"" + name + "\" for " + label);
    return;
  }
  hs->timer.expires_after(timeout);
  hs->timer.async_wait([hs](std::error_code wait_ec) {
    if (wait_ec) return;
    hs->timed_out = true;
    std::error_code ignored;
    hs->socket.close(ignored);
  });
  const auto timed_out = [label, timeout] {
    return make_error(StatusCode::deadline_exceeded, "connect to " + label + " timed out after " +
                                                         std::to_string(timeout.count()) + " ms");
  };
  hs->socket.async_connect(
      Tcp::endpoint(ip, address.port),
      [hs, options, label, timed_out, done = std::move(done)](std::error_code connect_ec) {
        if (hs->timed_out) {
          done(timed_out());
          return;
        }
        if (connect_ec) {
          hs->timer.cancel();
          done(make_error(StatusCode::unavailable,
                          "cannot connect to " + label + ": " + connect_ec.message()));
          return;
        }
        std::error_code ignored;
        hs->socket.set_option(Tcp::no_delay(true), ignored);
        run_handshake(hs, [hs, options, label, timed_out, done](const std::string& failed) {
          hs->timer.cancel();
          if (hs->timed_out) {
            done(timed_out());
            return;
          }
          if (!failed.empty()) {
            done(make_error(StatusCode::unavailable,
                            "TLS handshake with " + label + " failed: " + failed));
            return;
          }
          std::string fd_label = label + " fd=" + std::to_string(hs->socket.native_handle());
          auto c =
              std::make_shared<TlsConnection>(std::move(hs->socket), options, std::move(fd_label));
          c->adopt_tls(std::move(hs->session));
          done(std::move(c));
        });
      });
}

}  // namespace

Result<Address> parse_tls_address(std::string_view text) {
  if (!text.starts_with("tls://")) return bad_address(text, "expected tls://host:port");
  auto a = parse_tcp_address("tcp://" + std::string(text.substr(6)));
  if (!a) {
    // The tcp parser's reason, told of the address as written.
    const auto& message = a.error().message;
    const auto at = message.find("\": ");
    return bad_address(text, at == std::string::npos ? message : message.substr(at + 3));
  }
  a->scheme = "tls";
  return a;
}

Transport tls_transport() {
  Transport t;
  t.scheme = "tls";
  t.forms = {"tls://"};
  t.parse = parse_tls_address;
  t.listen = listen_tls;
  t.dial = dial_tls;
  return t;
}

}  // namespace plexus::transport::tls
