// What the soak watches of the server: its resident memory and its open descriptors.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace plexus::soak {

struct Footprint {
  std::uint64_t rss_kib = 0;  // VmRSS in /proc/<pid>/status
  std::uint64_t fds = 0;      // entries in /proc/<pid>/fd
};

// nullopt when the process is gone.
std::optional<Footprint> read_footprint(pid_t pid);

}  // namespace plexus::soak
