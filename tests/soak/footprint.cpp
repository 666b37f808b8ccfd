#include "footprint.hpp"

#include <filesystem>
#include <fstream>
#include <string>

namespace plexus::soak {

std::optional<Footprint> read_footprint(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  Footprint f;
  std::ifstream status(dir + "/status");
  std::string line;
  bool found = false;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) {  // "VmRSS:     12345 kB"
      f.rss_kib = std::stoull(line.substr(6));
      found = true;
      break;
    }
  }
  if (!found) return std::nullopt;  // gone, or a zombie (which has no VmRSS line)
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++f.fds;
  }
  if (ec) return std::nullopt;
  return f;
}

}  // namespace plexus::soak
