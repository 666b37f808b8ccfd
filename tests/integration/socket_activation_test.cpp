// Socket activation: `plexus serve` started with a listening socket passed the systemd way
// (LISTEN_FDS=1, LISTEN_PID, the socket as fd 3), as a systemd .socket unit starts it. No systemd
// is needed: the test binds the socket and starts the CLI itself, as systemd would.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include <fcntl.h>

#include <cstdio>
#include <cstring>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {
namespace {

// A listening socket bound the way a .socket unit binds it (ListenStream=).
struct BoundSocket {
  int fd = -1;
  std::string address;  // what clients dial
  ~BoundSocket() {
    if (fd >= 0) ::close(fd);
  }
};

BoundSocket bind_unix(const std::string& path) {
  BoundSocket s;
  s.fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  EXPECT_EQ(::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(s.fd, 16), 0);
  s.address = "unix://" + path;
  return s;
}

BoundSocket bind_loopback_tcp() {
  BoundSocket s;
  s.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(s.fd, 16), 0);
  socklen_t len = sizeof addr;
  ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len);
  s.address = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  return s;
}

// Starts `plexus serve <args>` with `socket` as fd 3 and LISTEN_FDS=1, LISTEN_PID=its pid: the
// protocol systemd's socket activation speaks (sd_listen_fds(3)). Its output goes to `log`.
pid_t start_activated_serve(const BoundSocket& socket, const std::vector<std::string>& args,
                            const std::string& log) {
  const std::string cli = cli_binary();
  std::vector<std::string> argv_text = {cli, "serve"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls and exec from here on.
    ::dup2(socket.fd, 3);  // clears close-on-exec on fd 3
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(out, 2);
    char pid_text[32];
    std::snprintf(pid_text, sizeof pid_text, "%d", static_cast<int>(::getpid()));
    ::setenv("LISTEN_PID", pid_text, 1);
    ::setenv("LISTEN_FDS", "1", 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::unique_ptr<Client> connect_once(Runtime& runtime, const std::string& address) {
  ClientOptions options;
  options.reconnect.enabled = false;
  return connect_client(runtime, address, options);
}

class CliSocketActivation : public ::testing::Test {
 protected:
  TempDir dir_;
  Runtime runtime_;
};

TEST_F(CliSocketActivation, ServeAnswersOnAUnixSocketSystemdBoundAndLeavesItsFile) {
  const auto path = dir_.file("activated.sock");
  auto socket = bind_unix(path);
  // A client may connect before the server runs: the kernel queues it on the bound socket,
  // which is what lets systemd start the daemon on the first connection.
  const pid_t serve = start_activated_serve(socket, {"--demo", "--no-http"}, dir_.file("log"));
  ASSERT_GT(serve, 0);
  auto client = connect_once(runtime_, socket.address);
  ASSERT_TRUE(client);
  CallOptions call;
  call.timeout = Millis{10000};
  auto answer = client->call("echo", R"({"activated":true})", call);
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(*answer, R"({"activated":true})");
  client.reset();
  const int status = stop(serve);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // The socket file belongs to whoever bound it (systemd), not to the server.
  EXPECT_EQ(::access(path.c_str(), F_OK), 0) << "the server removed the activator's socket file";
  const auto log = run_command("cat " + dir_.file("log")).output;
  EXPECT_NE(log.find(socket.address), std::string::npos) << log;  // says where it listens
}

TEST_F(CliSocketActivation, ServeAnswersOnATcpSocketSystemdBound) {
  auto socket = bind_loopback_tcp();
  const pid_t serve = start_activated_serve(socket, {"--demo", "--no-http"}, dir_.file("log"));
  ASSERT_GT(serve, 0);
  auto client = connect_once(runtime_, socket.address);
  ASSERT_TRUE(client);
  CallOptions call;
  call.timeout = Millis{10000};
  EXPECT_EQ(client->call("echo", "\"tcp\"", call).value_or("failed"), "\"tcp\"");
  client.reset();
  EXPECT_EQ(stop(serve), 0);
}

TEST_F(CliSocketActivation, ServeWithShmUpgradesConnectionsOnTheInheritedSocket) {
  auto socket = bind_unix(dir_.file("shm.sock"));
  const pid_t serve =
      start_activated_serve(socket, {"--demo", "--no-http", "--shm"}, dir_.file("log"));
  ASSERT_GT(serve, 0);
  auto client = connect_once(runtime_, socket.address + "?shm=1");
  ASSERT_TRUE(client);
  CallOptions call;
  call.timeout = Millis{10000};
  EXPECT_EQ(client->call("echo", "\"ring\"", call).value_or("failed"), "\"ring\"");
  EXPECT_GT(client->stats().shm_mapped_bytes, 0u);
  client.reset();
  EXPECT_EQ(stop(serve), 0);
}

TEST(FdAddress, ListeningOnWhatIsNotAnInheritedListeningSocketFailsWithTheReason) {
  Runtime runtime;
  const auto refused = [&](const std::string& address) {
    ServerOptions options;
    options.listen = {address};
    options.http.clear();
    auto server = Server::create(runtime, options);
    EXPECT_TRUE(server);
    if (!server) return Error{};
    auto started = (*server)->start();
    EXPECT_FALSE(started) << address;
    return started ? Error{} : started.error();
  };
  auto closed = refused("fd://987654");
  EXPECT_EQ(closed.code, StatusCode::invalid_argument);
  EXPECT_NE(closed.message.find("fd 987654 is not a listening socket: not open"), std::string::npos)
      << closed.message;
  const int unlistened = ::socket(AF_UNIX, SOCK_STREAM, 0);
  auto idle = refused("fd://" + std::to_string(unlistened));
  EXPECT_NE(idle.message.find("listen() was not called on it"), std::string::npos) << idle.message;
  ::close(unlistened);
  auto garbage = refused("fd://three");
  EXPECT_EQ(garbage.code, StatusCode::invalid_argument);
  EXPECT_NE(garbage.message.find("expected fd://<file descriptor number>"), std::string::npos)
      << garbage.message;
}

TEST(FdAddress, DialingAnFdAddressIsRefused) {
  Runtime runtime;
  ClientOptions options;
  options.reconnect.enabled = false;
  options.address = "fd://3";
  auto client = Client::connect(runtime, options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, StatusCode::invalid_argument);
  EXPECT_NE(client.error().message.find("fd:// is for listening"), std::string::npos)
      << client.error().message;
}

}  // namespace
}  // namespace plexus::test
