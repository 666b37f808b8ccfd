// Child-process helpers: a client dials exec:///…/plexus?arg=serve&…&arg=--listen&arg=inherited:,
// which starts `plexus serve` as its helper over a socket pair. Real processes throughout: the
// helper's exit or death fails the calls in flight with its status, its output reaches this
// process's log, a reconnecting client starts a new helper, and no child is left unreaped.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "connect.hpp"
#include "plexus/log.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {
namespace exec_helpers {

// The lines of plexus's log in this process; waits on them are woken by each new line.
class HelperLog {
 public:
  HelperLog() : level_(log_level()) {
    set_log_handler([this](const LogRecord& r) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(r.message);
      cv_.notify_all();
    });
    set_log_level(LogLevel::info);
  }
  ~HelperLog() {
    set_log_handler({});
    set_log_level(level_);
  }
  // The n-th (from 0) line that matches `pattern`, waiting up to `timeout` for it; empty if
  // none came.
  std::smatch wait_for(const std::regex& pattern, std::size_t n = 0,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    std::smatch found;
    cv_.wait_for(lock, timeout, [&] {
      std::size_t seen = 0;
      for (const auto& line : lines_) {
        if (std::regex_search(line, found, pattern) && seen++ == n) {
          matched_ = line;  // keep the string the match refers to alive
          std::regex_search(matched_, found, pattern);
          return true;
        }
      }
      found = {};
      return false;
    });
    return found;
  }
  std::string text() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  LogLevel level_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string matched_;
};

std::string helper_address() {
  return "exec://" + cli_binary() +
         "?arg=serve&arg=--demo&arg=--no-http&arg=--name&arg=helper&arg=--listen&arg=inherited:";
}

// The helper's pid from the line `plexus serve` prints once it listens ("helper plexus[PID]:
// plexus serve: … is listening on"), the n-th helper started.
pid_t helper_pid(HelperLog& log, std::size_t n = 0) {
  const auto m = log.wait_for(std::regex(R"(helper plexus\[(\d+)\]: .*is listening on)"), n);
  return m.empty() ? -1 : static_cast<pid_t>(std::stoi(m[1].str()));
}

