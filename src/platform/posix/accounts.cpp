#include "platform/posix/accounts.hpp"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <type_traits>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace plexus::platform {

namespace {

// getpwnam_r/getgrnam_r need a buffer for the entry's strings; sysconf's hint, grown on ERANGE.
template <typename Entry, typename Lookup>
std::optional<std::uint32_t> look_up(const std::string& name, int size_hint, Lookup lookup) {
  long hint = ::sysconf(size_hint);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  for (int attempt = 0; attempt < 8; ++attempt) {
    Entry entry{};
    Entry* found = nullptr;
    const int rc = lookup(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || found == nullptr) return std::nullopt;
    if constexpr (std::is_same_v<Entry, passwd>) {
      return static_cast<std::uint32_t>(found->pw_uid);
    } else {
      return static_cast<std::uint32_t>(found->gr_gid);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint32_t> uid_of_user(const std::string& name) {
  return look_up<passwd>(name, _SC_GETPW_R_SIZE_MAX, ::getpwnam_r);
}

std::optional<std::uint32_t> gid_of_group(const std::string& name) {
  return look_up<group>(name, _SC_GETGR_R_SIZE_MAX, ::getgrnam_r);
}

std::vector<std::uint32_t> supplementary_groups_of(std::int32_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream ids(line.substr(7));
    std::vector<std::uint32_t> groups;
    std::uint32_t id = 0;
    while (ids >> id) groups.push_back(id);
    return groups;
  }
  return {};
}

}  // namespace plexus::platform
