// Publish/subscribe across real processes: the wildcard table end to end, local and remote
// subscribers, re-subscription after a server restart, and every slow-subscriber policy with
// exact counts (the server's counters and what the subscriber received).
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

// What one subscription received, in order; tests wait until it holds `n` messages.
class Inbox {
 public:
  MessageHandler handler() {
    return [this](std::string_view topic, std::string_view payload) {
      std::lock_guard lock(mu_);
      got_.push_back(std::string(topic) + " " + std::string(payload));
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, Millis timeout = Millis{10000}) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> got_;
};

std::vector<std::string> numbered(const std::string& topic, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(topic + " " + std::to_string(i));
  return out;
}

class PubSubTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { start_server({}); }
  void start_server(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--listen", listen_address(GetParam(), dir_)};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = ServerProcess::spawn(args);
    ASSERT_TRUE(server_.running());
  }
  std::unique_ptr<Client> connect(Runtime& runtime, const std::string& name,
                                  ClientOptions options = {}) {
    options.name = name;
    options.reconnect.enabled = false;
    return connect_client(runtime, server_.address(), options);
  }
  json call_json(Client& c, const std::string& method, const json& args = json::object()) {
    auto r = c.call(method, args.dump());
    EXPECT_TRUE(r) << method << ": " << r.error().to_string();
    return r ? json::parse(*r) : json();
  }
  // Waits (on the server) until counter `field` reaches `value`; returns all counters.
  json await_stat(Client& c, const std::string& field, std::uint64_t value) {
    return call_json(c, "pubsub.await", {{"field", field}, {"value", value}});
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
};

TEST_P(PubSubTest, WildcardTableAcrossProcesses) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  auto sub = connect(runtime_, "sub");
  auto pub = connect(runtime_, "pub");
  ASSERT_TRUE(sub && pub);
  const std::vector<std::string> patterns = {"db.*", "db.>", ">", "*.users", "db.users", "x.*.z"};
  const std::vector<std::string> topics = {"db.users",  "db.users.insert", "db",
                                           "app.users", "x.y.z",           "x.y"};
  // Expected matches (src/wire/topic_pattern.hpp grammar).
  const std::map<std::string, std::vector<std::string>> expected = {
      {"db.*", {"db.users"}},
      {"db.>", {"db.users", "db.users.insert"}},
      {">", {"db.users", "db.users.insert", "db", "app.users", "x.y.z", "x.y"}},
      {"*.users", {"db.users", "app.users"}},
      {"db.users", {"db.users"}},
      {"x.*.z", {"x.y.z"}},
  };
  std::map<std::string, std::unique_ptr<Inbox>> inbox;
  std::size_t total = 0;
  for (const auto& p : patterns) {
    inbox[p] = std::make_unique<Inbox>();
    auto id = sub->subscribe(p, inbox[p]->handler());
    ASSERT_TRUE(id) << p << ": " << id.error().to_string();
    total += expected.at(p).size();
  }
  for (const auto& t : topics) ASSERT_TRUE(pub->publish(t, "m"));
  for (const auto& p : patterns) ASSERT_TRUE(inbox[p]->wait_for(expected.at(p).size())) << p;
  // Everything delivered has been handed to the connection before this answer: nothing more
  // can be on its way.
  const auto st = await_stat(*pub, "delivered", total);
  EXPECT_EQ(st["delivered"], total);
  EXPECT_EQ(st["published"], topics.size());
  ASSERT_TRUE(sub->ping());
  for (const auto& p : patterns) {
    std::vector<std::string> want;
    for (const auto& t : expected.at(p)) want.push_back(t + " m");
    EXPECT_EQ(inbox[p]->messages(), want) << p;
  }
}

TEST_P(PubSubTest, BadPatternsAndTopicsAreInvalidArgument) {
  auto c = connect(runtime_, "c");
  ASSERT_TRUE(c);
  Inbox in;
  for (const char* bad : {"", "db..x", "db.>.x", "a*"}) {
    auto r = c->subscribe(bad, in.handler());
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
  auto bad_topic = c->publish("db.*", "x");
  ASSERT_FALSE(bad_topic);
  EXPECT_EQ(bad_topic.error().code, StatusCode::invalid_argument);
  // The server checks too: a server-side publish to a pattern is refused with the reason.
  auto r = c->call("pubsub.publish", json{{"topic", "a..b"}, {"payload", "x"}}.dump());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  SubscribeOptions zero;
  zero.queue_limit = 0;
  auto q = c->subscribe("a", in.handler(), zero);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, StatusCode::invalid_argument);
}

