#include "transport/shm/shm_upgrade.hpp"

#include <algorithm>

#include <asio/steady_timer.hpp>

#include "platform/posix/shm.hpp"
#include "transport/shm/shm_connection.hpp"
#include "transport/stream/stream_connection.hpp"
#include "wire/shm_upgrade.hpp"

namespace plexus::transport::shm {
namespace {

using Local = asio::local::stream_protocol;

// The largest ring an acceptor grants a dialer that asks for more than the acceptor's own size.
constexpr std::uint64_t kMaxGrantedRing = 64ull << 20;

// How long an accepted Unix socket may stay silent before it is handed on as a plain
// connection without knowing whether its first frame is HELLO or a shared-memory upgrade.
constexpr std::chrono::milliseconds kUpgradeSniffTimeout{1000};

std::shared_ptr<Connection> plain(Local::socket socket, const ConnectionOptions& options,
                                  std::string label) {
  return std::make_shared<UnixConnection>(std::move(socket), options, std::move(label));
}

struct DialState {
  DialState(Local::socket s, UpgradeDone d)
      : socket(std::move(s)), timer(socket.get_executor()), done(std::move(d)) {}
  Local::socket socket;
  asio::steady_timer timer;
  UpgradeDone done;
  ShmOptions shm;
  ConnectionOptions options;
  std::string label;
  char reply[wire::kShmUpgradeReplySize] = {};
  std::size_t got = 0;
  std::vector<platform::Fd> fds;
  bool finished = false;

