// Lanes (plexus/lane.hpp): one-way messages to a method bound once, over every transport.
// Against the child test server ("seq" checks that payloads count up 0, 1, 2… and "seq.report"
// says how many arrived and whether in order), and in-process where the test needs both ends:
// lanes from the server back to a client, handlers registered after a lane opened.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"
#include "wire/frame.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

constexpr Millis kLaneWait{10000};
constexpr std::uint64_t wire_max_lanes() {
  return wire::kMaxLanes;
}

class LaneTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
    ClientOptions options;
    options.name = "lane-test";
    options.reconnect.initial_delay = Millis{20};
    options.reconnect.max_delay = Millis{200};
    client_ = connect_client(runtime_, server_.address(), options);
    ASSERT_TRUE(client_);
  }

  // What "seq" received since the last report (a call: it follows the messages sent before).
  json report() {
    auto r = client_->call("seq.report", "");
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? json::parse(*r) : json();
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

TEST_P(LaneTest, MessagesRunTheHandlerInOrderEachAsOneLaneFrame) {
  auto lane = client_->open_lane("seq");
  ASSERT_TRUE(lane);
  EXPECT_EQ(lane->method(), "seq");
  const auto before = client_->stats().frames_out;
  constexpr int kMessages = 2000;
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(lane->send(std::to_string(i)));
  const auto r = report();
  EXPECT_EQ(r["count"], kMessages);
  EXPECT_EQ(r["in_order"], true);
  // One LANE_OPEN, one LANE_DATA per message and the report's REQUEST (NOTIFYs, the fallback
  // for a peer without lanes, would be one frame fewer).
  EXPECT_EQ(client_->stats().frames_out - before, static_cast<std::uint64_t>(kMessages) + 2);
}

TEST_P(LaneTest, OnTheIoThreadEachSendReturnsTheTransportsVerdict) {
  auto lane = client_->open_lane("seq");
  ASSERT_TRUE(lane);
  Event<std::string> verdict;
  // A call's completion runs on the client's I/O thread: the sends there are written at once.
  client_->call_async("echo", "", {}, [&](Result<std::string>) {
    std::string failures;
    for (int i = 0; i < 1000; ++i) {
      if (auto sent = lane->send(std::to_string(i)); !sent) failures += sent.error().to_string();
    }
    auto oversize = lane->send(std::string(client_->peer_max_message_size() + 1, 'x'));
    verdict.set(failures + (oversize ? std::string("oversize accepted")
                                     : std::string(to_string(oversize.error().code))));
  });
  EXPECT_EQ(verdict.wait_for(kLaneWait), "message_too_large");
  const auto r = report();
  EXPECT_EQ(r["count"], 1000);
  EXPECT_EQ(r["in_order"], true);
}

TEST_P(LaneTest, LaneMessagesAndNotifiesKeepTheirOrder) {
  auto lane = client_->open_lane("seq");
  ASSERT_TRUE(lane);
  constexpr int kMessages = 600;
  for (int i = 0; i < kMessages; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_TRUE(i % 3 == 0 ? client_->notify("seq", n) : lane->send(n));
  }
  const auto r = report();
  EXPECT_EQ(r["count"], kMessages);
  EXPECT_EQ(r["in_order"], true);
}

TEST_P(LaneTest, AThrowingOrMissingHandlerDropsTheMessageAndTheConnectionLives) {
  auto throws = client_->open_lane("fail");
  auto missing = client_->open_lane("no.such.method");
  ASSERT_TRUE(throws && missing);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(throws->send(R"({"throw":true})"));
    ASSERT_TRUE(missing->send("x"));
  }
  EXPECT_EQ(*client_->call("echo", "alive"), "alive");
  EXPECT_EQ(client_->state(), ConnectionState::connected);
}

TEST_P(LaneTest, BadNamesAndEmptyHandlesAreRefused) {
  EXPECT_EQ(client_->open_lane("").error().code, StatusCode::invalid_argument);
  EXPECT_EQ(client_->open_lane(std::string(256, 'm')).error().code, StatusCode::invalid_argument);
  EXPECT_TRUE(client_->open_lane(std::string(255, 'm')));
  Lane empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_EQ(empty.send("x").error().code, StatusCode::failed_precondition);
}

TEST_P(LaneTest, ALaneOpensAgainOnTheNextConnection) {
  auto lane = client_->open_lane("seq");
  ASSERT_TRUE(lane);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(lane->send(std::to_string(i)));
  EXPECT_EQ(report()["count"], 10);

  auto reconnecting = std::make_shared<Event<bool>>();
  client_->on_state_change([reconnecting](ConnectionState s) {
    if (s == ConnectionState::reconnecting) reconnecting->set(true);
  });
  const std::string address = server_.address();  // tcp: the port the first server chose
  server_.kill_now();
  ASSERT_TRUE(reconnecting->wait_for(kLaneWait));
  if (GetParam() != Transport::exec) {  // over exec the reconnect spawns the next server at once
    EXPECT_EQ(lane->send("lost").error().code, StatusCode::unavailable);
    server_ = ServerProcess::spawn({"--listen", address});
    ASSERT_TRUE(server_.running());
  }
  ASSERT_TRUE(client_->wait_connected(kLaneWait));
  // The new server knows no lane: the same handle opens it there before its first message.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(lane->send(std::to_string(i)));
  const auto r = report();
  EXPECT_EQ(r["count"], 10);
  EXPECT_EQ(r["in_order"], true);
}

