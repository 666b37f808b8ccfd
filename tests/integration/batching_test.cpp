// Time/size-bounded batching (BatchOptions): frames on the wire counted by the transport, with
// the receiver seeing the same messages in the same order, both directions.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

constexpr int kBurst = 10000;

class BatchingTest : public ::testing::TestWithParam<Transport> {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", listen_address(GetParam(), dir_)};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = ServerProcess::spawn(args);
    ASSERT_TRUE(server_.running());
  }
  std::unique_ptr<Client> connect(bool batching, Millis max_wait = Millis{100}) {
    ClientOptions o;
    o.reconnect.enabled = false;
    o.batching.enabled = batching;
    o.batching.max_wait = max_wait;
    return connect_client(runtime_, server_.address(), o);
  }
  // Sends kBurst NOTIFY "seq" 0..N-1; returns the frames the client's transport wrote for them
  // and the server's report (count, order, bytes).
  std::pair<std::uint64_t, json> burst(Client& c) {
    const auto before = c.stats().frames_out;
    for (int i = 0; i < kBurst; ++i) EXPECT_TRUE(c.notify("seq", std::to_string(i)));
    c.flush();
    const auto frames = c.stats().frames_out - before;
    auto report = c.call("seq.report", "{}");  // calls follow the notifies they come after
    EXPECT_TRUE(report) << report.error().to_string();
    return {frames, report ? json::parse(*report) : json()};
  }

  // The client that subscribes to what `pub` publishes: another one; over exec, where another
  // client would spawn a server of its own, the publisher itself (it gets its own publishes).
  Client* subscriber_for(const std::unique_ptr<Client>& pub) {
    if (GetParam() == Transport::exec) return pub.get();
    subscriber_ = connect(false);
    return subscriber_.get();
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> subscriber_;  // goes before the runtime
};

TEST_P(BatchingTest, TenThousandNotifiesUseAtLeast95PercentFewerFrames) {
  start();
  auto plain = connect(false);
  auto batched = connect(true);
  ASSERT_TRUE(plain && batched);
  const auto [plain_frames, plain_report] = burst(*plain);
  const auto [batched_frames, batched_report] = burst(*batched);
  EXPECT_EQ(plain_frames, static_cast<std::uint64_t>(kBurst));
  EXPECT_EQ(batched_frames, static_cast<std::uint64_t>(kBurst / 50));  // full batches of 50
  EXPECT_LE(batched_frames * 20, plain_frames);                        // >= 95% fewer
  // Same content, same order at the receiver.
  EXPECT_EQ(plain_report, (json{{"count", kBurst}, {"in_order", true}, {"bytes", 38890}}));
  EXPECT_EQ(batched_report, plain_report);
}

TEST_P(BatchingTest, ServerBatchesPublishesToASubscriber) {
  start({"--batch"});
  auto c = connect(false);
  ASSERT_TRUE(c);
  std::mutex mu;
  std::vector<std::string> got;
  Countdown all(kBurst);
  SubscribeOptions o;
  o.queue_limit = kBurst;
  ASSERT_TRUE(c->subscribe(
      "burst.x",
      [&](std::string_view, std::string_view payload) {
        {
          std::lock_guard lock(mu);
          got.push_back(std::string(payload));
        }
        all.done();
      },
      o));
  const auto before = c->stats().frames_in;
  ASSERT_TRUE(c->call("pubsub.burst", json{{"topic", "burst.x"}, {"n", kBurst}}.dump()));
  ASSERT_TRUE(all.wait_for(Millis{20000}));
  ASSERT_TRUE(c->ping());  // a round trip after the last one: nothing is still arriving
  const auto frames = c->stats().frames_in - before;
  // kBurst / 50 BATCH frames, the RESPONSE to pubsub.burst and the PONG.
  EXPECT_LE(frames, static_cast<std::uint64_t>(kBurst / 50 + 2));
  EXPECT_LE(frames * 20, static_cast<std::uint64_t>(kBurst));
  std::lock_guard lock(mu);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kBurst));
  for (int i = 0; i < kBurst; ++i) ASSERT_EQ(got[i], std::to_string(i));
}

// A batch that never fills leaves when max_wait passes (the session's timer, on its executor).
TEST_P(BatchingTest, APartialBatchLeavesAfterMaxWait) {
  start();
  auto pub = connect(true, Millis{20});
  auto sub = subscriber_for(pub);
  ASSERT_TRUE(sub && pub);
  Event<std::string> got;
  ASSERT_TRUE(sub->subscribe(
      "t.x", [&](std::string_view, std::string_view p) { got.set(std::string(p)); }));
  const auto before = pub->stats().frames_out;
  ASSERT_TRUE(pub->publish("t.x", "lonely"));
  EXPECT_EQ(got.wait_for(Millis{10000}), "lonely");
  EXPECT_EQ(pub->stats().frames_out - before, 1u);  // one BATCH holding one PUBLISH
}

// With a wait far away, nothing leaves until flush() (the manual trigger) or an immediate
// message, which first flushes what is batched: order is kept.
TEST_P(BatchingTest, ImmediateMessagesFlushTheBatchFirst) {
  start();
  auto pub = connect(true, Millis{3600 * 1000});
  auto sub = subscriber_for(pub);
  ASSERT_TRUE(sub && pub);
  std::mutex mu;
  std::vector<std::string> got;
  Countdown four(4);
  ASSERT_TRUE(sub->subscribe("t.>", [&](std::string_view, std::string_view p) {
    {
      std::lock_guard lock(mu);
      got.push_back(std::string(p));
    }
    four.done();
  }));
  const auto before = pub->stats().frames_out;
  ASSERT_TRUE(pub->publish("t.a", "1"));
  ASSERT_TRUE(pub->publish("t.b", "2"));
  ASSERT_TRUE(pub->publish("t.c", "3"));
  EXPECT_EQ(pub->stats().frames_out - before, 0u);  // all three held in the batch
  PublishOptions now;
  now.immediate = true;
  ASSERT_TRUE(pub->publish("t.d", "4", now));
  ASSERT_TRUE(four.wait_for(Millis{10000}));
  EXPECT_EQ(pub->stats().frames_out - before, 2u);  // the BATCH of three, then the PUBLISH
  std::lock_guard lock(mu);
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4"}));
}

PLEXUS_ALL_TRANSPORTS(BatchingTest);

}  // namespace
}  // namespace plexus::test
