// Plain files and directories for the spool-directory transport (src/transport/spool/):
// whole-file reads, atomic writes (temporary name, fsync, rename, fsync of the directory),
// listings and an inotify watch. Thin wrappers over the system calls; every failure is a
// Result with the path and strerror, never an exception.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::platform {

// The names in `dir` (no "." or ".."), unsorted. not_found when `dir` does not exist.
Result<std::vector<std::string>> list_directory(const std::string& dir);

// A name in a directory with when its file was last written (st_mtime, wall clock).
struct DirectoryEntry {
  std::string name;
  std::chrono::system_clock::time_point modified;
};

// The entries of `dir` (no "." or ".."), unsorted; a file removed between the listing and its
// stat is left out. not_found when `dir` does not exist.
Result<std::vector<DirectoryEntry>> list_directory_times(const std::string& dir);

// The whole file, if it has at most `max_bytes` bytes: not_found when it is gone,
// resource_exhausted (details {"limit":…, "size":…}) when it is larger.
Result<std::string> read_whole_file(const std::string& path, std::size_t max_bytes);

// Writes `bytes` to `tmp_path` (created exclusively, mode 0644), fsyncs it when `sync`, and
// renames it to `final_path` (both in `dir`, which is fsynced afterwards when `sync` and
// `sync_dir`). The file appears at `final_path` complete or not at all; a failure removes the
// temporary file. A full disk or an exceeded RLIMIT_FSIZE fails with resource_exhausted.
Result<void> write_file_atomically(const std::string& dir, const std::string& tmp_path,
                                   const std::string& final_path, std::string_view bytes, bool sync,
                                   bool sync_dir = true);

// rename(2); not_found when `from` is gone.
Result<void> rename_file(const std::string& from, const std::string& to);

// fsync of a directory, which makes the renames and unlinks done in it durable.
Result<void> sync_directory(const std::string& dir);

// True when something exists at `path` (stat succeeds).
bool path_exists(const std::string& path);

// True when `path` is a file this process may execute (access X_OK, not a directory).
bool is_executable_file(const std::string& path);

// Creates `dir` and its missing parents (mode 0755 for those it makes; an existing one stays).
Result<void> make_directories(const std::string& dir);

// An inotify instance watching directories for files that appear complete: a rename into the
// directory (IN_MOVED_TO) or a writer closing a file it had open for writing (IN_CLOSE_WRITE);
// optionally deletions. Owns its descriptors (the inotify one and an eventfd that wake()
// signals). Not thread-safe, except wake(), which any thread may call.
class DirectoryWatch {
 public:
  // What wait() reports.
  struct Event {
    int watch = -1;    // watch()'s return value for the directory
    std::string name;  // the file's name within it
    bool deleted = false;
  };
  struct Batch {
    std::vector<Event> events;
    bool overflow = false;  // the kernel dropped events: rescan every directory
    bool woken = false;     // wake() was called
    bool timed_out = false;
  };

  static Result<DirectoryWatch> create();
  DirectoryWatch(DirectoryWatch&& other) noexcept;
  DirectoryWatch& operator=(DirectoryWatch&& other) noexcept;
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;
  ~DirectoryWatch();

  // Starts watching `dir`; returns the watch's number for Event::watch.
  Result<int> watch(const std::string& dir, bool deletions);

  // Blocks until events arrive, wake() is called or `timeout_ms` passes (-1: no timeout), and
  // returns everything pending then. EINTR is retried.
  Result<Batch> wait(int timeout_ms);

  // Makes the current or next wait() return with woken set. Thread-safe, async-signal-safe.
  void wake();

 private:
  DirectoryWatch(int inotify_fd, int event_fd) : inotify_fd_(inotify_fd), event_fd_(event_fd) {}
  void close_all();

  int inotify_fd_ = -1;
  int event_fd_ = -1;
};

}  // namespace plexus::platform
