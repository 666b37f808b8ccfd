// Message-size limits on both sides, the connection limit, and write batching, against a real
// child server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;
constexpr std::size_t kDefaultLimit = 8u << 20;

class LimitsTest : public ::testing::TestWithParam<Transport> {
 protected:
  std::unique_ptr<Client> connect(ClientOptions options = {}) {
    return connect_client(runtime_, server_.address(), options);
  }
  void start_server(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--listen", listen_address(GetParam(), dir_)};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = ServerProcess::spawn(args);
    ASSERT_TRUE(server_.running());
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
};

TEST_P(LimitsTest, MessageExactlyAtTheDefaultLimitPasses) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->peer_max_message_size(), kDefaultLimit);
  auto r = client->call("size", std::string(kDefaultLimit, 'a'));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(json::parse(*r)["size"].get<std::size_t>(), kDefaultLimit);
}

TEST_P(LimitsTest, OneByteOverFailsBeforeAnythingIsSent) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  const auto before = client->stats();
  auto r = client->call("size", std::string(kDefaultLimit + 1, 'a'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::message_too_large);
  EXPECT_EQ(json::parse(r.error().details)["limit"].get<std::size_t>(), kDefaultLimit);
  EXPECT_EQ(json::parse(r.error().details)["size"].get<std::size_t>(), kDefaultLimit + 1);
  EXPECT_EQ(client->stats().frames_out, before.frames_out) << "nothing may reach the wire";
  EXPECT_FALSE(client->notify("count", std::string(kDefaultLimit + 1, 'a')));
  EXPECT_EQ(*client->call("echo", "ok"), "ok");  // the connection is fine
}

TEST_P(LimitsTest, ServerLimitIsConfigurableAndAdvertised) {
  start_server({"--max-message-size", "4096"});
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->peer_max_message_size(), 4096u);
  EXPECT_TRUE(client->call("size", std::string(4096, 'a')));
  auto over = client->call("size", std::string(4097, 'a'));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, StatusCode::message_too_large);
}

TEST_P(LimitsTest, AnswerOverTheCallersLimitBecomesAnError) {
  start_server();
  ClientOptions options;
  options.max_message_size = 1u << 20;  // this client accepts at most 1 MiB
  auto client = connect(options);
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->call("make", R"({"size":1048576})"));
  auto r = client->call("make", R"({"size":1048577})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::message_too_large);
  EXPECT_EQ(*client->call("echo", "still"), "still");
}

TEST_P(LimitsTest, ConnectionsPastTheLimitAreRefusedClearly) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  start_server({"--max-connections", "2"});
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(a && b);
  ClientOptions options;
  options.address = server_.address();
  auto refused = Client::connect(runtime_, options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::resource_exhausted);
  EXPECT_NE(refused.error().message.find("too many connections"), std::string::npos);
  EXPECT_EQ(*a->call("echo", "a"), "a");  // the admitted clients are unaffected
  EXPECT_EQ(*b->call("echo", "b"), "b");
}

TEST_P(LimitsTest, FramesQueuedDuringAWriteLeaveTogether) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  const int before = json::parse(*client->call("count", ""))["count"].get<int>();
  const auto stats_before = client->stats();
  constexpr int kBurst = 10000;
  for (int i = 0; i < kBurst; ++i) ASSERT_TRUE(client->notify("count", ""));
  const int after = json::parse(*client->call("count", ""))["count"].get<int>();
  EXPECT_EQ(after, before + kBurst + 1);  // every notify arrived, in order, before the call
  const auto stats_after = client->stats();
  const auto frames = stats_after.frames_out - stats_before.frames_out;
  const auto batches = stats_after.write_batches - stats_before.write_batches;
  EXPECT_EQ(frames, static_cast<std::uint64_t>(kBurst + 1));
  // Under a burst, frames pile up behind the write in flight and leave together.
  EXPECT_LT(batches * 2, frames) << frames << " frames left in " << batches << " writes";
  RecordProperty("frames_per_write", std::to_string(static_cast<double>(frames) / batches));
}

PLEXUS_ALL_TRANSPORTS(LimitsTest);

}  // namespace
}  // namespace plexus::test
