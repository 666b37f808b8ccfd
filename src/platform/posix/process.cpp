#include "platform/posix/process.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace plexus::platform {

std::uint32_t current_uid() {
  return static_cast<std::uint32_t>(::getuid());
}

std::int32_t current_pid() {
  return static_cast<std::int32_t>(::getpid());
}

std::optional<PeerCredentials> peer_credentials(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

Result<void> make_private_dir(const std::string& dir, unsigned mode) {
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    const bool last = pos == std::string::npos;
    if (::mkdir(partial.c_str(), last ? mode : 0755) != 0 && errno != EEXIST) {
      return make_error(StatusCode::failed_precondition,
                        "cannot create directory " + partial + ": " + std::strerror(errno));
    }
  }
  return {};
}

SocketFileState probe_socket_file(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return SocketFileState::absent;
  if (!S_ISSOCK(st.st_mode)) return SocketFileState::not_a_socket;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketFileState::live;  // cannot tell: refuse rather than delete
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  if (rc == 0) return SocketFileState::live;
  // ECONNREFUSED: nobody listens, the file is left over from a dead server.
  return err == ECONNREFUSED ? SocketFileState::stale : SocketFileState::live;
}

Result<void> remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error(StatusCode::failed_precondition,
                      "cannot remove " + path + ": " + std::strerror(errno));
  }
  return {};
}

Result<void> set_file_mode(const std::string& path, unsigned mode) {
  if (::chmod(path.c_str(), mode) != 0) {
    return make_error(StatusCode::failed_precondition,
                      "cannot chmod " + path + ": " + std::strerror(errno));
  }
  return {};
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::uint64_t resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace plexus::platform