// True once `pid` has been reaped by this process (it is our child: waitpid says ECHILD).
bool reaped(pid_t pid) {
  errno = 0;
  return ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

// Kills helper `pid` with SIGKILL while a `sleep` call to it is in flight; the call must fail
// with unavailable carrying the signal.
void expect_kill_fails_sleep_in_flight(Client& client, pid_t pid) {
  struct Outcome {  // shared with the callback, which may outlive an early return here
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<std::string>> result;
  };
  auto outcome = std::make_shared<Outcome>();
  CallOptions call;
  call.timeout = Millis{60000};
  client.call_async("sleep", R"({"ms":50000})", call, [outcome](Result<std::string> r) {
    std::lock_guard lock(outcome->mu);
    outcome->result = std::move(r);
    outcome->cv.notify_all();
  });
  // Answered, the echo sent after it shows the helper has read the sleep request: in flight.
  ASSERT_TRUE(client.call("echo", "1", call));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  std::unique_lock lock(outcome->mu);
  ASSERT_TRUE(outcome->cv.wait_for(lock, std::chrono::seconds(20),
                                   [&] { return outcome->result.has_value(); }));
  ASSERT_FALSE(*outcome->result);
  const Error& e = outcome->result->error();
  EXPECT_EQ(e.code, StatusCode::unavailable) << e.to_string();
  EXPECT_NE(e.message.find("helper killed by signal 9 (SIGKILL)"), std::string::npos)
      << e.to_string();
  EXPECT_NE(e.details.find("\"signal\":9"), std::string::npos) << e.to_string();
}

ClientOptions no_reconnect() {
  ClientOptions options;
  options.reconnect.enabled = false;
  options.connect_timeout = Millis{20000};
  return options;
}

class ExecTransport : public ::testing::Test {
 protected:
  HelperLog log_;
  std::unique_ptr<Runtime> runtime_ = std::make_unique<Runtime>();
};

TEST_F(ExecTransport, CallsAndStreamsGoToAPlexusHelper) {
  auto client = connect_client(*runtime_, helper_address(), no_reconnect());
  ASSERT_TRUE(client);
  CallOptions call;
  call.timeout = Millis{20000};
  auto echo = client->call("echo", R"({"over":"exec"})", call);
  ASSERT_TRUE(echo) << echo.error().to_string();
  EXPECT_EQ(*echo, R"({"over":"exec"})");

  auto stream = client->open_stream("count_stream", R"({"n":3,"delay_ms":0})");
  std::vector<std::string> items;
  for (;;) {
    auto item = stream.read();
    ASSERT_TRUE(item) << item.error().to_string();
    if (!*item) break;
    items.push_back(**item);
  }
  EXPECT_EQ(items.size(), 3u);

  // The helper's stdout reached this process's log, prefixed with its name and pid.
  const pid_t pid = helper_pid(log_);
  ASSERT_GT(pid, 0) << log_.text();
  EXPECT_EQ(::kill(pid, 0), 0);  // running while the client holds it

  // Closing the client ends the helper (SIGTERM: `plexus serve` drains and exits); once the
  // runtime is gone, it has been reaped one way or the other.
  client.reset();
  runtime_.reset();
  EXPECT_TRUE(reaped(pid)) << "helper " << pid << " left unreaped";
}

// The client's view of its server is the helper: its pid and executable, not the client's own
// (which is what SO_PEERCRED says of a socket pair this process made).
TEST_F(ExecTransport, TheServersIdentityIsTheHelpers) {
  auto client = connect_client(*runtime_, helper_address(), no_reconnect());
  ASSERT_TRUE(client);
  const pid_t pid = helper_pid(log_);
  ASSERT_GT(pid, 0) << log_.text();
  const PeerIdentity identity = client->peer().identity();
  ASSERT_TRUE(identity.pid);
  EXPECT_EQ(*identity.pid, pid);
  EXPECT_NE(*identity.pid, ::getpid());
  EXPECT_EQ(identity.executable, std::filesystem::canonical(cli_binary()).string());
  EXPECT_EQ(identity.uid, ::getuid());
}

TEST_F(ExecTransport, AHelperKilledMidCallFailsTheCallWithItsSignal) {
  auto client = connect_client(*runtime_, helper_address(), no_reconnect());
  ASSERT_TRUE(client);
  const pid_t pid = helper_pid(log_);
  ASSERT_GT(pid, 0) << log_.text();

  expect_kill_fails_sleep_in_flight(*client, pid);
  // The close reason carries the exit status only once the helper is reaped: no zombie.
  EXPECT_TRUE(reaped(pid));
  EXPECT_NE(::kill(pid, 0), 0);
}

// The test server's `exit` ends it with a status while a `block` call waits in it: the calls in
// flight, the block and the exit itself, fail with that status.
TEST_F(ExecTransport, AHelperExitingMidCallFailsTheCallsInFlightWithItsStatus) {
  const std::string address = "exec://" + test_server_binary() + "?arg=--listen&arg=inherited:";
  auto client = connect_client(*runtime_, address, no_reconnect());
  ASSERT_TRUE(client);
  Event<Error> blocked;
  client->call_async("block", "", {}, [&](Result<std::string> r) {
    blocked.set(r ? Error{StatusCode::ok, *r, {}} : r.error());
  });
  CallOptions call;
  call.timeout = Millis{20000};
  auto exit = client->call("exit", R"({"status":7})", call);
  ASSERT_FALSE(exit);
  const auto block = blocked.wait_for(Millis{20000});
  ASSERT_TRUE(block);
  for (const Error& e : {exit.error(), *block}) {
    EXPECT_EQ(e.code, StatusCode::unavailable) << e.to_string();
    EXPECT_NE(e.message.find("helper exited with status 7"), std::string::npos) << e.to_string();
    EXPECT_NE(e.details.find("\"exit_status\":7"), std::string::npos) << e.to_string();
  }
}

TEST_F(ExecTransport, AHelperThatExitsFailsTheConnectWithItsStatusAndItsStderrIsLogged) {
  ClientOptions options = no_reconnect();
  options.address = "exec:///bin/sh?arg=-c&arg=echo%20oops%20on%20stderr%20>%262;%20exit%203";
  auto client = Client::connect(*runtime_, options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, StatusCode::unavailable) << client.error().to_string();
  EXPECT_NE(client.error().message.find("helper exited with status 3"), std::string::npos)
      << client.error().to_string();
  EXPECT_NE(client.error().details.find("\"exit_status\":3"), std::string::npos)
      << client.error().to_string();
  const auto m = log_.wait_for(std::regex(R"(helper sh\[(\d+)\]: oops on stderr)"));
  ASSERT_FALSE(m.empty()) << log_.text();
  EXPECT_TRUE(reaped(static_cast<pid_t>(std::stoi(m[1].str()))));
}

TEST_F(ExecTransport, BadHelperAddressesFailClearly) {
  ClientOptions options = no_reconnect();
  options.address = "exec:///nonexistent/plexus-helper";
  auto missing = Client::connect(*runtime_, options);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StatusCode::unavailable) << missing.error().to_string();
  EXPECT_NE(missing.error().message.find(
                "cannot execute helper /nonexistent/plexus-helper: No such file or directory"),
            std::string::npos)
      << missing.error().to_string();

  options.address = "exec:///etc/hostname";  // exists, not executable
  auto not_executable = Client::connect(*runtime_, options);
  ASSERT_FALSE(not_executable);
  EXPECT_NE(not_executable.error().message.find("cannot execute helper /etc/hostname"),
            std::string::npos)
      << not_executable.error().to_string();

  for (const char* bad :
       {"exec://bin/true", "exec://", "exec:///bin/true?shm=2", "exec:///bin/true?tls=1",
        "exec:///bin/true?env=NOEQUALS", "exec:///bin/true?arg=%zz"}) {
    options.address = bad;
    auto r = Client::connect(*runtime_, options);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad << ": " << r.error().to_string();
  }
  options.address = "exec://bin/true";
  EXPECT_NE(Client::connect(*runtime_, options)
                .error()
                .message.find("the helper's path must be absolute"),
            std::string::npos);
}

