// Runs the server side of a case in a forked child process, so the client
// and the server never share an address space, allocator or scheduler queue
// the way two threads would.
//
// fork() copies only the calling thread: create runtimes (zmq contexts,
// plexus event loops, threads) after constructing the ServerProcess, in the
// child inside Body and in the parent for the client, never before.
#pragma once

#include <sys/types.h>
#include <functional>

namespace plexus_bench {

class ServerProcess {
 public:
  // The child calls signal_ready() once clients may connect; the parent
  // blocks in the constructor until then (via a pipe, not a sleep).
  using Body = std::function<void(const std::function<void()>& signal_ready)>;

  // Forks and runs `body` in the child, which then _exit()s: status 0 if
  // body returned, 1 if it threw. Throws if the child dies or is not ready
  // within ready_timeout_ms.
  explicit ServerProcess(const Body& body, int ready_timeout_ms = 10000);
  ~ServerProcess();

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits for the child to exit by itself (it should once the client closed
  // or said goodbye); SIGKILLs it after timeout_ms. Reaps it either way.
  // Returns true iff it exited by itself with status 0.
  bool join(int timeout_ms);

  // The child's pid (for /proc/<pid>/status), -1 once joined.
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_fd_ = -1;  // read end of the ready pipe; EOF once the child is gone
  bool exited_ok_ = false;
};

// For fatal-signal handlers only (async-signal-safe): SIGKILLs and reaps the
// live server child, if any, so an interrupted run leaves no orphan/zombie.
void kill_server_process_from_signal();

}  // namespace plexus_bench
