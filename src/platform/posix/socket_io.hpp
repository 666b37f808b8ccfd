// The two socket calls the stream connection makes past Asio: a read that never blocks (the
// idle I/O thread reads the socket itself, transport/hot_read.hpp) and the count of bytes the
// kernel holds for reading (what a closing connection still reads before it goes).
#pragma once

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

namespace plexus::platform {

// recv(MSG_DONTWAIT): >0 bytes read, 0 at the end of the stream, <0 with errno set (EAGAIN
// when nothing is there).
inline ssize_t recv_nonblocking(int fd, char* out, std::size_t n) {
  return ::recv(fd, out, n, MSG_DONTWAIT);
}

// Bytes readable on `fd` now (FIONREAD); 0 when the call fails.
inline std::size_t bytes_readable(int fd) {
  int queued = 0;
  if (::ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return 0;
  return static_cast<std::size_t>(queued);
}

}  // namespace plexus::platform