// ?shm=1 on exec:// asks for shared memory over the socket pair; a helper listening on
// inherited:?shm=1 grants it. Its death still fails the call in flight with its signal.
TEST_F(ExecTransport, SharedMemoryOverTheSocketPair) {
  const std::string address = "exec://" + cli_binary() +
                              "?shm=1&arg=serve&arg=--demo&arg=--no-http&arg=--listen&arg="
                              "inherited:%3Fshm%3D1";
  auto client = connect_client(*runtime_, address, no_reconnect());
  ASSERT_TRUE(client);
  CallOptions call;
  call.timeout = Millis{20000};
  auto echo = client->call("echo", R"({"over":"shm"})", call);
  ASSERT_TRUE(echo) << echo.error().to_string();
  EXPECT_EQ(*echo, R"({"over":"shm"})");
  EXPECT_GT(client->stats().shm_mapped_bytes, 0u);
  const pid_t pid = helper_pid(log_);
  ASSERT_GT(pid, 0) << log_.text();

  expect_kill_fails_sleep_in_flight(*client, pid);
  EXPECT_TRUE(reaped(pid));
}

// A helper that does not grant shared memory (plain inherited:) refuses it; the connection
// carries on over the socket pair.
TEST_F(ExecTransport, SharedMemoryAskedOfAHelperThatDoesNotGrantItFallsBackToTheSocket) {
  auto client = connect_client(*runtime_, helper_address() + "&shm=1", no_reconnect());
  ASSERT_TRUE(client);
  CallOptions call;
  call.timeout = Millis{20000};
  EXPECT_EQ(client->call("echo", "\"plain\"", call).value_or("failed"), "\"plain\"");
  EXPECT_EQ(client->stats().shm_mapped_bytes, 0u);
}

