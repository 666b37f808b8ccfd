#include "unix_io.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace plexus_bench {
namespace {

sockaddr_un make_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error("socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

UniqueFd make_stream_socket() {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket(AF_UNIX)");
  return UniqueFd(fd);
}

}  // namespace

void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void UniqueFd::reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

SocketFileGuard::~SocketFileGuard() {
  unlink(path_.c_str());
}

UniqueFd listen_unix(const std::string& path) {
  const sockaddr_un addr = make_address(path);
  UniqueFd fd = make_stream_socket();
  unlink(path.c_str());
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw_errno("bind " + path);
  }
  if (listen(fd.get(), 16) != 0) throw_errno("listen " + path);
  return fd;
}

UniqueFd connect_unix(const std::string& path) {
  const sockaddr_un addr = make_address(path);
  UniqueFd fd = make_stream_socket();
  while (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINTR) throw_errno("connect " + path);
  }
  return fd;
}

void send_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("send");
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void set_nonblocking(int fd, bool on) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) throw_errno("fcntl(F_GETFL)");
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) != 0) throw_errno("fcntl(F_SETFL)");
}

void set_recv_timeout(int fd, int timeout_ms) {
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    throw_errno("setsockopt(SO_RCVTIMEO)");
  }
}

std::uint32_t frame_length(const char* data) {
  std::uint32_t len = 0;
  std::memcpy(&len, data, sizeof(len));
  return len;
}

std::size_t complete_frames_prefix(const char* data, std::size_t size, std::size_t max_payload,
                                   std::uint64_t& frames) {
  std::size_t offset = 0;
  frames = 0;
  while (size - offset >= kFrameHeader) {
    const std::uint32_t len = frame_length(data + offset);
    if (len > max_payload) throw std::runtime_error("frame length out of range");
    if (size - offset - kFrameHeader < len) break;
    offset += kFrameHeader + len;
    ++frames;
  }
  return offset;
}

}  // namespace plexus_bench
