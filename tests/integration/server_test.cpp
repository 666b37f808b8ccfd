// Server behaviour seen from outside: broadcast, graceful shutdown, socket files and modes,
// and the CLI's output and exit statuses.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

std::unique_ptr<Client> connect(Runtime& runtime, const std::string& address,
                                const std::string& name) {
  ClientOptions options;
  options.name = name;
  options.reconnect.enabled = false;
  return connect_client(runtime, address, options);
}

class ServerTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
  }
  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
};

TEST_P(ServerTest, BroadcastReachesEveryClientOrTheFilteredOnes) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::shared_ptr<Event<std::string>>> got;
  for (const char* name : {"ui-1", "ui-2", "worker-1"}) {
    clients.push_back(connect(runtime_, server_.address(), name));
    ASSERT_TRUE(clients.back());
    auto event = std::make_shared<Event<std::string>>();
    got.push_back(event);
    clients.back()->handle("news",
                           [event](CallContext&, std::string_view p) -> Result<std::string> {
                             event->set(std::string(p));
                             return std::string();
                           });
  }
  auto all = clients[0]->call("broadcast", R"({"method":"news","payload":"hello all"})");
  ASSERT_TRUE(all) << all.error().to_string();
  EXPECT_EQ(json::parse(*all)["queued"].get<int>(), 3);
  for (auto& e : got) EXPECT_EQ(e->wait_for(Millis{5000}), "hello all");

  // Filtered: only the clients whose name starts with "worker".
  auto only = std::make_shared<Event<std::string>>();
  auto ui_got = std::make_shared<Event<std::string>>();
  clients[2]->handle("filtered", [only](CallContext&, std::string_view p) -> Result<std::string> {
    only->set(std::string(p));
    return std::string();
  });
  clients[0]->handle("filtered", [ui_got](CallContext&, std::string_view p) -> Result<std::string> {
    ui_got->set(std::string(p));
    return std::string();
  });
  auto some = clients[0]->call(
      "broadcast", R"({"method":"filtered","payload":"workers only","name_prefix":"worker"})");
  ASSERT_TRUE(some);
  EXPECT_EQ(json::parse(*some)["queued"].get<int>(), 1);
  EXPECT_EQ(only->wait_for(Millis{5000}), "workers only");
  // ui-1 would have received it before its next answer: frames arrive in order.
  EXPECT_TRUE(clients[0]->call("echo", "sync"));
  EXPECT_FALSE(ui_got->is_set());
}

TEST_P(ServerTest, GracefulShutdownDrainsInFlightCallsThenExits) {
  auto client = connect(runtime_, server_.address(), "drain");
  ASSERT_TRUE(client);
  Event<std::string> slow;
  client->call_async("sleep", R"({"ms":300})", {},
                     [&](Result<std::string> r) { slow.set(r ? *r : r.error().to_string()); });
  ASSERT_TRUE(client->call("echo", "sync"));  // the sleep is running in the server
  server_.signal(SIGTERM);
  EXPECT_EQ(slow.wait_for(Millis{10000}), R"({"slept_ms":300})") << "in-flight call was drained";
  if (GetParam() == Transport::exec) {  // the client reaps its helper: the status is its close
    ASSERT_TRUE(server_.wait_gone(Millis{10000}));
  } else {
    auto status = server_.wait_exit(Millis{10000});
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  }
  auto after = client->call("echo", "late");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, StatusCode::unavailable);
}

TEST_P(ServerTest, CliCallPrintsTheAnswerOrTheErrorWithItsCode) {
  auto ok = run_cli("call " + shell_word(server_.address()) + " echo '{\"a\":1}'");
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, "{\"a\":1}\n");
  auto missing =
      run_cli("call " + shell_word(server_.address()) + " fail '{\"code\":\"not_found\"}'");
  EXPECT_EQ(missing.exit_code, 5);
  EXPECT_NE(missing.output.find("not_found"), std::string::npos);
  auto late =
      run_cli("call " + shell_word(server_.address()) + " sleep '{\"ms\":2000}' --timeout-ms 50");
  EXPECT_EQ(late.exit_code, 4);
  EXPECT_NE(late.output.find("deadline_exceeded"), std::string::npos);
  auto ping = run_cli("ping " + shell_word(server_.address()) + " -c 20");
  EXPECT_EQ(ping.exit_code, 0);
  EXPECT_NE(ping.output.find("p50"), std::string::npos);
  EXPECT_NE(ping.output.find("p99"), std::string::npos);
  // A direct channel to the demo's echo.direct: over a Unix socket only.
  auto direct = run_cli("ping " + shell_word(server_.address()) + " --direct -c 200 --size 100");
  if (GetParam() == Transport::tcp) {
    EXPECT_NE(direct.exit_code, 0);
    EXPECT_NE(direct.output.find("failed_precondition"), std::string::npos) << direct.output;
  } else {
    EXPECT_EQ(direct.exit_code, 0) << direct.output;
    EXPECT_NE(direct.output.find("200 round trips"), std::string::npos) << direct.output;
    EXPECT_NE(direct.output.find("direct channel echo.direct, 100 B"), std::string::npos)
        << direct.output;
  }
}

