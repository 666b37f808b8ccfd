// The plexus test kit (after NNG's nuts.h): each test reads like its scenario. Start a server
// as a real child process on a fresh socket path or port 0, connect, call, kill the child, and
// wait for events with a timeout — never sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace plexus::test {

using Millis = std::chrono::milliseconds;

// True in the ASan and TSan builds, where code runs 5 to 20 times slower: volume tests scale
// their counts down there (the release build runs them in full; the sanitizers look for
// memory and thread errors, which a fifth of the volume finds as well).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// A private directory (0700) for socket files; removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string unix_address(const std::string& name) const { return "unix://" + file(name); }

 private:
  std::string path_;
};

// Writes `text` to `path` and sets its modification time `age` ago: a file left there long
// before (a crashed writer's), without waiting.
void write_aged_file(const std::string& path, const std::string& text, std::chrono::seconds age);

// `--listen` with this prefix (then a name: a path that identifies the server within the test)
// makes ServerProcess::spawn start nothing: the server becomes an exec:// address that each
// client connecting to it spawns as its own helper (transports.hpp, Transport::exec).
inline constexpr const char* kExecHelperListen = "exec-helper:";

// tests/support/test_server.cpp run as a child process: demo services plus test handlers that
// report events back to the caller. It prints "READY addr…" once listening.
//
// Over exec (`--listen exec-helper:NAME`) there is no process until a client connects: the
// address is exec://…/plexus_test_server?arg=…&arg=--listen&arg=inherited: with the helper
// marked by an environment variable (PLEXUS_TEST_HELPER=NAME), and the helpers running now are
// found by that mark among this process's children. The clients own and reap them, so
// signal(), pid() and kill_now() reach the live ones, and wait_gone() waits for them to exit.
// The same args in the same process give the same address: a server "restarted" with them is
// the one a reconnecting client spawns again.
class ServerProcess {
 public:
  // Spawns the server with `args` (e.g. {"--listen", addr}) and waits up to `timeout` for READY.
  // Fails the current test (and returns an empty process) when it does not come up.
  // With `stderr_path`, the child's stderr (its log) goes to that file (not over exec: a
  // helper's output goes to the parent's log).
  static ServerProcess spawn(const std::vector<std::string>& args, Millis timeout = Millis{10000},
                             const std::string& stderr_path = {});

  ServerProcess() = default;
  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&& other) noexcept;
  // If still running: SIGTERM, and the test fails unless the server exits cleanly (status 0)
  // within 20 s; that is how leaks and sanitizer reports in the server reach the test.
  ~ServerProcess();

  bool running() const { return pid_ > 0 || exec(); }
  // Over exec: the newest helper running now, or -1 when no client has one.
  pid_t pid() const;
  bool exec() const { return !exec_mark_.empty(); }
  const std::vector<std::string>& addresses() const { return addresses_; }
  const std::string& address() const { return addresses_.front(); }
  // "http://127.0.0.1:PORT" when started with --http; else empty.
  const std::string& http_address() const { return http_address_; }
  void signal(int sig) const;  // over exec: to every helper running now
  // Waits for the child to exit; its wait status, or nullopt on timeout. Not over exec: the
  // client that spawned the helper reaps it (its status is that connection's close reason).
  std::optional<int> wait_exit(Millis timeout);
  // Waits for the child (over exec: every helper running now) to exit; false on timeout.
  bool wait_gone(Millis timeout);
  void kill_now();  // SIGKILL and reap (over exec: SIGKILL every helper, wait until they exit)

 private:
  std::vector<pid_t> helpers() const;
  pid_t pid_ = -1;
  std::string exec_mark_;  // over exec: PLEXUS_TEST_HELPER's value
  int stdout_fd_ = -1;
  std::vector<std::string> addresses_;
  std::string http_address_;
};

// A one-shot event carrying a value, for waiting on something another thread signals.
template <typename T>
class Event {
 public:
  void set(T value) {
    // Notified under the lock: a waiter that wakes may destroy the event at once (it often
    // lives on the test's stack), so nothing here may touch it after the lock is released.
    std::lock_guard lock(mu_);
    if (value_) return;
    value_ = std::move(value);
    cv_.notify_all();
  }
  std::optional<T> wait_for(Millis timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return value_.has_value(); });
    return value_;
  }
  bool is_set() const {
    std::lock_guard lock(mu_);
    return value_.has_value();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// A counter that tests can wait on until it reaches a value.
class Countdown {
 public:
  explicit Countdown(std::size_t n) : remaining_(n) {}
  void done() {
    std::lock_guard lock(mu_);
    if (remaining_ > 0 && --remaining_ == 0) cv_.notify_all();
  }
  bool wait_for(Millis timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return remaining_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t remaining_;
};

// `n` bytes that depend on their position and on `seed` (every byte value occurs), so a byte
// out of place, left over from an earlier message or from another seed shows in a comparison.
std::string pattern_bytes(std::size_t n, std::uint64_t seed);

std::string test_server_binary();
std::string cli_binary();
std::string queue_peer_binary();    // tests/support/queue_peer.cpp
std::string bus_provider_binary();  // tests/support/bus_provider.cpp

// Any program run as a child process whose stdout the test reads line by line (the queue
// peers). Killed with SIGKILL and reaped on destruction if still running.
class ChildProcess {
 public:
  // Spawns `argv` (argv[0] the program's path); an empty process (running() false) on failure,
  // with the test failed.
  static ChildProcess spawn(const std::vector<std::string>& argv);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The next whole line within `timeout`; nullopt on timeout or at end of output (a last line
  // cut short by the child's death is dropped: it was never completely written).
  std::optional<std::string> line(Millis timeout);
  void kill_now();  // SIGKILL and reap
  // Waits for the child to exit; its wait status, or nullopt on timeout.
  std::optional<int> wait_exit(Millis timeout);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell and returns its exit status and output.
CommandResult run_command(const std::string& command);

// A shell command running in the background (popen; stdout and stderr together, read only by
// finish()): a command that prints more than a pipe holds before it ends must write to a file.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::string& command);
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  // Reads everything until the command exits; returns {exit status, output}.
  std::pair<int, std::string> finish();

 private:
  FILE* pipe_;
};

// The plexus CLI with `args` (shell words) in the background.
class BackgroundCli : public BackgroundCommand {
 public:
  explicit BackgroundCli(const std::string& args) : BackgroundCommand(cli_binary() + " " + args) {}
};
// Runs the plexus CLI with `args` (shell words) and returns its exit status and output.
CommandResult run_cli(const std::string& args);
// `word` as one shell word (in single quotes): an exec:// address carries `?` and `&`.
std::string shell_word(const std::string& word);

}  // namespace plexus::test
