// Durable queues through a server (plexus/queue.hpp, docs/PROTOCOL.md §22), with the server, its
// SQLite store and the clients in this process over a real Unix socket: sends are stored and
// delivered once, typed handlers and the catch-all, handler errors retried then dead-lettered
// with their status, replay, priorities and delays, competing consumers on one queue, and bad
// input (names, sizes, bounds, a server without a data directory). Deaths of processes are in
// queue_process_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test::queues {
namespace {

constexpr Millis kWait{20000};

class QueueTest : public ::testing::Test {
 protected:
  void start_server(DurableOptions durable) {
    ServerOptions so;
    so.listen = {dir_.unix_address("q.sock")};
    so.durable = std::move(durable);
    auto server = Server::create(runtime_, so);
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->start());
  }
  void start_server() {
    DurableOptions d;
    d.data_dir = dir_.file("data");
    // Failures come back quickly here: two retries 20 ms apart.
    d.queue_defaults.max_retries = 2;
    d.queue_defaults.retry_delay = Millis{20};
    start_server(std::move(d));
  }
  std::unique_ptr<Client> connect() {
    ClientOptions co;
    co.address = dir_.unix_address("q.sock");
    auto c = Client::connect(runtime_, co);
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? std::move(*c) : nullptr;
  }
  static NewMessage message(std::string queue, std::string payload, std::string type = "task") {
    NewMessage m;
    m.queue = std::move(queue);
    m.payload = std::move(payload);
    m.type = std::move(type);
    return m;
  }
  // Waits (bounded) until the server's figures for `queue` satisfy `done`.
  bool wait_stats(QueueClient& q, const std::function<bool(const DurableStats&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      auto s = q.stats();
      if (s && done(*s)) return true;
      std::this_thread::sleep_for(Millis{5});
    }
    return false;
  }

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
};

const QueueStats* find_queue(const DurableStats& s, const std::string& name) {
  for (const auto& q : s.queues)
    if (q.queue == name) return &q;
  return nullptr;
}

