#include "test_kit.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

extern char** environ;

namespace plexus::test {

TempDir::TempDir() {
  // Short paths: sun_path holds 107 bytes.
  char tmpl[] = "/tmp/pxt-XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  if (!made) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

void write_aged_file(const std::string& path, const std::string& text, std::chrono::seconds age) {
  std::ofstream(path, std::ios::binary) << text;
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - age);
}

std::string test_server_binary() {
  return PLEXUS_TEST_SERVER_PATH;
}
std::string cli_binary() {
  return PLEXUS_CLI_PATH;
}

std::string queue_peer_binary() {
  return PLEXUS_QUEUE_PEER_PATH;
}

std::string bus_provider_binary() {
  return PLEXUS_BUS_PROVIDER_PATH;
}

namespace {

// Spawns argv with its stdout on a pipe (and stderr into `stderr_path` when given); the pid and
// the pipe's read end, or nullopt with the test failed.
std::optional<std::pair<pid_t, int>> spawn_with_stdout(std::vector<std::string> argv_s,
                                                       const std::string& stderr_path = {}) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  if (!stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "posix_spawn " << argv[0] << " failed: " << rc;
    return std::nullopt;
  }
  return std::make_pair(pid, fds[0]);
}

// An exec:// option value: everything but letters, digits and -_./: as %XX.
std::string percent_encoded(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// "PLEXUS_TEST_HELPER=NAME": the variable that marks the helpers of one ServerProcess. Appended
// one by one: g++ 12 -O2 warns falsely (-Warray-bounds) on `a + "=" + b` here.
std::string helper_mark(const std::string& name) {
  std::string mark = "PLEXUS_TEST_HELPER=";
  mark.append(name);
  return mark;
}

// Waits up to `timeout` for every pid in `pids` to exit (a zombie counts: its parent, the
// client, reaps it); does not reap. A pid already gone counts as exited.
bool wait_pids_exit(const std::vector<pid_t>& pids, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const pid_t pid : pids) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) continue;  // gone and reaped
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
    pollfd pfd{fd, POLLIN, 0};
    const bool exited = ::poll(&pfd, 1, static_cast<int>(std::max<long>(0, left))) > 0;
    ::close(fd);
    if (!exited) return false;
  }
  return true;
}

}  // namespace

ChildProcess ChildProcess::spawn(const std::vector<std::string>& args) {
  ChildProcess p;
  if (auto spawned = spawn_with_stdout(args)) std::tie(p.pid_, p.stdout_fd_) = *spawned;
  return p;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      stdout_fd_(std::exchange(o.stdout_fd_, -1)),
      buffer_(std::move(o.buffer_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    kill_now();
    pid_ = std::exchange(o.pid_, -1);
    stdout_fd_ = std::exchange(o.stdout_fd_, -1);
    buffer_ = std::move(o.buffer_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  kill_now();
}

std::optional<std::string> ChildProcess::line(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string l = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return l;
    }
    if (stdout_fd_ < 0) return std::nullopt;
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) return std::nullopt;
    char buf[4096];
    const auto n = ::read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      return std::nullopt;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

void ChildProcess::kill_now() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    // What the child wrote before it died stays readable for line(): keep the descriptor
    // until destruction only when asked; here it goes with the process.
    ::close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

std::optional<int> ChildProcess::wait_exit(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis{5});
  }
  return std::nullopt;
}

ServerProcess ServerProcess::spawn(const std::vector<std::string>& args, Millis timeout,
                                   const std::string& stderr_path) {
  ServerProcess p;
  const std::string exec_prefix = kExecHelperListen;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "--listen" || !args[i + 1].starts_with(exec_prefix)) continue;
    // Over exec: no process now; the address a client spawns the server with.
    p.exec_mark_ = args[i + 1].substr(exec_prefix.size());
    std::string address =
        "exec://" + test_server_binary() + "?env=" + percent_encoded(helper_mark(p.exec_mark_));
    for (std::size_t j = 0; j < args.size(); ++j) {
      address += "&arg=" + percent_encoded(j == i + 1 ? std::string("inherited:") : args[j]);
    }
    p.addresses_.push_back(std::move(address));
    return p;
  }
  std::vector<std::string> argv_s{test_server_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  auto spawned = spawn_with_stdout(std::move(argv_s), stderr_path);
  if (!spawned) return p;
  std::tie(p.pid_, p.stdout_fd_) = *spawned;
  // Read until the READY line, bounded by `timeout`.
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Skip whatever the child prints before its READY (or ERROR) line.
  auto ready_line = [&line]() -> std::optional<std::string> {
    std::size_t start = 0;
    for (auto nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n', start)) {
      std::string l = line.substr(start, nl - start);
      if (l.starts_with("READY") || l.starts_with("ERROR")) return l;
      start = nl + 1;
    }
    return std::nullopt;
  };
  while (!ready_line()) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
    pollfd pfd{p.stdout_fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) {
      ADD_FAILURE() << "test server did not report READY within " << timeout.count() << " ms";
      p.kill_now();
      return ServerProcess{};
    }
    char buf[512];
    const auto n = ::read(p.stdout_fd_, buf, sizeof buf);
    if (n <= 0) {
      ADD_FAILURE() << "test server exited before READY: " << line;
      p.kill_now();
      return ServerProcess{};
    }
    line.append(buf, static_cast<std::size_t>(n));
  }
  std::istringstream in(*ready_line());
  std::string word;
  in >> word;
  if (word != "READY") {
    ADD_FAILURE() << "test server said: " << line;
    p.kill_now();
    return ServerProcess{};
  }
  while (in >> word) {
    if (word.starts_with("http://")) {
      p.http_address_ = word;
    } else {
      p.addresses_.push_back(word);
    }
  }
  return p;
}

