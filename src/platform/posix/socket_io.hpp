// The socket calls the stream connection makes past Asio: a read that never blocks (the idle
// I/O thread reads the socket itself, transport/hot_read.hpp), a write that never blocks (a
// thread that borrowed the connection writes its request itself), and the count of bytes the
// kernel holds for reading (what a closing connection still reads before it goes).
#pragma once

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

namespace plexus::platform {

// recv(MSG_DONTWAIT): >0 bytes read, 0 at the end of the stream, <0 with errno set (EAGAIN
// when nothing is there).
inline ssize_t recv_nonblocking(int fd, char* out, std::size_t n) {
  return ::recv(fd, out, n, MSG_DONTWAIT);
}

// sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL) of `count` buffers: bytes written (possibly fewer than
// all), or <0 with errno set (EAGAIN when the socket takes nothing now; no SIGPIPE).
inline ssize_t send_nonblocking(int fd, const iovec* buffers, std::size_t count) {
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(buffers);
  message.msg_iovlen = count;
  return ::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Bytes readable on `fd` now (FIONREAD); 0 when the call fails.
inline std::size_t bytes_readable(int fd) {
  int queued = 0;
  if (::ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return 0;
  return static_cast<std::size_t>(queued);
}

}  // namespace plexus::platform
