// The pub/sub router (src/rpc/pubsub_router.hpp) on its own, with real sessions over loopback
// pairs wired to it the way Server wires its sessions (src/api/server.cpp): wildcard matching,
// fan-out, unsubscribe, a closed subscriber dropped, each slow-subscriber policy, the
// subscriber's message size limit, the connection backlog bound, malformed patterns refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loopback_sessions.hpp"
#include "rpc/pubsub_router.hpp"

namespace plexus::rpc {
namespace {

using namespace std::chrono_literals;
using test_support::LoopbackSessions;
using test_support::SessionLink;

struct RoutedMessage {
  SubscriptionId id;
  std::string topic;
  std::string payload;
  bool operator==(const RoutedMessage&) const = default;
};

// A remote subscriber: the client end of a link whose server end routes through the router.
struct RouterPeer {
  SessionLink* link = nullptr;
  std::vector<RoutedMessage> got;
};

class PubSubRouterTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(net_.close_all()); }

  // A peer joined to the router; `client` is the subscriber's own session options (its
  // max_message_size is what the router must respect).
  RouterPeer& join(SessionOptions client = {}) {
    RouterPeer& peer = peers_.emplace_back();
    peer.link = &net_.add();
    SessionCallbacks client_cb;
    client_cb.on_publish = [&peer](Session&, SubscriptionId id, std::string_view topic,
                                   std::string_view payload) {
      peer.got.push_back({id, std::string(topic), std::string(payload)});
    };
    EXPECT_TRUE(net_.connect(*peer.link, client, {}, std::move(client_cb), routed()));
    return peer;
  }

  // The server side's callbacks, as Server::accept sets them.
  SessionCallbacks routed() {
    SessionCallbacks cb;
    cb.on_closed = [router = router_](Session& s, const Error&) { router->drop_session(&s); };
    cb.on_subscribe = [router = router_](Session& s, SubscriptionId id, std::string_view pattern,
                                         std::string_view options) -> Result<void> {
      auto parsed = parse_subscribe_options(options);
      if (!parsed) return tl::unexpected(parsed.error());
      return router->subscribe(&s, id, pattern, *parsed,
                               Router::Target{s.weak_from_this(), {}, s.executor()});
    };
    cb.on_unsubscribe = [router = router_](Session& s, SubscriptionId id) {
      router->unsubscribe(&s, id);
    };
    cb.on_publish = [router = router_](Session& s, SubscriptionId, std::string_view topic,
                                       std::string_view payload) {
      (void)router->publish(s.shared_from_this(), message(topic, payload), false);
    };
    cb.on_writable = [router = router_](Session& s) { router->on_writable(&s); };
    return cb;
  }

  static PubMessagePtr message(std::string_view topic, std::string_view payload) {
    auto m = std::make_shared<PubMessage>();
    m->topic = std::string(topic);
    m->payload = std::string(payload);
    return m;
  }

  // SUBSCRIBE from `peer`, run until the router answered; the id the subscription got.
  Result<SubscriptionId> subscribe(RouterPeer& peer, std::string_view pattern,
                                   std::string options_json = {}) {
    auto& session = *peer.link->client.session;
    const SubscriptionId id = session.next_call_id();
    std::optional<Result<std::string>> answer;
    session.subscribe(id, pattern, std::move(options_json),
                      [&answer](Result<std::string> r) { answer = std::move(r); });
    if (!net_.run_until([&] { return answer.has_value(); })) {
      return make_error(StatusCode::unknown, "SUBSCRIBE was never answered");
    }
    if (!*answer) return tl::unexpected(answer->error());
    return id;
  }

  static std::string options(std::size_t queue, SlowPolicy policy) {
    return encode_subscribe_options(SubscribeOptions{queue, policy});
  }

  // A server-local publish, as Server::publish from an I/O thread (it may not wait).
  Result<void> publish(std::string_view topic, std::string_view payload) {
    return router_->publish(nullptr, message(topic, payload), /*may_wait=*/false);
  }

  // Runs until the router has handed out `n` messages in all and the last of them arrived.
  bool run_until_delivered(std::uint64_t n) {
    return net_.run_until([&] {
      std::size_t arrived = 0;
      for (const auto& p : peers_) arrived += p.got.size();
      return router_->stats().delivered >= n && arrived + local_.size() >= n;
    });
  }

