// `plexus pub` and `plexus sub` against a real server process, the demo ticker topic, and
// commands started before their server (`sub`, `call --wait`).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

// A CLI command running in the background; finish() waits for it to exit.
using Background = BackgroundCli;

int cli_exit_code(const std::string& args) {
  const int status = std::system((cli_binary() + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class CliPubSubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", dir_.unix_address("s.sock"), "--ticker-ms", "5"});
    ASSERT_TRUE(server_.running());
    ClientOptions o;
    o.reconnect.enabled = false;
    client_ = connect_client(runtime_, server_.address(), o);
    ASSERT_TRUE(client_);
  }
  // Waits on the server until it holds `n` subscriptions (its own "local.>" is one).
  void await_subscriptions(int n) {
    auto r = client_->call("pubsub.await", json{{"field", "subscriptions"}, {"value", n}}.dump());
    ASSERT_TRUE(r) << r.error().to_string();
  }
  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

TEST_F(CliPubSubTest, SubPrintsWhatPubPublishesThenExitsAtCount) {
  Background sub("sub " + server_.address() + " 'db.*' --count 2");
  await_subscriptions(2);
  EXPECT_EQ(cli_exit_code("pub " + server_.address() + " db.users '{\"id\":1}'"), 0);
  EXPECT_EQ(cli_exit_code("pub " + server_.address() + " db.orders '{\"id\":2}'"), 0);
  const auto [status, out] = sub.finish();
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out, "db.users {\"id\":1}\ndb.orders {\"id\":2}\n");
}

TEST_F(CliPubSubTest, BadTopicOrPatternExitsWithInvalidArgument) {
  EXPECT_EQ(cli_exit_code("pub " + server_.address() + " 'db.*' '{}'"), 3);
  EXPECT_EQ(cli_exit_code("sub " + server_.address() + " 'db..x' --count 1"), 3);
  EXPECT_EQ(cli_exit_code("sub " + server_.address() + " db.x --policy sometimes --count 1"), 3);
}

TEST_F(CliPubSubTest, DemoTickerTicksInOrder) {
  Background sub("sub " + server_.address() + " demo.ticker --count 3");
  const auto [status, out] = sub.finish();
  EXPECT_EQ(status, 0);
  std::vector<std::uint64_t> ticks;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    const auto line = out.substr(start, end - start);
    ASSERT_EQ(line.rfind("demo.ticker ", 0), 0u) << line;
    ticks.push_back(json::parse(line.substr(12)).at("tick").get<std::uint64_t>());
    start = end + 1;
  }
  ASSERT_EQ(ticks.size(), 3u);
  EXPECT_EQ(ticks[1], ticks[0] + 1);
  EXPECT_EQ(ticks[2], ticks[1] + 1);
}

// Returns once some process dials the Unix socket `path`, where no server runs yet: a listener
// of the test's own catches the attempt and hangs up, then leaves the path free again. That is
// how a test knows that a command started before its server is already waiting for it.
void await_a_dial(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 30000), 1) << "nobody dialed " << path;
  ::close(::accept(fd, nullptr, nullptr));  // the dialer sees the connection end: unavailable
  ::close(fd);
  ::unlink(path.c_str());
}

TEST(CliSubBeforeItsServer, ReceivesTheServersMessagesOnceItStarts) {
  TempDir dir;
  const auto address = dir.unix_address("later.sock");
  // Started first: nothing listens at `address` yet.
  Background sub("sub " + address + " 'news.*' --count 2");
  await_a_dial(dir.file("later.sock"));
  auto server = ServerProcess::spawn({"--listen", address});
  ASSERT_TRUE(server.running());
  Runtime runtime;
  ClientOptions o;
  o.reconnect.enabled = false;
  auto client = connect_client(runtime, address, o);
  ASSERT_TRUE(client);
  // Once `sub` has subscribed (the server's own "local.>" is the first subscription)…
  auto subscribed =
      client->call("pubsub.await", json{{"field", "subscriptions"}, {"value", 2}}.dump());
  ASSERT_TRUE(subscribed) << subscribed.error().to_string();
  // …what is published reaches it.
  EXPECT_EQ(cli_exit_code("pub " + address + " news.a '{\"n\":1}'"), 0);
  EXPECT_EQ(cli_exit_code("pub " + address + " news.b '{\"n\":2}'"), 0);
  const auto [status, output] = sub.finish();
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("news.a {\"n\":1}"), std::string::npos) << output;
  EXPECT_NE(output.find("news.b {\"n\":2}"), std::string::npos) << output;
}

TEST(CliCallWait, WaitsForAServerStartedAfterIt) {
  TempDir dir;
  const auto address = dir.unix_address("later.sock");
  Background call("call " + address + " echo '\"late\"' --wait 30000");
  await_a_dial(dir.file("later.sock"));
  auto server = ServerProcess::spawn({"--listen", address});
  ASSERT_TRUE(server.running());
  const auto [status, output] = call.finish();
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "\"late\"\n");
  // Without --wait, nobody listening is unavailable at once.
  EXPECT_EQ(cli_exit_code("call " + dir.unix_address("nobody.sock") + " echo"),
            static_cast<int>(StatusCode::unavailable));
}

}  // namespace
}  // namespace plexus::test