  void finish(Result<std::shared_ptr<Connection>> r) {
    if (finished) return;
    finished = true;
    timer.cancel();
    auto d = std::move(done);
    d(std::move(r));
  }
};

Result<std::shared_ptr<Connection>> build_dialer(DialState& st) {
  auto reply = wire::decode_shm_upgrade_reply(std::string_view(st.reply, sizeof st.reply));
  if (!reply) {
    return make_error(StatusCode::unavailable,
                      "shared-memory upgrade failed: " + reply.error().message);
  }
  if (reply->status != 0) {
    return plain(std::move(st.socket), st.options, st.label + " (shm refused)");
  }
  if (st.fds.size() != 3) {
    return make_error(StatusCode::unavailable,
                      "shared-memory upgrade failed: the reply did not carry 3 descriptors");
  }
  auto layout = segment_layout(reply->dialer_to_acceptor_bytes, reply->acceptor_to_dialer_bytes);
  if (!layout) return make_error(StatusCode::unavailable, layout.error().message);
  auto size = platform::file_size(st.fds[0].get());
  if (!size || *size != layout->total || reply->segment_bytes != layout->total ||
      !platform::is_shrink_sealed(st.fds[0].get())) {
    return make_error(StatusCode::unavailable,
                      "shared-memory upgrade failed: the segment's size is not the announced one "
                      "or it is not sealed against shrinking");
  }
  auto seg = map_segment(st.fds[0].get(), *layout);
  if (!seg) return tl::unexpected(seg.error());
  char* base = seg->base;
  if (auto ok = check_segment(base, seg->mapping.size(), *layout); !ok) {
    return make_error(StatusCode::unavailable, ok.error().message);
  }
  // The acceptor made the segment untouched. Writing a fresh shared page costs a fault that
  // allocates and zeroes it (~3 µs here): the first 1 MiB messages each way paid ~256 of them
  // per side, a first call several times the steady one until the rings had been gone round
  // once. The dialer, whose connect() blocks anyway, allocates both rings' first
  // kPopulatedRingBytes now; the acceptor's first touches then only map existing pages.
  constexpr std::uint64_t kPopulatedRingBytes = 4u << 20;
  for (int ring = 0; ring < 2; ++ring) {
    platform::populate_for_write(
        seg->data[ring],
        static_cast<std::size_t>(std::min(layout->capacity[ring], kPopulatedRingBytes)));
  }
  ShmParts parts{
      std::move(st.socket),
      std::move(seg->mapping),
      layout->total,
      std::move(st.fds[2]),
      std::move(st.fds[1]),
      RingReader(ring_control(base, 1), seg->data[1], layout->capacity[1], seg->mirrored),
      RingWriter(ring_control(base, 0), seg->data[0], layout->capacity[0], seg->mirrored)};
  return std::make_shared<ShmConnection>(std::move(parts), st.shm, st.options, "shm:" + st.label);
}

void dialer_read(const std::shared_ptr<DialState>& st) {
  st->socket.async_wait(Local::socket::wait_read, [st](const std::error_code& ec) {
    if (st->finished) return;
    if (ec) {
      st->finish(make_error(StatusCode::unavailable, "shared-memory upgrade: " + ec.message()));
      return;
    }
    while (st->got < sizeof st->reply) {
      auto r = platform::receive_with_fds(st->socket.native_handle(), st->reply + st->got,
                                          sizeof st->reply - st->got);
      if (!r) {
        st->finish(tl::unexpected(r.error()));
        return;
      }
      for (auto& fd : r->fds) st->fds.push_back(std::move(fd));
      if (st->fds.size() > 3) {
        st->finish(make_error(StatusCode::unavailable,
                              "shared-memory upgrade: too many descriptors in the reply"));
        return;
      }
      if (r->would_block) {
        dialer_read(st);
        return;
      }
      if (r->eof) {
        st->finish(make_error(StatusCode::unavailable,
                              "the server closed the connection during the shared-memory "
                              "upgrade (it may not speak it)"));
        return;
      }
      st->got += r->bytes;
    }
    st->finish(build_dialer(*st));
  });
}

struct AcceptState {
  explicit AcceptState(Local::socket s)
      : socket(std::move(s)), retry(socket.get_executor()), silence(socket.get_executor()) {}
  Local::socket socket;
  asio::steady_timer retry;    // paces looks at a request that arrives in pieces
  asio::steady_timer silence;  // ends the wait for a first byte at `deadline`
  bool silence_armed = false;
  std::optional<ShmOptions> shm;
  ConnectionOptions options;
  std::string label;
  std::chrono::steady_clock::time_point deadline;
  std::function<void(std::shared_ptr<Connection>)> done;
  char request[wire::kShmUpgradeRequestSize] = {};
};

void stop_timers(AcceptState& st) {
  st.retry.cancel();
  st.silence.cancel();
}

void give_plain(const std::shared_ptr<AcceptState>& st) {
  stop_timers(*st);
  st->done(plain(std::move(st->socket), st->options, st->label));
}

void acceptor_look(const std::shared_ptr<AcceptState>& st);

void acceptor_retry(const std::shared_ptr<AcceptState>& st) {
  st->retry.expires_after(std::chrono::milliseconds(2));
  st->retry.async_wait([st](const std::error_code& ec) {
    if (ec) return;
    acceptor_look(st);
  });
}

void acceptor_answer(const std::shared_ptr<AcceptState>& st) {
  stop_timers(*st);
  std::error_code ec;
  st->socket.receive(asio::buffer(st->request, sizeof st->request), 0, ec);  // peeked: all there
  auto request =
      wire::decode_shm_upgrade_request(std::string_view(st->request, sizeof st->request));
  if (ec || !request) {
    st->socket.close(ec);  // not the protocol: nothing sensible to answer
    return;
  }
  wire::ShmUpgradeReply reply;
  if (!st->shm) {
    reply.status = static_cast<std::uint16_t>(StatusCode::failed_precondition);
    (void)platform::send_with_fds(st->socket.native_handle(), wire::encode_shm_upgrade_reply(reply),
                                  {});
    give_plain(st);
    return;
  }
  auto grant = [&](std::uint64_t asked) {
    return asked == 0 ? st->shm->ring_bytes
                      : std::min(asked, std::max(kMaxGrantedRing, st->shm->ring_bytes));
  };
  auto layout = segment_layout(grant(request->dialer_to_acceptor_bytes),
                               grant(request->acceptor_to_dialer_bytes));
  Result<platform::Fd> memfd = layout ? platform::create_memfd("plexus-shm", layout->total)
                                      : Result<platform::Fd>(tl::unexpected(layout.error()));
  Result<MappedSegment> seg = memfd ? map_segment(memfd->get(), *layout)
                                    : Result<MappedSegment>(tl::unexpected(memfd.error()));
  auto efd0 = platform::create_eventfd();
  auto efd1 = platform::create_eventfd();
  if (!seg || !efd0 || !efd1) {
    // Out of memory or descriptors: the connection still works, over the socket.
    reply.status = static_cast<std::uint16_t>(StatusCode::resource_exhausted);
    (void)platform::send_with_fds(st->socket.native_handle(), wire::encode_shm_upgrade_reply(reply),
                                  {});
    give_plain(st);
    return;
  }
  char* base = seg->base;
  init_segment(base, *layout);
  reply.dialer_to_acceptor_bytes = layout->capacity[0];
  reply.acceptor_to_dialer_bytes = layout->capacity[1];
  reply.segment_bytes = layout->total;
  auto sent =
      platform::send_with_fds(st->socket.native_handle(), wire::encode_shm_upgrade_reply(reply),
                              {memfd->get(), efd0->get(), efd1->get()});
  if (!sent) {
    st->socket.close(ec);
    return;
  }
  ShmParts parts{
      std::move(st->socket),
      std::move(seg->mapping),
      layout->total,
      std::move(*efd0),
      std::move(*efd1),
      RingReader(ring_control(base, 0), seg->data[0], layout->capacity[0], seg->mirrored),
      RingWriter(ring_control(base, 1), seg->data[1], layout->capacity[1], seg->mirrored)};
  st->done(
      std::make_shared<ShmConnection>(std::move(parts), *st->shm, st->options, "shm:" + st->label));
}

void acceptor_look(const std::shared_ptr<AcceptState>& st) {
  auto r = platform::peek(st->socket.native_handle(), st->request, sizeof st->request);
  if (!r || r->eof) {
    give_plain(st);  // the session meets the error or EOF itself
    return;
  }
  const bool late = std::chrono::steady_clock::now() >= st->deadline;
  if (r->would_block) {
    if (late) {
      give_plain(st);
      return;
    }
    st->socket.async_wait(Local::socket::wait_read, [st](const std::error_code& ec) {
      if (ec) {
        give_plain(st);
        return;
      }
      acceptor_look(st);
    });
    if (!st->silence_armed) {
      // One overall deadline for silence: a plain connection gets its own handshake timeout.
      st->silence_armed = true;
      st->silence.expires_at(st->deadline);
      st->silence.async_wait([st](const std::error_code& ec) {
        if (!ec && st->socket.is_open()) st->socket.cancel();
      });
    }
    return;
  }
  const std::string_view seen(st->request, r->bytes);
  if (seen.size() < wire::kShmUpgradeSniffSize) {
    if (late) {
      give_plain(st);
    } else {
      acceptor_retry(st);
    }
    return;
  }
  if (!wire::is_shm_upgrade_request(seen)) {
    give_plain(st);
    return;
  }
  if (seen.size() < wire::kShmUpgradeRequestSize) {
    if (late) {
      stop_timers(*st);
      std::error_code ignored;
      st->socket.close(ignored);
    } else {
      acceptor_retry(st);
    }
    return;
  }
  acceptor_answer(st);
}

}  // namespace

void upgrade_as_dialer(Local::socket socket, const ShmOptions& shm,
                       const ConnectionOptions& options, std::string label,
                       std::chrono::milliseconds timeout, UpgradeDone done) {
  auto st = std::make_shared<DialState>(std::move(socket), std::move(done));
  st->shm = shm;
  st->options = options;
  st->label = std::move(label);
  std::error_code ec;
  st->socket.non_blocking(true, ec);
  wire::ShmUpgradeRequest request;
  if (shm.ring_bytes_set) {
    request.dialer_to_acceptor_bytes = shm.ring_bytes;
    request.acceptor_to_dialer_bytes = shm.ring_bytes;
  }
  const auto bytes = wire::encode_shm_upgrade_request(request);
  if (!ec) st->socket.send(asio::buffer(bytes), 0, ec);  // 40 bytes into a fresh socket
  if (ec) {
    st->finish(make_error(StatusCode::unavailable, "shared-memory upgrade: " + ec.message()));
    return;
  }
  st->timer.expires_after(timeout);
  st->timer.async_wait([st, timeout](const std::error_code& wait_ec) {
    if (wait_ec || st->finished) return;
    st->finish(make_error(
        StatusCode::deadline_exceeded,
        "no shared-memory upgrade reply within " + std::to_string(timeout.count()) + " ms"));
    std::error_code ignored;
    st->socket.close(ignored);
  });
  dialer_read(st);
}

void upgrade_as_acceptor(Local::socket socket, const std::optional<ShmOptions>& shm,
                         const ConnectionOptions& options, std::string label,
                         std::chrono::milliseconds sniff_timeout,
                         std::function<void(std::shared_ptr<Connection>)> done) {
  auto st = std::make_shared<AcceptState>(std::move(socket));
  st->shm = shm;
  st->options = options;
  st->label = std::move(label);
  st->deadline = std::chrono::steady_clock::now() + sniff_timeout;
  st->done = std::move(done);
  std::error_code ignored;
  st->socket.non_blocking(true, ignored);
  acceptor_look(st);
}

namespace {

// One ?shm=1 address's options, run on each socket of its listener or dialer.
class ShmSocketUpgrade final : public SocketUpgrade {
 public:
  explicit ShmSocketUpgrade(const ShmOptions& shm) : shm_(shm) {}

  void as_dialer(Socket socket, const ConnectionOptions& options, std::string label,
                 std::chrono::milliseconds timeout, DialCallback done) const override {
    upgrade_as_dialer(std::move(socket), shm_, options, std::move(label), timeout, std::move(done));
  }
  void as_acceptor(Socket socket, const ConnectionOptions& options, std::string label,
                   std::function<void(std::shared_ptr<Connection>)> done) const override {
    upgrade_as_acceptor(std::move(socket), shm_, options, std::move(label), kUpgradeSniffTimeout,
                        std::move(done));
  }

 private:
  ShmOptions shm_;
};

}  // namespace

Result<std::shared_ptr<const SocketUpgrade>> socket_upgrade(const Address& address) {
  auto shm = shm_options(address);
  if (!shm) return tl::unexpected(shm.error());
  if (!*shm) return nullptr;
  return std::make_shared<const ShmSocketUpgrade>(**shm);
}

}  // namespace plexus::transport::shm