TEST_F(ExecTransport, AReconnectingClientStartsANewHelperAfterTheFirstIsKilled) {
  ClientOptions options;
  options.reconnect.enabled = true;
  options.reconnect.initial_delay = Millis{10};
  options.connect_timeout = Millis{20000};
  auto client = connect_client(*runtime_, helper_address(), options);
  ASSERT_TRUE(client);
  const pid_t first = helper_pid(log_, 0);
  ASSERT_GT(first, 0) << log_.text();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  // The respawned helper says it listens; the client then gets connected on it.
  const pid_t second = helper_pid(log_, 1);
  ASSERT_GT(second, 0) << log_.text();
  EXPECT_NE(first, second);
  CallOptions call;
  call.timeout = Millis{20000};
  call.wait_for_ready = true;
  auto echo = client->call("echo", "\"again\"", call);
  ASSERT_TRUE(echo) << echo.error().to_string();
  EXPECT_EQ(*echo, "\"again\"");
  EXPECT_GE(client->stats().reconnects, 1u);
  EXPECT_TRUE(reaped(first));
}

// The parent (`plexus call` with the helper) killed mid-call: the helper, orphaned, gets SIGTERM
// (it set PR_SET_PDEATHSIG when it listened on inherited:) and exits.
TEST(ExecParentDeath, AHelperWhoseParentIsKilledExits) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  // The helper logs nothing when its connection ends (warn), so no write to the dead parent's
  // pipe (SIGPIPE) ends it: only the parent-death signal does.
  std::vector<std::string> argv_text = {
      cli_binary(), "call", helper_address() + "&env=PLEXUS_LOG=warn", "sleep", R"({"ms":60000})",
      "-t",         "0"};
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::fork();
  if (parent == 0) {
    ::dup2(out[1], 2);
    ::close(out[0]);
    ::close(out[1]);
    ::setenv("PLEXUS_LOG", "info", 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  // The helper's pid from the parent's log, read as it comes.
  FILE* log = ::fdopen(out[0], "r");
  pid_t helper = -1;
  char line[4096];
  const std::regex listening(R"(helper plexus\[(\d+)\]: .*listening on)");
  while (helper < 0 && std::fgets(line, sizeof line, log)) {
    std::cmatch m;
    if (std::regex_search(line, m, listening)) helper = static_cast<pid_t>(std::stoi(m[1].str()));
  }
  ASSERT_GT(helper, 0);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, helper, 0));
  ASSERT_GE(pidfd, 0);
  ASSERT_EQ(::kill(parent, SIGKILL), 0);
  ASSERT_EQ(::waitpid(parent, nullptr, 0), parent);
  pollfd p{pidfd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 20000), 1) << "helper " << helper << " outlived its parent";
  if (p.revents == 0) ::kill(helper, SIGKILL);
  ::close(pidfd);
  std::fclose(log);
}

TEST(ExecInheritedListener, WithoutAnInheritedSocketServeFailsWithFailedPrecondition) {
  auto r = run_command("env -u PLEXUS_INHERITED_FD " + cli_binary() +
                       " serve --no-http --listen inherited: 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PLEXUS_INHERITED_FD"), std::string::npos) << r.output;
  auto bad = run_command("PLEXUS_INHERITED_FD=0 " + cli_binary() +
                         " serve --no-http --listen inherited: </dev/null 2>&1");
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("does not name a connected Unix stream socket"), std::string::npos)
      << bad.output;
  auto path = run_command(cli_binary() + " serve --no-http --listen inherited:/x 2>&1");
  EXPECT_NE(path.exit_code, 0) << path.output;
  EXPECT_NE(path.output.find("expected inherited: (no path"), std::string::npos) << path.output;
}

}  // namespace exec_helpers
}  // namespace plexus::test