TEST_P(PubSubTest, ServerLocalSubscribersAndPublisherEcho) {
  auto c = connect(runtime_, "c");
  ASSERT_TRUE(c);
  Inbox own;
  ASSERT_TRUE(c->subscribe("local.*", own.handler()));
  ASSERT_TRUE(c->publish("local.a", "from-client"));
  ASSERT_TRUE(
      c->call("pubsub.publish", json{{"topic", "local.b"}, {"payload", "from-server"}}.dump()));
  // The publishing client gets its own message back (it subscribed), and so does the server.
  ASSERT_TRUE(own.wait_for(2));
  EXPECT_EQ(own.messages(),
            (std::vector<std::string>{"local.a from-client", "local.b from-server"}));
  await_stat(*c, "delivered", 4);
  EXPECT_EQ(call_json(*c, "pubsub.local_received"),
            json({"local.a from-client", "local.b from-server"}));
}

TEST_P(PubSubTest, UnsubscribeStopsDelivery) {
  auto c = connect(runtime_, "c");
  ASSERT_TRUE(c);
  Inbox a, b;
  auto ida = c->subscribe("t.*", a.handler());
  ASSERT_TRUE(ida);
  ASSERT_TRUE(c->subscribe("t.>", b.handler()));
  ASSERT_TRUE(c->publish("t.1", "x"));
  ASSERT_TRUE(a.wait_for(1) && b.wait_for(1));
  c->unsubscribe(*ida);
  ASSERT_TRUE(c->publish("t.2", "y"));
  ASSERT_TRUE(b.wait_for(2));
  const auto st = await_stat(*c, "delivered", 3);
  EXPECT_EQ(st["subscriptions"], 2);  // b and the server's own "local.>"
  EXPECT_EQ(a.messages(), std::vector<std::string>{"t.1 x"});
}

TEST_P(PubSubTest, DropNewestKeepsTheFirstQueueLimitMessages) {
  auto c = connect(runtime_, "slow");
  ASSERT_TRUE(c);
  Inbox in;
  SubscribeOptions o;
  o.queue_limit = 10;
  o.policy = SlowPolicy::drop_newest;
  ASSERT_TRUE(c->subscribe("slow.x", in.handler(), o));
  // 100 messages queued in one server handler run, before any delivery: 90 over the limit.
  EXPECT_EQ(call_json(*c, "pubsub.burst", {{"topic", "slow.x"}, {"n", 100}})["refused"], 0);
  ASSERT_TRUE(in.wait_for(10));
  const auto st = await_stat(*c, "delivered", 10);
  EXPECT_EQ(st["dropped_newest"], 90);
  EXPECT_EQ(st["dropped_oldest"], 0);
  EXPECT_EQ(st["delivered"], 10);
  ASSERT_TRUE(c->call("pubsub.publish", json{{"topic", "slow.x"}, {"payload", "end"}}.dump()));
  ASSERT_TRUE(in.wait_for(11));
  auto want = numbered("slow.x", 0, 10);
  want.push_back("slow.x end");
  EXPECT_EQ(in.messages(), want);
}

// A message larger than a subscriber accepts (its max_message_size) is not sent to it: counted
// as that subscription's drop (dropped_too_large), and what follows still arrives.
TEST_P(PubSubTest, APublishOverTheSubscribersLimitIsCountedAsItsDrop) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  ClientOptions small;
  small.max_message_size = 1024;
  auto sub = connect(runtime_, "small", small);
  auto pub = connect(runtime_, "publisher");
  ASSERT_TRUE(sub && pub);
  Inbox in;
  ASSERT_TRUE(sub->subscribe("size.x", in.handler()));
  ASSERT_TRUE(pub->publish("size.x", std::string(4096, 'b')));
  ASSERT_TRUE(pub->publish("size.x", "small"));
  ASSERT_TRUE(in.wait_for(1));
  const auto st = await_stat(*pub, "delivered", 1);
  EXPECT_EQ(st["dropped_too_large"], 1);
  EXPECT_EQ(st["delivered"], 1);
  EXPECT_EQ(in.messages(), std::vector<std::string>{"size.x small"});
}