TEST_P(ServerTest, CliPingWarmsUpThenMeasuresAThousandRoundTripsByDefault) {
  auto ping = run_cli("ping " + shell_word(server_.address()));
  EXPECT_EQ(ping.exit_code, 0) << ping.output;
  EXPECT_NE(ping.output.find("1000 round trips"), std::string::npos) << ping.output;
  auto help = run_cli("ping --help");
  EXPECT_NE(help.output.find("--warmup INT:INT in [0 - 1000000]=100"), std::string::npos)
      << help.output;
}

TEST_P(ServerTest, CliStreamPastItsTimeoutIsCancelledAndExitsWithDeadlineExceeded) {
  // 50 items 100 ms apart: 5 s, against a 300 ms deadline.
  auto r = run_cli("stream " + shell_word(server_.address()) +
                   " count_stream '{\"n\":50,\"delay_ms\":100}' --progress lines -t 300");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::deadline_exceeded)) << r.output;
  EXPECT_NE(r.output.find("the stream did not end within 300 ms"), std::string::npos) << r.output;
  // Within its deadline a stream ends normally.
  auto quick = run_cli("stream " + shell_word(server_.address()) +
                       " count_stream '{\"n\":3}' --progress lines -t 20000");
  EXPECT_EQ(quick.exit_code, 0) << quick.output;
}

PLEXUS_ALL_TRANSPORTS(ServerTest);

TEST(ServerSocketFile, IsOwnerOnlyAndRemovedOnShutdown) {
  TempDir dir;
  const auto path = dir.file("s.sock");
  auto server = ServerProcess::spawn({"--listen", "unix://" + path});
  ASSERT_TRUE(server.running());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  server.signal(SIGTERM);
  ASSERT_TRUE(server.wait_exit(Millis{10000}));
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file left behind";
}

// Plain TCP beyond loopback is refused unless the server says it takes the risk; loopback
// (by address or as "localhost") needs nothing. The CLI says why and exits with the code.
TEST(ServerTcp, PlainTcpBeyondLoopbackIsRefusedUnlessAllowed) {
  Runtime runtime;
  for (const char* address : {"tcp://0.0.0.0:0", "tcp://[::]:0", "tcp://192.0.2.1:7411"}) {
    ServerOptions options;
    options.listen = {address};
    auto refused = Server::create(runtime, options);
    ASSERT_FALSE(refused) << address;
    EXPECT_EQ(refused.error().code, StatusCode::failed_precondition) << address;
    EXPECT_NE(refused.error().message.find("allow_insecure_tcp"), std::string::npos)
        << refused.error().to_string();
  }
  for (const char* address : {"tcp://127.0.0.1:0", "tcp://[::1]:0", "tcp://localhost:0"}) {
    ServerOptions options;
    options.listen = {address};
    EXPECT_TRUE(Server::create(runtime, options)) << address;
  }
  ServerOptions allowed;
  allowed.listen = {"tcp://0.0.0.0:0"};
  allowed.allow_insecure_tcp = true;
  auto server = Server::create(runtime, allowed);
  ASSERT_TRUE(server) << server.error().to_string();
  ASSERT_TRUE((*server)->start());
  const auto bound = (*server)->addresses().front();  // tcp://0.0.0.0:PORT
  const auto port = bound.substr(bound.rfind(':'));
  auto client = connect_client(runtime, "tcp://127.0.0.1" + port, ClientOptions{});
  ASSERT_TRUE(client);
  client->close();
  (*server)->shutdown(Millis{1000});

  const auto cli = run_cli("serve -l tcp://0.0.0.0:0 --no-http");
  EXPECT_EQ(cli.exit_code, static_cast<int>(StatusCode::failed_precondition)) << cli.output;
  EXPECT_NE(cli.output.find("--insecure-tcp"), std::string::npos) << cli.output;
}

