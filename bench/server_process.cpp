#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>

namespace plexus_bench {
namespace {

// The child currently alive (benchmarks run one server at a time); read by
// the signal handler, hence a lock-free atomic.
std::atomic<pid_t> g_live_child{-1};
static_assert(std::atomic<pid_t>::is_always_lock_free);

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

[[noreturn]] void run_child(const ServerProcess::Body& body, int ready_fd, pid_t parent) {
  // If the benchmark dies (crash, SIGKILL) the server must not linger.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);  // parent died before prctl took effect
  // The parent's cleanup handlers are not meant for the child.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  int code = 0;
  try {
    body([ready_fd] {
      const char byte = 'R';
      while (write(ready_fd, &byte, 1) < 0 && errno == EINTR) {
      }
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "server child %d: %s\n", static_cast<int>(getpid()), e.what());
    code = 1;
  } catch (...) {
    code = 1;
  }
  // _exit, not exit: the parent's atexit handlers and stdio buffers must
  // not run twice.
  _exit(code);
}

// Reads from fd until EOF or timeout; returns the first byte seen, 0 on EOF,
// -1 on timeout.
int wait_byte_or_eof(int fd, int timeout_ms, bool stop_at_byte) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return -1;
    pollfd pfd{fd, POLLIN, 0};
    const int rc = poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) throw_errno("poll(server pipe)");
    if (rc == 0) return -1;
    char byte = 0;
    const ssize_t n = read(fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    if (stop_at_byte) return static_cast<unsigned char>(byte);
  }
}

}  // namespace

ServerProcess::ServerProcess(const Body& body, int ready_timeout_ms) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  // Buffered output would otherwise be duplicated into the child.
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw_errno("fork");
  }
  if (pid == 0) {
    close(fds[0]);
    run_child(body, fds[1], parent);
  }
  // Only the child may hold the write end, so EOF means "child is gone".
  close(fds[1]);
  pid_ = pid;
  g_live_child = pid;
  status_fd_ = fds[0];
  if (wait_byte_or_eof(status_fd_, ready_timeout_ms, true) <= 0) {
    join(0);
    throw std::runtime_error("server child failed to become ready");
  }
}

ServerProcess::~ServerProcess() {
  // Normal paths call join(); this only covers exceptions in the client.
  join(1000);
}

bool ServerProcess::join(int timeout_ms) {
  if (pid_ < 0) return exited_ok_;
  const bool exited = wait_byte_or_eof(status_fd_, timeout_ms, false) == 0;
  if (!exited) kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  g_live_child = -1;
  close(status_fd_);
  status_fd_ = -1;
  pid_ = -1;
  exited_ok_ = exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return exited_ok_;
}

void kill_server_process_from_signal() {
  const pid_t pid = g_live_child.exchange(-1);
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace plexus_bench
