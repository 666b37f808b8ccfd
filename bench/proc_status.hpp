// What /proc and getrlimit say about a process: resident memory, descriptors, CPU time, and the
// open-file limit.
#pragma once

#include <sys/types.h>
#include <cstddef>

namespace plexus_bench {

// VmRSS of /proc/<pid>/status, in KiB (the kernel's "kB"). Throws when the process is gone.
long vm_rss_kib(pid_t pid);

// Descriptors the process has open (entries of /proc/<pid>/fd): a way to see a server has
// closed its side of connections without asking it anything (which would allocate in it).
std::size_t open_fd_count(pid_t pid);

// CPU time all the process's threads have run so far, in seconds (/proc/<pid>/task/*/schedstat,
// nanoseconds; threads that have exited are not counted).
double cpu_seconds(pid_t pid);

// Raises the soft RLIMIT_NOFILE to the hard limit (a process holding thousands of sockets needs
// more than the usual 1,024) and returns the soft limit now in force.
std::size_t raise_open_file_limit();

}  // namespace plexus_bench