TEST_P(PubSubTest, DropOldestKeepsTheLastQueueLimitMessages) {
  auto c = connect(runtime_, "slow");
  ASSERT_TRUE(c);
  Inbox in;
  SubscribeOptions o;
  o.queue_limit = 10;
  o.policy = SlowPolicy::drop_oldest;
  ASSERT_TRUE(c->subscribe("slow.x", in.handler(), o));
  call_json(*c, "pubsub.burst", {{"topic", "slow.x"}, {"n", 100}});
  ASSERT_TRUE(in.wait_for(10));
  const auto st = await_stat(*c, "delivered", 10);
  EXPECT_EQ(st["dropped_oldest"], 90);
  EXPECT_EQ(st["dropped_newest"], 0);
  ASSERT_TRUE(c->call("pubsub.publish", json{{"topic", "slow.x"}, {"payload", "end"}}.dump()));
  ASSERT_TRUE(in.wait_for(11));
  auto want = numbered("slow.x", 90, 100);
  want.push_back("slow.x end");
  EXPECT_EQ(in.messages(), want);
}

TEST_P(PubSubTest, DisconnectPolicyClosesTheSlowSubscriberOnly) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  auto slow = connect(runtime_, "slow");
  auto fast = connect(runtime_, "fast");
  ASSERT_TRUE(slow && fast);
  Event<bool> closed;
  slow->on_state_change([&closed](ConnectionState s) {
    if (s == ConnectionState::closed) closed.set(true);
  });
  Inbox slow_in, fast_in;
  SubscribeOptions o;
  o.queue_limit = 10;
  o.policy = SlowPolicy::disconnect;
  ASSERT_TRUE(slow->subscribe("slow.x", slow_in.handler(), o));
  SubscribeOptions big;
  big.queue_limit = 1000;
  ASSERT_TRUE(fast->subscribe("slow.x", fast_in.handler(), big));
  call_json(*fast, "pubsub.burst", {{"topic", "slow.x"}, {"n", 100}});
  ASSERT_TRUE(closed.wait_for(Millis{10000}));
  ASSERT_TRUE(fast_in.wait_for(100));
  const auto st = await_stat(*fast, "delivered", 100);
  EXPECT_EQ(st["disconnected"], 1);
  EXPECT_EQ(st["delivered"], 100);  // all to the fast one, none to the slow one
  EXPECT_EQ(st["dropped_oldest"], 0);
  EXPECT_EQ(st["dropped_newest"], 0);
  EXPECT_EQ(fast_in.messages(), numbered("slow.x", 0, 100));
  EXPECT_TRUE(slow_in.messages().empty());
}

// A subscriber whose I/O thread is stuck: with `block`, the publisher is held back instead of
// anything being dropped; once the subscriber reads again every message arrives, in order.
TEST_P(PubSubTest, BlockPolicyBackpressuresARemotePublisherAndDropsNothing) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  Runtime sub_runtime;  // its own I/O thread, which the handler blocks
  auto sub = connect(sub_runtime, "slow");
  auto pub = connect(runtime_, "pub");
  auto ctl = connect(runtime_, "ctl");  // asks for the counters: the publisher's link is held
  ASSERT_TRUE(sub && pub && ctl);
  Event<bool> release;
  Inbox in;
  auto record = in.handler();
  SubscribeOptions o;
  o.queue_limit = 16;
  o.policy = SlowPolicy::block;
  ASSERT_TRUE(sub->subscribe(
      "load.x",
      [&](std::string_view t, std::string_view p) {
        record(t, p);
        release.wait_for(Millis{20000});  // the first message blocks the subscriber's thread
      },
      o));
  // 16 MiB: more than loopback TCP's socket buffers (which grow to several MiB here) can hold
  // between the server and the stalled subscriber, so the publisher must be held back.
  constexpr int kN = 16000;
  const std::string pad(1024, 'p');
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(pub->publish("load.x", std::to_string(i) + pad));
  // The subscriber's socket, the server's backlog and the queue fill; then the publisher waits.
  const auto st = await_stat(*ctl, "blocked", 1);
  EXPECT_GE(st["blocked"].get<int>(), 1);
  EXPECT_LT(st["published"].get<int>(), kN);  // the rest is held back with the publisher
  release.set(true);
  ASSERT_TRUE(in.wait_for(kN, Millis{30000}))
      << in.messages().size() << " " << call_json(*ctl, "pubsub.stats").dump();
  const auto end = await_stat(*ctl, "delivered", kN);
  EXPECT_EQ(end["published"], kN);
  EXPECT_EQ(end["delivered"], kN);
  EXPECT_EQ(end["dropped_oldest"], 0);
  EXPECT_EQ(end["dropped_newest"], 0);
  const auto got = in.messages();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(got[i], "load.x " + std::to_string(i) + pad) << i;
}

