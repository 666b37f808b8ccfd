// Child processes of the soak (the server under test, the client processes it kills): started
// so that none can outlive the soak, and reaped by whoever started them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace plexus::soak {

// fork + exec of argv[0] with `argv`. The child gets its own process group, so that a Ctrl-C
// at the terminal reaches the soak alone, which then stops its children in order; and it is
// sent SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), so that not even a
// SIGKILLed soak leaves one behind. Hence: start children from a thread that outlives them.
// The child keeps none of the soak's descriptors (its client sockets among them) but stdin and
// `stdout_fd`/`stderr_fd` (-1: the soak's own) as its stdout and stderr. -1 when fork fails.
pid_t spawn_process(const std::vector<std::string>& argv, int stdout_fd = -1, int stderr_fd = -1);

// Waits up to `timeout` for `pid` to exit and reaps it; its wait status, or nullopt while it
// still runs. A zero timeout only looks.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// SIGKILL and reap; the wait status.
int kill_and_reap(pid_t pid);

// "exit 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

// This program's own path (/proc/self/exe), to start copies of it as client processes.
std::string own_executable();

}  // namespace plexus::soak
