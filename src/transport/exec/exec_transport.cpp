// exec:// and inherited: (exec_transport.hpp). The dialer spawns the helper (platform/posix/
// child_process), watches its pidfd and its output pipe on the connection's strand, and wraps
// the Unix connection over the socket pair in an ExecConnection, whose close reason becomes the
// helper's exit once it is known.
#include "transport/exec/exec_transport.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>

#include <asio/local/stream_protocol.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "platform/posix/child_process.hpp"
#include "transport/exec/helper_process.hpp"
#include "transport/socket_upgrade.hpp"
#include "transport/stream/stream_connection.hpp"

namespace plexus::transport::exec {
namespace {

using Local = asio::local::stream_protocol;

// "%26" → "&"; false on a bad escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(in[i + 1]);
    const int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

struct HelperSpec {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::shared_ptr<const SocketUpgrade> upgrade;  // ?shm=1: asked for on the socket pair
};

bool is_upgrade_option(const std::string& key) {
  return key == "shm" || key.starts_with("shm_");
}

// The upgrade the `shm…` options ask for, read as for a Unix address (they travel on one).
Result<std::shared_ptr<const SocketUpgrade>> read_upgrade(
    const SocketUpgradeFactory& upgrade,
    const std::vector<std::pair<std::string, std::string>>& options) {
  if (!upgrade) return nullptr;
  Address unix_address;
  unix_address.kind = Address::Kind::unix_path;
  unix_address.scheme = "unix";
  for (const auto& option : options) {
    if (is_upgrade_option(option.first)) unix_address.options.push_back(option);
  }
  return upgrade(unix_address);
}

Result<HelperSpec> read_spec(const Address& a, const SocketUpgradeFactory& upgrade_factory) {
  const std::string text = a.to_string();
  if (a.path.empty() || a.path[0] != '/') {
    return bad_address(text, "the helper's path must be absolute (exec:///abs/path)");
  }
  HelperSpec spec{a.path, {}, {}, nullptr};
  for (const auto& [key, value] : a.options) {
    if (is_upgrade_option(key)) continue;
    std::string decoded;
    if (!percent_decode(value, decoded)) {
      return bad_address(text, "bad percent escape in " + key + "=" + value);
    }
    if (key == "arg") {
      spec.args.push_back(std::move(decoded));
    } else if (key == "env") {
      const auto eq = decoded.find('=');
      if (eq == std::string::npos || eq == 0) {
        return bad_address(text, "env= takes NAME=VALUE, not \"" + decoded + "\"");
      }
      spec.env.push_back(std::move(decoded));
    } else {
      return bad_address(text,
                         "unknown option \"" + key + "\" (exec:// takes arg=, env= and shm=1)");
    }
  }
  auto upgrade = read_upgrade(upgrade_factory, a.options);
  if (!upgrade) return bad_address(text, upgrade.error().message);
  spec.upgrade = std::move(*upgrade);
  return spec;
}

// The Unix connection over the socket pair, whose close reason is the helper's exit when the
// helper went away, and which ends the helper when it closes for any other reason.
class ExecConnection final : public Connection,
                             public std::enable_shared_from_this<ExecConnection> {
 public:
  ExecConnection(std::shared_ptr<Connection> inner, std::shared_ptr<HelperProcess> helper)
      : inner_(std::move(inner)), helper_(std::move(helper)), wait_(inner_->executor()) {}
  ~ExecConnection() override { helper_->stop(); }

  void start(std::shared_ptr<ConnectionDelegate> delegate) override {
    delegate_ = std::move(delegate);
    helper_->on_exit([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->helper_exited();
    });
    if (helper_->exit()) helper_exited();
    inner_->start(std::make_shared<Relay>(shared_from_this()));
  }
  Result<void> send(const OutFrame& frame) override { return inner_->send(frame); }
  using Connection::send;
  void close(const Error& reason, bool flush) override {
    closed_here_ = true;
    inner_->close(reason, flush);
  }
  void pause_reading() override { inner_->pause_reading(); }
  void resume_reading() override { inner_->resume_reading(); }
  void hold_writes() override { inner_->hold_writes(); }
  void release_writes() override { inner_->release_writes(); }
  void set_peer_max_message_size(std::uint32_t bytes) override {
    inner_->set_peer_max_message_size(bytes);
  }
  std::uint32_t peer_max_message_size() const override { return inner_->peer_max_message_size(); }
  bool is_open() const override { return !finished_ && inner_->is_open(); }
  const ConnectionStats& stats() const override { return inner_->stats(); }
  std::size_t pending_write_bytes() const override { return inner_->pending_write_bytes(); }
  asio::any_io_executor executor() const override { return inner_->executor(); }
  std::string describe() const override { return inner_->describe(); }
  // The helper's pid: SO_PEERCRED of a socket pair names the process that made the pair (this
  // one). Its uid and gid are the socket's, ours, which the helper was started with.
  std::optional<platform::PeerCredentials> credentials() const override {
    auto credentials = inner_->credentials();
    if (credentials) credentials->pid = helper_->pid();
    return credentials;
  }
  // Shared memory (?shm=1) lends and loans; the socket pair's plain connection lends its
  // writing side to blocking calls only (lends_per_write).
  char* loan(std::size_t size) override { return inner_->loan(size); }
  Result<void> commit_loan(wire::FrameKind kind, std::uint64_t id, std::size_t used) override {
    return inner_->commit_loan(kind, id, used);
  }
  void cancel_loan() override { inner_->cancel_loan(); }
  bool borrow(std::chrono::nanoseconds patience) override { return inner_->borrow(patience); }
  Result<void> borrowed_send(const OutFrame& frame) override {
    return inner_->borrowed_send(frame);
  }
  char* borrowed_loan(std::size_t metadata_size, std::size_t size) override {
    return inner_->borrowed_loan(metadata_size, size);
  }
  Result<void> borrowed_commit(wire::FrameKind kind, std::uint64_t id, std::string_view metadata,
                               std::size_t used) override {
    return inner_->borrowed_commit(kind, id, metadata, used);
  }
  BorrowedWait borrowed_wait(std::uint64_t id, std::chrono::steady_clock::time_point deadline,
                             std::string& answer,
                             const std::function<void(std::string_view)>* view) override {
    return inner_->borrowed_wait(id, deadline, answer, view);
  }
  void give_back() override { inner_->give_back(); }
  bool lends_per_write() const override { return inner_->lends_per_write(); }
  void expect_borrower() override { inner_->expect_borrower(); }
  void borrowed_answer_came(std::chrono::nanoseconds waited) override {
    inner_->borrowed_answer_came(waited);
  }

 private:
  // Hands the inner connection's events on; its close goes through inner_closed().
  class Relay final : public ConnectionDelegate {
   public:
    explicit Relay(std::shared_ptr<ExecConnection> owner) : owner_(std::move(owner)) {}
    void on_frame(const wire::FrameView& frame) override {
      if (auto& d = owner_->delegate_) d->on_frame(frame);
    }
    void on_frame_too_large(const wire::FrameHeader& header, const Error& error,
                            bool skipping) override {
      if (auto& d = owner_->delegate_) d->on_frame_too_large(header, error, skipping);
    }
    void on_malformed(const Error& error) override {
      if (auto& d = owner_->delegate_) d->on_malformed(error);
    }
    void on_closed(const Error& reason) override {
      auto owner = std::move(owner_);
      owner->inner_closed(reason);
    }
    void on_write_done() override {
      if (auto& d = owner_->delegate_) d->on_write_done();
    }

   private:
    std::shared_ptr<ExecConnection> owner_;
  };

  void inner_closed(const Error& reason) {
    inner_done_ = true;
    if (closed_here_ || helper_->exit()) {
      finish(closed_here_ ? reason : *helper_->exit());
      return;
    }
    // The socket said the helper is gone; its exit status follows (helper_exited), or not
    // within kExitWait (the helper closed the socket and lives on): then the socket's reason.
    wait_.expires_after(kExitWait);
    wait_.async_wait([self = shared_from_this(), reason](std::error_code ec) {
      if (!ec) self->finish(reason);
    });
  }

  void helper_exited() {
    if (inner_done_) {
      finish(*helper_->exit());
      return;
    }
    // What the helper wrote before it exited is still read; the socket's EOF follows, or
    // not within kExitWait (a child of the helper holds the socket): then close it.
    wait_.expires_after(kExitWait);
    wait_.async_wait([weak = weak_from_this()](std::error_code ec) {
      auto self = weak.lock();
      if (!ec && self && !self->inner_done_) self->inner_->close(*self->helper_->exit(), false);
    });
  }

  void finish(const Error& reason) {
    if (finished_) return;
    finished_ = true;
    wait_.cancel();
    helper_->stop();
    if (auto d = std::move(delegate_)) d->on_closed(reason);
  }

  std::shared_ptr<Connection> inner_;
  std::shared_ptr<HelperProcess> helper_;
  std::shared_ptr<ConnectionDelegate> delegate_;  // reset once on_closed is delivered
  asio::steady_timer wait_;  // for the exit status after EOF, or the EOF after the exit
  bool closed_here_ = false;
  bool inner_done_ = false;
  bool finished_ = false;
};

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void dial_exec(const SocketUpgradeFactory& upgrade, asio::any_io_executor strand,
               const Address& address, const ConnectionOptions& options,
               std::chrono::milliseconds timeout, DialCallback done) {
  auto fail = [&](Error e) {
    asio::post(strand, [done = std::move(done), e = std::move(e)] { done(tl::unexpected(e)); });
  };
  auto spec = read_spec(address, upgrade);
  if (!spec) return fail(spec.error());
  auto spawned = platform::spawn_helper(spec->path, spec->args, spec->env);
  if (!spawned) return fail(spawned.error());
  Local::socket socket(strand);
  std::error_code ec;
  socket.assign(Local(), spawned->socket_fd, ec);
  if (ec) {
    platform::close_fd(spawned->socket_fd);
    (void)platform::end_child(spawned->pid, spawned->pidfd, kStopGrace);
    platform::close_fd(spawned->pidfd);
    platform::close_fd(spawned->output_fd);
    return fail(Error{StatusCode::unavailable, "cannot adopt helper socket: " + ec.message(), {}});
  }
  auto helper =
      std::make_shared<HelperProcess>(strand, *spawned, "helper " + base_name(spec->path));
  // Without the options: env= may carry secrets, and logs print the label.
  std::string label = "exec://" + spec->path + " pid=" + std::to_string(spawned->pid) +
                      " fd=" + std::to_string(spawned->socket_fd);
  asio::post(strand, [helper] { helper->start(); });
  if (spec->upgrade) {
    // ?shm=1: asked for on the strand, as a Unix dialer asks right after connect.
    asio::post(
        strand, [upgrade = spec->upgrade, socket = std::move(socket), options,
                 label = std::move(label), timeout, helper, done = std::move(done)]() mutable {
          upgrade->as_dialer(
              std::move(socket), options, std::move(label), timeout,
              [helper, done = std::move(done)](Result<std::shared_ptr<Connection>> c) {
                if (!c) {
                  helper->stop();
                  done(tl::unexpected(c.error()));
                  return;
                }
                done(std::shared_ptr<Connection>(std::make_shared<ExecConnection>(*c, helper)));
              });
        });
    return;
  }
  auto inner = std::make_shared<UnixConnection>(std::move(socket), options, std::move(label));
  auto connection = std::make_shared<ExecConnection>(std::move(inner), helper);
  asio::post(strand, [connection, done = std::move(done)] {
    done(std::shared_ptr<Connection>(connection));
  });
}

// inherited: one connection, handed out once accept() is called.
class InheritedListener final : public Listener {
 public:
  InheritedListener(asio::io_context& io, int fd, const ListenOptions& options, Address address,
                    std::shared_ptr<const SocketUpgrade> upgrade)
      : io_(io),
        fd_(fd),
        options_(options.connection),
        connection_executor_(options.connection_executor),
        address_(std::move(address)),
        upgrade_(std::move(upgrade)) {}
  ~InheritedListener() override { close(); }

