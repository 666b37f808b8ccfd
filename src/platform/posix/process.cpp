#include "platform/posix/process.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/resource.h>
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

void release_free_memory() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

std::uint64_t open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return limit.rlim_cur;
}

std::optional<PeerCredentials> peer_credentials(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

std::string executable_of(std::int32_t pid) {
  if (pid <= 0) return {};
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  char target[4096];
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof target) return {};
  return std::string(target, static_cast<std::size_t>(n));
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

Result<ListeningSocket> inspect_listening_socket(int fd) {
  const auto refuse = [fd](const std::string& why) {
    return make_error(StatusCode::invalid_argument,
                      "fd " + std::to_string(fd) + " is not a listening socket: " + why);
  };
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) return refuse("not open");
  int type = 0;
  int accepting = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return refuse(std::strerror(errno));
  if (type != SOCK_STREAM) return refuse("not a stream socket");
  len = sizeof accepting;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
    return refuse("listen() was not called on it");
  }
  sockaddr_storage addr{};
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return refuse(std::strerror(errno));
  }
  ListeningSocket out;
  if (addr.ss_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(addr);
    const std::size_t name_len = len - offsetof(sockaddr_un, sun_path);
    if (name_len == 0) return refuse("an unnamed Unix socket");
    if (un.sun_path[0] == '\0') {
      out.family = ListeningSocket::Family::unix_abstract;
      out.name.assign(un.sun_path + 1, name_len - 1);
    } else {
      out.family = ListeningSocket::Family::unix_path;
      out.name.assign(un.sun_path, ::strnlen(un.sun_path, name_len));
    }
  } else if (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) {
    char text[INET6_ADDRSTRLEN] = {};
    out.family = ListeningSocket::Family::ip;
    if (addr.ss_family == AF_INET) {
      const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
      ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
      out.port = ntohs(in.sin_port);
    } else {
      const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
      ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
      out.port = ntohs(in6.sin6_port);
    }
    out.name = text;
  } else {
    return refuse("neither a Unix nor an IP socket");
  }
  // What this process hands to the programs it starts is its own choice, not the activator's.
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return out;
}

void allow_address_reuse(int fd) {
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
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
