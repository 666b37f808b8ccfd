// `plexus pub` and `plexus sub` against a real server process, and the demo ticker topic.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

// A CLI command running in the background; output() waits for it to exit.
class Background {
 public:
  explicit Background(const std::string& args)
      : pipe_(::popen((cli_binary() + " " + args + " 2>&1").c_str(), "r")) {}
  ~Background() {
    if (pipe_) ::pclose(pipe_);
  }
  // Reads everything until the command exits; returns {exit status, output}.
  std::pair<int, std::string> finish() {
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe_)) > 0) out.append(buf, n);
    const int status = ::pclose(pipe_);
    pipe_ = nullptr;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }

 private:
  FILE* pipe_;
};

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

}  // namespace
}  // namespace plexus::test
