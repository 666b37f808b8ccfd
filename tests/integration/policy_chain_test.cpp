// The policy chain end to end inside one process: a real server and clients over a Unix socket,
// the policies on a ManualClock, so every time-dependent answer is exact and nothing sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>

#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class PolicyChain : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen = {dir_.unix_address("s.sock")};
    o.name = "policy-server";
    auto s = Server::create(runtime_, o);
    ASSERT_TRUE(s);
    server_ = std::move(*s);
  }
  void start() {
    ASSERT_TRUE(server_->start());
    client_ = connect("client-a");
  }
  std::unique_ptr<Client> connect(std::string name) {
    ClientOptions co;
    co.name = std::move(name);
    return test::connect_client(runtime_, server_->addresses().front(), co);
  }
  HandlerOptions with_clock() {
    HandlerOptions o;
    o.clock = clock_;
    return o;
  }

  test::TempDir dir_;
  Runtime runtime_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(PolicyChain, CacheHitAnswersWithoutTheHandlerAndSaysSo) {
  std::atomic<int> runs{0};
  auto o = with_clock();
  o.cache = CacheOptions{};
  o.cache->ttl = milliseconds(1000);
  ASSERT_TRUE(server_->handle(
      "search",
      [&](CallContext&, std::string_view p) -> Result<std::string> {
        ++runs;
        return "found:" + std::string(p);
      },
      o));
  start();
  ResponseInfo first;
  CallOptions co;
  co.response_info = &first;
  auto a = client_->call("search", R"({"q":"x","n":1})", co);
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(first.cache, ResponseInfo::Cache::miss);
  ASSERT_TRUE(first.handler_time);

  clock_->advance(milliseconds(250));
  ResponseInfo second;
  co.response_info = &second;
  // The same request with its keys in another order and other spacing: one canonical key.
  auto b = client_->call("search", R"({ "n": 1, "q": "x" })", co);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, *a);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(second.cache, ResponseInfo::Cache::hit);
  EXPECT_EQ(second.cache_age, std::chrono::microseconds(250000));
  // The same bytes again: found by the raw request (an alias of the canonical key), no parse.
  ResponseInfo third;
  co.response_info = &third;
  auto c = client_->call("search", R"({ "n": 1, "q": "x" })", co);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, *a);
  EXPECT_EQ(third.cache, ResponseInfo::Cache::hit);
  EXPECT_EQ(runs.load(), 1);

  clock_->advance(milliseconds(750));  // the TTL has passed
  ASSERT_TRUE(client_->call("search", R"({"q":"x","n":1})"));
  EXPECT_EQ(runs.load(), 2);
  const auto stats = server_->policy_stats("search");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->cache_hits, 2u);
  EXPECT_EQ(stats->cache_misses, 2u);
  EXPECT_EQ(stats->cache_expired, 1u);
}

TEST_F(PolicyChain, WriteHandlerInvalidatesTheSearchCacheByEvent) {
  std::atomic<int> version{0};
  auto o = with_clock();
  o.cache = CacheOptions{};
  ASSERT_TRUE(server_->handle(
      "users.search",
      [&](CallContext&, std::string_view) -> Result<std::string> {
        return "v" + std::to_string(version.load());
      },
      o));
  server_->invalidate_on("users.changed", {"users.search"});
  server_->handle("users.add", [&](CallContext&, std::string_view) -> Result<std::string> {
    ++version;
    return std::to_string(server_->fire("users.changed"));
  });
  start();
  EXPECT_EQ(*client_->call("users.search", "{}"), "v0");
  EXPECT_EQ(*client_->call("users.search", "{}"), "v0");  // cached
  EXPECT_EQ(*client_->call("users.add", "{}"), "1");      // one entry dropped
  EXPECT_EQ(*client_->call("users.search", "{}"), "v1");
  EXPECT_EQ(server_->policy_stats("users.search")->cache_invalidated, 1u);
}

