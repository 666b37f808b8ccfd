// Child processes that speak plexus over a socket pair (the exec: transport) and the socket a
// helper inherits from its parent (the inherited: listener). POSIX and Linux calls only here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::platform {

// The environment variable that names the helper's end of the socket pair ("3").
inline constexpr const char* kInheritedFdVariable = "PLEXUS_INHERITED_FD";

// A child started by spawn_helper. The descriptors are close-on-exec and owned by the caller.
struct SpawnedHelper {
  std::int32_t pid = -1;
  int pidfd = -1;      // readable once the child has exited (pidfd_open)
  int socket_fd = -1;  // the parent's end of the socket pair (AF_UNIX, SOCK_STREAM)
  int output_fd = -1;  // read end of a pipe that carries the child's stdout and stderr
};

// Starts `path` (absolute) with `args` after argv[0] (the path itself), the parent's
// environment plus `env` ("K=V" each, replacing a variable of the same name) and
// PLEXUS_INHERITED_FD=3; the child's fd 3 is its end of a new socket pair, its stdin
// /dev/null, its stdout and stderr one pipe. unavailable, naming the path and the error, when
// the file is missing or cannot be executed; no child is left behind then. Without
// `socket_pair` (an activated bus provider, which dials the daemon itself): no fd 3, no
// PLEXUS_INHERITED_FD, and socket_fd is -1.
Result<SpawnedHelper> spawn_helper(const std::string& path, const std::vector<std::string>& args,
                                   const std::vector<std::string>& env, bool socket_pair = true);

// How a child ended.
struct ChildExit {
  bool signaled = false;
  int status = 0;  // the exit status, or the signal number when `signaled`
};

// Reaps `pid` if it has exited (never blocks); false while it runs.
bool try_reap_child(std::int32_t pid, ChildExit& exit);

// Waits until `pidfd` is readable (the child exited) for at most `timeout`; true if it did.
bool wait_child_exit(int pidfd, std::chrono::milliseconds timeout);

// SIGTERM (`kill` false) or SIGKILL to a child not yet reaped.
void signal_child(std::int32_t pid, bool kill);

// The rule for a child whose connection is gone, blocking: SIGTERM, up to `grace` for it to
// exit, then SIGKILL; reaped in every case.
ChildExit end_child(std::int32_t pid, int pidfd, std::chrono::milliseconds grace);

// "SIGKILL" for 9; "signal 77" for a number without a name.
std::string signal_name(int signal);

// The connected AF_UNIX stream socket named by PLEXUS_INHERITED_FD, marked close-on-exec; from
// then on this process gets SIGTERM when its parent dies (PR_SET_PDEATHSIG). Once per process.
// failed_precondition when the variable is unset, not a number, or names something else, or
// on a second call.
Result<int> inherited_stream_socket();

void close_fd(int fd);

}  // namespace plexus::platform
