// Listener and dialer for the two stream-socket transports (unix:// and tcp://). What differs
// between them (endpoint construction, socket files, TCP_NODELAY) is in the traits below.
#include "transport/stream/stream_transport.hpp"

#include <charconv>

#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "platform/posix/process.hpp"
#include "transport/stream/stream_connection.hpp"

namespace plexus::transport::stream {
namespace {

using Local = asio::local::stream_protocol;
using Tcp = asio::ip::tcp;

Local::endpoint unix_endpoint(const Address& a) {
  if (a.kind == Address::Kind::unix_abstract) {
    return Local::endpoint(std::string(1, '\0') + a.path);  // Linux abstract namespace
  }
  return Local::endpoint(a.path);
}

void tune(Tcp::socket& s) {
  std::error_code ignored;
  s.set_option(Tcp::no_delay(true), ignored);  // frames are already batched; never wait
}
void tune(Local::socket&) {}

template <typename P>
std::shared_ptr<StreamConnection<P>> wrap(typename P::socket socket,
                                          const ConnectionOptions& options,
                                          const std::string& address) {
  tune(socket);
  std::string label = address + " fd=" + std::to_string(socket.native_handle());
  return std::make_shared<StreamConnection<P>>(std::move(socket), options, std::move(label));
}

template <typename P>
class StreamListener final : public Listener {
 public:
  StreamListener(asio::io_context& io, typename P::acceptor acceptor, Address address,
                 const ListenOptions& options,
                 std::shared_ptr<const SocketUpgrade> upgrade = nullptr,
                 bool owns_socket_file = true)
      : io_(io),
        acceptor_(std::move(acceptor)),
        retry_(io),
        address_(std::move(address)),
        options_(options.connection),
        connection_executor_(options.connection_executor),
        on_accept_trouble_(options.on_accept_trouble),
        upgrade_(std::move(upgrade)),
        owns_socket_file_(owns_socket_file) {}
  ~StreamListener() override { close(); }

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
    if (address_.kind == Address::Kind::unix_path && owns_socket_file_) {
      (void)platform::remove_file(address_.path);
    }
  }

  std::string address() const override { return address_.to_string(); }

 private:
  void accept_next() {
    acceptor_.async_accept(
        connection_executor_ ? connection_executor_() : asio::make_strand(io_),
        [this](std::error_code ec, typename P::socket socket) {
          if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
          if (!ec && failures_in_a_row_ > 0) {
            if (on_accept_trouble_) on_accept_trouble_({}, failures_in_a_row_);
            failures_in_a_row_ = 0;
          }
          if (!ec) {
            if constexpr (std::is_same_v<P, Local>) {
              if (upgrade_) {
                // On a ?shm=1 listener a connection may open with an upgrade request; it is
                // answered before the session sees the connection.
                std::string label =
                    address_.to_string() + " fd=" + std::to_string(socket.native_handle());
                upgrade_->as_acceptor(
                    std::move(socket), options_, std::move(label),
                    [open = open_, on_connection = on_connection_](std::shared_ptr<Connection> c) {
                      if (*open) {
                        on_connection(std::move(c));
                      } else {
                        c->close(Error{StatusCode::unavailable, "listener closed", {}}, false);
                      }
                    });
                accept_next();
                return;
              }
            }
            auto connection = wrap<P>(std::move(socket), options_, address_.to_string());
            if constexpr (std::is_same_v<P, Local>) {
              // Not a ?shm=1 listener: an upgrade request is refused in the connection itself,
              // without looking ahead (no delay for a client that stays silent).
              connection->refuse_shm_upgrade();
            }
            on_connection_(std::move(connection));
            accept_next();
            return;
          }
          // EMFILE and friends persist until something closes: pause instead of spinning.
          ++failures_in_a_row_;
          if (on_accept_trouble_) on_accept_trouble_(ec, failures_in_a_row_);
          retry_.expires_after(kAcceptRetry);
          retry_.async_wait([this](std::error_code wait_ec) {
            if (!wait_ec && acceptor_.is_open()) accept_next();
          });
        });
  }

