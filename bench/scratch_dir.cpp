#include "scratch_dir.hpp"

#include "server_process.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace plexus_bench {
namespace {

// State for the signal handler: plain data, set before the handler is armed.
char g_path[256];
int g_dir_fd = -1;

// Linux dirent64 layout for the raw getdents64 syscall (readdir is not
// async-signal-safe).
struct LinuxDirent64 {
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// Only syscalls: safe to run from a signal handler.
void remove_entries_and_dir() {
  if (g_dir_fd < 0) return;
  alignas(8) char buf[4096];
  lseek(g_dir_fd, 0, SEEK_SET);
  for (int rounds = 0; rounds < 64; ++rounds) {  // bounded: the dir holds a few sockets
    const long n = syscall(SYS_getdents64, g_dir_fd, buf, sizeof(buf));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* entry = reinterpret_cast<const LinuxDirent64*>(buf + off);
      const char* name = entry->d_name;
      const bool dot = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
      if (!dot) unlinkat(g_dir_fd, name, 0);
      off += entry->d_reclen;
    }
  }
  rmdir(g_path);
}

extern "C" void on_fatal_signal(int sig) {
  const int saved = errno;
  // Server first: a dying zmq server must not race the unlinks below.
  kill_server_process_from_signal();
  remove_entries_and_dir();
  errno = saved;
  std::signal(sig, SIG_DFL);
  raise(sig);  // keep the conventional exit status
}

}  // namespace

ScratchDir::ScratchDir() {
  char templ[] = "/tmp/plexus-bench-XXXXXX";
  if (mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
  std::strncpy(g_path, templ, sizeof(g_path) - 1);
  g_dir_fd = open(templ, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::signal(SIGINT, on_fatal_signal);
  std::signal(SIGTERM, on_fatal_signal);
}

ScratchDir::~ScratchDir() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (g_dir_fd >= 0) close(g_dir_fd);
  g_dir_fd = -1;
}

}  // namespace plexus_bench
