// The two ends of a direct channel (transport/shm/direct_endpoint.hpp) in one process, over a
// segment in ordinary heap memory (ASan watches every byte around it; not mirrored, so a
// message across the ring's end takes the copying path). A peer that scribbles the segment
// gets protocol_error, never a read outside the ring; a peer process that dies is noticed by a
// waiting side; close() wakes sleepers on both ends.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "platform/posix/futex.hpp"
#include "platform/posix/process.hpp"
#include "test_kit.hpp"
#include "transport/shm/direct_endpoint.hpp"
#include "wire/bytes.hpp"

namespace plexus::transport::shm {
namespace {

using namespace std::chrono_literals;
using plexus::test::pattern_bytes;

constexpr auto kSafety = std::chrono::nanoseconds(10s);

struct HeapSegment {
  explicit HeapSegment(std::uint64_t ring = 4096)
      : layout(*segment_layout(ring, ring)), bytes(layout.total) {
    init_segment(bytes.data(), layout);
  }
  MappedSegment view() {
    MappedSegment seg;  // its Mapping is empty: nothing is unmapped
    seg.base = bytes.data();
    seg.data[0] = bytes.data() + layout.data_offset[0];
    seg.data[1] = bytes.data() + layout.data_offset[1];
    return seg;
  }
  // The end that writes `ring`, with `peer` as the other process (this one by default).
  std::unique_ptr<DirectEndpoint> end(int ring, DirectWait wait = {}, std::int32_t peer = -1) {
    auto pidfd = platform::open_pidfd(peer < 0 ? platform::current_pid() : peer);
    EXPECT_TRUE(pidfd);
    return std::make_unique<DirectEndpoint>(view(), layout, ring, std::move(*pidfd), wait);
  }
  SegmentLayout layout;
  std::vector<char> bytes;
};

TEST(DirectEndpoint, MessagesArriveIntactAcrossTheRingsEnd) {
  HeapSegment s;
  auto a = s.end(0);
  auto b = s.end(1);
  EXPECT_EQ(a->max_message_size(), 4096u - 2 * kDirectRecordHeader);
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) {
    const std::string m = pattern_bytes(rng() % 1200, static_cast<std::uint64_t>(i));
    ASSERT_TRUE(a->send(m, 0ns)) << i;
    auto got = b->receive(0ns);
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_EQ(*got, m) << i;
    ASSERT_TRUE(b->send(*got, 0ns));  // straight from one ring into the other
    auto back = a->receive(0ns);
    ASSERT_TRUE(back);
    ASSERT_EQ(*back, m);
  }
  auto none = b->receive(0ns);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, StatusCode::deadline_exceeded);
  auto big = a->send(std::string(a->max_message_size() + 1, 'x'), 0ns);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, StatusCode::message_too_large);
}

