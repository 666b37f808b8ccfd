// Acknowledged messages (plexus/acked.hpp, docs/PROTOCOL.md §22.1) between a client and a server
// in this process over a real Unix socket: acknowledged once the handler returned, resent with
// the same id when the acknowledgement does not come, handled once however often it is resent,
// and dead-lettered with the reason and the handler's status after the last retry. Also from
// the server to a client (Peer), which remembers handled ids the same way.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test::acked {
namespace {

class AckedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions so;
    so.listen = {dir_.unix_address("a.sock")};
    auto server = Server::create(runtime_, so);
    ASSERT_TRUE(server);
    server_ = std::move(*server);
  }
  void start() {
    ASSERT_TRUE(server_->start());
    ClientOptions co;
    co.address = dir_.unix_address("a.sock");
    auto c = Client::connect(runtime_, co);
    ASSERT_TRUE(c) << c.error().to_string();
    client_ = std::move(*c);
  }
  static AckOptions quick() {
    AckOptions o;
    o.ack_timeout = Millis{2000};
    o.max_retries = 2;
    o.retry_delay = Millis{10};
    return o;
  }

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(AckedTest, AMessageIsAcknowledgedOnceHandledAndAResendIsNotHandledAgain) {
  std::mutex mu;
  std::vector<std::string> seen;  // message ids as the handler saw them
  server_->handle("orders.place", [&](CallContext& ctx, std::string_view p) -> Result<std::string> {
    EXPECT_EQ(p, "order 1");
    std::lock_guard lock(mu);
    seen.emplace_back(ctx.message_id());
    return std::string("ignored");
  });
  start();
  auto o = quick();
  o.message_id = "order-1";
  ASSERT_TRUE(send_acked(*client_, "orders.place", "order 1", o));
  // The same id again, as a sender whose acknowledgement was lost would send it.
  ASSERT_TRUE(send_acked(*client_, "orders.place", "order 1", o));
  ASSERT_TRUE(send_acked(*client_, "orders.place", "order 1", o));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen, std::vector<std::string>{"order-1"});
  }
  // A plain call carries no id.
  ASSERT_TRUE(client_->call("orders.place", "order 1"));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen.back(), "");
  }
  const std::string metrics = server_->metrics_text();
  EXPECT_NE(metrics.find("plexus_acked_messages_total{outcome=\"handled\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("plexus_acked_messages_total{outcome=\"duplicate\"} 2\n"),
            std::string::npos);
}