  void accept(std::function<void(std::shared_ptr<Connection>)> on_connection) override {
    if (fd_ < 0) return;
    auto executor = connection_executor_ ? connection_executor_() : asio::make_strand(io_);
    Local::socket socket(executor);
    std::error_code ec;
    socket.assign(Local(), fd_, ec);
    if (ec) return;
    std::string label = "inherited: fd=" + std::to_string(fd_);
    fd_ = -1;
    auto hand_out = [open = open_, on_connection = std::move(on_connection)](
                        std::shared_ptr<Connection> connection) {
      if (*open) {
        on_connection(std::move(connection));
      } else {
        connection->close(Error{StatusCode::unavailable, "listener closed", {}}, false);
      }
    };
    if (upgrade_) {
      // ?shm=1: the parent may open with an upgrade request, answered before the session sees
      // the connection (on the connection's executor, as a Unix listener's).
      asio::post(executor, [upgrade = upgrade_, socket = std::move(socket), options = options_,
                            label = std::move(label), hand_out = std::move(hand_out)]() mutable {
        upgrade->as_acceptor(std::move(socket), options, std::move(label), std::move(hand_out));
      });
      return;
    }
    auto connection = std::make_shared<UnixConnection>(std::move(socket), options_, label);
    connection->refuse_shm_upgrade();  // a parent asking for it learns no
    asio::post(executor, [connection, hand_out = std::move(hand_out)] { hand_out(connection); });
  }