// Loans: the message is built in the ring (or, where it would wrap in this unmirrored heap
// segment, in a scratch buffer copied at commit) and arrives as committed; one loan at a time.
TEST(DirectEndpoint, LoanedRegionsArriveAsCommitted) {
  HeapSegment s;
  auto a = s.end(0);
  auto b = s.end(1);
  for (int i = 0; i < 2000; ++i) {
    const std::size_t size = static_cast<std::size_t>(i * 37 % 1500);
    auto region = a->loan(size, 0ns);
    ASSERT_TRUE(region) << region.error().to_string();
    ASSERT_EQ(region->size(), size);
    const std::string m = pattern_bytes(size, static_cast<std::uint64_t>(i));
    std::copy(m.begin(), m.end(), region->begin());
    auto again = a->send("not now", 0ns);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, StatusCode::failed_precondition);
    const std::size_t used = size - size / 3;
    ASSERT_TRUE(a->commit(used));
    auto got = b->receive(0ns);
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_EQ(*got, m.substr(0, used)) << i;
  }
  EXPECT_EQ(a->commit(1).error().code, StatusCode::failed_precondition);
  auto region = a->loan(10, 0ns);
  ASSERT_TRUE(region);
  EXPECT_EQ(a->commit(11).error().code, StatusCode::invalid_argument);
  EXPECT_TRUE(a->commit(10));
  EXPECT_EQ(a->loan(a->max_message_size() + 1, 0ns).error().code, StatusCode::message_too_large);
  // Closed between loan and commit: nothing is published to a reader that is gone.
  ASSERT_TRUE(b->receive(0ns));
  auto last = a->loan(10, 0ns);
  ASSERT_TRUE(last);
  std::fill(last->begin(), last->end(), 'z');
  const std::vector<char> before(
      s.bytes.begin() + static_cast<std::ptrdiff_t>(s.layout.data_offset[0]),
      s.bytes.begin() + static_cast<std::ptrdiff_t>(s.layout.data_offset[1]));
  b->close();
  EXPECT_EQ(a->commit(10).error().code, StatusCode::unavailable);
  const std::vector<char> after(
      s.bytes.begin() + static_cast<std::ptrdiff_t>(s.layout.data_offset[0]),
      s.bytes.begin() + static_cast<std::ptrdiff_t>(s.layout.data_offset[1]));
  EXPECT_TRUE(before == after) << "a header sealed (or a slot zeroed) after the close";
}

// Staged messages are invisible until flush(), a publishing send, or an eighth of the ring;
// a sender that stages more than the ring holds publishes before it waits for room (else the
// reader could never make any).
TEST(DirectEndpoint, StagedMessagesAppearTogether) {
  HeapSegment s;
  auto a = s.end(0);
  auto b = s.end(1);
  ASSERT_TRUE(a->send("one", 0ns, /*publish_now=*/false));
  ASSERT_TRUE(a->send("two", 0ns, false));
  EXPECT_EQ(b->receive(0ns).error().code, StatusCode::deadline_exceeded);
  a->flush();
  EXPECT_EQ(*b->receive(0ns), "one");
  EXPECT_EQ(*b->receive(0ns), "two");
  ASSERT_TRUE(a->send("three", 0ns, false));
  ASSERT_TRUE(a->send("four", 0ns));  // publishes both
  EXPECT_EQ(*b->receive(0ns), "three");
  EXPECT_EQ(*b->receive(0ns), "four");
  // 4096 / 8 = 512 bytes staged: published without a flush.
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(a->send(std::string(100, 'x'), 0ns, false));
  auto some = b->receive(0ns);
  ASSERT_TRUE(some) << "an eighth of the ring staged, still nothing visible";

  a->flush();
  int drained = 1;
  while (b->receive(0ns)) ++drained;
  EXPECT_EQ(drained, 6);

  const int n = plexus::test::kSanitizerBuild ? 2000 : 20000;
  std::thread sender([&] {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(a->send(std::to_string(i), kSafety, false));
    a->flush();
  });
  for (int i = 0; i < n; ++i) {
    auto got = b->receive(kSafety);
    ASSERT_TRUE(got) << i << ": " << got.error().to_string();
    ASSERT_EQ(*got, std::to_string(i));
  }
  sender.join();
}

// A sender and a receiver on two threads, every wait strategy: everything arrives in order,
// through a ring far smaller than what passes (the sender waits for room, the receiver for
// messages; with block both sleep on the futexes every time).
TEST(DirectEndpoint, ASenderAndAReceiverThreadKeepPaceWithEveryWaitStrategy) {
  for (auto strategy : {WaitStrategy::spin, WaitStrategy::adaptive, WaitStrategy::block}) {
    HeapSegment s;
    DirectWait wait;
    wait.wait = strategy;
    wait.liveness_interval = 1h;  // a lost wake-up hangs (and fails) instead of costing 100 ms
    auto a = s.end(0, wait);
    auto b = s.end(1, wait);
    const int n = plexus::test::kSanitizerBuild ? 3000 : 30000;
    std::thread sender([&] {
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(a->send(std::to_string(i) + std::string(i % 300, 'p'), kSafety));
      }
    });
    for (int i = 0; i < n; ++i) {
      auto got = b->receive(kSafety);
      ASSERT_TRUE(got) << to_string(strategy) << " " << i << ": " << got.error().to_string();
      ASSERT_EQ(*got, std::to_string(i) + std::string(i % 300, 'p'));
    }
    sender.join();
  }
}

