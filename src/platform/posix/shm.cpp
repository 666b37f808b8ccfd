#include "platform/posix/shm.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace plexus::platform {
namespace {

Error sys_error(const std::string& what) {
  return Error{StatusCode::unavailable, what + ": " + std::strerror(errno), {}};
}

// Runs a socket call again while a signal interrupts it.
template <typename Call>
ssize_t retry_on_eintr(Call call) {
  ssize_t n;
  do {
    n = call();
  } while (n < 0 && errno == EINTR);
  return n;
}

// A failed non-blocking receive: nothing there yet (would_block), or an error.
Result<Received> would_block_or_error(const char* what) {
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    Received r;
    r.would_block = true;
    return r;
  }
  return tl::unexpected(sys_error(what));
}

}  // namespace

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Mapping::Mapping(Mapping&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(data_, size_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

Mapping::~Mapping() {
  if (data_) ::munmap(data_, size_);
}

Result<Mapping> Mapping::map(int fd, std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return tl::unexpected(sys_error("mmap"));
  Mapping m;
  m.data_ = static_cast<char*>(p);
  m.size_ = size;
  return m;
}

Result<Mapping> Mapping::map_pieces(int fd, std::span<const Piece> pieces) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t total = 0;
  for (const auto& p : pieces) {
    if (p.offset % page != 0 || p.length % page != 0 || p.length == 0 || p.copies < 1) {
      return make_error(
          StatusCode::invalid_argument,
          "a mapped piece must be whole pages (page size " + std::to_string(page) + ")");
    }
    total += p.length * static_cast<std::size_t>(p.copies);
  }
  // Reserve the whole range first, then map the file over it with MAP_FIXED: nothing else can
  // take addresses inside it meanwhile. The Mapping owns the range from here, so any failure
  // below unmaps what was done.
  void* area =
      ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (area == MAP_FAILED) return tl::unexpected(sys_error("mmap (reserve)"));
  Mapping m;
  m.data_ = static_cast<char*>(area);
  m.size_ = total;
  char* at = m.data_;
  for (const auto& p : pieces) {
    for (int i = 0; i < p.copies; ++i, at += p.length) {
      if (::mmap(at, p.length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                 static_cast<off_t>(p.offset)) == MAP_FAILED) {
        return tl::unexpected(sys_error("mmap"));
      }
    }
  }
  return m;
}

Result<Fd> create_memfd(const char* name, std::size_t size) {
  Fd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return tl::unexpected(sys_error("memfd_create"));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return tl::unexpected(sys_error("ftruncate"));
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return tl::unexpected(sys_error("F_ADD_SEALS"));
  }
  return fd;
}

Result<Fd> open_process_fd(std::int32_t pid, int fd) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  Fd opened(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (opened) return opened;
  const int err = errno;
  const StatusCode code = err == EACCES || err == EPERM ? StatusCode::permission_denied
                          : err == ENOENT               ? StatusCode::not_found
                                                        : StatusCode::unavailable;
  return make_error(code, "open " + path + ": " + std::strerror(err));
}

Result<std::size_t> file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return tl::unexpected(sys_error("fstat"));
  return static_cast<std::size_t>(st.st_size);
}

bool is_shrink_sealed(int fd) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & F_SEAL_SHRINK) != 0;
}

Result<Fd> create_eventfd() {
  Fd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) return tl::unexpected(sys_error("eventfd"));
  return fd;
}

void eventfd_signal(int fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
}

void eventfd_drain(int fd) {
  std::uint64_t value = 0;
  [[maybe_unused]] auto n = ::read(fd, &value, sizeof value);
}

Result<void> send_with_fds(int socket, std::string_view bytes, const std::vector<int>& fds) {
  msghdr msg{};
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  if (fds.size() > 8) return make_error(StatusCode::internal, "too many descriptors");
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t n = retry_on_eintr([&] { return ::sendmsg(socket, &msg, MSG_NOSIGNAL); });
  if (n < 0) return tl::unexpected(sys_error("sendmsg"));
  if (static_cast<std::size_t>(n) != bytes.size()) {
    return make_error(StatusCode::unavailable, "sendmsg: short write of a control message");
  }
  return {};
}

Result<Received> receive_with_fds(int socket, char* buf, std::size_t len) {
  msghdr msg{};
  iovec iov{buf, len};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n =
      retry_on_eintr([&] { return ::recvmsg(socket, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); });
  if (n < 0) return would_block_or_error("recvmsg");
  Received r;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      r.fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    return make_error(StatusCode::protocol_error, "too many descriptors in a control message");
  }
  r.bytes = static_cast<std::size_t>(n);
  r.eof = n == 0;
  return r;
}

Result<Received> peek(int socket, char* buf, std::size_t len) {
  const ssize_t n =
      retry_on_eintr([&] { return ::recv(socket, buf, len, MSG_PEEK | MSG_DONTWAIT); });
  if (n < 0) return would_block_or_error("recv");
  Received r;
  r.bytes = static_cast<std::size_t>(n);
  r.eof = n == 0;
  return r;
}

void populate_for_write(char* at, std::size_t length) {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;  // linux/mman.h, Linux 5.14
#endif
  (void)::madvise(at, length, MADV_POPULATE_WRITE);
}

}  // namespace plexus::platform
