// The policy chain (src/policy/chain.hpp) as a session runs it: each handler is registered
// behind its Chain on one end of a loopback session pair, so calls arrive with a real
// CallContext (peer identity, executor), and time is a ManualClock. The order of the policies,
// a throwing handler, the breaker's open and half-open states, the rate limit's refusal, cache
// hits and misses, schema violations and the concurrency queue.
#include "policy/chain.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../loopback_sessions.hpp"

namespace plexus::policy {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using rpc::test_support::LoopbackSessions;
using rpc::test_support::SessionLink;

class PolicyChainTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(net_.connect(link_)); }
  void TearDown() override { EXPECT_TRUE(net_.close_all()); }

  // Registers `handler` as `method` behind the chain `options` build, on the test's clock.
  std::shared_ptr<Chain> install(const std::string& method, HandlerOptions options,
                                 AnyHandler handler) {
    options.clock = clock_;
    auto chain = Chain::create(method, std::move(options), handler);
    EXPECT_TRUE(chain) << chain.error().to_string();
    if (!chain) return nullptr;
    rpc::HandlerEntry entry;
    std::visit([&entry](auto& fn) { entry.fn = std::move(fn); }, handler);
    entry.policies = *chain;
    link_.server.serve(method, std::move(entry));
    return *chain;
  }

  // Starts a call from the client; the slot fills when it completes.
  std::shared_ptr<std::optional<Result<std::string>>> start_call(const std::string& method,
                                                                 std::string payload,
                                                                 ResponseInfo* info = nullptr) {
    auto out = std::make_shared<std::optional<Result<std::string>>>();
    CallOptions options;
    options.response_info = info;
    auto& session = *link_.client.session;
    session.call(session.next_call_id(), method, std::move(payload), options,
                 [out](Result<std::string> r) { *out = std::move(r); });
    return out;
  }

  Result<std::string> call(const std::string& method, std::string payload,
                           ResponseInfo* info = nullptr) {
    auto out = start_call(method, std::move(payload), info);
    if (!net_.run_until([&] { return out->has_value(); }, 2s)) {
      return make_error(StatusCode::unknown, "the call never completed");
    }
    return **out;
  }

  static StatusCode code_of(const Result<std::string>& r) {
    return r ? StatusCode::ok : r.error().code;
  }

  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  int runs_ = 0;  // how often the handler under test ran
  LoopbackSessions net_;
  SessionLink link_;  // after net_: the sessions (and their timers) go before its io_context
};

// {"n": 0} fails with internal; any other n answers.
SyncHandler counting(int& runs) {
  return [&runs](CallContext&, std::string_view payload) -> Result<std::string> {
    ++runs;
    const auto n = json::parse(payload).at("n").get<int>();
    if (n == 0) return make_error(StatusCode::internal, "bad luck");
    return "ok " + std::to_string(n);
  };
}

TEST_F(PolicyChainTest, RateLimitThenCacheThenValidationThenBreaker) {
  HandlerOptions o;
  o.rate_limit = RateLimitOptions{RateLimit{1, 4}, std::nullopt};
  o.cache = CacheOptions{};
  o.schema = json::parse(R"({"type":"object","required":["n"]})");
  o.breaker = BreakerOptions{1, 1, 60s, 1};
  install("m", o, counting(runs_));

  EXPECT_EQ(call("m", R"({"n":1})"), "ok 1");                         // stored in the cache
  EXPECT_EQ(code_of(call("m", R"({"n":0})")), StatusCode::internal);  // opens the breaker
  EXPECT_EQ(runs_, 2);
  // The cache answers before the breaker is asked, validation refuses before it too.
  EXPECT_EQ(call("m", R"({"n":1})"), "ok 1");
  EXPECT_EQ(code_of(call("m", R"({"x":1})")), StatusCode::invalid_argument);
  // The four tokens are spent: the rate limit refuses even what the cache holds.
  EXPECT_EQ(code_of(call("m", R"({"n":1})")), StatusCode::resource_exhausted);
  // A token later, a new valid request reaches the open breaker.
  clock_->advance(1s);
  auto refused = call("m", R"({"n":2})");
  ASSERT_FALSE(refused) << *refused;
  EXPECT_EQ(refused.error().code, StatusCode::unavailable);
  EXPECT_NE(refused.error().details.find("\"breaker\":\"open\""), std::string::npos)
      << refused.error().to_string();
  EXPECT_EQ(runs_, 2);
}

