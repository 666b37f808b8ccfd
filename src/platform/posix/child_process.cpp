#include "platform/posix/child_process.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/posix/futex.hpp"
#include "platform/posix/shm.hpp"

extern char** environ;

namespace plexus::platform {
namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

// The variable's name in "K=V".
std::string_view variable_name(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// Moves `fd` to a number above the standard ones and 3, still close-on-exec, so that the
// child's dup2 onto 0..3 never meets it (a dup2 onto itself would keep close-on-exec).
int lift(int fd) {
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return high;
}

}  // namespace

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

Result<SpawnedHelper> spawn_helper(const std::string& path, const std::vector<std::string>& args,
                                   const std::vector<std::string>& env, bool socket_pair) {
  if (::access(path.c_str(), X_OK) != 0) {
    const int error = errno;
    return make_error(StatusCode::unavailable,
                      "cannot execute helper " + path + ": " + errno_text(error));
  }
  int pair[2] = {-1, -1};
  if (socket_pair && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    const int error = errno;
    return make_error(StatusCode::unavailable,
                      "socketpair for helper " + path + ": " + errno_text(error));
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    const int error = errno;
    close_fd(pair[0]);
    close_fd(pair[1]);
    return make_error(StatusCode::unavailable,
                      "pipe for helper " + path + ": " + errno_text(error));
  }
  const int child_socket = socket_pair ? lift(pair[1]) : -1;
  const int child_output = lift(out[1]);

  std::vector<std::string> argv_text{path};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<std::string> env_text;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view name = variable_name(*e);
    bool replaced = name == kInheritedFdVariable;
    for (const auto& extra : env) replaced = replaced || variable_name(extra) == name;
    if (!replaced) env_text.emplace_back(*e);
  }
  env_text.insert(env_text.end(), env.begin(), env.end());
  if (socket_pair) env_text.push_back(std::string(kInheritedFdVariable) + "=3");
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, child_output, 1);
  ::posix_spawn_file_actions_adddup2(&actions, child_output, 2);
  if (socket_pair) ::posix_spawn_file_actions_adddup2(&actions, child_socket, 3);
  // The child starts with no signal blocked: a spawning thread may block some (plexus serve
  // blocks SIGTERM in every thread to sigwait for it), and a child that inherited that mask
  // would ignore the SIGTERM that asks it to stop.
  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int spawned =
      ::posix_spawn(&pid, path.c_str(), &actions, &attributes, argv.data(), envp.data());
  ::posix_spawnattr_destroy(&attributes);
  ::posix_spawn_file_actions_destroy(&actions);
  close_fd(child_socket);
  ::close(child_output);
  if (spawned != 0) {
    close_fd(pair[0]);
    ::close(out[0]);
    return make_error(StatusCode::unavailable,
                      "cannot execute helper " + path + ": " + errno_text(spawned));
  }
  auto pidfd = open_pidfd(static_cast<std::int32_t>(pid));  // close-on-exec
  if (!pidfd) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    close_fd(pair[0]);
    ::close(out[0]);
    return make_error(StatusCode::unavailable,
                      "cannot watch helper " + path + ": " + pidfd.error().message);
  }
  return SpawnedHelper{static_cast<std::int32_t>(pid), pidfd->release(), pair[0], out[0]};
}

bool try_reap_child(std::int32_t pid, ChildExit& exit) {
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    // ECHILD: someone else reaped it (a SIGCHLD handler of the application); nothing is known.
    exit = ChildExit{false, -1};
    return true;
  }
  if (info.si_pid == 0) return false;  // still running
  if (info.si_code == CLD_EXITED) {
    exit = ChildExit{false, info.si_status};
  } else {
    exit = ChildExit{true, info.si_status};
  }
  return true;
}

bool wait_child_exit(int pidfd, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

void signal_child(std::int32_t pid, bool kill) {
  if (pid > 0) ::kill(pid, kill ? SIGKILL : SIGTERM);
}

ChildExit end_child(std::int32_t pid, int pidfd, std::chrono::milliseconds grace) {
  ChildExit exit;
  if (try_reap_child(pid, exit)) return exit;
  signal_child(pid, false);
  if (!wait_child_exit(pidfd, grace)) signal_child(pid, true);
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) != 0 && errno == EINTR) {
  }
  return info.si_code == CLD_EXITED ? ChildExit{false, info.si_status}
                                    : ChildExit{true, info.si_status};
}

std::string signal_name(int signal) {
  if (const char* abbrev = ::sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signal);
}

Result<int> inherited_stream_socket() {
  static std::atomic<bool> taken{false};
  const char* text = std::getenv(kInheritedFdVariable);
  if (!text || !*text) {
    return make_error(StatusCode::failed_precondition,
                      std::string("inherited: needs ") + kInheritedFdVariable +
                          " (set by a parent that dials exec://); it is not set");
  }
  const std::string_view value(text);
  int fd = -1;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), fd);
  if (ec != std::errc() || end != value.data() + value.size() || fd < 0) {
    return make_error(StatusCode::failed_precondition, std::string(kInheritedFdVariable) + "=" +
                                                           text + " is not a descriptor number");
  }
  int domain = 0;
  int type = 0;
  int listening = 0;
  socklen_t len = sizeof domain;
  const bool is_socket = ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0;
  len = sizeof type;
  if (is_socket) ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  len = sizeof listening;
  if (is_socket) ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  const bool connected =
      is_socket && ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0;
  if (!is_socket || domain != AF_UNIX || type != SOCK_STREAM || listening || !connected) {
    return make_error(StatusCode::failed_precondition,
                      std::string(kInheritedFdVariable) + "=" + text +
                          " does not name a connected Unix stream socket");
  }
  if (taken.exchange(true)) {
    return make_error(StatusCode::failed_precondition,
                      std::string("the inherited socket (") + kInheritedFdVariable + "=" + text +
                          ") is taken already: a helper listens on inherited: once");
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // not passed on to the helper's own children
  // A helper does not outlive its parent: SIGTERM when the thread that spawned it goes (the
  // parent's I/O thread, which lives as long as its runtime, or the whole parent, killed).
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  return fd;
}

}  // namespace plexus::platform
