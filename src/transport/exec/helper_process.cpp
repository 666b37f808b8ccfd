#include "transport/exec/helper_process.hpp"

#include <cstdio>
#include <mutex>

#include <asio/post.hpp>

namespace plexus::transport::exec {
namespace {

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

}  // namespace

void set_helper_output_sink(HelperOutputSink sink) {
  std::lock_guard lock(sink_mu);
  output_sink() = std::move(sink);
}

Error exit_error(const platform::ChildExit& exit, std::string_view who) {
  const std::string name = who.empty() ? std::string() : std::string(who) + " ";
  if (exit.signaled) {
    const std::string signal = platform::signal_name(exit.status);
    return Error{
        StatusCode::unavailable,
        name + "killed by signal " + std::to_string(exit.status) + " (" + signal + ")",
        "{\"signal\":" + std::to_string(exit.status) + ",\"signal_name\":\"" + signal + "\"}"};
  }
  if (exit.status < 0) {
    return Error{StatusCode::unavailable, name + "exited (reaped elsewhere)", {}};
  }
  return Error{StatusCode::unavailable, name + "exited with status " + std::to_string(exit.status),
               "{\"exit_status\":" + std::to_string(exit.status) + "}"};
}

HelperProcess::HelperProcess(asio::any_io_executor strand, const platform::SpawnedHelper& spawned,
                             std::string label, std::string who)
    : strand_(strand),
      pid_(spawned.pid),
      pidfd_(strand, spawned.pidfd),
      output_(strand, spawned.output_fd),
      kill_timer_(strand),
      who_(std::move(who)),
      prefix_(label + "[" + std::to_string(spawned.pid) + "]: ") {}

HelperProcess::~HelperProcess() {
  if (!exit_) (void)platform::end_child(pid_, pidfd_.native_handle(), kStopGrace);
}

void HelperProcess::start() {
  watch_exit();
  read_output();
}

void HelperProcess::stop() {
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

void HelperProcess::watch_exit() {
  pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                    [self = shared_from_this()](std::error_code ec) {
                      if (ec == asio::error::operation_aborted) return;
                      platform::ChildExit exit;
                      if (!platform::try_reap_child(self->pid_, exit)) {
                        self->watch_exit();  // not yet (spurious): wait again
                        return;
                      }
                      self->exit_ = exit_error(exit, self->who_);
                      self->kill_timer_.cancel();
                      std::error_code ignored;
                      self->pidfd_.close(ignored);
                      if (auto callback = std::move(self->on_exit_)) callback();
                    });
}

void HelperProcess::read_output() {
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

void HelperProcess::take_output(std::string_view bytes) {
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

}  // namespace plexus::transport::exec
