// `plexus serve` run by a test as an operator runs it: in the background, its output read line
// by line. Header-only; for the integration tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_kit.hpp"

namespace plexus::test {

// `plexus serve ARGS` in the background, as an operator starts it; the status page's address is
// read from what it prints. SIGTERM at the end; it must exit cleanly.
class CliServe {
 public:
  // `open_files`: the child's open-file limit, soft and hard (0: inherited).
  // Returns once it says it runs ("Ctrl-C drains").
  explicit CliServe(const std::vector<std::string>& args, const std::string& stderr_path = {},
                    rlim_t open_files = 0) {
    int out[2];
    if (::pipe(out) != 0) return;
    std::vector<std::string> argv_text = {cli_binary(), "serve"};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      // A test that dies (a sanitizer's abort) must not leave the daemon running: it holds the
      // test's output pipe, and ctest would wait for it until its timeout.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (open_files > 0) {
        const rlimit limit{open_files, open_files};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
      }
      if (!stderr_path.empty()) {
        const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(err, 2);
      }
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    output_ = ::fdopen(out[0], "r");
    line_containing("Ctrl-C drains");  // it runs; on the way, where its status page is
  }
  // Reads what it prints until a line that contains `text`; that line, or empty at its end
  // (blocks until then: the child must print it or exit).
  std::string line_containing(const std::string& text) {
    char line[1024];
    while (output_ && std::fgets(line, sizeof line, output_)) {
      const std::string l = line;
      if (l.starts_with("status page ")) url_ = l.substr(12, l.find('/', l.find("//") + 2) - 12);
      if (address_next_) {  // the first address under "is listening on"
        const auto first = l.find_first_not_of(' ');
        const auto last = l.find_last_not_of(" \r\n");
        if (first != std::string::npos) address_ = l.substr(first, last - first + 1);
        address_next_ = false;
      }
      if (l.find("is listening on") != std::string::npos) address_next_ = true;
      if (l.find(text) != std::string::npos) return l;
    }
    return {};
  }
  ~CliServe() { stop(); }
  // SIGTERM; it must exit cleanly. Once.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    if (output_) std::fclose(output_);
    output_ = nullptr;
  }
  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }  // "http://127.0.0.1:PORT", or empty
  // The first address it listens on ("tcp://127.0.0.1:40123"), or empty.
  const std::string& address() const { return address_; }

 private:
  pid_t pid_ = -1;
  FILE* output_ = nullptr;
  std::string url_;
  std::string address_;
  bool address_next_ = false;
};

}  // namespace plexus::test
