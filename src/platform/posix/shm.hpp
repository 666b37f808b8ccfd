// POSIX pieces of the shared-memory transport: memfd segments, eventfd doorbells and passing
// file descriptors over a Unix socket (SCM_RIGHTS). Nothing here knows about rings or frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::platform {

// An owned file descriptor, closed on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A shared read-write mapping of a whole file, unmapped on destruction. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();
  char* data() const { return data_; }
  std::size_t size() const { return size_; }

  // Maps `size` bytes of `fd` shared and read-write; fails with unavailable.
  static Result<Mapping> map(int fd, std::size_t size);

  // `length` bytes of the file at `offset`, mapped `copies` times back to back.
  struct Piece {
    std::size_t offset = 0;
    std::size_t length = 0;
    int copies = 1;
  };
  // Maps the pieces shared and read-write one after the other in one address range. A ring
  // whose data is mapped twice in a row reads and writes across its end as one contiguous
  // range (the same pages under two addresses). Offsets and lengths must be multiples of the
  // page size (invalid_argument otherwise: the caller can map the file plainly instead);
  // mapping failures are unavailable.
  static Result<Mapping> map_pieces(int fd, std::span<const Piece> pieces);

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

// An anonymous memory file of `size` bytes (memfd_create, close-on-exec, sealed against
// shrinking so a peer cannot truncate it under our mapping, which would be SIGBUS).
Result<Fd> create_memfd(const char* name, std::size_t size);
// The size of a file (fstat), for checking a received memfd before mapping it.
Result<std::size_t> file_size(int fd);
// Whether shrinking `fd` is sealed (F_SEAL_SHRINK): a received segment must be.
bool is_shrink_sealed(int fd);
// Allocates the pages of `length` bytes at `at` (a shared mapping) now, as writing them would,
// so that the first messages through a fresh ring do not pay a page fault per 4 KiB
// (MADV_POPULATE_WRITE). Best effort: a kernel without it (before 5.14) leaves them to fault.
void populate_for_write(char* at, std::size_t length);

// Opens, read-write, the file that descriptor `fd` of process `pid` refers to (through
// /proc/PID/fd/FD): how a peer on this machine reaches a memfd it was told about without
// SCM_RIGHTS. The kernel allows it only to the same user (or root): permission_denied
// otherwise; not_found when the process or the descriptor does not exist.
Result<Fd> open_process_fd(std::int32_t pid, int fd);

// A non-blocking, close-on-exec eventfd.
Result<Fd> create_eventfd();
// Adds one to the counter; EAGAIN (counter saturated) is fine: the reader wakes anyway.
void eventfd_signal(int fd);
// Resets the counter to zero (non-blocking).
void eventfd_drain(int fd);

// Sends `bytes` and `fds` in one sendmsg (MSG_NOSIGNAL). The socket may be non-blocking: the
// message is small and goes out whole or fails (unavailable).
Result<void> send_with_fds(int socket, std::string_view bytes, const std::vector<int>& fds);

struct Received {
  std::size_t bytes = 0;  // 0 with eof: the peer closed
  bool eof = false;
  bool would_block = false;
  std::vector<Fd> fds;  // received descriptors (close-on-exec), owned
};
// One recvmsg into [buf, buf+len) (non-blocking), collecting SCM_RIGHTS descriptors.
Result<Received> receive_with_fds(int socket, char* buf, std::size_t len);
// Looks at up to `len` waiting bytes without consuming them (MSG_PEEK | MSG_DONTWAIT).
Result<Received> peek(int socket, char* buf, std::size_t len);

}  // namespace plexus::platform
