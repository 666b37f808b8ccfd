#include "serve_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "processes.hpp"

namespace plexus::soak {
namespace {
// The line `plexus serve` prints last once it serves.
constexpr const char* kReadyLine = "Ctrl-C drains";
}  // namespace

ServeProcess::ServeProcess(const std::string& cli, const std::string& address,
                           const std::string& log_path, std::chrono::milliseconds timeout) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return;
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  // No HTTP endpoint: it would take a port and a thread the soak does not exercise. Log level
  // error: at warn every `fail` the load asks for (and every peer killed midway) is a line, and
  // the log's tail, shown when the soak fails, would hold nothing else.
  pid_ = spawn_process({cli, "serve", "--demo", "--name", "soak", "--listen", address, "--no-http",
                        "--log-level", "error"},
                       out[1], log);
  ::close(out[1]);
  if (log >= 0) ::close(log);
  stdout_fd_ = out[0];
  if (pid_ <= 0) return;

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output_.find(kReadyLine) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{stdout_fd_, POLLIN, 0};
    char buf[4096];
    ssize_t n = 0;
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0 ||
        (n = ::read(stdout_fd_, buf, sizeof buf)) <= 0) {
      stop(std::chrono::seconds(2));  // did not come up: gone, or silent past the timeout
      return;
    }
    output_.append(buf, static_cast<std::size_t>(n));
  }
}

ServeProcess::~ServeProcess() {
  if (running()) stop();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::optional<int> ServeProcess::exited() {
  if (!running()) return std::nullopt;
  auto status = wait_for_exit(pid_, std::chrono::milliseconds(0));
  if (status) pid_ = -1;
  return status;
}

int ServeProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return 0;
  ::kill(pid_, SIGTERM);
  auto status = wait_for_exit(pid_, grace);
  const int result = status ? *status : kill_and_reap(pid_);
  pid_ = -1;
  return result;
}

}  // namespace plexus::soak
