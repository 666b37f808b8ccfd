// The durable store (src/durable/store.hpp) over real SQLite files in a temporary directory:
// names, size and queue bounds, duplicate ids, group commit, leases in priority and append
// order, delayed delivery, acks and seen ids, retries with backoff and dead-lettering on handler
// errors, expiry and consumers that go away (exact times from a ManualClock), leases released
// on reopen, stats, and databases that are not SQLite or in use. Child processes (kill -9, full
// disk, read-only files) are in tests/integration/durable_crash_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "durable/store.hpp"
#include "test_kit.hpp"

namespace plexus::test::durable_store {
namespace {

using durable::DurableStore;
using durable::StoreOptions;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Fixture {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();

  StoreOptions options(Durability d = Durability::none) const {
    StoreOptions o;
    o.dir = dir.path() + "/data";
    o.durability = d;
    o.clock = clock;
    return o;
  }
  std::unique_ptr<DurableStore> open(Durability d = Durability::none) const {
    auto store = DurableStore::open(options(d));
    EXPECT_TRUE(store) << store.error().to_string();
    return store ? std::move(*store) : nullptr;
  }
};

NewMessage msg(std::string queue, std::string payload, std::int32_t priority = 0) {
  NewMessage m;
  m.queue = std::move(queue);
  m.payload = std::move(payload);
  m.priority = priority;
  return m;
}

std::string append_ok(DurableStore& store, const NewMessage& m) {
  auto appended = store.append(m);
  EXPECT_TRUE(appended) << appended.error().to_string();
  return appended ? appended->id : std::string();
}

Lease lease_ok(DurableStore& store, std::string_view queue, std::string_view consumer = "c1") {
  auto lease = store.lease(queue, consumer);
  EXPECT_TRUE(lease) << lease.error().to_string();
  EXPECT_TRUE(lease && *lease) << "nothing ready on " << queue;
  return lease && *lease ? std::move(**lease) : Lease{};
}

bool nothing_ready(DurableStore& store, std::string_view queue) {
  auto lease = store.lease(queue, "probe");
  EXPECT_TRUE(lease) << lease.error().to_string();
  return lease && !*lease;
}

QueueStats queue_stats(DurableStore& store, const std::string& queue) {
  auto stats = store.stats();
  EXPECT_TRUE(stats) << stats.error().to_string();
  if (stats)
    for (const auto& q : stats->queues)
      if (q.queue == queue) return q;
  return QueueStats{};
}

void expect_error(const Error& e, StatusCode code, const std::string& part) {
  EXPECT_EQ(e.code, code) << e.to_string();
  EXPECT_NE(e.message.find(part), std::string::npos) << e.message << "\nwanted: " << part;
}

TEST(DurableStoreNames, QueueNamesAreCheckedWithAClearMessage) {
  Fixture f;
  auto store = f.open();
  for (const char* bad : {"", "a/b", "..", "../etc", "a..b", ".", "sp ace", "tab\t", "é"}) {
    auto appended = store->append(msg(bad, "x"));
    ASSERT_FALSE(appended) << "accepted queue name '" << bad << "'";
    EXPECT_EQ(appended.error().code, StatusCode::invalid_argument);
    EXPECT_NE(appended.error().message.find("queue name"), std::string::npos)
        << appended.error().message;
  }
  expect_error(store->append(msg("a/b", "x")).error(), StatusCode::invalid_argument, "'/'");
  expect_error(store->append(msg("../x", "x")).error(), StatusCode::invalid_argument, "\"..\"");
  expect_error(store->append(msg(std::string(129, 'q'), "x")).error(), StatusCode::invalid_argument,
               "129 characters");
  EXPECT_TRUE(store->append(msg(std::string(128, 'q'), "x")));
  EXPECT_TRUE(store->append(msg("jobs.v1_high-prio", "x")));
  expect_error(store->lease("a/b", "c").error(), StatusCode::invalid_argument, "queue name");
  auto typed = msg("jobs", "x");
  typed.type = "no/slash";
  expect_error(store->append(typed).error(), StatusCode::invalid_argument, "type");
}

TEST(DurableStoreLimits, OversizeMessageNamesTheLimit) {
  Fixture f;
  auto options = f.options();
  options.max_message_size = 1024;
  auto store = DurableStore::open(options);
  ASSERT_TRUE(store) << store.error().to_string();
  EXPECT_TRUE((*store)->append(msg("q", std::string(1024, 'x'))));
  auto big = (*store)->append(msg("q", std::string(1025, 'x')));
  ASSERT_FALSE(big);
  expect_error(big.error(), StatusCode::message_too_large, "limit of 1024 bytes");
  EXPECT_EQ(big.error().details, R"({"limit":1024,"size":1025})");
  // The default limit is the wire's, 8 MiB.
  EXPECT_EQ(StoreOptions{}.max_message_size, 8u << 20);
}

TEST(DurableStoreLimits, QueueBoundsRefuseWithResourceExhaustedAndLoseNothing) {
  Fixture f;
  auto store = f.open();
  QueueOptions bounded;
  bounded.max_messages = 3;
  bounded.max_bytes = 10;
  ASSERT_TRUE(store->configure_queue("small", bounded));
  append_ok(*store, msg("small", "12345"));
  append_ok(*store, msg("small", "1234"));
  auto over_bytes = store->append(msg("small", "12"));
  ASSERT_FALSE(over_bytes);
  expect_error(over_bytes.error(), StatusCode::resource_exhausted, "max_bytes of 10");
  append_ok(*store, msg("small", "1"));
  auto over_count = store->append(msg("small", ""));
  ASSERT_FALSE(over_count);
  expect_error(over_count.error(), StatusCode::resource_exhausted, "max_messages of 3");
  // Other queues are not affected; acking makes room again.
  append_ok(*store, msg("other", "1234567890123"));
  auto lease = lease_ok(*store, "small");
  ASSERT_TRUE(store->ack(lease.message.id));
  append_ok(*store, msg("small", ""));
  EXPECT_EQ(queue_stats(*store, "small").ready, 3u);
  EXPECT_EQ(queue_stats(*store, "small").bytes, 5u);
}

TEST(DurableStoreAppend, BatchIsAllOrNothingUnderGroupCommit) {
  Fixture f;
  auto store = f.open(Durability::group_commit);
  QueueOptions bounded;
  bounded.max_messages = 2;
  ASSERT_TRUE(store->configure_queue("q", bounded));
  std::vector<NewMessage> three = {msg("q", "a"), msg("q", "b"), msg("q", "c")};
  auto refused = store->append_batch(three);
  ASSERT_FALSE(refused);
  expect_error(refused.error(), StatusCode::resource_exhausted, "nothing was appended");
  EXPECT_TRUE(nothing_ready(*store, "q"));
  auto two = store->append_batch(std::span(three).first(2));
  ASSERT_TRUE(two) << two.error().to_string();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_NE((*two)[0].id, (*two)[1].id);
  EXPECT_EQ(store->stats()->counters.commits, 1u);
}

TEST(DurableStoreAppend, BatchUnderEveryMessageKeepsThePrefixAndSaysSo) {
  Fixture f;
  auto store = f.open(Durability::every_message);
  QueueOptions bounded;
  bounded.max_messages = 2;
  ASSERT_TRUE(store->configure_queue("q", bounded));
  std::vector<NewMessage> three = {msg("q", "a"), msg("q", "b"), msg("q", "c")};
  auto partial = store->append_batch(three);
  ASSERT_FALSE(partial);
  expect_error(partial.error(), StatusCode::resource_exhausted, "the 2 before it were appended");
  EXPECT_NE(partial.error().details.find(R"("committed":2)"), std::string::npos)
      << partial.error().details;
  EXPECT_EQ(queue_stats(*store, "q").ready, 2u);
  EXPECT_EQ(store->stats()->counters.commits, 2u);  // one transaction (and fsync) each
}

TEST(DurableStoreAppend, KnownIdsAreDroppedAsDuplicates) {
  Fixture f;
  auto store = f.open();
  auto m = msg("q", "once");
  m.id = "sender-1";
  auto first = store->append(m);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(store->append(m)->duplicate);  // still queued
  auto lease = lease_ok(*store, "q");
  ASSERT_TRUE(store->ack(lease.message.id));
  EXPECT_TRUE(store->append(m)->duplicate);  // acknowledged
  EXPECT_TRUE(nothing_ready(*store, "q"));
  EXPECT_EQ(store->stats()->counters.duplicates_dropped, 2u);
  EXPECT_EQ(store->stats()->counters.sent, 1u);
}

TEST(DurableStoreAppend, ConcurrentAppendsShareOneGroupCommit) {
  Fixture f;
  // The first append's commit is held (the hook) until five more appends wait behind it; those
  // five then go in one transaction: two commits for six messages, each append returning only
  // after the commit holding it.
  constexpr std::size_t kFollowers = 5;
  std::mutex mu;
  std::condition_variable cv;
  bool leader_in = false;
  bool release = false;
  std::vector<std::size_t> groups;
  auto options = f.options(Durability::group_commit);
  options.on_group_commit = [&](std::size_t size) {
    std::unique_lock lock(mu);
    groups.push_back(size);
    if (groups.size() > 1) return;
    leader_in = true;
    cv.notify_all();
    cv.wait_for(lock, seconds(10), [&] { return release; });
  };
  auto store = std::move(*DurableStore::open(options));
  std::vector<std::string> ids(kFollowers + 1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { ids[0] = append_ok(*store, msg("q", "leader")); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return leader_in; }));
  }
  for (std::size_t i = 1; i <= kFollowers; ++i)
    threads.emplace_back([&, i] { ids[i] = append_ok(*store, msg("q", "m" + std::to_string(i))); });
  const auto until = std::chrono::steady_clock::now() + seconds(10);
  while (store->waiting_appends() < kFollowers && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
  EXPECT_EQ(store->waiting_appends(), kFollowers);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(groups, (std::vector<std::size_t>{1, kFollowers}));
  for (const auto& id : ids) EXPECT_EQ(id.size(), 32u);
  const auto counters = store->stats()->counters;
  EXPECT_EQ(counters.sent, kFollowers + 1);
  EXPECT_EQ(counters.commits, 2u);
  EXPECT_EQ(queue_stats(*store, "q").ready, kFollowers + 1);
}

TEST(DurableStoreDelivery, PriorityThenAppendOrderThenDelay) {
  Fixture f;
  auto store = f.open();
  const auto low1 = append_ok(*store, msg("q", "low1", 0));
  const auto high = append_ok(*store, msg("q", "high", 5));
  auto delayed = msg("q", "delayed-top", 9);
  delayed.delay = seconds(10);
  const auto late = append_ok(*store, delayed);
  const auto low2 = append_ok(*store, msg("q", "low2", 0));
  EXPECT_EQ(lease_ok(*store, "q").message.id, high);
  EXPECT_EQ(lease_ok(*store, "q").message.id, low1);
  EXPECT_EQ(lease_ok(*store, "q").message.id, low2);
  EXPECT_TRUE(nothing_ready(*store, "q"));
  EXPECT_EQ(queue_stats(*store, "q").delayed, 1u);
  f.clock->advance(milliseconds(9'999));
  EXPECT_TRUE(nothing_ready(*store, "q"));
  f.clock->advance(milliseconds(1));
  auto l = lease_ok(*store, "q");
  EXPECT_EQ(l.message.id, late);
  EXPECT_EQ(l.message.payload, "delayed-top");
  EXPECT_EQ(l.message.priority, 9);
  EXPECT_EQ(l.message.type, "task");
  EXPECT_EQ(l.message.attempts, 1u);
  EXPECT_EQ(l.deadline - l.message.enqueued_at, milliseconds(40'000));  // 10 s delay + 30 s
}

TEST(DurableStoreDelivery, EachMessageGoesToOneConsumerAtATime) {
  Fixture f;
  auto store = f.open();
  append_ok(*store, msg("q", "a"));
  append_ok(*store, msg("q", "b"));
  auto l1 = lease_ok(*store, "q", "c1");
  auto l2 = lease_ok(*store, "q", "c2");
  EXPECT_NE(l1.message.id, l2.message.id);
  EXPECT_EQ(l2.consumer, "c2");
  EXPECT_TRUE(nothing_ready(*store, "q"));
  EXPECT_EQ(queue_stats(*store, "q").in_flight, 2u);
}

TEST(DurableStoreDelivery, AckDeletesAndRemembersTheId) {
  Fixture f;
  auto store = f.open();
  const auto id = append_ok(*store, msg("q", "x"));
  EXPECT_FALSE(*store->seen(id));
  auto l = lease_ok(*store, "q");
  ASSERT_TRUE(store->ack(id));
  EXPECT_TRUE(*store->seen(id));
  EXPECT_TRUE(store->ack(id)) << "a repeated ack succeeds";
  expect_error(store->ack("never-sent").error(), StatusCode::not_found, "never-sent");
  EXPECT_EQ(store->stats()->counters.acked, 1u);
  EXPECT_TRUE(store->stats()->queues.empty());
}

TEST(DurableStoreDelivery, AckedIdsAreKeptUpToTheRetention) {
  Fixture f;
  auto options = f.options();
  options.acked_ids_kept = 3;
  auto store = std::move(*DurableStore::open(options));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(append_ok(*store, msg("q", "x")));
    lease_ok(*store, "q");
    ASSERT_TRUE(store->ack(ids.back()));
  }
  EXPECT_FALSE(*store->seen(ids[0]));
  EXPECT_FALSE(*store->seen(ids[1]));
  EXPECT_TRUE(*store->seen(ids[2]));
  EXPECT_TRUE(*store->seen(ids[4]));
}

TEST(DurableStoreRetry, HandlerErrorsRetryWithBackoffThenDeadLetter) {
  Fixture f;
  auto store = f.open();
  const auto id = append_ok(*store, msg("q", "poison"));
  // Defaults: 3 retries, 5 s apart: four deliveries in all.
  for (std::uint32_t attempt = 1; attempt <= 4; ++attempt) {
    auto l = lease_ok(*store, "q");
    EXPECT_EQ(l.message.attempts, attempt);
    EXPECT_EQ(l.message.history.size(), attempt - 1);
    ASSERT_TRUE(store->nack(id, StatusCode::invalid_argument, "bad field 'x'"));
    if (attempt == 4) break;
    EXPECT_EQ(queue_stats(*store, "q").delayed, 1u);
    f.clock->advance(milliseconds(4'999));
    EXPECT_TRUE(nothing_ready(*store, "q"));
    f.clock->advance(milliseconds(1));
  }
  EXPECT_TRUE(nothing_ready(*store, "q"));
  auto dead = store->dead_letter(id);
  ASSERT_TRUE(dead) << dead.error().to_string();
  EXPECT_EQ(dead->reason, DeadLetterReason::handler_error);
  EXPECT_EQ(dead->status, StatusCode::invalid_argument);
  EXPECT_EQ(dead->error, "bad field 'x'");
  EXPECT_EQ(dead->message.attempts, 4u);
  ASSERT_EQ(dead->message.history.size(), 4u);
  EXPECT_EQ(dead->message.history[3].reason, "handler_error");
  EXPECT_EQ(dead->message.history[3].status, StatusCode::invalid_argument);
  EXPECT_EQ(dead->message.history[1].at - dead->message.history[0].at, milliseconds(5'000));
  const auto c = store->stats()->counters;
  EXPECT_EQ(c.retried, 3u);
  EXPECT_EQ(c.redelivered, 3u);
  EXPECT_EQ(c.dead_lettered, 1u);
  expect_error(store->ack(id).error(), StatusCode::failed_precondition, "dead-lettered");
}

TEST(DurableStoreRetry, PerMessageAndPerQueueRetryRules) {
  Fixture f;
  auto store = f.open();
  QueueOptions q;
  q.max_retries = 1;
  q.retry_delay = milliseconds(100);
  q.ack_timeout = seconds(2);
  ASSERT_TRUE(store->configure_queue("fast", q));
  const auto id = append_ok(*store, msg("fast", "x"));
  auto l = lease_ok(*store, "fast");
  EXPECT_EQ(l.deadline - l.message.enqueued_at, seconds(2));
  ASSERT_TRUE(store->nack(id, StatusCode::internal, "boom"));
  f.clock->advance(milliseconds(100));
  lease_ok(*store, "fast");
  ASSERT_TRUE(store->nack(id, StatusCode::internal, "boom"));
  EXPECT_TRUE(store->dead_letter(id)) << "1 retry on this queue";

  auto own = msg("fast", "y");
  own.max_retries = 0;
  const auto once = append_ok(*store, own);
  lease_ok(*store, "fast");
  ASSERT_TRUE(store->nack(once, StatusCode::internal, "boom"));
  EXPECT_TRUE(store->dead_letter(once)) << "the message's own 0 retries";

  auto slow = msg("fast", "z");
  slow.retry_delay = seconds(60);
  const auto later = append_ok(*store, slow);
  lease_ok(*store, "fast");
  ASSERT_TRUE(store->nack(later, StatusCode::internal, "boom"));
  f.clock->advance(milliseconds(59'999));
  EXPECT_TRUE(nothing_ready(*store, "fast"));
  f.clock->advance(milliseconds(1));
  EXPECT_EQ(lease_ok(*store, "fast").message.id, later);
}

TEST(DurableStoreRetry, ExpiredLeasesRetryThenDeadLetterAsTimeout) {
  Fixture f;
  auto store = f.open();
  const auto id = append_ok(*store, msg("q", "slow"));
  for (int attempt = 1; attempt <= 4; ++attempt) {
    auto l = lease_ok(*store, "q", "c" + std::to_string(attempt));
    EXPECT_EQ(*store->next_deadline(), std::optional<DurableTime>(l.deadline));
    f.clock->advance(milliseconds(29'999));
    EXPECT_EQ(*store->expire(), 0u);
    f.clock->advance(milliseconds(1));
    EXPECT_EQ(*store->expire(), 1u);
    if (attempt < 4) f.clock->advance(seconds(5));
  }
  EXPECT_FALSE(*store->next_deadline());
  auto dead = store->dead_letter(id);
  ASSERT_TRUE(dead) << dead.error().to_string();
  EXPECT_EQ(dead->reason, DeadLetterReason::timeout);
  EXPECT_EQ(dead->status, StatusCode::deadline_exceeded);
  EXPECT_NE(dead->error.find("consumer c4 did not acknowledge within 30000 ms"), std::string::npos)
      << dead->error;
  EXPECT_EQ(queue_stats(*store, "q").dead_letters, 1u);
}

TEST(DurableStoreRetry, ALateAckAfterExpiryStillCounts) {
  Fixture f;
  auto store = f.open();
  const auto id = append_ok(*store, msg("q", "x"));
  lease_ok(*store, "q");
  f.clock->advance(seconds(30));
  ASSERT_EQ(*store->expire(), 1u);
  ASSERT_TRUE(store->ack(id)) << "the handler finished; a redelivery would repeat it";
  EXPECT_TRUE(*store->seen(id));
  f.clock->advance(seconds(5));
  EXPECT_TRUE(nothing_ready(*store, "q"));
  expect_error(store->nack(id, StatusCode::internal, "x").error(), StatusCode::already_exists,
               "acknowledged before");
}

TEST(DurableStoreRetry, ReleasedConsumerLeasesAreReadyAtOnce) {
  Fixture f;
  auto store = f.open();
  const auto a = append_ok(*store, msg("q", "a"));
  const auto b = append_ok(*store, msg("q", "b"));
  append_ok(*store, msg("q", "c"));
  lease_ok(*store, "q", "gone");
  lease_ok(*store, "q", "gone");
  lease_ok(*store, "q", "stays");
  EXPECT_EQ(*store->release_consumer("gone"), 2u);
  EXPECT_EQ(*store->release_consumer("nobody"), 0u);
  auto again = lease_ok(*store, "q", "next");
  EXPECT_EQ(again.message.id, a);
  EXPECT_EQ(again.message.attempts, 2u);
  ASSERT_EQ(again.message.history.size(), 1u);
  EXPECT_EQ(again.message.history[0].reason, "consumer_gone");
  EXPECT_EQ(again.message.history[0].status, StatusCode::unavailable);
  EXPECT_EQ(lease_ok(*store, "q", "next").message.id, b);
  EXPECT_EQ(store->stats()->counters.retried, 2u);
}

TEST(DurableStoreRetry, NackOfAWaitingMessageIsRefused) {
  Fixture f;
  auto store = f.open();
  const auto id = append_ok(*store, msg("q", "x"));
  expect_error(store->nack(id, StatusCode::internal, "x").error(), StatusCode::failed_precondition,
               "not leased");
  expect_error(store->nack("unknown", StatusCode::internal, "x").error(), StatusCode::not_found,
               "unknown");
}

TEST(DurableStoreReopen, MessagesSurviveAndLeasesAreReleasedOnOpen) {
  Fixture f;
  std::string leased;
  std::string waiting;
  std::string acked;
  {
    auto store = f.open(Durability::every_message);
    acked = append_ok(*store, msg("q", "acked", 1));
    leased = append_ok(*store, msg("q", "leased"));
    waiting = append_ok(*store, msg("q", "waiting"));
    EXPECT_EQ(lease_ok(*store, "q").message.id, acked);
    ASSERT_TRUE(store->ack(acked));
    EXPECT_EQ(lease_ok(*store, "q", "dies-with-process").message.id, leased);
  }
  auto store = f.open(Durability::every_message);
  EXPECT_TRUE(*store->seen(acked));
  const auto s = queue_stats(*store, "q");
  EXPECT_EQ(s.ready, 2u);
  EXPECT_EQ(s.in_flight, 0u);
  auto again = lease_ok(*store, "q");
  EXPECT_EQ(again.message.id, leased);
  EXPECT_EQ(again.message.attempts, 2u);
  ASSERT_EQ(again.message.history.size(), 1u);
  EXPECT_EQ(again.message.history[0].reason, "released_on_open");
  EXPECT_NE(again.message.history[0].message.find("dies-with-process"), std::string::npos);
  EXPECT_EQ(lease_ok(*store, "q").message.id, waiting);
}

TEST(DurableStoreStats, DepthInFlightAgesAndCounters) {
  Fixture f;
  auto store = f.open();
  append_ok(*store, msg("q", "1234"));
  f.clock->advance(seconds(2));
  append_ok(*store, msg("q", "56"));
  auto delayed = msg("q", "7");
  delayed.delay = seconds(60);
  append_ok(*store, delayed);
  f.clock->advance(seconds(1));
  auto s = queue_stats(*store, "q");
  EXPECT_EQ(s.ready, 2u);
  EXPECT_EQ(s.delayed, 1u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.bytes, 7u);
  EXPECT_EQ(s.oldest_ready_age, seconds(3));
  lease_ok(*store, "q");
  s = queue_stats(*store, "q");
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.oldest_ready_age, seconds(1));
  EXPECT_EQ(store->stats()->counters.sent, 3u);
}

TEST(DurableStoreBadFiles, ATextFileIsNotADatabase) {
  Fixture f;
  std::filesystem::create_directories(f.dir.path() + "/data");
  const std::string path = f.dir.path() + "/data/plexus.db";
  std::ofstream(path) << "this is a text file, not a database\n" << std::string(4096, 'x');
  auto store = DurableStore::open(f.options());
  ASSERT_FALSE(store);
  expect_error(store.error(), StatusCode::failed_precondition, path);
  expect_error(store.error(), StatusCode::failed_precondition, "not a SQLite database");
}

TEST(DurableStoreBadFiles, ASecondOpenOfTheSameDatabaseIsRefused) {
  Fixture f;
  auto first = f.open();
  auto second = DurableStore::open(f.options());
  ASSERT_FALSE(second);
  expect_error(second.error(), StatusCode::unavailable, "in use by another process");
  expect_error(second.error(), StatusCode::unavailable, "plexus.db");
}

TEST(DurableStoreBadFiles, ADataDirectoryThatIsAFile) {
  Fixture f;
  std::ofstream(f.dir.path() + "/data") << "x";
  auto store = DurableStore::open(f.options());
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(f.dir.path() + "/data"), std::string::npos)
      << store.error().to_string();
}

}  // namespace
}  // namespace plexus::test::durable_store
