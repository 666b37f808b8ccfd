// Request de-duplication and batching across a real child-process server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

class CoalesceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", dir_.unix_address("s.sock")});
    ASSERT_TRUE(server_.running());
    client_ = connect_client(runtime_, server_.address());
    ASSERT_TRUE(client_);
  }

  json stats() { return json::parse(*client_->call("coalesce.stats", "")); }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

// The 100 calls leave before "dedup.release" on the same connection, so the server has them all
// in flight when it releases the one run: the handler body runs once and all 100 get its answer.
TEST_F(CoalesceTest, HundredIdenticalConcurrentCallsRunTheHandlerOnce) {
  constexpr int kCalls = 100;
  std::mutex mu;
  std::vector<Result<std::string>> results;
  Countdown all(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    client_->call_async("dedup.work", R"({"q":"same"})", {}, [&](Result<std::string> r) {
      {
        std::lock_guard lock(mu);
        results.push_back(std::move(r));
      }
      all.done();
    });
  }
  auto released = client_->call("dedup.release", "");
  ASSERT_TRUE(released);
  EXPECT_EQ(json::parse(*released)["released"], 1);  // one run was waiting, not 100
  ASSERT_TRUE(all.wait_for(Millis{10000}));
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(json::parse(*r)["runs"], 1);
  }
  const auto s = stats();
  EXPECT_EQ(s["calls"], kCalls);
  EXPECT_EQ(s["handler_runs"], 1);
  EXPECT_EQ(s["deduplicated"], kCalls - 1);
}

TEST_F(CoalesceTest, DifferentPayloadsAndLaterCallsRunSeparately) {
  Countdown both(2);
  Result<std::string> a, b;
  client_->call_async("dedup.work", "A", {}, [&](Result<std::string> r) {
    a = r;
    both.done();
  });
  client_->call_async("dedup.work", "B", {}, [&](Result<std::string> r) {
    b = r;
    both.done();
  });
  ASSERT_TRUE(client_->call("dedup.release", ""));
  ASSERT_TRUE(both.wait_for(Millis{10000}));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(json::parse(*a)["payload"], "A");
  EXPECT_EQ(json::parse(*b)["payload"], "B");
  // The same payload again, after its run finished: a new run (de-duplication is no cache).
  Event<Result<std::string>> again;
  client_->call_async("dedup.work", "A", {}, [&](Result<std::string> r) { again.set(r); });
  ASSERT_TRUE(client_->call("dedup.release", ""));
  auto r = again.wait_for(Millis{10000});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(json::parse(**r)["runs"], 3);
  EXPECT_EQ(stats()["deduplicated"], 0);
}

// 12 requests with max_items 5: two full batches leave at once, the last 2 on flush; each
// request gets its own answer, and the negative one its own error.
TEST_F(CoalesceTest, BatchAnswersEachRequestWithItsOwnResultOrError) {
  constexpr int kCalls = 12;
  std::mutex mu;
  std::map<int, Result<std::string>> results;
  Countdown all(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    const int v = i == 7 ? -7 : i;
    client_->call_async("batch.square", std::to_string(v), {}, [&, i](Result<std::string> r) {
      {
        std::lock_guard lock(mu);
        results.emplace(i, std::move(r));
      }
      all.done();
    });
  }
  ASSERT_TRUE(client_->call("batch.flush", ""));
  ASSERT_TRUE(all.wait_for(Millis{10000}));
  for (int i = 0; i < kCalls; ++i) {
    const auto& r = results.at(i);
    if (i == 7) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
      EXPECT_EQ(r.error().message, "negative: -7");
      continue;
    }
    ASSERT_TRUE(r) << r.error().to_string();
    const auto j = json::parse(*r);
    EXPECT_EQ(j["square"], i * i);
    EXPECT_EQ(j["batch"], i < 10 ? 5 : 2);
  }
  const auto s = stats();
  EXPECT_EQ(s["batches"], 3);
  EXPECT_EQ(s["batched_calls"], kCalls);
}

}  // namespace
}  // namespace plexus::test