TEST(ServerSocketFile, StaleFileFromADeadServerIsReplaced) {
  TempDir dir;
  const auto path = dir.file("stale.sock");
  {  // a socket file nobody listens on: what a crashed server leaves
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  auto server = ServerProcess::spawn({"--listen", "unix://" + path});
  ASSERT_TRUE(server.running());
  Runtime runtime;
  auto client = connect(runtime, "unix://" + path, "stale");
  ASSERT_TRUE(client);
  EXPECT_EQ(*client->call("echo", "x"), "x");
}

TEST(ServerSocketFile, LiveServerIsNotReplaced) {
  TempDir dir;
  const auto address = dir.unix_address("live.sock");
  auto server = ServerProcess::spawn({"--listen", address});
  ASSERT_TRUE(server.running());
  auto second = run_cli("serve --listen " + address);
  EXPECT_EQ(second.exit_code, static_cast<int>(StatusCode::failed_precondition));
  EXPECT_NE(second.output.find("address in use"), std::string::npos) << second.output;
  Runtime runtime;
  auto client = connect(runtime, address, "live");  // the first server is untouched
  ASSERT_TRUE(client);
  EXPECT_EQ(*client->call("echo", "x"), "x");
}

TEST(ServerSocketFile, NonSocketFileIsNeverReplaced) {
  TempDir dir;
  const auto path = dir.file("data.txt");
  std::ofstream(path) << "precious";
  auto r = run_cli("serve --listen unix://" + path);
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::failed_precondition));
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(ServerSocketFile, AbstractSocketNeedsNoFile) {
  const std::string address = "unix:@plexus-test-" + std::to_string(::getpid());
  auto server = ServerProcess::spawn({"--listen", address});
  ASSERT_TRUE(server.running());
  Runtime runtime;
  auto client = connect(runtime, address, "abstract");
  ASSERT_TRUE(client);
  EXPECT_EQ(*client->call("echo", "x"), "x");
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"--help", "serve --help", "call --help", "ping --help"}) {
    auto r = run_cli(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << cmd << ": " << r.output;
  }
}

TEST(Cli, VersionNamesTheCliTheLibraryAndTheProtocol) {
  // One version, set in CMakeLists.txt: the headers' macros, the library and the CLI agree.
  const std::string headers = std::to_string(PLEXUS_VERSION_MAJOR) + "." +
                              std::to_string(PLEXUS_VERSION_MINOR) + "." +
                              std::to_string(PLEXUS_VERSION_PATCH);
  EXPECT_EQ(headers, PLEXUS_VERSION_STRING);
  EXPECT_EQ(plexus::version(), PLEXUS_VERSION_STRING);
  EXPECT_EQ(plexus::protocol_version(), 1);
  for (const char* flag : {"--version", "-V"}) {
    auto r = run_cli(flag);
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_EQ(r.output, "plexus " + headers + "\nlibrary " + headers + ", protocol 1\n") << flag;
  }
}

TEST(Cli, UsageErrorsExit64AndNeverAStatusCodeNumber) {
  for (const char* args : {"", "nosuchcommand", "nosuchcommand --help", "call",
                           "call default echo --timeout-ms soon", "ping default --bogus"}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 64) << "plexus " << args << "\n" << r.output;
  }
  EXPECT_NE(run_cli("nosuchcommand --help").output.find("unknown command \"nosuchcommand\""),
            std::string::npos);
  // Help is not an error.
  EXPECT_EQ(run_cli("call --help").exit_code, 0);
}

TEST(Cli, CallHasADefaultDeadlineOfThirtySeconds) {
  auto help = run_cli("call --help");
  EXPECT_NE(help.output.find("-t,--timeout-ms INT=30000"), std::string::npos) << help.output;
}

TEST(Cli, CallToNothingIsUnavailable) {
  TempDir dir;
  auto r = run_cli("call " + dir.unix_address("none.sock") + " echo");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::unavailable));
  EXPECT_NE(r.output.find("unavailable"), std::string::npos);
}

}  // namespace
}  // namespace plexus::test