TEST_F(PolicyChain, InvalidateByMethodAndKeyPrefix) {
  auto o = with_clock();
  o.cache = CacheOptions{};
  ASSERT_TRUE(server_->handle(
      "get", [](CallContext&, std::string_view p) -> Result<std::string> { return std::string(p); },
      o));
  start();
  for (const char* p : {R"({"k":"a1"})", R"({"k":"a2"})", R"({"k":"b1"})"}) {
    ASSERT_TRUE(client_->call("get", p));
  }
  EXPECT_EQ(server_->invalidate_cache("get", R"({"k":"a)"), 2u);
  EXPECT_EQ(server_->invalidate_cache("get"), 1u);
  EXPECT_EQ(server_->invalidate_cache("no-such-method"), 0u);
}

TEST_F(PolicyChain, WarmUpFillsTheCacheAtStart) {
  std::atomic<int> runs{0};
  auto o = with_clock();
  o.cache = CacheOptions{};
  o.cache->warm_up = [](CacheFill& fill) { fill.put(R"({"b":2,"a":1})", "warm"); };
  ASSERT_TRUE(server_->handle(
      "report",
      [&](CallContext&, std::string_view) -> Result<std::string> {
        ++runs;
        return "cold";
      },
      o));
  start();
  EXPECT_EQ(*client_->call("report", R"({"a":1,"b":2})"), "warm");
  EXPECT_EQ(runs.load(), 0);
}

TEST_F(PolicyChain, SchemaViolationListsEveryFailingPath) {
  auto o = with_clock();
  o.schema = json::parse(R"({"type":"object","required":["name"],
    "properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}})");
  ASSERT_TRUE(server_->handle(
      "users.add", [](CallContext&, std::string_view) -> Result<std::string> { return "ok"; }, o));
  start();
  auto r = client_->call("users.add", R"({"age":-3})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  const auto errors = json::parse(r.error().details)["errors"];
  ASSERT_EQ(errors.size(), 2u) << errors.dump();
  EXPECT_TRUE(client_->call("users.add", R"({"name":"x","age":3})"));
  auto not_json = client_->call("users.add", "{oops");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(json::parse(not_json.error().details)["errors"][0]["rule"], "json");
  EXPECT_EQ(server_->policy_stats("users.add")->validation_failed, 2u);
  EXPECT_EQ(server_->policy_stats("users.add")->validation_passed, 1u);

  HandlerOptions bad;
  bad.schema = json{{"type", 5}};
  auto refused = server_->handle(
      "bad", [](CallContext&, std::string_view) -> Result<std::string> { return ""; }, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::invalid_argument);
}

TEST_F(PolicyChain, PerClientRateLimitByClaimedNameServesTheOtherName) {
  auto o = with_clock();
  o.rate_limit = RateLimitOptions{};
  o.rate_limit->per_client = RateLimit{10, 3};
  // Two clients of this one process: only the names they claim tell them apart (the default,
  // the verified identity, is one user here: IdentityTest shows it).
  o.rate_limit->client_key = ClientKey::peer_name;
  ASSERT_TRUE(server_->handle(
      "work", [](CallContext&, std::string_view) -> Result<std::string> { return "ok"; }, o));
  start();
  auto other = connect("client-b");
  ASSERT_TRUE(other);
  int ok = 0;
  Error last;
  for (int i = 0; i < 10; ++i) {
    auto r = client_->call("work", "");
    if (r) {
      ++ok;
    } else {
      last = r.error();
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(last.code, StatusCode::resource_exhausted);
  EXPECT_EQ(json::parse(last.details)["retry_after_ms"], 100);
  EXPECT_TRUE(other->call("work", ""));  // the other client has its own bucket
  clock_->advance(milliseconds(100));
  EXPECT_TRUE(client_->call("work", ""));
  EXPECT_EQ(server_->policy_stats("work")->rate_limited_client, 7u);
}

TEST_F(PolicyChain, BreakerOpensOnFailuresAndClosesAfterRecovery) {
  std::atomic<bool> healthy{false};
  std::atomic<int> runs{0};
  auto o = with_clock();
  o.breaker = BreakerOptions{};
  ASSERT_TRUE(server_->handle(
      "dep",
      [&](CallContext&, std::string_view) -> Result<std::string> {
        ++runs;
        if (!healthy) return make_error(StatusCode::unavailable, "database down");
        return "ok";
      },
      o));
  start();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client_->call("dep", "").error().message, "database down");
  auto fast = client_->call("dep", "");
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().code, StatusCode::unavailable);
  EXPECT_EQ(json::parse(fast.error().details)["breaker"], "open");
  EXPECT_EQ(runs.load(), 5);  // failed fast: the handler did not run
  healthy = true;
  clock_->advance(seconds(60));
  EXPECT_TRUE(client_->call("dep", ""));
  EXPECT_TRUE(client_->call("dep", ""));
  const auto s = server_->policy_stats("dep");
  EXPECT_EQ(s->breaker_opened, 1u);
  EXPECT_EQ(s->breaker_half_opened, 1u);
  EXPECT_EQ(s->breaker_closed, 1u);
  EXPECT_EQ(s->breaker_rejected, 1u);
}

TEST_F(PolicyChain, ConcurrencyLimitQueuesThenRefuses) {
  std::mutex mu;
  std::deque<Responder> held;
  auto o = with_clock();
  o.concurrency = ConcurrencyOptions{1, 1};
  ASSERT_TRUE(server_->handle_async(
      "slow",
      [&](CallContext&, std::string_view p, Responder r) {
        std::lock_guard lock(mu);
        held.push_back(std::move(r));
        (void)p;
      },
      o));
  start();
  std::promise<Result<std::string>> first, second, third;
  client_->call_async("slow", "1", {}, [&](Result<std::string> r) { first.set_value(r); });
  client_->call_async("slow", "2", {}, [&](Result<std::string> r) { second.set_value(r); });
  client_->call_async("slow", "3", {}, [&](Result<std::string> r) { third.set_value(r); });
  auto refused = third.get_future().get();  // one runs, one waits, the third is refused
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::resource_exhausted);
  auto answer_one = [&] {
    // The server thread may not have taken the call yet: ask it, through a call of its own.
    for (int round = 0; round < 1000; ++round) {
      std::unique_lock lock(mu);
      if (!held.empty()) {
        auto r = std::move(held.front());
        held.pop_front();
        lock.unlock();
        r.reply("done");
        return;
      }
      lock.unlock();
      (void)client_->ping();  // a round trip: the server has handled everything sent before
    }
    FAIL() << "the server never ran the call";
  };
  answer_one();
  EXPECT_EQ(*first.get_future().get(), "done");
  answer_one();  // the queued call got the slot
  EXPECT_EQ(*second.get_future().get(), "done");
  const auto s = server_->policy_stats("slow");
  EXPECT_EQ(s->concurrency_admitted, 2u);
  EXPECT_EQ(s->concurrency_queued, 1u);
  EXPECT_EQ(s->concurrency_rejected, 1u);
}

TEST_F(PolicyChain, HandlerTimeoutShorterThanCallersWins) {
  auto o = with_clock();
  o.timeout = milliseconds(20);
  auto keep = std::make_shared<std::vector<Responder>>();
  ASSERT_TRUE(server_->handle_async(
      "hang",
      [keep](CallContext&, std::string_view, Responder r) { keep->push_back(std::move(r)); }, o));
  start();
  CallOptions co;
  co.timeout = milliseconds(10000);
  auto r = client_->call("hang", "", co);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded);
  EXPECT_EQ(r.error().details, "{\"timeout_ms\":20}");
  EXPECT_EQ(server_->policy_stats("hang")->timeouts, 1u);
  server_->remove("hang");
}

TEST_F(PolicyChain, DescribeListsSchemasAndBareHandlersHaveNoPolicies) {
  auto o = with_clock();
  o.schema = json{{"type", "object"}};
  o.cache = CacheOptions{};
  ASSERT_TRUE(server_->handle(
      "a", [](CallContext&, std::string_view) -> Result<std::string> { return ""; }, o));
  server_->handle("b", [](CallContext&, std::string_view) -> Result<std::string> { return ""; });
  start();
  auto d = client_->call("plexus.describe", "");
  ASSERT_TRUE(d);
  const auto methods = json::parse(*d)["methods"];
  bool saw_a = false, saw_b = false;
  for (const auto& m : methods) {
    if (m["name"] == "a") {
      saw_a = true;
      EXPECT_EQ(m["schema"], json({{"type", "object"}}));
      EXPECT_TRUE(m["policies"].contains("cache"));
    }
    if (m["name"] == "b") {
      saw_b = true;
      EXPECT_FALSE(m.contains("schema"));
    }
  }
  EXPECT_TRUE(saw_a && saw_b) << methods.dump();
  EXPECT_FALSE(server_->policy_stats("b"));
}

}  // namespace
}  // namespace plexus