  static std::vector<std::string> payloads(const RouterPeer& peer) {
    std::vector<std::string> out;
    for (const auto& d : peer.got) out.push_back(d.payload);
    return out;
  }

  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  std::deque<RouterPeer> peers_;      // stable addresses: callbacks hold them
  std::vector<RoutedMessage> local_;  // what server-local subscriptions received
  LoopbackSessions net_;              // last: its sessions go first, then its io_context
};

TEST_F(PubSubRouterTest, EachPublishReachesExactlyTheMatchingSubscriptions) {
  RouterPeer& one = join();
  RouterPeer& trailing = join();
  RouterPeer& logs = join();
  auto one_id = subscribe(one, "db.*");
  auto trailing_id = subscribe(trailing, "db.>");
  auto logs_id = subscribe(logs, "logs.>");
  ASSERT_TRUE(one_id && trailing_id && logs_id);
  // A server-local subscription (Server::subscribe) sits in the same table.
  ASSERT_TRUE(
      router_->subscribe(nullptr, 7, "*.users", {},
                         Router::Target{{},
                                        [this](std::string_view t, std::string_view p) {
                                          local_.push_back({7, std::string(t), std::string(p)});
                                        },
                                        net_.io.get_executor()}));

  for (const char* topic : {"db.users", "db.users.insert", "logs.app", "db", "other.x"}) {
    ASSERT_TRUE(publish(topic, std::string("to ") + topic)) << topic;
  }
  // db.users: db.*, db.>, *.users; db.users.insert: db.>; logs.app: logs.>; the rest: nobody.
  ASSERT_TRUE(run_until_delivered(5));
  EXPECT_EQ(one.got, (std::vector<RoutedMessage>{{*one_id, "db.users", "to db.users"}}));
  EXPECT_EQ(trailing.got,
            (std::vector<RoutedMessage>{{*trailing_id, "db.users", "to db.users"},
                                        {*trailing_id, "db.users.insert", "to db.users.insert"}}));
  EXPECT_EQ(logs.got, (std::vector<RoutedMessage>{{*logs_id, "logs.app", "to logs.app"}}));
  EXPECT_EQ(local_, (std::vector<RoutedMessage>{{7, "db.users", "to db.users"}}));
  const auto st = router_->stats();
  EXPECT_EQ(st.published, 5u);
  EXPECT_EQ(st.delivered, 5u);
  EXPECT_EQ(st.subscriptions, 4u);
}

TEST_F(PubSubRouterTest, APublishFromAPeerFansOutInOrder) {
  RouterPeer& publisher = join();
  RouterPeer& a = join();
  RouterPeer& b = join();
  ASSERT_TRUE(subscribe(a, ">"));
  ASSERT_TRUE(subscribe(b, "ticks.*"));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(publisher.link->client.session->publish(0, "ticks.t", std::to_string(i)));
  }
  ASSERT_TRUE(run_until_delivered(40));
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(std::to_string(i));
  EXPECT_EQ(payloads(a), expected);
  EXPECT_EQ(payloads(b), expected);
  EXPECT_TRUE(publisher.got.empty()) << "the publisher subscribed to nothing";
}

TEST_F(PubSubRouterTest, UnsubscribeStopsOneSubscriptionAndLeavesTheOther) {
  RouterPeer& peer = join();
  auto wide = subscribe(peer, "a.>");
  auto narrow = subscribe(peer, "a.b");
  ASSERT_TRUE(wide && narrow);
  ASSERT_TRUE(publish("a.b", "both"));
  ASSERT_TRUE(run_until_delivered(2));
  // One message per matching subscription, each with its own id.
  EXPECT_EQ(peer.got,
            (std::vector<RoutedMessage>{{*wide, "a.b", "both"}, {*narrow, "a.b", "both"}}));

  peer.link->client.session->unsubscribe(*narrow);
  ASSERT_TRUE(net_.run_until([&] { return router_->stats().subscriptions == 1; }));
  ASSERT_TRUE(publish("a.b", "wide only"));
  ASSERT_TRUE(run_until_delivered(3));
  ASSERT_EQ(peer.got.size(), 3u);
  EXPECT_EQ(peer.got.back(), (RoutedMessage{*wide, "a.b", "wide only"}));
  ASSERT_EQ(router_->subscriptions().size(), 1u);
  EXPECT_EQ(router_->subscriptions()[0].pattern, "a.>");
}

