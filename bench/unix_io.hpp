// Minimal AF_UNIX helpers for the raw-unix baseline. Kept deliberately
// thin: the baseline must cost no more than the syscalls themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace plexus_bench {

[[noreturn]] void throw_errno(const std::string& what);

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  void reset();

 private:
  int fd_ = -1;
};

// Removes a socket file when the owning scope ends, however it ends.
class SocketFileGuard {
 public:
  explicit SocketFileGuard(std::string path) : path_(std::move(path)) {}
  ~SocketFileGuard();
  SocketFileGuard(const SocketFileGuard&) = delete;
  SocketFileGuard& operator=(const SocketFileGuard&) = delete;

 private:
  std::string path_;
};

// Bound and listening SOCK_STREAM socket at `path` (stale file removed).
UniqueFd listen_unix(const std::string& path);
UniqueFd connect_unix(const std::string& path);

// Blocking send of the whole buffer; MSG_NOSIGNAL so a dead peer is an
// error, not a SIGPIPE.
void send_all(int fd, const void* data, std::size_t size);

void set_nonblocking(int fd, bool on);
// Bounds every blocking recv/accept so a vanished peer cannot hang us.
void set_recv_timeout(int fd, int timeout_ms);

// Wire format: 4-byte length (host order; both ends are on this machine)
// followed by the payload.
inline constexpr std::size_t kFrameHeader = 4;

// Number of bytes at the start of [data, data+size) made of complete frames;
// `frames` receives their count. Throws on a length above max_payload.
std::size_t complete_frames_prefix(const char* data, std::size_t size, std::size_t max_payload,
                                   std::uint64_t& frames);

// Payload length of the frame header at `data` (needs kFrameHeader bytes).
std::uint32_t frame_length(const char* data);

}  // namespace plexus_bench
