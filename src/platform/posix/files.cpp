#include "platform/posix/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "platform/posix/shm.hpp"

namespace plexus::platform {
namespace {

tl::unexpected<Error> sys_error(std::string_view what, const std::string& path, int err) {
  StatusCode code = StatusCode::failed_precondition;
  if (err == ENOENT) code = StatusCode::not_found;
  if (err == ENOSPC || err == EFBIG || err == EDQUOT) code = StatusCode::resource_exhausted;
  if (err == EACCES || err == EPERM || err == EROFS) code = StatusCode::permission_denied;
  return make_error(code, std::string(what) + " " + path + ": " + std::strerror(err));
}

// close(2)'s own result: a write error may show only there (NFS, quotas).
int close_checked(Fd& fd) {
  return ::close(fd.release());
}

}  // namespace

Result<std::vector<std::string>> list_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return sys_error("cannot list", dir, errno);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

Result<std::vector<DirectoryEntry>> list_directory_times(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return sys_error("cannot list", dir, errno);
  std::vector<DirectoryEntry> entries;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    const auto since_epoch =
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
    entries.push_back(
        {std::string(name),
         std::chrono::system_clock::time_point(
             std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch))});
  }
  ::closedir(d);
  return entries;
}

Result<std::string> read_whole_file(const std::string& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return sys_error("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return make_error(StatusCode::invalid_argument, path + " is not a regular file");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size > max_bytes) {
    return make_error(
        StatusCode::resource_exhausted, path + " is larger than the limit",
        "{\"limit\":" + std::to_string(max_bytes) + ",\"size\":" + std::to_string(size) + "}");
  }
  std::string bytes(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("cannot read", path, errno);
    if (n == 0) break;  // shrank meanwhile: the caller sees the short content
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

Result<void> write_file_atomically(const std::string& dir, const std::string& tmp_path,
                                   const std::string& final_path, std::string_view bytes, bool sync,
                                   bool sync_dir) {
  Fd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return sys_error("cannot create", tmp_path, errno);
  auto fail = [&](std::string_view what, int err) {
    ::unlink(tmp_path.c_str());
    return sys_error(what, tmp_path, err);
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write", errno);
    done += static_cast<std::size_t>(n);
  }
  if (sync && ::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
  if (close_checked(fd) != 0) return fail("cannot close", errno);
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) return fail("cannot rename", errno);
  if (sync && sync_dir) return sync_directory(dir);
  return {};
}

Result<void> rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return sys_error("cannot rename", from, errno);
  return {};
}

Result<void> sync_directory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return sys_error("cannot open", dir, errno);
  if (::fsync(fd.get()) != 0) return sys_error("cannot fsync", dir, errno);
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

Result<void> make_directories(const std::string& dir) {
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return sys_error("cannot create directory", partial, errno);
    }
  }
  return {};
}

Result<DirectoryWatch> DirectoryWatch::create() {
  const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) return sys_error("cannot create", "an inotify instance", errno);
  const int ev = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ev < 0) {
    const int err = errno;
    ::close(in);
    return sys_error("cannot create", "an eventfd", err);
  }
  return DirectoryWatch(in, ev);
}

DirectoryWatch::DirectoryWatch(DirectoryWatch&& other) noexcept
    : inotify_fd_(std::exchange(other.inotify_fd_, -1)),
      event_fd_(std::exchange(other.event_fd_, -1)) {}

DirectoryWatch& DirectoryWatch::operator=(DirectoryWatch&& other) noexcept {
  if (this != &other) {
    close_all();
    inotify_fd_ = std::exchange(other.inotify_fd_, -1);
    event_fd_ = std::exchange(other.event_fd_, -1);
  }
  return *this;
}

DirectoryWatch::~DirectoryWatch() {
  close_all();
}

void DirectoryWatch::close_all() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);
  inotify_fd_ = event_fd_ = -1;
}

Result<int> DirectoryWatch::watch(const std::string& dir, bool deletions) {
  std::uint32_t mask = IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR;
  if (deletions) mask |= IN_DELETE | IN_MOVED_FROM;
  const int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), mask);
  if (wd < 0) return sys_error("cannot watch", dir, errno);
  return wd;
}

Result<DirectoryWatch::Batch> DirectoryWatch::wait(int timeout_ms) {
  Batch batch;
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
  int rc;
  do {
    rc = ::poll(fds, 2, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return sys_error("cannot poll", "an inotify instance", errno);
  if (rc == 0) {
    batch.timed_out = true;
    return batch;
  }
  if (fds[1].revents & POLLIN) {
    std::uint64_t n = 0;
    if (::read(event_fd_, &n, sizeof n) == sizeof n) batch.woken = true;
  }
  if (fds[0].revents & POLLIN) {
    alignas(inotify_event) char buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EAGAIN: drained
      for (ssize_t off = 0; off < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
        if (e->mask & IN_Q_OVERFLOW) {
          batch.overflow = true;
          continue;
        }
        if (e->len == 0 || (e->mask & IN_ISDIR)) continue;
        Event ev;
        ev.watch = e->wd;
        ev.name = e->name;  // NUL-padded by the kernel
        ev.deleted = (e->mask & (IN_DELETE | IN_MOVED_FROM)) != 0;
        batch.events.push_back(std::move(ev));
      }
    }
  }
  return batch;
}

void DirectoryWatch::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(event_fd_, &one, sizeof one);
}

}  // namespace plexus::platform