// Writes a record header as a peer would (u32 length, u32 seal) at the start of ring 0.
void put_header(HeapSegment& s, std::uint32_t length, std::uint32_t seal) {
  char* at = s.bytes.data() + s.layout.data_offset[0];
  wire::store_le<std::uint32_t>(at, length);
  wire::store_le<std::uint32_t>(at + 4, seal);
}

TEST(DirectEndpoint, ImpossibleHeadersAndIndicesAreProtocolErrors) {
  {
    HeapSegment s;
    auto b = s.end(1);
    auto a = s.end(0);
    put_header(s, 4097, kDirectRecordSeal);  // more than the ring holds
    auto r = b->receive(0ns);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::protocol_error);
    auto again = b->receive(kSafety);  // broken for good: no wait
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, StatusCode::protocol_error);
    // The endpoint closed: its own other direction and the peer see it.
    EXPECT_EQ(b->send("x", 0ns).error().code, StatusCode::unavailable);
    EXPECT_EQ(a->send("x", 0ns).error().code, StatusCode::unavailable);
  }
  {
    HeapSegment s;
    auto b = s.end(1);
    put_header(s, 3, 0);  // a length without the seal: the peer writes both at once
    auto r = b->receive(0ns);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::protocol_error) << r.error().to_string();
  }
  {
    HeapSegment s;
    auto b = s.end(1);
    put_header(s, 3, kDirectRecordSeal ^ 1);  // not the seal
    auto r = b->receive(0ns);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::protocol_error) << r.error().to_string();
  }
  {
    // The largest record the ring holds is taken (what it holds is the peer's business); one
    // byte more is not.
    HeapSegment s;
    auto b = s.end(1);
    put_header(s, static_cast<std::uint32_t>(b->max_message_size()), kDirectRecordSeal);
    auto r = b->receive(0ns);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->size(), b->max_message_size());
    HeapSegment t;
    auto c = t.end(1);
    put_header(t, static_cast<std::uint32_t>(c->max_message_size() + 1), kDirectRecordSeal);
    auto over = c->receive(0ns);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, StatusCode::protocol_error) << over.error().to_string();
  }
  {
    HeapSegment s;
    auto a = s.end(0);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->send(std::string(1000, 'x'), 0ns));
    // The reader "consumed" past our head; seen when the writer needs the tail (a full ring).
    ring_control(s.bytes.data(), 0)->tail.store(5000);
    auto r = a->send(std::string(2000, 'x'), 0ns);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::protocol_error);
  }
}

// Random bytes over the whole segment between the two ends' steps: whatever either end reads,
// it stays inside the ring (ASan), and every failure is one the API promises.
TEST(DirectEndpoint, AScribbledSegmentNeverLeadsOutOfTheRing) {
  std::mt19937_64 rng(11);
  int protocol_errors = 0;
  for (int trial = 0; trial < 200; ++trial) {
    HeapSegment s;
    auto a = s.end(0);
    auto b = s.end(1);
    for (int step = 0; step < 50; ++step) {
      (void)a->send(pattern_bytes(rng() % 900, step), 0ns);
      const int scribbles = static_cast<int>(rng() % 8);
      for (int i = 0; i < scribbles; ++i) {
        const std::size_t at = rng() % s.bytes.size();
        const std::size_t n = std::min<std::size_t>(1 + rng() % 16, s.bytes.size() - at);
        for (std::size_t k = 0; k < n; ++k) s.bytes[at + k] = static_cast<char>(rng());
      }
      auto r = b->receive(0ns);
      if (!r) {
        const auto code = r.error().code;
        ASSERT_TRUE(code == StatusCode::protocol_error || code == StatusCode::deadline_exceeded ||
                    code == StatusCode::unavailable)
            << r.error().to_string();
        if (code == StatusCode::protocol_error) {
          ++protocol_errors;
          break;
        }
      } else {
        ASSERT_LE(r->size(), b->max_message_size());
      }
    }
  }
  EXPECT_GT(protocol_errors, 0) << "200 scribbled segments and no corruption noticed";
}

