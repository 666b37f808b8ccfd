// The durable queues' observability, with a server that keeps queues in this process: the
// plexus_queue_* and plexus_dead_letter* families count what the test did and pass promtool,
// /status.json has the "queues" section, plexus.stats its `durable` member, a dead-lettered
// message is logged at warn, and a server without a data directory exports none of it.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "observe_kit.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test::durable_observe {
namespace {

using nlohmann::json;

constexpr Millis kWait{20000};

class DurableObserveTest : public ::testing::Test {
 protected:
  void start(bool with_queues) {
    ServerOptions so;
    so.name = "durable-observe";
    so.listen = {dir_.unix_address("d.sock")};
    so.http = "127.0.0.1:0";
    if (with_queues) {
      so.durable.data_dir = dir_.file("data");
      QueueOptions jobs;
      jobs.max_retries = 0;  // a failed delivery is dead-lettered at once
      so.durable.queues["jobs"] = jobs;
    }
    auto server = Server::create(runtime_, so);
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->start());
    ClientOptions co;
    co.address = dir_.unix_address("d.sock");
    auto client = Client::connect(runtime_, co);
    ASSERT_TRUE(client) << client.error().to_string();
    client_ = std::move(*client);
  }
  static NewMessage message(std::string queue, std::string type, std::string payload) {
    NewMessage m;
    m.queue = std::move(queue);
    m.type = std::move(type);
    m.payload = std::move(payload);
    return m;
  }

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(DurableObserveTest, QueueFamiliesStatusSectionAndStatsCountWhatHappened) {
  Event<std::string> dead_logged;
  LogHandlerScope log([&](const LogRecord& r) {
    if (r.level == LogLevel::warn && r.message.find("dead-lettered") != std::string_view::npos) {
      dead_logged.set(std::string(r.message));
    }
  });
  start(true);
  QueueClient queues(*client_);
  // "idle" has no consumer: two ready messages and a delayed one.
  ASSERT_TRUE(queues.send(message("idle", "task", "a")));
  ASSERT_TRUE(queues.send(message("idle", "task", "bb")));
  auto later = message("idle", "task", "ccc");
  later.delay = std::chrono::hours(1);
  ASSERT_TRUE(queues.send(later));
  // "jobs": a message whose handler fails (dead-lettered: no retries), then one that succeeds.
  // One message in flight at a time: the second is delivered once the first's failure is
  // recorded, so when it is handled the dead letter is there.
  auto doomed = queues.send(message("jobs", "fail", "doomed"));
  ASSERT_TRUE(doomed) << doomed.error().to_string();
  ASSERT_TRUE(queues.send(message("jobs", "task", "fine")));
  ConsumerOptions co;
  co.queue = "jobs";
  co.prefetch = 1;
  auto consumer = Consumer::create(*client_, co);
  ASSERT_TRUE(consumer) << consumer.error().to_string();
  Event<bool> fine;
  (*consumer)->on("fail", [](const Delivery&) -> Result<void> {
    return make_error(StatusCode::permission_denied, "card declined");
  });
  (*consumer)->on("task", [&](const Delivery&) -> Result<void> {
    fine.set(true);
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  ASSERT_TRUE(fine.wait_for(kWait));
  const auto logged = dead_logged.wait_for(kWait);
  ASSERT_TRUE(logged) << "no warn log for the dead letter";
  EXPECT_NE(logged->find(doomed->id), std::string::npos) << *logged;
  EXPECT_NE(logged->find("jobs"), std::string::npos) << *logged;
  EXPECT_NE(logged->find("card declined"), std::string::npos) << *logged;
  (*consumer)->stop();

  const std::string text = server_->metrics_text();
  EXPECT_EQ(series(text, R"(plexus_queue_messages{queue="idle",state="ready"})"), 2);
  EXPECT_EQ(series(text, R"(plexus_queue_messages{queue="idle",state="delayed"})"), 1);
  EXPECT_EQ(series(text, R"(plexus_queue_messages{queue="idle",state="in_flight"})"), 0);
  EXPECT_EQ(series(text, R"(plexus_queue_bytes{queue="idle"})"), 6);
  EXPECT_GE(series(text, R"(plexus_queue_oldest_ready_age_seconds{queue="idle"})"), 0);
  EXPECT_EQ(series(text, R"(plexus_dead_letters{queue="jobs"})"), 1);
  EXPECT_GE(series(text, R"(plexus_dead_letter_oldest_age_seconds{queue="jobs"})"), 0);
  EXPECT_EQ(series(text, R"(plexus_dead_letters{queue="idle"})"), 0);
  EXPECT_EQ(series(text, "plexus_queue_sent_total"), 5);
  EXPECT_EQ(series(text, "plexus_queue_dead_lettered_total"), 1);
  EXPECT_EQ(series(text, "plexus_queue_retried_total"), 0);
  EXPECT_EQ(series(text, "plexus_queue_duplicates_dropped_total"), 0);
  EXPECT_GE(series(text, "plexus_queue_commits_total"), 1);
  EXPECT_LE(series(text, "plexus_queue_commits_total"), 5);
  EXPECT_GE(series(text, "plexus_queue_acked_total"), 0);
  EXPECT_GE(series(text, "plexus_queue_redelivered_total"), 0);
  const auto file = dir_.file("metrics.txt");
  std::ofstream(file) << text;
  const auto check = run_command("promtool check metrics < " + file);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool lint complaints";

  // The status page's JSON, over HTTP.
  const auto status =
      json::parse(http_get(server_->http_address(), "/status.json"), nullptr, false);
  ASSERT_TRUE(status.is_object());
  const auto& rows = status["sections"]["queues"];
  ASSERT_TRUE(rows.is_array()) << status["sections"].dump();
  std::map<std::string, json> by_queue;
  for (const auto& r : rows) by_queue[r["queue"].get<std::string>()] = r;
  ASSERT_EQ(by_queue.count("idle"), 1u) << rows.dump();
  ASSERT_EQ(by_queue.count("jobs"), 1u) << rows.dump();
  EXPECT_EQ(by_queue["idle"]["ready"], 2);
  EXPECT_EQ(by_queue["idle"]["delayed"], 1);
  EXPECT_EQ(by_queue["idle"]["dead_letters"], 0);
  EXPECT_EQ(by_queue["jobs"]["dead_letters"], 1);
  EXPECT_TRUE(by_queue["jobs"]["oldest_dead_letter_age_seconds"].is_number());
  const auto page = http_get(server_->http_address(), "/");
  EXPECT_NE(page.find("id=\"queues\""), std::string::npos);

  // plexus.stats (what `plexus stats` reads).
  auto answer = client_->call("plexus.stats", "{}");
  ASSERT_TRUE(answer) << answer.error().to_string();
  const auto stats = json::parse(*answer);
  const auto& durable = stats["durable"];
  ASSERT_TRUE(durable.is_object()) << stats.dump();
  EXPECT_EQ(durable["durability"], "group_commit");
  EXPECT_EQ(durable["data_dir"], dir_.file("data"));
  EXPECT_EQ(durable["counters"]["sent"], 5);
  EXPECT_EQ(durable["counters"]["dead_lettered"], 1);
  EXPECT_EQ(durable["queues"].size(), 2u) << durable.dump();
  EXPECT_TRUE(stats["sections"]["queues"].is_array());
}

TEST_F(DurableObserveTest, WithoutADataDirectoryThereAreNoQueueFamilies) {
  start(false);
  const std::string text = server_->metrics_text();
  EXPECT_EQ(text.find("plexus_queue_"), std::string::npos);
  EXPECT_EQ(text.find("plexus_dead_letter"), std::string::npos);
  const auto stats = server_->metrics();
  EXPECT_TRUE(stats["durable"].is_null());
  EXPECT_EQ(stats["sections"]["queues"], json::array());
}

}  // namespace
}  // namespace plexus::test::durable_observe
