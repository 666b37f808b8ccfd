// Direct channels (plexus/direct.hpp) against the child test server: its "direct.echo" sends
// every message back from a thread of its own ("close" makes it close its end instead). Opened
// over a plain Unix socket and over an shm-upgraded one; refused over TCP (no peer pid), by a
// method that is not a direct channel, and by a handler that throws. The server killed with
// SIGKILL while the test waits: unavailable, within the liveness interval.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "connect.hpp"
#include "platform/posix/shm.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transport/shm/ring.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kChannelWait = 10s;  // no wait in these tests should come near it

class DirectTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
    ClientOptions options;
    options.name = "direct-test";
    options.reconnect.enabled = false;
    client_ = connect_client(runtime_, server_.address(), options);
    ASSERT_TRUE(client_);
  }

  DirectChannel open(const std::string& name, DirectOptions options = {}) {
    auto ch = open_direct(*client_, name, options);
    EXPECT_TRUE(ch) << ch.error().to_string();
    return ch ? *ch : DirectChannel();
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

// Sizes from empty to the largest a 4 KiB ring takes, through the ring's end many times; each
// reply is the same bytes. With every wait strategy on this side and two on the server's.
TEST_P(DirectTest, MessagesOfEverySizeComeBackIntactWithEveryWaitStrategy) {
  for (auto wait : {WaitStrategy::spin, WaitStrategy::adaptive, WaitStrategy::block}) {
    for (const char* method : {"direct.echo", "direct.echo.block"}) {
      DirectOptions options;
      options.ring_bytes = 4096;
      options.wait = wait;
      auto ch = open(method, options);
      ASSERT_TRUE(ch.valid());
      EXPECT_EQ(ch.max_message_size(), 4096u - 16);  // a header, and the next one zeroed
      EXPECT_GE(ch.mapped_bytes(), 2 * 4096u);
      const int rounds = kSanitizerBuild ? 300 : 3000;
      for (int i = 0; i < rounds; ++i) {
        const std::size_t size =
            i % 97 == 0 ? ch.max_message_size() : static_cast<std::size_t>(i * 131 % 1500);
        const std::string message = pattern_bytes(size, static_cast<std::uint64_t>(i));
        ASSERT_TRUE(ch.send(message, kChannelWait)) << to_string(wait) << " " << method << " " << i;
        auto reply = ch.receive(kChannelWait);
        ASSERT_TRUE(reply) << reply.error().to_string();
        ASSERT_EQ(*reply, message) << to_string(wait) << " " << method << " message " << i;
      }
      ch.close();
    }
  }
}

// A message built in the ring itself (loan, then commit) comes back like any other; over a
// mirrored mapping the region is contiguous even across the ring's end.
TEST_P(DirectTest, LoanedMessagesComeBackIntact) {
  DirectOptions options;
  options.ring_bytes = 4096;
  auto ch = open("direct.echo", options);
  ASSERT_TRUE(ch.valid());
  for (int i = 0; i < 500; ++i) {
    const std::size_t size = static_cast<std::size_t>(i * 53 % 3000);
    auto region = ch.loan(size, kChannelWait);
    ASSERT_TRUE(region) << region.error().to_string();
    const std::string m = pattern_bytes(size, static_cast<std::uint64_t>(i));
    std::copy(m.begin(), m.end(), region->begin());
    ASSERT_TRUE(ch.commit(size));
    auto reply = ch.receive(kChannelWait);
    ASSERT_TRUE(reply) << reply.error().to_string();
    ASSERT_EQ(*reply, m) << i;
  }
}

// The server counts the channel ends it holds and the memory they map (its own ends only:
// the metric is per process).
TEST_P(DirectTest, TheServersChannelsAreInItsMetrics) {
  // plexus.stats (`plexus stats ADDR`): the gauges plexus_direct_channels and
  // plexus_direct_mapped_bytes, summed.
  const auto gauge = [&](const std::string& name) {
    auto r = client_->call("plexus.stats", "");
    EXPECT_TRUE(r) << r.error().to_string();
    const auto m = nlohmann::json::parse(r ? *r : "{}");
    return m.contains("direct") ? m["direct"].value(name, -1.0) : -1.0;
  };
  EXPECT_EQ(gauge("channels"), 0);
  DirectOptions options;
  options.ring_bytes = 8192;
  auto a = open("direct.echo", options);
  auto b = open("direct.echo", options);
  ASSERT_TRUE(a.valid() && b.valid());
  EXPECT_EQ(gauge("channels"), 2);
  EXPECT_EQ(gauge("mapped_bytes"), 2 * (4096 + 2 * 8192));
  EXPECT_EQ(a.mapped_bytes(), 4096u + 2 * 8192);
}

// The client sends without reading: the server echoes until the ring back is full, then stops
// reading, and this side's ring fills too. A send that cannot wait then says so; nothing is
// lost, and once this side reads, everything comes back in order.
TEST_P(DirectTest, AFullRingPushesBackAndLosesNothing) {
  DirectOptions options;
  options.ring_bytes = 4096;
  auto ch = open("direct.echo", options);
  ASSERT_TRUE(ch.valid());
  const std::string message(200, 'm');
  int sent = 0;
  for (;; ++sent) {
    ASSERT_LT(sent, 1000) << "two 4 KiB rings took 1,000 messages of 200 bytes";
    auto ok = ch.send(std::to_string(sent) + message, 50ms);
    if (!ok) {
      EXPECT_EQ(ok.error().code, StatusCode::deadline_exceeded) << ok.error().to_string();
      break;
    }
  }
  // Both rings hold them, less what a reader has consumed but not yet handed back (it does in
  // quarters of the ring, or when it runs dry).
  EXPECT_GE(sent, (3 * 4096 / 4) / 211);  // at least one ring's worth, however slow the server
  for (int i = 0; i < sent; ++i) {
    auto reply = ch.receive(kChannelWait);
    ASSERT_TRUE(reply) << i << ": " << reply.error().to_string();
    ASSERT_EQ(*reply, std::to_string(i) + message);
  }
  auto none = ch.receive(0ns);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, StatusCode::deadline_exceeded);
}

