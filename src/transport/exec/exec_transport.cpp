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
#include "transport/stream/stream_connection.hpp"

namespace plexus::transport::exec {
namespace {

using Local = asio::local::stream_protocol;

std::mutex sink_mu;
HelperOutputSink& output_sink() {
  static HelperOutputSink sink;  // guarded by sink_mu
  return sink;
}

void emit_line(std::string_view line) {
  HelperOutputSink sink;
  {
    std::lock_guard lock(sink_mu);
    sink = output_sink();
  }
  if (sink) {
    sink(line);
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  }
}

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
};

Result<HelperSpec> read_spec(const Address& a) {
  const std::string text = a.to_string();
  if (a.path.empty() || a.path[0] != '/') {
    return bad_address(text, "the helper's path must be absolute (exec:///abs/path)");
  }
  HelperSpec spec{a.path, {}, {}};
  for (const auto& [key, value] : a.options) {
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
      return bad_address(text, "unknown option \"" + key + "\" (exec:// takes arg= and env=)");
    }
  }
  return spec;
}

Error exit_error(const platform::ChildExit& exit) {
  if (exit.signaled) {
    return Error{StatusCode::unavailable,
                 "helper killed by signal " + std::to_string(exit.status) + " (" +
                     platform::signal_name(exit.status) + ")",
                 "{\"signal\":" + std::to_string(exit.status) + "}"};
  }
  if (exit.status < 0)
    return Error{StatusCode::unavailable, "helper exited (reaped elsewhere)", {}};
  return Error{StatusCode::unavailable, "helper exited with status " + std::to_string(exit.status),
               "{\"exit_status\":" + std::to_string(exit.status) + "}"};
}

// The running helper: its pidfd and output pipe, watched on the connection's strand. Pending
// waits keep it alive until it is reaped; if the executor goes away first, the destructor ends
// and reaps it (end_child, blocking up to kStopGrace).
class Helper : public std::enable_shared_from_this<Helper> {
 public:
  Helper(asio::any_io_executor strand, const platform::SpawnedHelper& spawned, std::string name)
      : strand_(strand),
        pid_(spawned.pid),
        pidfd_(strand, spawned.pidfd),
        output_(strand, spawned.output_fd),
        kill_timer_(strand),
        prefix_("helper " + name + "[" + std::to_string(spawned.pid) + "]: ") {}

  ~Helper() {
    if (!exit_) (void)platform::end_child(pid_, pidfd_.native_handle(), kStopGrace);
  }

  std::int32_t pid() const { return pid_; }

  // On the strand.
  void start() {
    watch_exit();
    read_output();
  }

  // The helper's exit as a close reason, once it is reaped.
  const std::optional<Error>& exit() const { return exit_; }

  // Called once, on the strand, when the helper is reaped.
  void on_exit(std::function<void()> callback) { on_exit_ = std::move(callback); }

  // The connection is gone: SIGTERM, then SIGKILL after kStopGrace. Any thread.
  void stop() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->exit_ || self->stopping_) return;
      self->stopping_ = true;
      platform::signal_child(self->pid_, false);
      self->kill_timer_.expires_after(kStopGrace);
      self->kill_timer_.async_wait([self](std::error_code ec) {
        if (!ec && !self->exit_) platform::signal_child(self->pid_, true);
      });
    });
  }

 private:
  void watch_exit() {
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](std::error_code ec) {
                        if (ec == asio::error::operation_aborted) return;
                        platform::ChildExit exit;
                        if (!platform::try_reap_child(self->pid_, exit)) {
                          self->watch_exit();  // not yet (spurious): wait again
                          return;
                        }
                        self->exit_ = exit_error(exit);
                        self->kill_timer_.cancel();
                        std::error_code ignored;
                        self->pidfd_.close(ignored);
                        if (auto callback = std::move(self->on_exit_)) callback();
                      });
  }

  void read_output() {
    output_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](std::error_code ec, std::size_t n) {
                              self->take_output(std::string_view(self->chunk_, n));
                              if (ec) {
                                if (!self->partial_.empty()) {
                                  emit_line(self->prefix_ + self->partial_);
                                  self->partial_.clear();
                                }
                                std::error_code ignored;
                                self->output_.close(ignored);
                                return;
                              }
                              self->read_output();
                            });
  }

  void take_output(std::string_view bytes) {
    partial_.append(bytes);
    std::size_t start = 0;
    for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
      emit_line(prefix_ + partial_.substr(start, nl - start));
      start = nl + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() > 64 * 1024) {  // a line without end: pass it on in pieces
      emit_line(prefix_ + partial_);
      partial_.clear();
    }
  }

  asio::any_io_executor strand_;
  std::int32_t pid_;
  asio::posix::stream_descriptor pidfd_;
  asio::posix::stream_descriptor output_;
  asio::steady_timer kill_timer_;
  std::string prefix_;
  char chunk_[4096];
  std::string partial_;
  std::optional<Error> exit_;
  std::function<void()> on_exit_;
  bool stopping_ = false;
};

