// Policies across real processes: the test server (tests/support/test_server.cpp) serves
// handlers with policies on a clock the test moves ("clock.advance"), over both transports.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus {
namespace {

using nlohmann::json;

class Policies : public ::testing::TestWithParam<test::Transport> {
 protected:
  void SetUp() override {
    server_ = test::ServerProcess::spawn({"--listen", test::listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
  }
  std::unique_ptr<Client> connect(std::string name) {
    ClientOptions o;
    o.name = std::move(name);
    return test::connect_client(runtime_, server_.address(), o);
  }
  json stats(Client& c, const std::string& method) {
    auto r = c.call("p.stats", json{{"method", method}}.dump());
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? json::parse(*r) : json{};
  }

  test::TempDir dir_;
  Runtime runtime_;
  test::ServerProcess server_;
};

// The limit is per verified client (the user, over Unix sockets; the host, over TCP): a second
// client of the same process, under another name, shares the flooder's bucket.
TEST_P(Policies, FloodFromOneClientIsLimitedAndAnotherNameDoesNotEscapeIt) {
  PLEXUS_SKIP_OVER_EXEC("each client spawns a server of its own: clients never share one");
  auto flood = connect("flooder");
  auto calm = connect("calm");
  ASSERT_TRUE(flood && calm);
  int served = 0, limited = 0;
  std::optional<Error> refusal;
  for (int i = 0; i < 50; ++i) {
    auto r = flood->call("p.limited", "");
    if (r) {
      ++served;
    } else {
      ++limited;
      refusal = r.error();
    }
  }
  EXPECT_EQ(served, 5);
  EXPECT_EQ(limited, 45);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, StatusCode::resource_exhausted);
  EXPECT_EQ(json::parse(refusal->details)["retry_after_ms"], 1000);
  auto other = calm->call("p.limited", "");
  ASSERT_FALSE(other) << "a new name is not a new client";
  EXPECT_EQ(other.error().code, StatusCode::resource_exhausted);
  ASSERT_TRUE(calm->call("clock.advance", R"({"ms":1000})"));
  auto back = calm->call("p.limited", "");  // one token back after a second, for either name
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(json::parse(*back)["served"], "calm");
  EXPECT_FALSE(flood->call("p.limited", ""));
  EXPECT_EQ(stats(*calm, "p.limited")["rate_limited_client"], 47);
}

TEST_P(Policies, CachedSearchSkipsTheHandlerUntilAWriteInvalidatesIt) {
  auto c = connect("searcher");
  ASSERT_TRUE(c);
  ResponseInfo info;
  CallOptions o;
  o.response_info = &info;
  auto first = c->call("p.search", R"({"q":"ada"})", o);
  ASSERT_TRUE(first);
  EXPECT_EQ(info.cache, ResponseInfo::Cache::miss);
  ASSERT_TRUE(c->call("clock.advance", R"({"ms":1500})"));
  info = {};
  auto second = c->call("p.search", R"({"q":"ada"})", o);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, *first);  // same runs count: the handler did not run
  EXPECT_EQ(json::parse(*second)["runs"], 1);
  EXPECT_EQ(info.cache, ResponseInfo::Cache::hit);
  EXPECT_EQ(info.cache_age, std::chrono::microseconds(1'500'000));
  EXPECT_TRUE(info.handler_time);

  auto write = c->call("p.write", "{}");
  ASSERT_TRUE(write);
  EXPECT_EQ(json::parse(*write)["invalidated"], 1);
  auto third = c->call("p.search", R"({"q":"ada"})", o);
  ASSERT_TRUE(third);
  EXPECT_EQ(json::parse(*third)["runs"], 2);
  EXPECT_EQ(json::parse(*third)["version"], 1);
  EXPECT_EQ(info.cache, ResponseInfo::Cache::miss);
  const auto s = stats(*c, "p.search");
  EXPECT_EQ(s["cache_hits"], 1);
  EXPECT_EQ(s["cache_misses"], 2);
}

TEST_P(Policies, FailingDependencyOpensTheBreakerWhichClosesAfterRecovery) {
  auto c = connect("caller");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->call("p.dep.health", R"({"healthy":false})"));
  for (int i = 0; i < 5; ++i) {
    auto r = c->call("p.dep", "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "dependency down");
  }
  auto fast = c->call("p.dep", "");
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().code, StatusCode::unavailable);
  EXPECT_NE(fast.error().message.find("circuit breaker"), std::string::npos);
  EXPECT_EQ(json::parse(fast.error().details)["breaker"], "open");

