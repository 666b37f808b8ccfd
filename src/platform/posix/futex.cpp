#include "platform/posix/futex.hpp"

#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>
#include <string>

namespace plexus::platform {

void futex_wait(const std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  if (timeout <= std::chrono::nanoseconds::zero()) return;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(
      std::min<std::int64_t>(seconds.count(), std::numeric_limits<std::int32_t>::max()));
  ts.tv_nsec = static_cast<long>((timeout - seconds).count());
  // EINTR, EAGAIN (the word changed) and ETIMEDOUT all mean: look again.
  ::syscall(SYS_futex, const_cast<std::atomic<std::uint32_t>*>(word), FUTEX_WAIT, expected, &ts,
            nullptr, 0);
}

void futex_wake_all(const std::atomic<std::uint32_t>* word) {
  ::syscall(SYS_futex, const_cast<std::atomic<std::uint32_t>*>(word), FUTEX_WAKE,
            std::numeric_limits<int>::max(), nullptr, nullptr, 0);
}

Result<Fd> open_pidfd(std::int32_t pid) {
  Fd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) {
    return make_error(StatusCode::unavailable,
                      "pidfd_open(" + std::to_string(pid) + "): " + std::strerror(errno));
  }
  return fd;
}

bool process_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

}  // namespace plexus::platform
