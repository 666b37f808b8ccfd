// The server under test: `plexus serve --demo` as a child process on a Unix socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace plexus::soak {

class ServeProcess {
 public:
  // Starts `cli serve --demo` listening on `address` with its log (stderr) in `log_path`, and
  // waits up to `timeout` for it to say it serves. Check running() afterwards.
  ServeProcess(const std::string& cli, const std::string& address, const std::string& log_path,
               std::chrono::milliseconds timeout);
  ~ServeProcess();  // stop(), if not done yet
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // What it printed before it failed to come up, for the error message.
  const std::string& startup_output() const { return output_; }

  // Its wait status if it has exited by itself (then it is reaped and no longer running).
  std::optional<int> exited();
  // SIGTERM (it drains and exits), SIGKILL if it has not exited within `grace`; the wait status.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(20));

 private:
  pid_t pid_ = -1;
  // Read end of its stdout, kept open until it exits: it prints a line when it drains, and a
  // closed pipe would kill it with SIGPIPE instead of letting it exit cleanly.
  int stdout_fd_ = -1;
  std::string output_;
};

}  // namespace plexus::soak
