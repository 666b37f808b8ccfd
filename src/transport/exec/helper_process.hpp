// A child process plexus started (an exec: helper, an activated bus provider): its exit watched
// through its pidfd and its output passed on a line at a time, on one strand. Shared by the
// exec: transport and the bus's activation, which both start children with
// platform::spawn_helper.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "platform/posix/child_process.hpp"
#include "plexus/status.hpp"

namespace plexus::transport::exec {

// A child whose connection closed (or that is stopped): how long after SIGTERM before SIGKILL.
inline constexpr std::chrono::milliseconds kStopGrace{2000};

// Receives each line the children write to stdout or stderr, as "LABEL[PID]: text", on the
// child's strand. Unset: the lines go to this process's stderr. Any thread.
using HelperOutputSink = std::function<void(std::string_view line)>;
void set_helper_output_sink(HelperOutputSink sink);

// How a child ended, as the error its calls fail with: unavailable "`who` exited with status
// N" (details {"exit_status":N}) or "`who` killed by signal S (SIGKILL)" ({"signal":S,
// "signal_name":"SIGKILL"}); without `who`, the message starts with "exited"/"killed".
Error exit_error(const platform::ChildExit& exit, std::string_view who = "helper");

// Owns a spawned child until it is reaped. Pending waits keep it alive until then; if the
// strand's executor goes away first, the destructor ends and reaps it (end_child, blocking up
// to kStopGrace). Not thread-safe but for stop(): everything else runs on `strand`.
class HelperProcess : public std::enable_shared_from_this<HelperProcess> {
 public:
  // Takes the spawned child's pidfd and output pipe (not its socket). `label` names it in the
  // output lines ("helper search"), `who` in its exit error ("helper", "service X").
  HelperProcess(asio::any_io_executor strand, const platform::SpawnedHelper& spawned,
                std::string label, std::string who = "helper");
  ~HelperProcess();
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  std::int32_t pid() const { return pid_; }
  // Starts watching the exit and reading the output. On the strand.
  void start();
  // The child's exit as an error (exit_error), once it is reaped.
  const std::optional<Error>& exit() const { return exit_; }
  // Called once, on the strand, when the child is reaped.
  void on_exit(std::function<void()> callback) { on_exit_ = std::move(callback); }
  // SIGTERM, then SIGKILL after kStopGrace; nothing once reaped. Any thread.
  void stop();

 private:
  void watch_exit();
  void read_output();
  void take_output(std::string_view bytes);

  asio::any_io_executor strand_;
  std::int32_t pid_;
  asio::posix::stream_descriptor pidfd_;
  asio::posix::stream_descriptor output_;
  asio::steady_timer kill_timer_;
  std::string who_;
  std::string prefix_;
  char chunk_[4096];
  std::string partial_;
  std::optional<Error> exit_;
  std::function<void()> on_exit_;
  bool stopping_ = false;
};

}  // namespace plexus::transport::exec
