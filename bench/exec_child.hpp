// Runs another program (the `plexus serve` daemon) as a child process for the length of a
// scope: its output goes to a log file rather than into the benchmark's table, it dies with the
// benchmark however the benchmark ends (PR_SET_PDEATHSIG), and the destructor stops and reaps it.
#pragma once

#include <sys/types.h>
#include <string>
#include <vector>

namespace plexus_bench {

class ExecChild {
 public:
  // Forks and executes argv[0] (a path) with stdout and stderr appended to `log_path`; stdin is
  // /dev/null. Throws if fork fails; an exec failure shows as the child exiting with 127.
  ExecChild(const std::vector<std::string>& argv, const std::string& log_path);
  ~ExecChild();  // stop(2000)
  ExecChild(const ExecChild&) = delete;
  ExecChild& operator=(const ExecChild&) = delete;

  pid_t pid() const { return pid_; }
  // False once the child has exited (it is reaped then).
  bool running();
  // SIGTERM, then SIGKILL if it has not exited within timeout_ms; reaps it. True when it exited
  // by itself with status 0.
  bool stop(int timeout_ms);

 private:
  pid_t pid_ = -1;
  int status_ = 0;
};

// The last `lines` lines of a text file, for error messages ("" when it cannot be read).
std::string tail_of_file(const std::string& path, std::size_t lines);

}  // namespace plexus_bench