TEST_P(DirectTest, LimitsAndTimeoutsAreReportedAsSuch) {
  DirectOptions options;
  options.ring_bytes = 8192;
  auto ch = open("direct.echo", options);
  ASSERT_TRUE(ch.valid());
  auto big = ch.send(std::string(ch.max_message_size() + 1, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, StatusCode::message_too_large);
  const auto start = std::chrono::steady_clock::now();
  auto nothing = ch.receive(20ms);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, StatusCode::deadline_exceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  ASSERT_TRUE(ch.send(std::string(ch.max_message_size(), 'y')));
  auto reply = ch.receive(kChannelWait);
  ASSERT_TRUE(reply) << reply.error().to_string();
  EXPECT_EQ(reply->size(), ch.max_message_size());

  DirectChannel empty;
  EXPECT_EQ(empty.send("x").error().code, StatusCode::failed_precondition);
  EXPECT_EQ(empty.receive().error().code, StatusCode::failed_precondition);
  DirectOptions odd;
  odd.ring_bytes = 5000;
  auto refused = open_direct(*client_, "direct.echo", odd);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::invalid_argument);
}

// Either side closing: the other reads what was sent before, then gets unavailable.
TEST_P(DirectTest, ClosingEitherEndIsSeenByTheOther) {
  auto ch = open("direct.echo");
  ASSERT_TRUE(ch.valid());
  ASSERT_TRUE(ch.send("one"));
  ASSERT_TRUE(ch.send("close"));  // the server's thread closes its end here
  auto first = ch.receive(kChannelWait);
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(*first, "one");
  auto after = ch.receive(kChannelWait);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, StatusCode::unavailable) << after.error().to_string();
  auto send = ch.send("more");
  ASSERT_FALSE(send);
  EXPECT_EQ(send.error().code, StatusCode::unavailable);

  // This side closing wakes its own receiver on another thread (an hour between liveness
  // looks: only the wake-up ends its wait in time).
  DirectOptions sleepy;
  sleepy.wait = WaitStrategy::block;
  sleepy.liveness_interval = std::chrono::hours(1);
  auto other = open("direct.echo.block", sleepy);
  ASSERT_TRUE(other.valid());
  Event<StatusCode> woke;
  std::thread waiter([&] {
    auto r = other.receive(kChannelWait);
    woke.set(r ? StatusCode::ok : r.error().code);
  });
  other.close();
  auto code = woke.wait_for(Millis{10000});
  waiter.join();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, StatusCode::unavailable);
}