  ASSERT_TRUE(c->call("p.dep.health", R"({"healthy":true})"));
  EXPECT_FALSE(c->call("p.dep", ""));  // still open: the 60 s have not passed
  ASSERT_TRUE(c->call("clock.advance", R"({"ms":60000})"));
  EXPECT_TRUE(c->call("p.dep", ""));  // half-open trial
  EXPECT_TRUE(c->call("p.dep", ""));  // second success: closed
  const auto s = stats(*c, "p.dep");
  EXPECT_EQ(s["breaker_opened"], 1);
  EXPECT_EQ(s["breaker_closed"], 1);
  EXPECT_EQ(s["breaker_rejected"], 2);
}

TEST_P(Policies, ClientSideBreakerFailsFastWithoutSending) {
  auto clock = std::make_shared<ManualClock>();
  ClientOptions o;
  o.name = "guarded";
  o.breaker = BreakerOptions{};
  o.clock = clock;
  auto c = test::connect_client(runtime_, server_.address(), o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->call("p.dep.health", R"({"healthy":false})"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(c->call("p.dep", ""));
  auto fast = c->call("p.dep", "");
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().code, StatusCode::unavailable);
  EXPECT_EQ(json::parse(fast.error().details)["breaker"], "open");
  EXPECT_TRUE(c->call("echo", "x"));  // breakers are per method
  // Never sent: the server's own breaker (open too by now) saw no rejected call.
  EXPECT_EQ(stats(*c, "p.dep")["breaker_rejected"], 0);
  EXPECT_EQ(c->breaker_stats().breaker_opened, 1u);

  ASSERT_TRUE(c->call("p.dep.health", R"({"healthy":true})"));
  ASSERT_TRUE(c->call("clock.advance", R"({"ms":60000})"));  // the server's clock
  clock->advance(std::chrono::seconds(60));                  // the client's
  EXPECT_TRUE(c->call("p.dep", ""));
  EXPECT_TRUE(c->call("p.dep", ""));
  EXPECT_EQ(c->breaker_stats().breaker_closed, 1u);
}

// call_async_view under a client-side breaker: the success is counted before the answer's view
// is handed over, so a half-open breaker with one trial slot admits the call that the view's
// callback starts next (refilling from the completion, as pipelined callers do).
TEST_P(Policies, AViewCallbackMayStartTheNextTrialOfAHalfOpenBreaker) {
  auto clock = std::make_shared<ManualClock>();
  ClientOptions o;
  o.name = "guarded-views";
  o.breaker = BreakerOptions{1, 2, Millis{60000}, 1};  // open at 1 failure, one trial at a time
  o.clock = clock;
  auto c = test::connect_client(runtime_, server_.address(), o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->call("p.dep.health", R"({"healthy":false})"));
  EXPECT_FALSE(c->call("p.dep", ""));
  ASSERT_EQ(c->breaker_stats().breaker_opened, 1u);
  ASSERT_TRUE(c->call("p.dep.health", R"({"healthy":true})"));
  ASSERT_TRUE(c->call("clock.advance", R"({"ms":60000})"));
  clock->advance(std::chrono::seconds(60));  // half-open now: one trial call at a time

  struct Trials {
    Client* client = nullptr;
    test::Event<StatusCode> second;
    std::optional<StatusCode> first;
  };
  auto trials = std::make_shared<Trials>();
  trials->client = c.get();
  c->call_async_view("p.dep", "", {}, [trials](Result<std::string_view> r) {
    trials->first = r ? StatusCode::ok : r.error().code;
    if (!r) return trials->second.set(r.error().code);
    trials->client->call_async_view("p.dep", "", {}, [trials](Result<std::string_view> again) {
      trials->second.set(again ? StatusCode::ok : again.error().code);
    });
  });
  auto second = trials->second.wait_for(Millis{10000});
  ASSERT_TRUE(second);
  EXPECT_EQ(trials->first, StatusCode::ok);
  EXPECT_EQ(*second, StatusCode::ok) << "the second trial was refused";
  EXPECT_EQ(c->breaker_stats().breaker_closed, 1u);  // two successes close it
}

TEST_P(Policies, SchemaViolationReturnsEveryFailingPath) {
  auto c = connect("validator");
  ASSERT_TRUE(c);
  auto r = c->call("fib", R"({"n":-1,"extra":true})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  const auto errors = json::parse(r.error().details)["errors"];
  std::set<std::string> paths;
  for (const auto& e : errors) paths.insert(e["path"].get<std::string>());
  EXPECT_TRUE(paths.contains("/n")) << errors.dump();
  EXPECT_GE(errors.size(), 2u) << errors.dump();  // the minimum and the extra property
  auto ok = c->call("fib", R"({"n":10})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(json::parse(*ok)["fib"], 55);
  auto described = c->call("plexus.describe", "");
  ASSERT_TRUE(described);
  bool found = false;
  const auto methods = json::parse(*described)["methods"];
  for (const auto& m : methods) {
    if (m["name"] == "fib") found = m.contains("schema");
  }
  EXPECT_TRUE(found);
}

PLEXUS_ALL_TRANSPORTS(Policies);

}  // namespace
}  // namespace plexus