  asio::io_context& io_;
  typename P::acceptor acceptor_;
  asio::steady_timer retry_;  // paces accept retries after errors
  std::uint64_t failures_in_a_row_ = 0;
  Address address_;
  ConnectionOptions options_;
  std::function<asio::any_io_executor()> connection_executor_;  // unset: a strand each
  std::function<void(std::error_code, std::uint64_t)> on_accept_trouble_;
  std::function<void(std::shared_ptr<Connection>)> on_connection_;
  std::shared_ptr<const SocketUpgrade> upgrade_;  // set: offer it on every accepted socket
  // False for an inherited socket: whoever bound it (systemd) owns its file.
  bool owns_socket_file_;
  // Read by upgrades that finish after close(): they must not reach the owner any more.
  std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(true);
};

Result<std::shared_ptr<const SocketUpgrade>> read_upgrade(const SocketUpgradeFactory& upgrade,
                                                          const Address& a) {
  if (!upgrade) return nullptr;
  return upgrade(a);
}

Result<std::unique_ptr<Listener>> listen_unix(const SocketUpgradeFactory& upgrade_factory,
                                              asio::io_context& io, const Address& a,
                                              const ListenOptions& options) {
  auto upgrade = read_upgrade(upgrade_factory, a);
  if (!upgrade) return tl::unexpected(upgrade.error());
  if (a.kind == Address::Kind::unix_path) {
    switch (platform::probe_socket_file(a.path)) {
      case platform::SocketFileState::live:
        return make_error(StatusCode::failed_precondition,
                          "address in use: a live server is listening on " + a.path);
      case platform::SocketFileState::not_a_socket:
        return make_error(StatusCode::failed_precondition,
                          a.path + " exists and is not a socket; refusing to replace it");
      case platform::SocketFileState::stale:
        if (auto r = platform::remove_file(a.path); !r) return tl::unexpected(r.error());
        break;
      case platform::SocketFileState::absent:
        break;
    }
  }
  Local::acceptor acceptor(io);
  std::error_code ec;
  acceptor.open(Local(), ec);
  if (!ec) acceptor.bind(unix_endpoint(a), ec);
  if (!ec && a.kind == Address::Kind::unix_path) {
    if (auto r = platform::set_file_mode(a.path, options.unix_socket_mode); !r) {
      (void)platform::remove_file(a.path);
      return tl::unexpected(r.error());
    }
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ec == asio::error::address_in_use ? StatusCode::failed_precondition
                                                        : StatusCode::unavailable,
                      "cannot listen on " + a.to_string() + ": " + ec.message());
  }
  return std::make_unique<StreamListener<Local>>(io, std::move(acceptor), a, options,
                                                 std::move(*upgrade));
}

Result<std::unique_ptr<Listener>> listen_tcp(const SocketUpgradeFactory& upgrade_options,
                                             asio::io_context& io, const Address& a,
                                             const ListenOptions& options) {
  auto upgrade = read_upgrade(upgrade_options, a);
  if (!upgrade) return tl::unexpected(upgrade.error());
  if (*upgrade) {
    return make_error(StatusCode::invalid_argument,
                      "a socket upgrade is negotiated over a Unix socket, not tcp://");
  }
  auto bound = bind_tcp(io, a);
  if (!bound) return tl::unexpected(bound.error());
  return std::make_unique<StreamListener<Tcp>>(io, std::move(bound->acceptor), bound->address,
                                               options);
}

}  // namespace

