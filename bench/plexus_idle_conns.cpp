#include "plexus_idle_conns.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <stdexcept>

#include "wire/frame.hpp"
#include "wire/handshake.hpp"
#include "wire/metadata.hpp"

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace wire = plexus::wire;

constexpr int kMaxEvents = 256;
// How often the keeper looks at its stop flag while no PING arrives.
constexpr int kKeeperWakeMs = 50;

std::string encode_hello(const std::string& peer_name) {
  wire::PeerHello hello;
  hello.peer_name = peer_name;
  // What these connections do: nothing but answer PINGs (the minimum PROTOCOL.md §5.3 asks
  // for is cancel and deadline), and they never ping the server themselves.
  hello.capabilities = wire::capability::kCancel | wire::capability::kDeadline;
  hello.heartbeat_interval_ms = 0;
  std::string out;
  wire::encode_hello(wire::FrameKind::hello, hello, out);
  return out;
}

}  // namespace

PlexusIdleConnections::PlexusIdleConnections(std::string socket_path, std::string peer_name)
    : socket_path_(std::move(socket_path)), hello_(encode_hello(peer_name)) {
  const int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw_errno("epoll_create1");
  epoll_ = UniqueFd(fd);
}

PlexusIdleConnections::~PlexusIdleConnections() {
  stop_keeping();
  close_all();
}

void PlexusIdleConnections::open_until(std::size_t total, std::size_t window,
                                       std::chrono::milliseconds timeout) {
  if (keeping_) throw std::logic_error("open_until while keeping");
  const auto deadline = Clock::now() + timeout;
  connections_.reserve(total);
  while (handshaked_ < total) {
    // Top up the handshakes under way. connect() on a Unix socket blocks only while the
    // server's accept backlog is full: the server sets the pace.
    while (connections_.size() < total && connections_.size() - handshaked_ < window) {
      Connection c;
      c.fd = connect_unix(socket_path_);
      set_nonblocking(c.fd.get(), true);
      send_all(c.fd.get(), hello_.data(), hello_.size());
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = connections_.size();
      if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0) throw_errno("epoll_ctl");
      connections_.push_back(std::move(c));
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !poll_once(static_cast<int>(left.count()))) {
      throw std::runtime_error("plexus: " + std::to_string(handshaked_) + " of " +
                               std::to_string(total) + " handshakes done after " +
                               std::to_string(timeout.count()) + " ms");
    }
  }
}

bool PlexusIdleConnections::poll_once(int timeout_ms) {
  epoll_event events[kMaxEvents];
  const int n = epoll_wait(epoll_.get(), events, kMaxEvents, timeout_ms);
  if (n < 0 && errno == EINTR) return true;
  if (n < 0) throw_errno("epoll_wait");
  for (int i = 0; i < n; ++i) read_connection(static_cast<std::size_t>(events[i].data.u64));
  return n > 0;
}

void PlexusIdleConnections::read_connection(std::size_t index) {
  Connection& c = connections_[index];
  char buf[4096];
  while (c.fd.get() >= 0) {
    const ssize_t n = recv(c.fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      if (!c.welcomed) {
        throw std::runtime_error("plexus: the server closed connection " + std::to_string(index) +
                                 " during its handshake");
      }
      drop(c);
      return;
    }
    handle_frames(c, std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

void PlexusIdleConnections::handle_frames(Connection& c, std::string_view bytes) {
  // Usually whole frames arrive (a PING is 16 bytes): parse in place, keep only a partial one.
  std::string joined;
  if (!c.pending.empty()) {
    joined = std::move(c.pending) + std::string(bytes);
    c.pending.clear();
    bytes = joined;
  }
  const wire::Limits limits;
  while (!bytes.empty() && c.fd.get() >= 0) {
    const auto r = wire::parse_frame(bytes, limits);
    if (r.state == wire::ParseResult::State::need_more) {
      c.pending.assign(bytes);
      return;
    }
    if (r.state != wire::ParseResult::State::frame) {
      if (c.welcomed) return drop(c);  // the server's count of connections shows it
      throw std::runtime_error("plexus: bad frame from the server: " + r.error.to_string());
    }
    handle_frame(c, static_cast<std::uint8_t>(r.frame.header.kind), r.frame.header.id,
                 r.frame.metadata);
    bytes.remove_prefix(r.consumed);
  }
}

void PlexusIdleConnections::handle_frame(Connection& c, std::uint8_t raw_kind, std::uint64_t id,
                                         std::string_view metadata) {
  const auto kind = static_cast<wire::FrameKind>(raw_kind);
  if (!c.welcomed) {
    auto md = wire::decode_metadata(metadata);
    if (!md) throw std::runtime_error("plexus: bad handshake answer: " + md.error().to_string());
    if (kind == wire::FrameKind::goaway) {
      throw std::runtime_error("plexus: the server refused a connection: " +
                               wire::carried_error(*md).to_string());
    }
    if (kind != wire::FrameKind::welcome) {
      throw std::runtime_error("plexus: expected WELCOME, got " +
                               std::string(wire::to_string(kind)));
    }
    if (auto welcome = wire::decode_hello(*md); !welcome) {
      throw std::runtime_error("plexus: bad WELCOME: " + welcome.error().to_string());
    }
    c.welcomed = true;
    ++handshaked_;
    return;
  }
  if (kind == wire::FrameKind::ping) {
    char pong[wire::kHeaderSize];
    (void)wire::encode_plain_head(wire::FrameKind::pong, id, 0, wire::kDefaultMaxMessageSize, pong);
    // 16 bytes into an idle socket's empty send buffer: a short write cannot happen.
    if (send(c.fd.get(), pong, sizeof pong, MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof pong) {
      pongs_.fetch_add(1, std::memory_order_relaxed);
    }
  } else if (kind == wire::FrameKind::goaway) {
    drop(c);
  }
  // Anything else (a broadcast NOTIFY, say) needs no answer.
}

void PlexusIdleConnections::drop(Connection& c) {
  c.fd.reset();  // closing the descriptor also takes it out of the epoll set
  c.pending.clear();
  lost_.fetch_add(1);
}

void PlexusIdleConnections::start_keeping() {
  if (keeping_.exchange(true)) return;
  keeper_ = std::thread([this] {
    while (keeping_.load()) {
      try {
        poll_once(kKeeperWakeMs);
      } catch (const std::exception&) {
        // epoll_wait failing: nothing to answer PINGs with any more. The connections the server
        // then drops show in its count, which the caller checks.
        return;
      }
    }
  });
}

void PlexusIdleConnections::stop_keeping() {
  if (!keeping_.exchange(false)) return;
  keeper_.join();
}

void PlexusIdleConnections::close_all() {
  connections_.clear();  // each UniqueFd closes its socket
  handshaked_ = 0;
}

}  // namespace plexus_bench
