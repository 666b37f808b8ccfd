#include "proc_status.hpp"

#include <sys/resource.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace plexus_bench {

long vm_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));  // "VmRSS:  1234 kB"
  }
  throw std::runtime_error("no VmRSS for pid " + std::to_string(pid) + " (has it exited?)");
}

std::size_t open_fd_count(pid_t pid) {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    ++n;
  }
  if (ec) throw std::runtime_error("cannot list the descriptors of pid " + std::to_string(pid));
  return n;
}

double cpu_seconds(pid_t pid) {
  std::error_code ec;
  double ns = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/task", ec), end;
       !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path() / "schedstat");
    double on_cpu = 0;  // first field: time spent on the CPU, ns
    if (in >> on_cpu) ns += on_cpu;
  }
  if (ec) throw std::runtime_error("cannot list the threads of pid " + std::to_string(pid));
  return ns / 1e9;
}

std::size_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? static_cast<std::size_t>(1) << 20
                                         : static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace plexus_bench