Result<BoundTcp> bind_tcp(asio::io_context& io, const Address& a) {
  std::error_code ec;
  const auto ip = asio::ip::make_address(a.host == "localhost" ? "127.0.0.1" : a.host, ec);
  if (ec) {
    return make_error(StatusCode::invalid_argument,
                      a.scheme + " listen address must be a numeric IP or localhost: " + a.host);
  }
  Tcp::acceptor acceptor(io);
  const Tcp::endpoint ep(ip, a.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ec == asio::error::address_in_use ? StatusCode::failed_precondition
                                                        : StatusCode::unavailable,
                      "cannot listen on " + a.to_string() + ": " + ec.message());
  }
  Address bound = a;
  bound.host = acceptor.local_endpoint().address().to_string();
  bound.port = acceptor.local_endpoint().port();
  return BoundTcp{std::move(acceptor), std::move(bound)};
}

namespace {

// Shared by both dialers: connect with a deadline, then wrap the socket.
template <typename P>
void connect_with_timeout(asio::any_io_executor strand, typename P::endpoint endpoint,
                          const ConnectionOptions& options, std::chrono::milliseconds timeout,
                          const std::string& label, DialCallback done,
                          std::shared_ptr<const SocketUpgrade> upgrade = nullptr) {
  struct State {
    typename P::socket socket;
    asio::steady_timer timer;
    bool timed_out = false;
  };
  auto st =
      std::make_shared<State>(State{typename P::socket(strand), asio::steady_timer(strand), false});
  st->timer.expires_after(timeout);
  st->timer.async_wait([st](std::error_code ec) {
    if (ec) return;
    st->timed_out = true;
    std::error_code ignored;
    st->socket.close(ignored);
  });
  st->socket.async_connect(endpoint, [st, options, label, done = std::move(done), timeout,
                                      upgrade = std::move(upgrade)](std::error_code ec) mutable {
    st->timer.cancel();
    if (st->timed_out) {
      done(make_error(StatusCode::deadline_exceeded, "connect to " + label + " timed out after " +
                                                         std::to_string(timeout.count()) + " ms"));
      return;
    }
    if (ec) {
      done(make_error(StatusCode::unavailable, "cannot connect to " + label + ": " + ec.message()));
      return;
    }
    if constexpr (std::is_same_v<P, Local>) {
      if (upgrade) {
        std::string fd_label = label + " fd=" + std::to_string(st->socket.native_handle());
        upgrade->as_dialer(std::move(st->socket), options, std::move(fd_label), timeout,
                           std::move(done));
        return;
      }
    }
    done(wrap<P>(std::move(st->socket), options, label));
  });
}

void dial_tcp(asio::any_io_executor strand, const Address& address,
              const ConnectionOptions& options, std::chrono::milliseconds timeout,
              DialCallback done) {
  const std::string label = address.to_string();
  std::error_code ec;
  const auto ip =
      asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
  if (ec) {
    // Keep dialing free of DNS: local IPC names hosts by number (or localhost).
    asio::post(strand, [done = std::move(done), label] {
      done(make_error(StatusCode::invalid_argument,
                      "tcp host must be a numeric IP or localhost: " + label));
    });
    return;
  }
  connect_with_timeout<Tcp>(strand, Tcp::endpoint(ip, address.port), options, timeout, label,
                            std::move(done));
}

void dial_unix(const SocketUpgradeFactory& upgrade_factory, asio::any_io_executor strand,
               const Address& address, const ConnectionOptions& options,
               std::chrono::milliseconds timeout, DialCallback done) {
  auto upgrade = read_upgrade(upgrade_factory, address);
  if (!upgrade) {
    asio::post(strand, [done = std::move(done), e = upgrade.error()] { done(tl::unexpected(e)); });
    return;
  }
  connect_with_timeout<Local>(strand, unix_endpoint(address), options, timeout, address.to_string(),
                              std::move(done), std::move(*upgrade));
}

// fd://N: a listening socket this process inherited (systemd socket activation), adopted as it
// is. The listener reports the address the socket is bound to; a Unix one takes the address's
// options (?shm=1), and its socket file is left to whoever created it.
Result<std::unique_ptr<Listener>> listen_fd(const SocketUpgradeFactory& upgrade_factory,
                                            asio::io_context& io, const Address& a,
                                            const ListenOptions& options) {
  int fd = -1;
  const auto [end, parse_ec] = std::from_chars(a.path.data(), a.path.data() + a.path.size(), fd);
  if (parse_ec != std::errc() || end != a.path.data() + a.path.size() || fd < 0) {
    return bad_address(a.to_string(), "expected fd://<file descriptor number>");
  }
  auto socket = platform::inspect_listening_socket(fd);
  if (!socket) return tl::unexpected(socket.error());
  std::error_code ec;
  if (socket->family == platform::ListeningSocket::Family::ip) {
    Address bound;
    bound.kind = Address::Kind::tcp;
    bound.scheme = "tcp";
    bound.host = socket->name;
    bound.port = socket->port;
    Tcp::acceptor acceptor(io);
    acceptor.assign(socket->name.find(':') == std::string::npos ? Tcp::v4() : Tcp::v6(), fd, ec);
    if (ec)
      return make_error(StatusCode::unavailable, "cannot adopt fd " + a.path + ": " + ec.message());
    return std::make_unique<StreamListener<Tcp>>(io, std::move(acceptor), bound, options);
  }
  Address bound;
  bound.kind = socket->family == platform::ListeningSocket::Family::unix_abstract
                   ? Address::Kind::unix_abstract
                   : Address::Kind::unix_path;
  bound.scheme = "unix";
  bound.path = socket->name;
  bound.options = a.options;
  auto upgrade = read_upgrade(upgrade_factory, bound);
  if (!upgrade) return tl::unexpected(upgrade.error());
  Local::acceptor acceptor(io);
  acceptor.assign(Local(), fd, ec);
  if (ec)
    return make_error(StatusCode::unavailable, "cannot adopt fd " + a.path + ": " + ec.message());
  return std::make_unique<StreamListener<Local>>(io, std::move(acceptor), bound, options,
                                                 std::move(*upgrade), false);
}

}  // namespace