TEST_F(AckedTest, ANewConnectionStillRecognisesAHandledId) {
  std::atomic<int> runs{0};
  server_->handle("jobs.run", [&](CallContext&, std::string_view) -> Result<std::string> {
    runs.fetch_add(1);
    return std::string();
  });
  start();
  auto o = quick();
  o.message_id = "job-7";
  ASSERT_TRUE(send_acked(*client_, "jobs.run", "x", o));
  client_.reset();  // a sender that reconnects (or restarts) and resends
  ClientOptions co;
  co.address = dir_.unix_address("a.sock");
  auto again = Client::connect(runtime_, co);
  ASSERT_TRUE(again);
  ASSERT_TRUE(send_acked(**again, "jobs.run", "x", o));
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(AckedTest, NoAcknowledgementInTimeResendsAndTheHandlerStillRunsOnce) {
  // The first delivery's handler takes longer than the ack timeout; the resends meanwhile are
  // refused as "still being handled", and the one after it finished is acknowledged at once.
  std::atomic<int> runs{0};
  Event<bool> release;
  server_->handle_async("slow.job", [&](CallContext&, std::string_view, Responder r) {
    runs.fetch_add(1);
    std::thread([&release, r = std::move(r)]() mutable {
      release.wait_for(Millis{10000});
      r.reply(std::string());
    }).detach();
  });
  start();
  AckOptions o;
  o.ack_timeout = Millis{100};
  o.max_retries = 50;
  o.retry_delay = Millis{20};
  o.message_id = "slow-1";
  std::thread unblock([&] {
    std::this_thread::sleep_for(Millis{300});  // several attempts time out or are refused first
    release.set(true);
  });
  auto r = send_acked(*client_, "slow.job", "x", o);
  unblock.join();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(AckedTest, HandlerErrorsAreRetriedThenDeadLetteredWithTheirStatus) {
  std::atomic<int> runs{0};
  server_->handle("pay", [&](CallContext&, std::string_view) -> Result<std::string> {
    runs.fetch_add(1);
    return make_error(StatusCode::permission_denied, "card declined");
  });
  start();
  auto box = std::make_shared<DeadLetterBox>();
  auto o = quick();
  o.dead_letters = box;
  o.message_id = "pay-1";
  auto r = send_acked(*client_, "pay", "10 EUR", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::permission_denied);
  EXPECT_EQ(runs.load(), 3);  // the first attempt and two retries: a failure is not remembered
  ASSERT_EQ(box->size(), 1u);
  auto d = box->take("pay-1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, DeadLetterReason::handler_error);
  EXPECT_EQ(d->status, StatusCode::permission_denied);
  EXPECT_EQ(d->error, "card declined");
  EXPECT_EQ(d->message.payload, "10 EUR");
  EXPECT_EQ(d->message.queue, "pay");
  EXPECT_EQ(d->message.attempts, 3u);
  ASSERT_EQ(d->message.history.size(), 3u);
  EXPECT_EQ(d->message.history[0].reason, "handler_error");
  EXPECT_EQ(box->size(), 0u);
}

TEST_F(AckedTest, AReceiverThatIsGoneDeadLettersAsConsumerGone) {
  start();
  server_.reset();  // nobody listens any more
  auto box = std::make_shared<DeadLetterBox>();
  auto o = quick();
  o.dead_letters = box;
  auto r = send_acked(*client_, "anything", "x", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable);
  ASSERT_EQ(box->size(), 1u);
  EXPECT_EQ(box->list()[0].reason, DeadLetterReason::consumer_gone);
}

TEST_F(AckedTest, TheServerSendsAcknowledgedMessagesToAClientToo) {
  Event<Peer> connected;
  server_->handle("hello", [&](CallContext& ctx, std::string_view) -> Result<std::string> {
    connected.set(ctx.peer());
    return std::string();
  });
  start();
  std::atomic<int> runs{0};
  client_->handle("notice", [&](CallContext& ctx, std::string_view) -> Result<std::string> {
    EXPECT_EQ(ctx.message_id(), "n-1");
    runs.fetch_add(1);
    return std::string();
  });
  ASSERT_TRUE(client_->call("hello", ""));
  auto peer = connected.wait_for(Millis{5000});
  ASSERT_TRUE(peer);
  auto o = quick();
  o.message_id = "n-1";
  ASSERT_TRUE(send_acked(*peer, "notice", "x", o));
  ASSERT_TRUE(send_acked(*peer, "notice", "x", o));
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(AckedTest, AnAcknowledgedPublishReachesEachSubscriberOnceHoweverOftenItIsResent) {
  start();
  ClientOptions co;
  co.address = dir_.unix_address("a.sock");
  auto subscriber = Client::connect(runtime_, co);
  ASSERT_TRUE(subscriber);
  std::mutex mu;
  std::vector<std::string> got;
  Event<bool> second;
  auto sub = (*subscriber)->subscribe("orders.>", [&](std::string_view topic, std::string_view p) {
    std::lock_guard lock(mu);
    got.push_back(std::string(topic) + " " + std::string(p));
    if (got.size() == 2) second.set(true);
  });
  ASSERT_TRUE(sub);
  auto o = quick();
  o.message_id = "order-9";
  ASSERT_TRUE(publish_acked(*client_, "orders.new", "nine", o));
  ASSERT_TRUE(publish_acked(*client_, "orders.new", "nine", o));  // a resend: not routed again
  o.message_id = "order-10";
  ASSERT_TRUE(publish_acked(*client_, "orders.new", "ten", o));
  ASSERT_TRUE(second.wait_for(Millis{5000}));
  std::lock_guard lock(mu);
  EXPECT_EQ(got, (std::vector<std::string>{"orders.new nine", "orders.new ten"}));
  auto bad = publish_acked(*client_, "orders..bad", "x", o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, StatusCode::invalid_argument);
}

TEST_F(AckedTest, AnAccessPolicyChecksAnAcknowledgedPublishAsAPublishOnItsTopic) {
  auto policy = AccessPolicy::parse(R"([[rule]]
name = "me"
uid = )" + std::to_string(::getuid()) + R"(
publish = ["news.>"]
subscribe = ["news.>"]
)",
                                    "test-policy");
  ASSERT_TRUE(policy) << policy.error().to_string();
  ServerOptions so;
  so.listen = {dir_.unix_address("p.sock")};
  so.access_policy = std::move(*policy);
  auto server = Server::create(runtime_, so);
  ASSERT_TRUE(server);
  ASSERT_TRUE((*server)->start());
  ClientOptions co;
  co.address = dir_.unix_address("p.sock");
  auto c = Client::connect(runtime_, co);
  ASSERT_TRUE(c) << c.error().to_string();
  auto o = quick();
  EXPECT_TRUE(publish_acked(**c, "news.today", "x", o));  // no call rule is needed
  auto box = std::make_shared<DeadLetterBox>();
  o.dead_letters = box;
  auto denied = publish_acked(**c, "secrets.plan", "x", o);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, StatusCode::permission_denied);
  ASSERT_EQ(box->size(), 1u);
  EXPECT_EQ(box->list()[0].status, StatusCode::permission_denied);
}

TEST_F(AckedTest, AMessageIdOver128BytesIsRefused) {
  server_->handle(
      "m", [](CallContext&, std::string_view) -> Result<std::string> { return std::string(); });
  start();
  auto o = quick();
  o.message_id = std::string(129, 'x');
  auto r = send_acked(*client_, "m", "x", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
}

// The same over shared memory and from an application thread that makes blocking calls, which
// write their requests on their own thread (into the ring, or on a socket): the message's id
// still travels with it, so a resend is recognised.
TEST(AckedCallerThreadTest, AResendIsRecognisedWhateverThreadWritesTheRequest) {
  for (const std::string options : {"", "?shm=1"}) {
    TempDir dir;
    Runtime runtime;
    ServerOptions so;
    so.listen = {dir.unix_address("a.sock") + options};
    auto server = Server::create(runtime, so);
    ASSERT_TRUE(server);
    std::atomic<int> handled{0};
    (*server)->handle("orders.place",
                      [&](CallContext& ctx, std::string_view) -> Result<std::string> {
                        EXPECT_EQ(ctx.message_id(), "order-2");
                        ++handled;
                        return std::string();
                      });
    ASSERT_TRUE((*server)->start());
    ClientOptions co;
    co.address = dir.unix_address("a.sock") + options;
    auto client = Client::connect(runtime, co);
    ASSERT_TRUE(client) << client.error().to_string();
    AckOptions o;
    o.message_id = "order-2";
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(send_acked(**client, "orders.place", "order 2", o));
    EXPECT_EQ(handled.load(), 1) << (options.empty() ? "unix" : "shm");
  }
}

}  // namespace
}  // namespace plexus::test::acked