TEST_P(DirectTest, AnythingButADirectHandlerRefusesTheChannel) {
  auto missing = open_direct(*client_, "direct.nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StatusCode::not_found);
  auto not_direct = open_direct(*client_, "echo");  // answers its request back: not "accepted"
  ASSERT_FALSE(not_direct);
  EXPECT_EQ(not_direct.error().code, StatusCode::failed_precondition);
  auto thrown = open_direct(*client_, "direct.refuse");
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, StatusCode::internal) << thrown.error().to_string();
  // Forged requests: a descriptor the client does not have; a sealed memfd of the right size
  // that is not a direct channel's segment (a shared-memory transport's header).
  auto forged = client_->call("direct.echo",
                              R"({"plexus_direct":2,"fd":987654,"ring_bytes":4096,"nonce":7})");
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().code, StatusCode::not_found) << forged.error().to_string();
  // The record format before seals (version 1) is refused by name, not by a mismatched header.
  auto old = client_->call("direct.echo",
                           R"({"plexus_direct":1,"fd":987654,"ring_bytes":4096,"nonce":7})");
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, StatusCode::invalid_argument);
  EXPECT_NE(old.error().message.find("plexus_direct must be 2"), std::string::npos)
      << old.error().to_string();
  auto layout = transport::shm::segment_layout(4096, 4096);
  ASSERT_TRUE(layout);
  auto memfd = platform::create_memfd("not-direct", layout->total);
  ASSERT_TRUE(memfd);
  auto mapped = transport::shm::map_segment(memfd->get(), *layout);
  ASSERT_TRUE(mapped);
  transport::shm::init_segment(mapped->base, *layout);
  auto foreign =
      client_->call("direct.echo", R"({"plexus_direct":2,"fd":)" + std::to_string(memfd->get()) +
                                       R"(,"ring_bytes":4096,"nonce":7})");
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, StatusCode::invalid_argument) << foreign.error().to_string();
  auto garbage = client_->call("direct.echo", "{not json");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, StatusCode::invalid_argument);
  // Still serving.
  auto ch = open("direct.echo");
  ASSERT_TRUE(ch.valid());
  ASSERT_TRUE(ch.send("alive"));
  auto reply = ch.receive(kChannelWait);
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, "alive");
}

// SIGKILL: nothing closes the channel; the pidfd tells the waiting side within the liveness
// interval (100 ms by default; the bound here leaves room for a loaded machine).
TEST_P(DirectTest, APeerKilledMidStreamGivesUnavailable) {
  for (auto wait : {WaitStrategy::spin, WaitStrategy::block}) {
    if (!server_.running()) {
      server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_, "again.sock")});
      ClientOptions options;
      options.reconnect.enabled = false;
      client_ = connect_client(runtime_, server_.address(), options);
      ASSERT_TRUE(client_);
    }
    DirectOptions options;
    options.wait = wait;
    auto ch = open("direct.echo", options);
    ASSERT_TRUE(ch.valid());
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(ch.send("x"));
      ASSERT_TRUE(ch.receive(kChannelWait));
    }
    server_.kill_now();
    const auto killed_at = std::chrono::steady_clock::now();
    auto r = ch.receive(kChannelWait);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 3s) << to_string(wait);
  }
}

INSTANTIATE_TEST_SUITE_P(UnixAndShm, DirectTest,
                         ::testing::Values(Transport::unix_socket, Transport::shm), transport_name);

TEST(DirectOverTcp, NeedsAUnixSocket) {
  TempDir dir;
  auto server = ServerProcess::spawn({"--listen", "tcp://127.0.0.1:0"});
  ASSERT_TRUE(server.running());
  Runtime runtime;
  auto client = connect_client(runtime, server.address());
  ASSERT_TRUE(client);
  auto ch = open_direct(*client, "direct.echo");
  ASSERT_FALSE(ch);
  EXPECT_EQ(ch.error().code, StatusCode::failed_precondition) << ch.error().to_string();
}

}  // namespace
}  // namespace plexus::test