Transport fd_transport(SocketUpgradeFactory upgrade) {
  Transport t;
  t.scheme = "fd";
  t.listen = [upgrade](asio::io_context& io, const Address& a, const ListenOptions& options) {
    return listen_fd(upgrade, io, a, options);
  };
  t.dial = [](asio::any_io_executor strand, const Address& a, const ConnectionOptions&,
              std::chrono::milliseconds, DialCallback done) {
    asio::post(strand, [done = std::move(done), text = a.to_string()] {
      done(make_error(StatusCode::invalid_argument,
                      "bad address \"" + text +
                          "\": fd:// is for listening on an inherited socket; "
                          "dial the address it is bound to"));
    });
  };
  return t;
}

Transport unix_transport(SocketUpgradeFactory upgrade) {
  Transport t;
  t.scheme = "unix";
  t.forms = {"unix://", "unix:@"};
  t.parse = parse_unix_address;
  t.listen = [upgrade](asio::io_context& io, const Address& a, const ListenOptions& options) {
    return listen_unix(upgrade, io, a, options);
  };
  t.dial = [upgrade](asio::any_io_executor strand, const Address& a,
                     const ConnectionOptions& options, std::chrono::milliseconds timeout,
                     DialCallback done) {
    dial_unix(upgrade, std::move(strand), a, options, timeout, std::move(done));
  };
  return t;
}

Transport tcp_transport(SocketUpgradeFactory upgrade_options) {
  Transport t;
  t.scheme = "tcp";
  t.forms = {"tcp://"};
  t.parse = parse_tcp_address;
  t.listen = [upgrade_options](asio::io_context& io, const Address& a,
                               const ListenOptions& options) {
    return listen_tcp(upgrade_options, io, a, options);
  };
  t.dial = dial_tcp;
  return t;
}

}  // namespace plexus::transport::stream