TEST_F(PolicyChainTest, AThrowingHandlerFailsThatOneCallWithInternal) {
  HandlerOptions o;
  o.breaker = BreakerOptions{};
  auto chain = install("sync", o,
                       SyncHandler([this](CallContext&, std::string_view p) -> Result<std::string> {
                         ++runs_;
                         if (p == "boom") throw std::runtime_error("on purpose");
                         return std::string(p);
                       }));
  auto r = call("sync", "boom");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::internal);
  EXPECT_NE(r.error().message.find("on purpose"), std::string::npos) << r.error().message;
  EXPECT_EQ(call("sync", "fine"), "fine");
  EXPECT_EQ(runs_, 2);
  // It went through the chain's bookkeeping like any failure.
  EXPECT_EQ(chain->stats().breaker_failures, 1u);
  EXPECT_EQ(chain->stats().breaker_successes, 1u);

  install("coro", o,
          CoroHandler([](CallContext&, std::string p) -> asio::awaitable<Result<std::string>> {
            if (p == "boom") throw std::runtime_error("on purpose");
            co_return p;
          }));
  EXPECT_EQ(code_of(call("coro", "boom")), StatusCode::internal);
  EXPECT_EQ(call("coro", "fine"), "fine");
  EXPECT_FALSE(link_.client.closed);
}

