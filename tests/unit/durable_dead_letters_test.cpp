// Dead letters of the durable store (src/durable/dead_letters.cpp): listing with reasons and
// ages, showing one, replaying onto its queue with its history (and within the queue's bounds),
// purging one or a queue's; exact times from a ManualClock.
#include <gtest/gtest.h>

#include <chrono>

#include "durable/store.hpp"
#include "test_kit.hpp"

namespace plexus::test::durable_dead_letters {
namespace {

using durable::DurableStore;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Fixture {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<DurableStore> store;

  Fixture() {
    durable::StoreOptions o;
    o.dir = dir.path() + "/data";
    o.durability = Durability::none;
    o.clock = clock;
    o.queue_defaults.max_retries = 0;  // the first failure dead-letters
    auto opened = DurableStore::open(o);
    EXPECT_TRUE(opened) << opened.error().to_string();
    if (opened) store = std::move(*opened);
  }

  // Appends to `queue` and fails the delivery with a handler error: one dead letter.
  std::string dead(const std::string& queue, const std::string& payload) {
    NewMessage m;
    m.queue = queue;
    m.payload = payload;
    m.type = "command";
    m.group = "g1";
    auto appended = store->append(m);
    EXPECT_TRUE(appended) << appended.error().to_string();
    auto lease = store->lease(queue, "c");
    EXPECT_TRUE(lease && *lease);
    EXPECT_TRUE(store->nack(appended->id, StatusCode::internal, "handler threw"));
    return appended->id;
  }
};

TEST(DurableDeadLetters, ListShowsReasonsAgesAndCounts) {
  Fixture f;
  const auto a = f.dead("jobs", "a");
  f.clock->advance(seconds(3));
  const auto b = f.dead("jobs", "b");
  const auto c = f.dead("mail", "c");
  f.clock->advance(seconds(1));
  auto all = f.store->dead_letters("");
  ASSERT_TRUE(all) << all.error().to_string();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].message.id, a);
  EXPECT_EQ((*all)[0].age, seconds(4));
  EXPECT_EQ((*all)[1].age, seconds(1));
  EXPECT_EQ((*all)[0].reason, DeadLetterReason::handler_error);
  EXPECT_EQ((*all)[0].status, StatusCode::internal);
  EXPECT_EQ((*all)[0].error, "handler threw");
  EXPECT_EQ((*all)[0].message.type, "command");
  EXPECT_EQ((*all)[0].message.group, "g1");
  auto jobs = f.store->dead_letters("jobs", 1);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].message.id, a);
  auto stats = f.store->stats();
  ASSERT_EQ(stats->queues.size(), 2u);
  EXPECT_EQ(stats->queues[0].queue, "jobs");
  EXPECT_EQ(stats->queues[0].dead_letters, 2u);
  EXPECT_EQ(stats->queues[0].oldest_dead_letter_age, seconds(4));
  EXPECT_EQ(stats->queues[1].dead_letters, 1u);
  EXPECT_EQ(f.store->dead_letter(c)->message.payload, "c");
  EXPECT_EQ(f.store->dead_letter(b)->message.queue, "jobs");
  EXPECT_EQ(f.store->dead_letter("nope").error().code, StatusCode::not_found);
  EXPECT_EQ(f.store->dead_letters("a/b").error().code, StatusCode::invalid_argument);
}

TEST(DurableDeadLetters, ReplayPutsItBackWithItsHistoryAndAttemptsReset) {
  Fixture f;
  const auto id = f.dead("jobs", "payload");
  f.clock->advance(seconds(10));
  ASSERT_TRUE(f.store->replay(id));
  EXPECT_EQ(f.store->dead_letter(id).error().code, StatusCode::not_found);
  auto lease = f.store->lease("jobs", "c2");
  ASSERT_TRUE(lease && *lease);
  const DurableMessage& m = (*lease)->message;
  EXPECT_EQ(m.id, id);
  EXPECT_EQ(m.payload, "payload");
  EXPECT_EQ(m.attempts, 1u);
  ASSERT_EQ(m.history.size(), 2u);
  EXPECT_EQ(m.history[0].reason, "handler_error");
  EXPECT_EQ(m.history[1].reason, "replayed");
  EXPECT_EQ(m.history[1].at - m.history[0].at, seconds(10));
  ASSERT_TRUE(f.store->ack(id));
  EXPECT_EQ(f.store->replay(id).error().code, StatusCode::not_found);
}

TEST(DurableDeadLetters, ReplayOntoAFullQueueKeepsTheDeadLetter) {
  Fixture f;
  QueueOptions one;
  one.max_messages = 1;
  one.max_retries = 0;
  ASSERT_TRUE(f.store->configure_queue("jobs", one));
  const auto id = f.dead("jobs", "x");
  NewMessage filler;
  filler.queue = "jobs";
  ASSERT_TRUE(f.store->append(filler));
  auto replayed = f.store->replay(id);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().code, StatusCode::resource_exhausted);
  EXPECT_NE(replayed.error().message.find("stays where it is"), std::string::npos);
  EXPECT_TRUE(f.store->dead_letter(id));
}

TEST(DurableDeadLetters, PurgeOneOrAQueue) {
  Fixture f;
  const auto a = f.dead("jobs", "a");
  f.dead("jobs", "b");
  f.dead("mail", "c");
  ASSERT_TRUE(f.store->purge(a));
  EXPECT_EQ(f.store->purge(a).error().code, StatusCode::not_found);
  EXPECT_EQ(*f.store->purge_queue("jobs"), 1u);
  EXPECT_EQ(f.store->dead_letters("")->size(), 1u);
  EXPECT_EQ(*f.store->purge_queue(""), 1u);
  EXPECT_TRUE(f.store->dead_letters("")->empty());
}

}  // namespace
}  // namespace plexus::test::durable_dead_letters