ServerProcess::ServerProcess(ServerProcess&& o) noexcept
    : pid_(o.pid_),
      exec_mark_(std::move(o.exec_mark_)),
      stdout_fd_(o.stdout_fd_),
      addresses_(std::move(o.addresses_)),
      http_address_(std::move(o.http_address_)) {
  o.pid_ = -1;
  o.stdout_fd_ = -1;
  o.exec_mark_.clear();
}

ServerProcess& ServerProcess::operator=(ServerProcess&& o) noexcept {
  if (this != &o) {
    // Over exec the helpers belong to their clients (a reconnecting client may already have
    // spawned the server assigned here): only a process of our own is ended.
    if (!exec()) kill_now();
    pid_ = o.pid_;
    exec_mark_ = std::move(o.exec_mark_);
    stdout_fd_ = o.stdout_fd_;
    addresses_ = std::move(o.addresses_);
    http_address_ = std::move(o.http_address_);
    o.pid_ = -1;
    o.stdout_fd_ = -1;
    o.exec_mark_.clear();
  }
  return *this;
}

ServerProcess::~ServerProcess() {
  if (pid_ <= 0) return;  // over exec: the clients end their helpers
  // End every test with a graceful stop and demand a clean exit: under ASan/UBSan a leak or an
  // error report in the server makes its exit status non-zero, and fails the test that ran it.
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  const auto status = wait_exit(Millis{20000});
  if (!status) {
    ADD_FAILURE() << "test server did not stop within 20 s of SIGTERM";
    kill_now();
    return;
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    ADD_FAILURE() << "test server ended with wait status " << *status
                  << " (a sanitizer report, if any, is in the output above)";
  }
}

std::vector<pid_t> ServerProcess::helpers() const {
  std::vector<pid_t> found;
  if (!exec()) return found;
  const std::string mark = helper_mark(exec_mark_);
  const std::string self = std::to_string(::getpid());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    // Our children only; a zombie's environment reads empty, so only live helpers match.
    std::ifstream status(entry.path() / "status");
    std::string line;
    bool ours = false;
    while (std::getline(status, line)) {
      if (line.starts_with("PPid:")) {
        ours = line.substr(line.find_first_not_of(" \t", 5)) == self;
        break;
      }
    }
    if (!ours) continue;
    std::ifstream environ_file(entry.path() / "environ", std::ios::binary);
    std::string variable;
    while (std::getline(environ_file, variable, '\0')) {
      if (variable == mark) {
        found.push_back(static_cast<pid_t>(std::stol(name)));
        break;
      }
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

pid_t ServerProcess::pid() const {
  if (!exec()) return pid_;
  const auto live = helpers();
  return live.empty() ? -1 : live.back();
}

void ServerProcess::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
  for (const pid_t helper : helpers()) ::kill(helper, sig);
}

bool ServerProcess::wait_gone(Millis timeout) {
  if (exec()) return wait_pids_exit(helpers(), timeout);
  return wait_exit(timeout).has_value();
}

std::optional<int> ServerProcess::wait_exit(Millis timeout) {
  if (exec()) {
    ADD_FAILURE() << "wait_exit over exec: the client reaps its helper; use wait_gone";
    return std::nullopt;
  }
  if (pid_ <= 0) return std::nullopt;
  // The child's stdout closes when it exits: wait on that, then reap.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[256];
  while (stdout_fd_ >= 0) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) return std::nullopt;
    if (::read(stdout_fd_, buf, sizeof buf) <= 0) break;
  }
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  return status;
}

void ServerProcess::kill_now() {
  if (exec()) {
    const auto live = helpers();
    for (const pid_t helper : live) {
      ::kill(helper, SIGCONT);
      ::kill(helper, SIGKILL);
    }
    if (!wait_pids_exit(live, Millis{20000})) ADD_FAILURE() << "a helper outlived SIGKILL";
    return;
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);  // a stopped child must run to die of SIGKILL promptly
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
}

// Appended one by one: g++ 12 -O2 warns falsely (-Warray-bounds) on `a + " " + b` here.
CommandResult run_cli(const std::string& args) {
  std::string command = cli_binary();
  command.append(" ").append(args);
  return run_command(command);
}

std::string shell_word(const std::string& word) {
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'') {
      out.append("'\\''");
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

BackgroundCommand::BackgroundCommand(const std::string& command)
    : pipe_(::popen((command + " 2>&1").c_str(), "r")) {}

BackgroundCommand::~BackgroundCommand() {
  if (pipe_) ::pclose(pipe_);
}

std::pair<int, std::string> BackgroundCommand::finish() {
  std::string out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe_)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe_);
  pipe_ = nullptr;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  std::string shell_line = command;
  shell_line.append(" 2>&1");
  FILE* pipe = ::popen(shell_line.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string pattern_bytes(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>(((i + seed * 40503u) * 2654435761u) >> 24);
  }
  return s;
}

}  // namespace plexus::test