TEST_F(QueueTest, SentMessagesAreStoredAndEachIsHandledOnce) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  QueueClient queues(*client);
  constexpr int kCount = 2000;
  constexpr int kBlocking = 100;  // blocking sends wait for one commit each; the rest pipeline
  std::set<std::string> sent;
  for (int i = 0; i < kBlocking; ++i) {
    auto r = queues.send(message("jobs", "job-" + std::to_string(i)));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_FALSE(r->duplicate);
    sent.insert(r->id);
  }
  {
    std::mutex sent_mu;
    Countdown stored(kCount - kBlocking);
    for (int i = kBlocking; i < kCount; ++i) {
      queues.send_async(message("jobs", "job-" + std::to_string(i)), [&](Result<Appended> r) {
        EXPECT_TRUE(r) << r.error().to_string();
        if (r) {
          std::lock_guard lock(sent_mu);
          sent.insert(r->id);
        }
        stored.done();
      });
    }
    ASSERT_TRUE(stored.wait_for(kWait));
    std::lock_guard lock(sent_mu);
  }
  ASSERT_EQ(sent.size(), static_cast<std::size_t>(kCount));
  auto stats = queues.stats();
  ASSERT_TRUE(stats);
  ASSERT_NE(find_queue(*stats, "jobs"), nullptr);
  EXPECT_EQ(find_queue(*stats, "jobs")->ready, static_cast<std::uint64_t>(kCount));

  auto consumer_client = connect();
  ASSERT_TRUE(consumer_client);
  ConsumerOptions co;
  co.queue = "jobs";
  auto consumer = Consumer::create(*consumer_client, co);
  ASSERT_TRUE(consumer) << consumer.error().to_string();
  std::mutex mu;
  std::multiset<std::string> handled;
  Countdown all(kCount);
  (*consumer)->on("task", [&](const Delivery& d) -> Result<void> {
    EXPECT_EQ(d.queue, "jobs");
    EXPECT_EQ(d.attempt, 1u);
    EXPECT_TRUE(d.payload.starts_with("job-"));
    {
      std::lock_guard lock(mu);
      handled.insert(d.id);
    }
    all.done();
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  ASSERT_TRUE(all.wait_for(kWait));
  ASSERT_TRUE(wait_stats(queues, [](const DurableStats& s) {
    return s.counters.acked == static_cast<std::uint64_t>(kCount);
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(handled.size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(std::set<std::string>(handled.begin(), handled.end()), sent);
  EXPECT_EQ((*consumer)->stats().handled, static_cast<std::uint64_t>(kCount));
}

TEST_F(QueueTest, AResendWithTheSameIdIsStoredOnce) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  QueueClient queues(*client);
  auto m = message("jobs", "once");
  m.id = "order-42";
  auto first = queues.send(m);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "order-42");
  EXPECT_FALSE(first->duplicate);
  auto again = queues.send(m);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->duplicate);
  auto stats = queues.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(find_queue(*stats, "jobs")->ready, 1u);
  EXPECT_EQ(stats->counters.duplicates_dropped, 1u);
}

TEST_F(QueueTest, TypedHandlersTheCatchAllAndATypeWithoutHandlerDeadLettered) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  QueueClient queues(*client);
  ASSERT_TRUE(queues.send(message("work", "t", "task")));
  ASSERT_TRUE(queues.send(message("work", "c", "command")));
  ASSERT_TRUE(queues.send(message("work", "x", "custom.kind")));
  ASSERT_TRUE(queues.send(message("other", "o", "heartbeat")));

  auto cc = connect();
  ConsumerOptions co;
  co.queue = "work";
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  Event<std::string> task, command, any;
  (*consumer)->on("task", [&](const Delivery& d) -> Result<void> {
    task.set(d.payload);
    return {};
  });
  (*consumer)->on("command", [&](const Delivery& d) -> Result<void> {
    command.set(d.payload);
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  EXPECT_EQ(task.wait_for(kWait), "t");
  EXPECT_EQ(command.wait_for(kWait), "c");
  // custom.kind has no handler and there is no catch-all: not_found, retried, dead-lettered.
  ASSERT_TRUE(wait_stats(queues, [](const DurableStats& s) {
    auto* q = find_queue(s, "work");
    return q && q->dead_letters == 1 && q->ready == 0 && q->in_flight == 0;
  }));
  auto dead = queues.dead_letters("work");
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].message.type, "custom.kind");
  EXPECT_EQ((*dead)[0].reason, DeadLetterReason::handler_error);
  EXPECT_EQ((*dead)[0].status, StatusCode::not_found);
  EXPECT_NE((*dead)[0].error.find("no handler for messages of type \"custom.kind\""),
            std::string::npos)
      << (*dead)[0].error;
  EXPECT_EQ((*dead)[0].message.attempts, 3u);  // the first delivery and two retries
  EXPECT_GE((*consumer)->stats().no_handler, 3u);
  // The other queue was never handed to this consumer.
  auto stats = queues.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(find_queue(*stats, "other")->ready, 1u);
  (void)any;
}

TEST_F(QueueTest, AHandlerErrorIsRetriedThenDeadLetteredWithItsStatusAndReplayWorks) {
  start_server();
  auto client = connect();
  ASSERT_TRUE(client);
  QueueClient queues(*client);
  auto sent = queues.send(message("payments", "pay 10"));
  ASSERT_TRUE(sent);

  auto cc = connect();
  ConsumerOptions co;
  co.queue = "payments";
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  std::atomic<bool> healthy{false};
  std::atomic<int> attempts{0};
  Event<std::uint32_t> handled_on_attempt;
  (*consumer)->on_any([&](const Delivery& d) -> Result<void> {
    if (!healthy) {
      attempts.fetch_add(1);
      return make_error(StatusCode::permission_denied, "card declined");
    }
    handled_on_attempt.set(d.attempt);
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  ASSERT_TRUE(wait_stats(queues, [](const DurableStats& s) {
    auto* q = find_queue(s, "payments");
    return q && q->dead_letters == 1;
  }));
  EXPECT_EQ(attempts.load(), 3);
  auto dead = queues.dead_letter(sent->id);
  ASSERT_TRUE(dead) << dead.error().to_string();
  EXPECT_EQ(dead->reason, DeadLetterReason::handler_error);
  EXPECT_EQ(dead->status, StatusCode::permission_denied);
  EXPECT_EQ(dead->error, "card declined");
  EXPECT_EQ(dead->message.payload, "pay 10");
  ASSERT_EQ(dead->message.history.size(), 3u);
  for (const auto& e : dead->message.history) {
    EXPECT_EQ(e.reason, "handler_error");
    EXPECT_EQ(e.status, StatusCode::permission_denied);
  }

  healthy = true;
  ASSERT_TRUE(queues.replay(sent->id));
  // Attempts start again; the history is kept.
  EXPECT_EQ(handled_on_attempt.wait_for(kWait), 1u);
  ASSERT_TRUE(wait_stats(queues, [](const DurableStats& s) {
    auto* q = find_queue(s, "payments");
    return s.counters.acked == 1 && (!q || (q->dead_letters == 0 && q->ready == 0));
  }));
  EXPECT_EQ(queues.dead_letter(sent->id).error().code, StatusCode::not_found);
}

TEST_F(QueueTest, PurgeDeletesDeadLetters) {
  DurableOptions d;
  d.data_dir = dir_.file("data");
  d.queue_defaults.max_retries = 0;
  start_server(std::move(d));
  auto client = connect();
  QueueClient queues(*client);
  // Any bytes: one payload is not UTF-8, and listing it over the wire still works.
  for (const std::string& p : {std::string("0"), std::string("1"), std::string("\xff\xfe\x00x", 4)})
    ASSERT_TRUE(queues.send(message("q", p)));
  auto cc = connect();
  ConsumerOptions co;
  co.queue = "q";
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  (*consumer)->on_any(
      [](const Delivery&) -> Result<void> { return make_error(StatusCode::internal, "boom"); });
  ASSERT_TRUE((*consumer)->start());
  ASSERT_TRUE(wait_stats(queues, [](const DurableStats& s) {
    auto* q = find_queue(s, "q");
    return q && q->dead_letters == 3;
  }));
  auto dead = queues.dead_letters("q");
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 3u);
  ASSERT_TRUE(queues.purge((*dead)[0].message.id));
  EXPECT_EQ(queues.purge((*dead)[0].message.id).error().code, StatusCode::not_found);
  auto purged = queues.purge_queue("q");
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 2u);
  EXPECT_TRUE(queues.dead_letters("q")->empty());
}

TEST_F(QueueTest, NoAckWithinTheTimeoutRetriesThenDeadLettersAsTimeoutOnTheServersClock) {
  // The server's queues run on a ManualClock: leases expire and retries wait exactly as far as
  // the test advances it, whatever the machine's speed. The consumer's handler never answers.
  auto clock = std::make_shared<ManualClock>();
  DurableOptions d;
  d.data_dir = dir_.file("data");
  d.clock = clock;
  d.queue_defaults.ack_timeout = Millis{30000};
  d.queue_defaults.max_retries = 2;
  d.queue_defaults.retry_delay = Millis{5000};
  start_server(std::move(d));
  auto client = connect();
  QueueClient queues(*client);
  auto sent = queues.send(message("slow", "never answered"));
  ASSERT_TRUE(sent);
  auto cc = connect();
  ConsumerOptions co;
  co.queue = "slow";
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint32_t> attempts;
  bool release = false;
  (*consumer)->on_any([&](const Delivery& delivery) -> Result<void> {
    std::unique_lock lock(mu);
    attempts.push_back(delivery.attempt);
    cv.notify_all();
    // Holds the consumer's only thread: later deliveries queue behind it, which is enough to
    // see that they were made (the server counts them as leased).
    cv.wait(lock, [&] { return release; });
    return make_error(StatusCode::cancelled, "test over");
  });
  ASSERT_TRUE((*consumer)->start());
  auto leased_attempts = [&](std::uint32_t n) {
    return wait_stats(queues, [&](const DurableStats& s) {
      return s.counters.redelivered + 1 == n && find_queue(s, "slow") &&
             find_queue(s, "slow")->in_flight == 1;
    });
  };
  ASSERT_TRUE(leased_attempts(1));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return !attempts.empty(); }));
  }
  // Just short of the ACK timeout nothing happens; at it the lease expires, and the retry
  // waits its 5 s.
  clock->advance(Millis{29999});
  auto s = queues.stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(find_queue(*s, "slow")->in_flight, 1u);
  clock->advance(Millis{1});
  ASSERT_TRUE(wait_stats(queues, [&](const DurableStats& st) {
    return find_queue(st, "slow")->delayed == 1 && st.counters.retried == 1;
  }));
  clock->advance(Millis{5000});
  ASSERT_TRUE(leased_attempts(2));
  clock->advance(Millis{30000});
  ASSERT_TRUE(wait_stats(queues, [&](const DurableStats& st) {
    return find_queue(st, "slow")->delayed == 1 && st.counters.retried == 2;
  }));
  clock->advance(Millis{5000});
  ASSERT_TRUE(leased_attempts(3));
  clock->advance(Millis{30000});  // the third delivery times out too: no retries left
  ASSERT_TRUE(wait_stats(
      queues, [&](const DurableStats& st) { return find_queue(st, "slow")->dead_letters == 1; }));
  auto dead = queues.dead_letter(sent->id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->reason, DeadLetterReason::timeout);
  EXPECT_EQ(dead->message.attempts, 3u);
  ASSERT_EQ(dead->message.history.size(), 3u);
  for (const auto& e : dead->message.history) EXPECT_EQ(e.reason, "timeout");
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  (*consumer)->stop();
}