TEST_F(PubSubRouterTest, ASubscriberWhoseSessionClosesIsDropped) {
  RouterPeer& leaving = join();
  SessionOptions named;
  named.local_name = "staying";
  RouterPeer& staying = join(named);
  ASSERT_TRUE(subscribe(leaving, "x.*"));
  ASSERT_TRUE(subscribe(staying, "x.*"));
  ASSERT_EQ(router_->stats().subscriptions, 2u);

  leaving.link->client.session->close(Error{StatusCode::cancelled, "bye", ""}, false);
  ASSERT_TRUE(net_.run_until([&] { return leaving.link->server.closed.has_value(); }));
  const auto subs = router_->subscriptions();
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].subscriber, "staying");

  ASSERT_TRUE(publish("x.y", "after"));
  ASSERT_TRUE(run_until_delivered(1));
  EXPECT_EQ(payloads(staying), (std::vector<std::string>{"after"}));
  EXPECT_TRUE(leaving.got.empty());
  EXPECT_EQ(router_->stats().delivered, 1u);
}

TEST_F(PubSubRouterTest, MalformedPatternsTopicsAndOptionsAreRefused) {
  RouterPeer& peer = join();
  // (An empty pattern never reaches the router from a peer: a SUBSCRIBE without one is a
  // protocol error that closes the session. Server::subscribe passes it straight through.)
  auto empty = router_->subscribe(nullptr, 1, "", {}, Router::Target{{}, [](auto, auto) {}, {}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, StatusCode::invalid_argument);
  for (const char* bad : {"a..b", ".a", "a.", "a.>.b", "a*", "a.b>", ">x"}) {
    auto r = subscribe(peer, bad);
    ASSERT_FALSE(r) << "pattern \"" << bad << "\" was accepted";
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
  for (const char* bad : {R"({"queue":0})", R"({"queue":1000001})", R"({"policy":"lossy"})",
                          R"({"queue":"ten"})", "[1]", "not json"}) {
    auto r = subscribe(peer, "a.b", bad);
    ASSERT_FALSE(r) << "options " << bad << " were accepted";
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
  EXPECT_EQ(router_->stats().subscriptions, 0u);
  // A topic may not hold wildcards.
  for (const char* bad : {"a.*", "a.>", "", "a..b"}) {
    auto r = publish(bad, "x");
    ASSERT_FALSE(r) << "topic \"" << bad << "\" was accepted";
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  }
  EXPECT_EQ(router_->stats().published, 0u);
}

// The messages below are published with no handler run in between: the subscriber's pump
// has not run yet, so the queue holds exactly what the policy let in.

TEST_F(PubSubRouterTest, DropOldestKeepsTheNewestMessages) {
  RouterPeer& slow = join();
  ASSERT_TRUE(subscribe(slow, "q", options(3, SlowPolicy::drop_oldest)));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(publish("q", std::to_string(i)));
  ASSERT_EQ(router_->subscriptions()[0].queued, 3u);
  ASSERT_TRUE(run_until_delivered(3));
  EXPECT_EQ(payloads(slow), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(router_->stats().dropped_oldest, 2u);
  EXPECT_EQ(router_->subscriptions()[0].dropped, 2u);
}

TEST_F(PubSubRouterTest, DropNewestKeepsTheFirstMessages) {
  RouterPeer& slow = join();
  ASSERT_TRUE(subscribe(slow, "q", options(3, SlowPolicy::drop_newest)));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(publish("q", std::to_string(i)));
  ASSERT_TRUE(run_until_delivered(3));
  EXPECT_EQ(payloads(slow), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(router_->stats().dropped_newest, 2u);
  EXPECT_EQ(router_->subscriptions()[0].dropped, 2u);
}

TEST_F(PubSubRouterTest, BlockRefusesALocalPublisherThatMayNotWait) {
  RouterPeer& slow = join();
  RouterPeer& other = join();
  ASSERT_TRUE(subscribe(slow, "q", options(2, SlowPolicy::block)));
  ASSERT_TRUE(subscribe(other, "q"));
  ASSERT_TRUE(publish("q", "1"));
  ASSERT_TRUE(publish("q", "2"));
  auto third = publish("q", "3");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, StatusCode::resource_exhausted);
  // The full block subscription refused it; the others still got it.
  ASSERT_TRUE(run_until_delivered(5));
  EXPECT_EQ(payloads(slow), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(payloads(other), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(router_->stats().block_refused, 1u);
  EXPECT_EQ(router_->subscriptions()[0].dropped, 0u);
}

TEST_F(PubSubRouterTest, BlockHoldsARemotePublisherBackAndLosesNothing) {
  RouterPeer& publisher = join();
  RouterPeer& slow = join();
  ASSERT_TRUE(subscribe(slow, "q", options(1, SlowPolicy::block)));
  // The three frames reach the router in one pass: the second finds the queue full and
  // pauses the publisher's session; the third waits until the subscriber has taken them.
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(publisher.link->client.session->publish(0, "q", std::to_string(i)));
  }
  ASSERT_TRUE(run_until_delivered(3));
  EXPECT_EQ(payloads(slow), (std::vector<std::string>{"1", "2", "3"}));
  const auto st = router_->stats();
  EXPECT_GE(st.blocked, 1u);
  EXPECT_EQ(st.dropped_oldest + st.dropped_newest, 0u);
  // The publisher's session reads again: a later publish goes through.
  ASSERT_TRUE(publisher.link->client.session->publish(0, "q", "4"));
  ASSERT_TRUE(run_until_delivered(4));
  EXPECT_EQ(slow.got.back().payload, "4");
}

TEST_F(PubSubRouterTest, DisconnectClosesTheSlowSubscribersSession) {
  RouterPeer& slow = join();
  RouterPeer& other = join();
  ASSERT_TRUE(subscribe(slow, "q", options(1, SlowPolicy::disconnect)));
  ASSERT_TRUE(subscribe(other, "q"));
  ASSERT_TRUE(publish("q", "1"));
  ASSERT_TRUE(publish("q", "2"));  // overflows the slow subscription
  EXPECT_EQ(router_->stats().disconnected, 1u);
  EXPECT_EQ(router_->stats().subscriptions, 1u);
  ASSERT_TRUE(net_.run_until([&] { return slow.link->client.closed.has_value(); }));
  EXPECT_EQ(slow.link->client.closed->code, StatusCode::resource_exhausted)
      << slow.link->client.closed->to_string();
  ASSERT_TRUE(run_until_delivered(2));
  EXPECT_EQ(payloads(other), (std::vector<std::string>{"1", "2"}));
  EXPECT_FALSE(other.link->client.closed);
}

TEST_F(PubSubRouterTest, AMessageOverTheSubscribersLimitIsDroppedForItAlone) {
  SessionOptions small;
  small.max_message_size = 1024;
  RouterPeer& limited = join(small);
  RouterPeer& roomy = join();
  ASSERT_TRUE(subscribe(limited, "big.>"));
  ASSERT_TRUE(subscribe(roomy, "big.>"));
  const std::string large(2000, 'x');
  ASSERT_TRUE(publish("big.one", large));
  ASSERT_TRUE(publish("big.two", "small"));
  ASSERT_TRUE(net_.run_until([&] { return limited.got.size() == 1 && roomy.got.size() == 2; }));
  EXPECT_EQ(payloads(limited), (std::vector<std::string>{"small"}));
  EXPECT_EQ(payloads(roomy), (std::vector<std::string>{large, "small"}));
  EXPECT_EQ(router_->stats().dropped_too_large, 1u);
  EXPECT_EQ(router_->subscriptions()[0].dropped, 1u);
  EXPECT_FALSE(limited.link->client.closed) << "the subscriber never saw the large message";
}

TEST_F(PubSubRouterTest, ASubscribersConnectionHoldsAtMostTheBacklogBoundUnwritten) {
  RouterPeer& slow = join();
  ASSERT_TRUE(subscribe(slow, "bulk"));
  // The subscriber reads slowly: every frame its server end sends arrives 20 ms later.
  auto& link_out = *slow.link->server.connection;
  link_out.faults().delay = 20ms;
  constexpr int kMessages = 200;
  const std::string payload(8 * 1024, 'p');
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(publish("bulk", payload));
  std::size_t peak = 0;
  ASSERT_TRUE(net_.run_until([&] {
    peak = std::max(peak, link_out.pending_write_bytes());
    return slow.got.size() == kMessages;
  }));
  // The pump checks the backlog before each chunk of 64 messages: at most the bound plus one
  // chunk (with frame overhead) is ever unwritten, not the 1.6 MB published.
  const std::size_t chunk = 64 * (payload.size() + 256);
  EXPECT_LE(peak, Router::kMaxBacklog + chunk);
  EXPECT_GE(peak, Router::kMaxBacklog) << "the test never filled the backlog";
  EXPECT_EQ(router_->stats().delivered, static_cast<std::uint64_t>(kMessages));
}

}  // namespace
}  // namespace plexus::rpc