// The Unix connection over the socket pair, whose close reason is the helper's exit when the
// helper went away, and which ends the helper when it closes for any other reason.
class ExecConnection final : public Connection,
                             public std::enable_shared_from_this<ExecConnection> {
 public:
  ExecConnection(std::shared_ptr<Connection> inner, std::shared_ptr<Helper> helper)
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
  std::optional<platform::PeerCredentials> credentials() const override {
    return inner_->credentials();
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
  std::shared_ptr<Helper> helper_;
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

void dial_exec(asio::any_io_executor strand, const Address& address,
               const ConnectionOptions& options, DialCallback done) {
  auto fail = [&](Error e) {
    asio::post(strand, [done = std::move(done), e = std::move(e)] { done(tl::unexpected(e)); });
  };
  auto spec = read_spec(address);
  if (!spec) return fail(spec.error());
  auto spawned = platform::spawn_helper(spec->path, spec->args, spec->env);
  if (!spawned) return fail(spawned.error());
  Local::socket socket(strand);
  std::error_code ec;
  socket.assign(Local(), spawned->socket_fd, ec);
  if (ec) {
    platform::close_fd(spawned->socket_fd);
    // The helper sees its socket closed; Helper's destructor ends and reaps it.
    (void)platform::end_child(spawned->pid, spawned->pidfd, kStopGrace);
    platform::close_fd(spawned->pidfd);
    platform::close_fd(spawned->output_fd);
    return fail(Error{StatusCode::unavailable, "cannot adopt helper socket: " + ec.message(), {}});
  }
  auto helper = std::make_shared<Helper>(strand, *spawned, base_name(spec->path));
  // Without the options: env= may carry secrets, and logs print the label.
  std::string label = "exec://" + spec->path + " pid=" + std::to_string(spawned->pid) +
                      " fd=" + std::to_string(spawned->socket_fd);
  auto inner = std::make_shared<UnixConnection>(std::move(socket), options, std::move(label));
  auto connection = std::make_shared<ExecConnection>(std::move(inner), helper);
  asio::post(strand, [helper, connection, done = std::move(done)] {
    helper->start();
    done(std::shared_ptr<Connection>(connection));
  });
}

// inherited: one connection, handed out once accept() is called.
class InheritedListener final : public Listener {
 public:
  InheritedListener(asio::io_context& io, int fd, const ListenOptions& options)
      : io_(io),
        fd_(fd),
        options_(options.connection),
        connection_executor_(options.connection_executor) {}
  ~InheritedListener() override { close(); }

  void accept(std::function<void(std::shared_ptr<Connection>)> on_connection) override {
    if (fd_ < 0) return;
    auto executor = connection_executor_ ? connection_executor_() : asio::make_strand(io_);
    Local::socket socket(executor);
    std::error_code ec;
    socket.assign(Local(), fd_, ec);
    if (ec) return;
    const std::string label = "inherited: fd=" + std::to_string(fd_);
    fd_ = -1;
    auto connection = std::make_shared<UnixConnection>(std::move(socket), options_, label);
    asio::post(io_, [open = open_, connection, on_connection = std::move(on_connection)] {
      if (*open) {
        on_connection(connection);
      } else {
        asio::post(connection->executor(), [connection] {
          connection->close(Error{StatusCode::unavailable, "listener closed", {}}, false);
        });
      }
    });
  }

  void close() override {
    *open_ = false;
    platform::close_fd(fd_);
    fd_ = -1;
  }

  std::string address() const override { return "inherited:"; }

 private:
  asio::io_context& io_;
  int fd_;  // until accept() hands it out
  ConnectionOptions options_;
  std::function<asio::any_io_executor()> connection_executor_;
  std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(true);
};

Result<Address> parse_inherited(std::string_view text) {
  if (text != "inherited:" && text != "inherited://") {
    return bad_address(text, "expected inherited: (nothing after it)");
  }
  Address a;
  a.kind = Address::Kind::other;
  a.scheme = "inherited";
  return a;
}

}  // namespace

void set_helper_output_sink(HelperOutputSink sink) {
  std::lock_guard lock(sink_mu);
  output_sink() = std::move(sink);
}

Transport exec_transport() {
  Transport t;
  t.scheme = "exec";
  t.forms = {"exec://"};
  t.parse = [](std::string_view text) -> Result<Address> {
    auto a = parse_generic_address(text, "exec");
    if (!a) return a;
    if (auto spec = read_spec(*a); !spec) return tl::unexpected(spec.error());
    return a;
  };
  t.listen = [](asio::io_context&, const Address& a,
                const ListenOptions&) -> Result<std::unique_ptr<Listener>> {
    return bad_address(a.to_string(),
                       "exec:// is for dialing (it starts the helper); a helper listens on "
                       "inherited:");
  };
  t.dial = [](asio::any_io_executor strand, const Address& a, const ConnectionOptions& options,
              std::chrono::milliseconds,
              DialCallback done) { dial_exec(std::move(strand), a, options, std::move(done)); };
  return t;
}

Transport inherited_transport() {
  Transport t;
  t.scheme = "inherited";
  t.forms = {"inherited:"};
  t.parse = parse_inherited;
  t.listen = [](asio::io_context& io, const Address&,
                const ListenOptions& options) -> Result<std::unique_ptr<Listener>> {
    auto fd = platform::inherited_stream_socket();
    if (!fd) return tl::unexpected(fd.error());
    return std::make_unique<InheritedListener>(io, *fd, options);
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