// A subscriber that stops reading costs the server at most its queue plus a bounded backlog:
// the rest is dropped and counted, and what arrives afterwards is the newest, in order.
TEST_P(PubSubTest, StalledSubscriberIsBoundedAndEveryMessageIsAccountedFor) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  Runtime sub_runtime;
  auto sub = connect(sub_runtime, "stalled");
  auto pub = connect(runtime_, "pub");
  ASSERT_TRUE(sub && pub);
  Event<bool> release;
  Inbox in;
  auto record = in.handler();
  SubscribeOptions o;
  o.queue_limit = 100;
  o.policy = SlowPolicy::drop_oldest;
  ASSERT_TRUE(sub->subscribe(
      "load.x",
      [&](std::string_view t, std::string_view p) {
        record(t, p);
        release.wait_for(Millis{20000});
      },
      o));
  constexpr int kN = 20000;
  const std::string pad(1024, 'p');
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(pub->publish("load.x", std::to_string(i) + pad));
  const auto st = await_stat(*pub, "published", kN);
  const auto dropped = st["dropped_oldest"].get<int>();
  EXPECT_GT(dropped, 0);
  release.set(true);
  // Whatever was not dropped arrives: exactly kN - dropped messages, ending with the newest.
  ASSERT_TRUE(in.wait_for(static_cast<std::size_t>(kN - dropped), Millis{30000}));
  await_stat(*pub, "delivered", static_cast<std::uint64_t>(kN - dropped));
  ASSERT_TRUE(sub->ping());
  const auto got = in.messages();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kN - dropped));
  EXPECT_EQ(got.back(), "load.x " + std::to_string(kN - 1) + pad);
  // In order: sequence numbers strictly increase.
  int last = -1;
  for (const auto& m : got) {
    const int n = std::stoi(m.substr(7));
    ASSERT_GT(n, last);
    last = n;
  }
  // Bounded: the queue (100), the server's 256 KiB connection backlog and the kernel's socket
  // buffers (a few MiB on TCP loopback) held the rest; far fewer than were published.
  EXPECT_LT(got.size(), static_cast<std::size_t>(kN / 2));
}

TEST_P(PubSubTest, SubscriptionsAreRestoredAfterAServerRestart) {
  ClientOptions o;
  o.name = "resub";
  o.reconnect.initial_delay = Millis{10};
  o.reconnect.max_delay = Millis{50};
  auto c = connect_client(runtime_, server_.address(), o);
  ASSERT_TRUE(c);
  Inbox in;
  ASSERT_TRUE(c->subscribe("db.*", in.handler()));
  ASSERT_TRUE(c->call("pubsub.publish", json{{"topic", "db.a"}, {"payload", "before"}}.dump()));
  ASSERT_TRUE(in.wait_for(1));
  const auto address = server_.address();
  Event<bool> lost;
  c->on_state_change([&lost](ConnectionState s) {
    if (s == ConnectionState::reconnecting) lost.set(true);
  });
  server_.kill_now();
  ASSERT_TRUE(lost.wait_for(Millis{10000}));
  // Same address (TCP: the same port; the listener reuses the address). Over exec the
  // reconnect spawns the next server itself.
  if (GetParam() != Transport::exec) {
    server_ = ServerProcess::spawn({"--listen", address});
    ASSERT_TRUE(server_.running());
  }
  ASSERT_TRUE(c->wait_connected(Millis{10000}));
  // The SUBSCRIBE went out before the state turned connected, so it is ahead of this call.
  ASSERT_TRUE(c->call("pubsub.publish", json{{"topic", "db.b"}, {"payload", "after"}}.dump()));
  ASSERT_TRUE(in.wait_for(2));
  EXPECT_EQ(in.messages(), (std::vector<std::string>{"db.a before", "db.b after"}));
}

PLEXUS_ALL_TRANSPORTS(PubSubTest);

}  // namespace
}  // namespace plexus::test