  void close() override {
    *open_ = false;
    platform::close_fd(fd_);
    fd_ = -1;
  }

  std::string address() const override { return address_.to_string(); }

 private:
  asio::io_context& io_;
  int fd_;  // until accept() hands it out
  ConnectionOptions options_;
  std::function<asio::any_io_executor()> connection_executor_;
  Address address_;
  std::shared_ptr<const SocketUpgrade> upgrade_;  // ?shm=1
  std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(true);
};

// inherited: or inherited://, with shm options only.
Result<Address> parse_inherited(std::string_view text, const SocketUpgradeFactory& upgrade) {
  std::string_view rest = text.substr(std::string_view("inherited:").size());
  Address a;
  a.kind = Address::Kind::other;
  a.scheme = "inherited";
  take_options(rest, a);
  if (rest != "" && rest != "//") {
    return bad_address(text, "expected inherited: (no path; options shm=1 and shm_*)");
  }
  for (const auto& option : a.options) {
    if (!is_upgrade_option(option.first)) {
      return bad_address(text, "unknown option \"" + option.first + "\" (inherited: takes shm=1)");
    }
  }
  if (auto u = read_upgrade(upgrade, a.options); !u) return bad_address(text, u.error().message);
  return a;
}

}  // namespace

Transport exec_transport(SocketUpgradeFactory upgrade) {
  Transport t;
  t.scheme = "exec";
  t.forms = {"exec://"};
  t.parse = [upgrade](std::string_view text) -> Result<Address> {
    auto a = parse_generic_address(text, "exec");
    if (!a) return a;
    if (auto spec = read_spec(*a, upgrade); !spec) return tl::unexpected(spec.error());
    return a;
  };
  t.listen = [](asio::io_context&, const Address& a,
                const ListenOptions&) -> Result<std::unique_ptr<Listener>> {
    return bad_address(a.to_string(),
                       "exec:// is for dialing (it starts the helper); a helper listens on "
                       "inherited:");
  };
  t.dial = [upgrade](asio::any_io_executor strand, const Address& a,
                     const ConnectionOptions& options, std::chrono::milliseconds timeout,
                     DialCallback done) {
    dial_exec(upgrade, std::move(strand), a, options, timeout, std::move(done));
  };
  return t;
}

Transport inherited_transport(SocketUpgradeFactory upgrade) {
  Transport t;
  t.scheme = "inherited";
  t.forms = {"inherited:"};
  t.parse = [upgrade](std::string_view text) { return parse_inherited(text, upgrade); };
  t.listen = [upgrade](asio::io_context& io, const Address& a,
                       const ListenOptions& options) -> Result<std::unique_ptr<Listener>> {
    auto socket_upgrade = read_upgrade(upgrade, a.options);
    if (!socket_upgrade) return tl::unexpected(socket_upgrade.error());
    auto fd = platform::inherited_stream_socket();
    if (!fd) return tl::unexpected(fd.error());
    Address bound = a;
    bound.path.clear();
    return std::make_unique<InheritedListener>(io, *fd, options, std::move(bound),
                                               std::move(*socket_upgrade));
  };
  t.dial = [](asio::any_io_executor strand, const Address& a, const ConnectionOptions&,
              std::chrono::milliseconds, DialCallback done) {
    asio::post(strand, [done = std::move(done), text = a.to_string()] {
      done(make_error(StatusCode::invalid_argument,
                      "bad address \"" + text +
                          "\": inherited: is for a helper's listening; its parent dials exec://"));
    });
  };
  return t;
}

}  // namespace plexus::transport::exec