// Spins (bounded) until a waiter has announced that it sleeps on `word`.
void until_asleep(const std::atomic<std::uint32_t>& word) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (word.load() == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the waiter never went to sleep";
    std::this_thread::yield();
  }
}

// Each waiter is asleep on its futex before close(), and the liveness look is an hour away: only
// the wake-up can end these waits.
TEST(DirectEndpoint, CloseIsSeenByThePeerAndWakesEveryWaiter) {
  HeapSegment s;
  DirectWait block;
  block.wait = WaitStrategy::block;
  block.liveness_interval = 1h;
  auto a = s.end(0, block);
  auto b = s.end(1, block);
  ASSERT_TRUE(a->send("last words", 0ns));
  // b's own receiver sleeps on an empty ring once it took the message; a closes.
  auto first = b->receive(0ns);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "last words");
  plexus::test::Event<StatusCode> woke;
  std::thread receiver([&] {
    auto r = b->receive(kSafety);
    woke.set(r ? StatusCode::ok : r.error().code);
  });
  until_asleep(ring_control(s.bytes.data(), 0)->consumer_sleeping);
  a->close();
  auto code = woke.wait_for(plexus::test::Millis{10000});
  receiver.join();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, StatusCode::unavailable);
  auto sent = b->send("anyone?", 0ns);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, StatusCode::unavailable);

  // A sender asleep on a full ring is woken by its own end's close().
  HeapSegment t;
  auto c = t.end(0, block);
  auto d = t.end(1, block);
  while (c->send(std::string(1000, 'f'), 0ns)) {
  }
  plexus::test::Event<StatusCode> sender_woke;
  std::thread sender([&] {
    auto r = c->send(std::string(1000, 'f'), kSafety);
    sender_woke.set(r ? StatusCode::ok : r.error().code);
  });
  until_asleep(ring_control(t.bytes.data(), 0)->producer_waiting);
  c->close();
  auto sender_code = sender_woke.wait_for(plexus::test::Millis{10000});
  sender.join();
  ASSERT_TRUE(sender_code);
  EXPECT_EQ(*sender_code, StatusCode::unavailable);
}

// The peer is a child process that is killed: a waiting side notices within the liveness
// interval, with both a spinning and a sleeping wait; a message sent before is still delivered.
TEST(DirectEndpoint, APeerProcessThatDiesIsUnavailableToAWaitingSide) {
  for (auto strategy : {WaitStrategy::spin, WaitStrategy::block}) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::pause();
      ::_exit(0);
    }
    HeapSegment s;
    DirectWait wait;
    wait.wait = strategy;
    wait.liveness_interval = 10ms;
    auto a = s.end(0);
    auto b = s.end(1, wait, child);
    ASSERT_TRUE(a->send("before", 0ns));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    auto first = b->receive(kSafety);
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(*first, "before");
    const auto start = std::chrono::steady_clock::now();
    auto r = b->receive(kSafety);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << to_string(strategy);
    // A caller that only polls learns it too.
    auto polled = b->receive(0ns);
    ASSERT_FALSE(polled);
    EXPECT_EQ(polled.error().code, StatusCode::unavailable);
    // And a sender waiting for room that the dead reader will never make.
    while (b->send(std::string(1000, 's'), 0ns)) {
    }
    auto stuck = b->send(std::string(1000, 's'), kSafety);
    ASSERT_FALSE(stuck);
    EXPECT_EQ(stuck.error().code, StatusCode::unavailable) << stuck.error().to_string();
  }
}

}  // namespace
}  // namespace plexus::transport::shm