TEST_F(QueueTest, AHandlerThatAnswersUnavailableFailsItsMessageNotItsConsumer) {
  DurableOptions d;
  d.data_dir = dir_.file("data");
  d.queue_defaults.max_retries = 0;
  start_server(std::move(d));
  auto client = connect();
  QueueClient queues(*client);
  ASSERT_TRUE(queues.send(message("q", "1", "down")));
  ASSERT_TRUE(queues.send(message("q", "2", "down")));
  ASSERT_TRUE(queues.send(message("q", "3", "task")));
  auto cc = connect();
  ConsumerOptions co;
  co.queue = "q";
  co.prefetch = 1;
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  (*consumer)->on("down", [](const Delivery&) -> Result<void> {
    return make_error(StatusCode::unavailable, "printer offline");
  });
  Event<bool> task;
  (*consumer)->on("task", [&](const Delivery&) -> Result<void> {
    task.set(true);
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  // The consumer keeps receiving after its handler said unavailable twice.
  EXPECT_TRUE(task.wait_for(kWait));
  ASSERT_TRUE(wait_stats(queues, [](const DurableStats& s) {
    auto* q = find_queue(s, "q");
    return q && q->dead_letters == 2;
  }));
  auto dead = queues.dead_letters("q");
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 2u);
  EXPECT_EQ((*dead)[0].reason, DeadLetterReason::handler_error);
  EXPECT_EQ((*dead)[0].status, StatusCode::unavailable);
}

TEST_F(QueueTest, HigherPriorityFirstAndDelayedMessagesWait) {
  start_server();
  auto client = connect();
  QueueClient queues(*client);
  auto later = message("prio", "later");
  later.delay = Millis{300};
  later.priority = 100;  // its priority does not let it jump its delay
  ASSERT_TRUE(queues.send(later));
  for (int p : {1, 5, 3}) {
    auto m = message("prio", "p" + std::to_string(p));
    m.priority = p;
    ASSERT_TRUE(queues.send(m));
  }
  auto cc = connect();
  ConsumerOptions co;
  co.queue = "prio";
  co.prefetch = 1;  // one at a time: the order is the server's
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::chrono::steady_clock::time_point> at;
  Countdown four(4);
  const auto start = std::chrono::steady_clock::now();
  (*consumer)->on_any([&](const Delivery& d) -> Result<void> {
    std::lock_guard lock(mu);
    order.push_back(d.payload);
    at.push_back(std::chrono::steady_clock::now());
    four.done();
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  ASSERT_TRUE(four.wait_for(kWait));
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<std::string>{"p5", "p3", "p1", "later"}));
  EXPECT_GE(at.back() - start, Millis{250});
}

TEST_F(QueueTest, CompetingConsumersShareAQueueAndEachMessageGoesToOne) {
  start_server();
  auto client = connect();
  QueueClient queues(*client);
  constexpr int kCount = 600;
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(queues.send(message("shared", std::to_string(i))));
  std::mutex mu;
  std::multiset<std::string> handled;
  std::vector<int> per(3, 0);
  Countdown all(kCount);
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int k = 0; k < 3; ++k) {
    clients.push_back(connect());
    ConsumerOptions co;
    co.queue = "shared";
    co.prefetch = 4;
    auto c = Consumer::create(*clients.back(), co);
    ASSERT_TRUE(c);
    (*c)->on_any([&, k](const Delivery& d) -> Result<void> {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // a handler that works
      {
        std::lock_guard lock(mu);
        handled.insert(d.id);
        ++per[static_cast<std::size_t>(k)];
      }
      all.done();
      return {};
    });
    consumers.push_back(std::move(*c));
  }
  for (auto& c : consumers) ASSERT_TRUE(c->start());
  ASSERT_TRUE(all.wait_for(kWait));
  std::lock_guard lock(mu);
  EXPECT_EQ(handled.size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(std::set<std::string>(handled.begin(), handled.end()).size(),
            static_cast<std::size_t>(kCount));
  for (int k = 0; k < 3; ++k) EXPECT_GT(per[static_cast<std::size_t>(k)], 0) << "consumer " << k;
}

TEST_F(QueueTest, BadNamesOversizeMessagesAndFullQueuesAreRefusedClearly) {
  DurableOptions d;
  d.data_dir = dir_.file("data");
  QueueOptions small;
  small.max_messages = 2;
  d.queues["tiny"] = small;
  start_server(std::move(d));
  auto client = connect();
  QueueClient queues(*client);
  for (const char* bad : {"a/b", "..", "../etc", "", "sp ace"}) {
    auto r = queues.send(message(bad, "x"));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad << ": " << r.error().message;
  }
  auto big = queues.send(message("jobs", std::string((8u << 20) + 1, 'x')));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, StatusCode::message_too_large) << big.error().to_string();
  ASSERT_TRUE(queues.send(message("tiny", "1")));
  ASSERT_TRUE(queues.send(message("tiny", "2")));
  auto full = queues.send(message("tiny", "3"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, StatusCode::resource_exhausted);
  EXPECT_NE(full.error().message.find("queue tiny is full"), std::string::npos)
      << full.error().message;
  // Nothing that was accepted is lost.
  EXPECT_EQ(find_queue(*queues.stats(), "tiny")->ready, 2u);
  ConsumerOptions bad;
  bad.queue = "a/b";
  auto dup = Consumer::create(*client, bad);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, StatusCode::invalid_argument);
}