TEST_F(PolicyChainTest, TheBreakerOpensAfterNFailuresAndHalfOpensAfterTheCoolDown) {
  HandlerOptions o;
  o.breaker = BreakerOptions{3, 1, 10s, 1};
  StatusCode answer = StatusCode::invalid_argument;
  auto chain =
      install("dep", o, SyncHandler([&](CallContext&, std::string_view) -> Result<std::string> {
                ++runs_;
                if (answer == StatusCode::ok) return std::string("up");
                return make_error(answer, "down");
              }));
  // The caller's mistakes are not the callee's trouble: they never open it.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(code_of(call("dep", "")), StatusCode::invalid_argument);
  answer = StatusCode::unavailable;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(code_of(call("dep", "")), StatusCode::unavailable);
  EXPECT_EQ(runs_, 8);
  EXPECT_EQ(chain->breaker()->state(), BreakerState::open);

  // Open: refused without running the handler, until the cool-down has passed.
  auto refused = call("dep", "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::unavailable);
  EXPECT_EQ(json::parse(refused.error().details)["retry_after_ms"], 10001);
  clock_->advance(10s - 1ms);
  EXPECT_EQ(code_of(call("dep", "")), StatusCode::unavailable);
  EXPECT_EQ(runs_, 8);

  clock_->advance(1ms);
  answer = StatusCode::ok;
  EXPECT_EQ(call("dep", ""), "up");  // the trial call runs and closes it
  EXPECT_EQ(runs_, 9);
  EXPECT_EQ(chain->breaker()->state(), BreakerState::closed);
  EXPECT_EQ(call("dep", ""), "up");
  const auto s = chain->stats();
  EXPECT_EQ(s.breaker_opened, 1u);
  EXPECT_EQ(s.breaker_half_opened, 1u);
  EXPECT_EQ(s.breaker_closed, 1u);
  EXPECT_EQ(s.breaker_rejected, 2u);
}

TEST_F(PolicyChainTest, TheRateLimitRefusesWithResourceExhaustedAndWhenToRetry) {
  HandlerOptions o;
  RateLimitOptions limits;
  limits.per_client = RateLimit{1, 2};  // the client is the peer's HELLO name, "client"
  o.rate_limit = limits;
  auto chain = install("m", o, counting(runs_));
  EXPECT_TRUE(call("m", R"({"n":1})"));
  EXPECT_TRUE(call("m", R"({"n":2})"));
  auto refused = call("m", R"({"n":3})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::resource_exhausted);
  const auto details = json::parse(refused.error().details);
  EXPECT_EQ(details["limit"], "client");
  EXPECT_EQ(details["retry_after_ms"], 1000);
  EXPECT_EQ(runs_, 2);
  clock_->advance(1s);
  EXPECT_TRUE(call("m", R"({"n":4})"));
  EXPECT_EQ(chain->stats().rate_limited_client, 1u);
  EXPECT_EQ(chain->stats().rate_allowed, 3u);
}

TEST_F(PolicyChainTest, TheCacheAnswersARepeatWithoutTheHandlerUntilItsTtl) {
  HandlerOptions o;
  CacheOptions cache;
  cache.ttl = 1000ms;
  o.cache = cache;
  install("m", o, counting(runs_));

  ResponseInfo info;
  EXPECT_EQ(call("m", R"({"n":5,"k":"a"})", &info), "ok 5");
  EXPECT_EQ(info.cache, ResponseInfo::Cache::miss);
  clock_->advance(400ms);
  // Another spelling of the same JSON is the same entry.
  info = {};
  EXPECT_EQ(call("m", R"({ "k": "a", "n": 5 })", &info), "ok 5");
  EXPECT_EQ(info.cache, ResponseInfo::Cache::hit);
  EXPECT_EQ(info.cache_age, std::chrono::microseconds(400ms));
  EXPECT_EQ(runs_, 1);
  // Errors are not stored.
  EXPECT_FALSE(call("m", R"({"n":0})"));
  EXPECT_FALSE(call("m", R"({"n":0})"));
  EXPECT_EQ(runs_, 3);
  // Past the TTL the handler runs again.
  clock_->advance(600ms);
  info = {};
  EXPECT_EQ(call("m", R"({"n":5,"k":"a"})", &info), "ok 5");
  EXPECT_EQ(info.cache, ResponseInfo::Cache::miss);
  EXPECT_EQ(runs_, 4);
}

TEST_F(PolicyChainTest, ASchemaViolationIsRefusedWithEveryFailingPath) {
  HandlerOptions o;
  o.schema = json::parse(R"({
    "type": "object",
    "required": ["query"],
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "maximum": 100}}
  })");
  auto chain = install("search", o,
                       SyncHandler([this](CallContext&, std::string_view) -> Result<std::string> {
                         ++runs_;
                         return std::string("found");
                       }));
  auto r = call("search", R"({"limit":1000})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  const auto details = json::parse(r.error().details);
  std::set<std::string> paths;
  for (const auto& e : details["errors"]) {
    paths.insert(e["path"].get<std::string>());
  }
  EXPECT_TRUE(paths.contains("/limit")) << r.error().details;
  EXPECT_NE(r.error().details.find("query"), std::string::npos) << r.error().details;

  auto garbage = call("search", "not json");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(json::parse(garbage.error().details)["errors"][0]["rule"], "json");

  EXPECT_EQ(runs_, 0);
  EXPECT_EQ(call("search", R"({"query":"x","limit":5})"), "found");
  EXPECT_EQ(chain->stats().validation_failed, 2u);
  EXPECT_EQ(chain->stats().validation_passed, 1u);
}

TEST_F(PolicyChainTest, TheConcurrencyLimitQueuesThenRefusesAndRunsTheQueuedCallLater) {
  HandlerOptions o;
  o.concurrency = ConcurrencyOptions{1, 1};
  std::vector<Responder> held;
  install("slow", o, AsyncHandler([&held](CallContext&, std::string_view, Responder r) {
            held.push_back(std::move(r));
          }));
  auto first = start_call("slow", "1");
  auto second = start_call("slow", "2");
  auto third = start_call("slow", "3");
  ASSERT_TRUE(net_.run_until([&] { return third->has_value(); }));
  EXPECT_EQ(code_of(**third), StatusCode::resource_exhausted);
  net_.settle();
  ASSERT_EQ(held.size(), 1u) << "the second call ran without a slot";
  EXPECT_FALSE(first->has_value());
  EXPECT_FALSE(second->has_value());

  held[0].reply(std::string("one"));
  ASSERT_TRUE(net_.run_until([&] { return held.size() == 2; }));
  held[1].reply(std::string("two"));
  ASSERT_TRUE(net_.run_until([&] { return first->has_value() && second->has_value(); }));
  EXPECT_EQ(**first, "one");
  EXPECT_EQ(**second, "two");
}

}  // namespace
}  // namespace plexus::policy