PLEXUS_ALL_TRANSPORTS(LaneTest);

// Both ends in this process.
class LaneInProcessTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    PLEXUS_SKIP_OVER_EXEC(
        "the server runs in the test's own process, and exec: always starts a child");
    ServerOptions options;
    options.listen = {listen_address(GetParam(), dir_)};
    options.metrics = false;
    auto server = Server::create(runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("sync", [](CallContext&, std::string_view) { return Result<std::string>(); });
    ASSERT_TRUE(server_->start());
    client_ = connect_client(runtime_, server_->addresses().at(0));
    ASSERT_TRUE(client_);
  }
  void TearDown() override {
    if (client_) client_->close();
    if (server_) server_->shutdown(Millis{1000});
  }

  // Records what a handler received, from the I/O thread, for the test thread.
  struct Received {
    std::mutex mu;
    std::vector<std::string> payloads;
    std::vector<std::string> methods;
    void add(std::string_view method, std::string_view payload) {
      std::lock_guard lock(mu);
      methods.emplace_back(method);
      payloads.emplace_back(payload);
    }
    std::vector<std::string> get() {
      std::lock_guard lock(mu);
      return payloads;
    }
  };

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_P(LaneInProcessTest, AHandlerRegisteredAfterTheLaneOpenedGetsTheLaterMessages) {
  auto lane = client_->open_lane("late");
  ASSERT_TRUE(lane);
  ASSERT_TRUE(lane->send("before"));  // no handler yet: dropped, as a NOTIFY would be
  ASSERT_TRUE(client_->call("sync", ""));
  Received got;
  server_->handle("late", [&got](CallContext& ctx, std::string_view p) -> Result<std::string> {
    got.add(ctx.method(), p);
    return std::string();
  });
  ASSERT_TRUE(lane->send("after-1"));
  ASSERT_TRUE(lane->send("after-2"));
  ASSERT_TRUE(client_->call("sync", ""));
  EXPECT_EQ(got.get(), (std::vector<std::string>{"after-1", "after-2"}));
  EXPECT_EQ(got.methods, (std::vector<std::string>{"late", "late"}));
}

TEST_P(LaneInProcessTest, AServerSendsOnALaneToItsClientAndAsyncHandlersRunToo) {
  Received sync_got, async_got;
  client_->handle("client.sync", [&](CallContext& ctx, std::string_view p) -> Result<std::string> {
    sync_got.add(ctx.method(), p);
    return std::string();
  });
  client_->handle_async("client.async", [&](CallContext& ctx, std::string_view p, Responder r) {
    async_got.add(ctx.method(), p);
    r.reply(std::string());
  });
  // The server's handler opens lanes back to the calling client (its Peer) and sends on them
  // before it answers: the messages are handled before the answer arrives.
  server_->handle("push", [](CallContext& ctx, std::string_view) -> Result<std::string> {
    Peer peer = ctx.peer();
    auto to_sync = peer.open_lane("client.sync");
    auto to_async = peer.open_lane("client.async");
    if (!to_sync || !to_async) return make_error(StatusCode::internal, "open_lane failed");
    for (int i = 0; i < 50; ++i) {
      if (!to_sync->send("s" + std::to_string(i)) || !to_async->send("a" + std::to_string(i))) {
        return make_error(StatusCode::internal, "send failed");
      }
    }
    return std::string();
  });
  auto r = client_->call("push", "");
  ASSERT_TRUE(r) << r.error().to_string();
  const auto s = sync_got.get();
  const auto a = async_got.get();
  ASSERT_EQ(s.size(), 50u);
  ASSERT_EQ(a.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(s[i], "s" + std::to_string(i));
    EXPECT_EQ(a[i], "a" + std::to_string(i));
  }
  EXPECT_EQ(async_got.methods.front(), "client.async");
}

TEST_P(LaneInProcessTest, PastTheLaneLimitOfAConnectionMessagesGoAsNotifies) {
  Received got;
  server_->handle("last", [&got](CallContext& ctx, std::string_view p) -> Result<std::string> {
    got.add(ctx.method(), p);
    return std::string();
  });
  const auto before = client_->stats().frames_out;
  // 4096 lanes fill the connection's ids (each costs a LANE_OPEN and a LANE_DATA); the next
  // method goes as a NOTIFY (one frame), still delivered.
  for (std::uint64_t i = 0; i < wire_max_lanes(); ++i) {
    auto lane = client_->open_lane("m" + std::to_string(i));
    ASSERT_TRUE(lane && lane->send("x"));
  }
  auto last = client_->open_lane("last");
  ASSERT_TRUE(last && last->send("over the limit"));
  ASSERT_TRUE(client_->call("sync", ""));
  EXPECT_EQ(client_->stats().frames_out - before, 2 * wire_max_lanes() + 1 + 1);
  EXPECT_EQ(got.get(), std::vector<std::string>{"over the limit"});
}

PLEXUS_ALL_TRANSPORTS(LaneInProcessTest);

}  // namespace
}  // namespace plexus::test