TEST_F(QueueTest, AServerWithoutADataDirectorySaysHowToTurnQueuesOn) {
  start_server(DurableOptions{});
  auto client = connect();
  QueueClient queues(*client);
  auto r = queues.send(message("jobs", "x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::failed_precondition);
  EXPECT_NE(r.error().message.find("--data-dir"), std::string::npos) << r.error().message;
  auto cc = connect();
  ConsumerOptions co;
  co.queue = "jobs";
  auto consumer = Consumer::create(*cc, co);
  ASSERT_TRUE(consumer);
  (*consumer)->on_any([](const Delivery&) -> Result<void> { return {}; });
  auto started = (*consumer)->start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, StatusCode::failed_precondition);
}

TEST_F(QueueTest, ADataDirectoryThatCannotBeUsedFailsCreate) {
  // A file where the database should be that is not SQLite.
  const std::string data = dir_.file("notdb");
  std::filesystem::create_directories(data);
  {
    std::FILE* f = std::fopen((data + "/plexus.db").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a database, just text that is long enough to be read as a header..", f);
    std::fclose(f);
  }
  ServerOptions so;
  so.listen = {dir_.unix_address("x.sock")};
  so.durable.data_dir = data;
  auto server = Server::create(runtime_, so);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code, StatusCode::failed_precondition) << server.error().to_string();
  EXPECT_NE(server.error().message.find("plexus.db"), std::string::npos) << server.error().message;
}

}  // namespace
}  // namespace plexus::test::queues
