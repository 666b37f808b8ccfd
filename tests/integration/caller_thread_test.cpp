// Blocking calls over shared memory made on the caller's own thread: the thread writes its
// request into the ring and reads its answer there itself (Session::call_here,
// Connection::borrow), and hands over to the I/O thread whenever something else needs the
// connection. Both ends in this process (the test controls what the handlers do), the client
// over each shared-memory wait strategy; the cross-process cases are CallTest's.
#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "call_kit.hpp"
#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

// A namespace of its own: the unity build puts this file beside others with a kWait.
namespace plexus::test::caller_thread {
namespace {

constexpr Millis kWait{10000};

// CPU time the calling thread has used.
std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// The parameter: the client's shared-memory wait strategy (shm_wait), which its blocking
// callers wait by too: spin until the answer, adaptive, or sleep at once.
class CallerThreadShmTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.listen = {dir_.unix_address("s.sock") + "?shm=1"};
    options.metrics = false;
    auto server = Server::create(server_runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("echo", [](CallContext&, std::string_view p) -> Result<std::string> {
      return std::string(p);
    });
    server_->handle("fail", [](CallContext&, std::string_view p) -> Result<std::string> {
      return make_error(StatusCode::failed_precondition, "refused " + std::string(p),
                        R"({"why":"test"})");
    });
    server_->handle("make", [](CallContext&, std::string_view p) -> Result<std::string> {
      std::string out(std::stoul(std::string(p)), '\0');
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i * 7 + i / 251);
      return out;
    });
    // A notification to the caller, then the answer: the notification is ahead of it.
    server_->handle("note_then_echo", [](CallContext& ctx, std::string_view p) {
      (void)ctx.peer().notify("note", std::string(p));
      return Result<std::string>(std::string(p));
    });
    server_->handle("notes_seen", [this](CallContext&, std::string_view) {
      return Result<std::string>(std::to_string(notes_seen_.load()));
    });
    server_->handle("note", [this](CallContext&, std::string_view) -> Result<std::string> {
      notes_seen_.fetch_add(1);
      return std::string();
    });
    // The answer written where it goes (CallContext::loan_answer): "<size>[:note]" makes `size`
    // pattern bytes, after notifying the caller first when asked to.
    server_->handle("make.loaned", [](CallContext& ctx, std::string_view p) {
      const std::size_t size = std::stoul(std::string(p));
      char* at = ctx.loan_answer(size);
      if (!at) return Result<std::string>(make_error(StatusCode::internal, "no region"));
      if (p.find(":note") != std::string_view::npos) {
        (void)ctx.peer().notify("note", "while loaned");
      }
      for (std::size_t i = 0; i < size; ++i) at[i] = static_cast<char>(i * 7 + i / 251);
      ctx.commit_answer(size);
      return Result<std::string>(std::string());
    });
    server_->handle("count", [this](CallContext&, std::string_view p) -> Result<std::string> {
      counted_.fetch_add(1);
      return std::string(p);
    });
    server_->handle("drop", [](CallContext& ctx, std::string_view) -> Result<std::string> {
      ctx.peer().disconnect("dropped by the test");
      return make_error(StatusCode::internal, "not sent: the peer is being dropped");
    });
    HandlerOptions offload;
    offload.offload = true;
    ASSERT_TRUE(server_->handle("wait", gated_handler(gate_, entered_, saw_cancel_), offload));
    ASSERT_TRUE(server_->start());
    client_ = connect(ClientOptions{});
    ASSERT_TRUE(client_);
  }
  void TearDown() override {
    gate_.open();
    if (client_) client_->close();
    if (server_) server_->shutdown(Millis{1000});
  }

  std::string client_address() const {
    return dir_.unix_address("s.sock") + "?shm=1&shm_wait=" + GetParam();
  }
  std::unique_ptr<Client> connect(ClientOptions options) {
    options.reconnect.enabled = false;
    return connect_client(client_runtime_, client_address(), options);
  }
  bool spins() const { return std::string_view(GetParam()) != "block"; }

  // What the handlers touch, declared first so that it goes last: after the runtimes, whose
  // ends wait for the handlers still running on their threads.
  Gate gate_;
  Event<bool> entered_, saw_cancel_;
  std::atomic<int> notes_seen_{0};
  std::atomic<int> counted_{0};  // calls "count" served
  TempDir dir_;
  Runtime server_runtime_;
  Runtime client_runtime_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

// Sequential calls: the calling thread writes every request itself, and (unless it sleeps at
// once) reads the answers itself too; each answer is its own.
TEST_P(CallerThreadShmTest, TheCallingThreadWritesAndReadsTheRingsItself) {
  const int calls = kSanitizerBuild ? 300 : 3000;
  for (int i = 0; i < calls; ++i) {
    const std::string payload = "call " + std::to_string(i);
    auto r = client_->call("echo", payload);
    ASSERT_TRUE(r) << i << ": " << r.error().to_string();
    ASSERT_EQ(*r, payload);
  }
  const auto stats = client_->stats();
  // How many go this way depends on scheduling (how these figures compare is the benchmark's
  // business): the I/O thread lends the rings only while it is idle, and adaptive stops
  // spinning past its budget, which a loaded machine's round trip may take. spin is sure to:
  // after its first call the connection stays parked and the caller spins for every answer.
  if (std::string_view(GetParam()) == "spin") {
    EXPECT_GT(stats.calls_on_caller_thread, static_cast<std::uint64_t>(calls / 2));
    EXPECT_GT(stats.answers_on_caller_thread, static_cast<std::uint64_t>(calls / 2));
  } else {
    EXPECT_GT(stats.calls_on_caller_thread, 0u);
    if (spins()) {
      EXPECT_GT(stats.answers_on_caller_thread, 0u);
    }
  }
  EXPECT_LE(stats.answers_on_caller_thread, stats.calls_on_caller_thread);
}

// Eight threads at once: one holds the rings at a time, the others go through the I/O thread;
// every answer reaches its own caller.
TEST_P(CallerThreadShmTest, EightThreadsAtOnceEachGetTheirOwnAnswer) {
  EXPECT_EQ(wrong_echoes_from_threads(*client_, 8, kSanitizerBuild ? 40 : 400), 0);
  EXPECT_GT(client_->stats().calls_on_caller_thread, 0u);
}

// The deadline passes while the caller waits on the rings (spin: it spins the whole time;
// block: it sleeps): deadline_exceeded at the deadline, the handler is told to stop (CANCEL
// went out), and the next call works.
TEST_P(CallerThreadShmTest, ADeadlinePassesWhetherTheCallerSpinsOrSleeps) {
  CallOptions options;
  options.timeout = Millis{100};
  const auto start = std::chrono::steady_clock::now();
  auto r = client_->call("wait", "x", options);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded) << r.error().to_string();
  EXPECT_GE(took, Millis{100});
  EXPECT_LT(took, Millis{5000});
  EXPECT_EQ(saw_cancel_.wait_for(kWait), true) << "the handler was not cancelled";
  auto after = client_->call("echo", "after");
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_EQ(*after, "after");
}

// Closing the client from another thread ends a call whose caller waits on the rings.
TEST_P(CallerThreadShmTest, ClosingTheClientEndsAWaitingCall) {
  std::thread closer([&] {
    ASSERT_TRUE(entered_.wait_for(kWait));
    client_->close();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = client_->call("wait", "x");
  closer.join();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code == StatusCode::unavailable || r.error().code == StatusCode::cancelled)
      << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
}

// The server drops the connection while the caller waits: unavailable, never a hang.
TEST_P(CallerThreadShmTest, ADroppedConnectionEndsAWaitingCallWithUnavailable) {
  auto r = client_->call("drop", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
}

// A frame ahead of the answer (a notification from the handler) is the I/O thread's: the caller
// hands the rings over, the notification's handler runs first, then the call completes.
TEST_P(CallerThreadShmTest, AFrameAheadOfTheAnswerGoesThroughTheIoThreadFirst) {
  std::atomic<int> notes{0};
  client_->handle("note", [&notes](CallContext&, std::string_view) -> Result<std::string> {
    notes.fetch_add(1);
    return std::string();
  });
  const int calls = kSanitizerBuild ? 50 : 300;
  for (int i = 0; i < calls; ++i) {
    auto r = client_->call("note_then_echo", std::to_string(i));
    ASSERT_TRUE(r) << i << ": " << r.error().to_string();
    ASSERT_EQ(*r, std::to_string(i));
    ASSERT_EQ(notes.load(), i + 1) << "the notification ahead of answer " << i;
  }
}

// One-way messages sent before a call from the same thread reach the peer before it.
TEST_P(CallerThreadShmTest, NotificationsSentBeforeACallArriveBeforeIt) {
  const int rounds = kSanitizerBuild ? 50 : 500;
  for (int i = 0; i < rounds; ++i) {
    ASSERT_TRUE(client_->notify("note", "n"));
    auto seen = client_->call("notes_seen", "");
    ASSERT_TRUE(seen) << seen.error().to_string();
    ASSERT_EQ(*seen, std::to_string(i + 1));
  }
}

// Errors keep their code, message and details; large answers come whole, one that fits the
// ring and one larger than it (which streams through the I/O thread's reader in pieces).
TEST_P(CallerThreadShmTest, ErrorsAndLargeAnswersComeWhole) {
  auto failed = client_->call("fail", "this");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, StatusCode::failed_precondition);
  EXPECT_EQ(failed.error().message, "refused this");
  EXPECT_EQ(failed.error().details, R"({"why":"test"})");
  ClientOptions small_ring;
  auto small = connect_client(client_runtime_, client_address() + "&shm_ring=65536", small_ring);
  ASSERT_TRUE(small);
  for (Client* client : {client_.get(), small.get()}) {
    for (std::size_t size : {std::size_t{1} << 20, std::size_t{200} << 10, std::size_t{17}}) {
      auto r = client->call("make", std::to_string(size));
      ASSERT_TRUE(r) << size << ": " << r.error().to_string();
      ASSERT_EQ(r->size(), size);
      for (std::size_t i = 0; i < size; ++i) {
        ASSERT_EQ((*r)[i], static_cast<char>(i * 7 + i / 251)) << "byte " << i << " of " << size;
      }
    }
  }
  small->close();
}

// Back-to-back calls read every answer on the caller's thread, which the session does not see:
// its heartbeat still goes out and comes back (the caller hands the rings over for it), so the
// connection is not taken for dead.
TEST_P(CallerThreadShmTest, HeartbeatsGoOnUnderBackToBackCalls) {
  ClientOptions options;
  options.heartbeat_interval = Millis{20};
  // Loose enough for a loaded machine: silence this long would mean the PINGs went nowhere.
  options.heartbeat_timeout = Millis{1000};
  auto client = connect(options);
  ASSERT_TRUE(client);
  const auto until = std::chrono::steady_clock::now() + Millis{kSanitizerBuild ? 2000 : 1500};
  int calls = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto r = client->call("echo", "beat");
    ASSERT_TRUE(r) << "call " << calls << ": " << r.error().to_string();
    ++calls;
  }
  EXPECT_EQ(client->state(), ConnectionState::connected);
  const auto stats = client->stats();
  EXPECT_EQ(stats.reconnects, 0u);
  // Answers read on the caller's thread count as signs of life: the heartbeat hardly needs to
  // PING (one every 20 ms, ~75 in all, if it did not see them). Frames out: HELLO, the
  // requests, and the PINGs.
  const auto pings = stats.frames_out - static_cast<std::uint64_t>(calls) - 1;
  if (std::string_view(GetParam()) == "spin") {
    EXPECT_LT(pings, 25u);
  }
  auto ping = client->ping();
  EXPECT_TRUE(ping) << ping.error().to_string();
  client->close();
}

// A caller that waits long spins only within its wait strategy's budget (at most max_spin, 200
// µs by default, after which it sleeps): waiting 300 ms for an answer costs it a few ms of CPU.
// With shm_wait=spin it spins throughout, by request.
TEST_P(CallerThreadShmTest, ALongWaitCostsTheCallerOnlyItsSpinBudget) {
  if (std::string_view(GetParam()) == "spin") GTEST_SKIP() << "spin spins by request";
  std::thread opener([&] {
    ASSERT_TRUE(entered_.wait_for(kWait));
    std::this_thread::sleep_for(Millis{300});  // the wait being measured, not a synchronisation
    gate_.open();
  });
  const auto cpu_before = thread_cpu();
  auto r = client_->call("wait", "long");
  const auto cpu = thread_cpu() - cpu_before;
  opener.join();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, "released:long");
  EXPECT_LT(cpu, Millis{30}) << "the caller used "
                             << std::chrono::duration<double, std::milli>(cpu).count()
                             << " ms of CPU waiting 300 ms";
}

// call_async from an application thread writes the request on that thread when the connection
// is parked (its I/O thread asleep); the I/O thread reads the answer and runs the callback
// (never inside call_async). (An I/O thread that has work, or spins after it, is not waited
// for: the call goes through it.)
TEST_P(CallerThreadShmTest, CallbackCallsAreWrittenHereAndCompletedOnTheIoThread) {
  const int calls = kSanitizerBuild ? 100 : 1000;
  const auto before = client_->stats().calls_on_caller_thread;
  for (int i = 0; i < calls; ++i) {
    // A blocking call first: it leaves the connection parked (its I/O thread asleep), as an
    // application that calls now and then finds it.
    auto blocking = client_->call("echo", "b");
    ASSERT_TRUE(blocking) << blocking.error().to_string();
    Event<bool> done;
    const std::string payload = "cb " + std::to_string(i);
    const auto caller = std::this_thread::get_id();
    client_->call_async("echo", payload, {}, [&](Result<std::string> r) {
      done.set(r && *r == payload && client_runtime_.on_io_thread() &&
               std::this_thread::get_id() != caller);
    });
    ASSERT_EQ(done.wait_for(kWait), true) << "call " << i;
  }
  // More than the blocking calls alone account for: callback calls went this way too.
  const auto here = client_->stats().calls_on_caller_thread - before;
  EXPECT_GT(here, static_cast<std::uint64_t>(kSanitizerBuild ? 0 : calls));
}

// Many callback calls in flight from several threads at once: each completes once, with its
// own answer.
TEST_P(CallerThreadShmTest, PipelinedCallbackCallsFromSeveralThreadsEachCompleteOnce) {
  constexpr int kThreads = 4;
  const int calls = kSanitizerBuild ? 100 : 2000;
  std::atomic<int> right{0}, wrong{0};
  Countdown all(kThreads * calls);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        std::string payload = std::to_string(t) + "/" + std::to_string(i);
        client_->call_async("echo", payload, {}, [&, payload](Result<std::string> r) {
          ((r && *r == payload) ? right : wrong).fetch_add(1);
          all.done();
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(all.wait_for(kWait));
  EXPECT_EQ(right.load(), kThreads * calls);
  EXPECT_EQ(wrong.load(), 0);
}

// A callback call whose request this thread wrote is cancelled by its id like any other: the
// callback gets cancelled and the handler is told; closing the client fails one still waiting.
TEST_P(CallerThreadShmTest, CallbackCallsCanBeCancelledAndAreFailedByAClose) {
  Event<Result<std::string>> cancelled;
  const CallId id = client_->call_async(
      "wait", "x", {}, [&](Result<std::string> r) { cancelled.set(std::move(r)); });
  ASSERT_TRUE(entered_.wait_for(kWait));
  client_->cancel(id);
  auto r = cancelled.wait_for(kWait);
  ASSERT_TRUE(r && !*r);
  EXPECT_EQ(r->error().code, StatusCode::cancelled) << r->error().to_string();
  EXPECT_EQ(saw_cancel_.wait_for(kWait), true);

  auto other = connect(ClientOptions{});
  ASSERT_TRUE(other);
  Event<Result<std::string>> closed;
  other->call_async("wait", "y", {}, [&](Result<std::string> r) { closed.set(std::move(r)); });
  other->close();
  auto c = closed.wait_for(kWait);
  ASSERT_TRUE(c && !*c);
  EXPECT_TRUE(c->error().code == StatusCode::unavailable ||
              c->error().code == StatusCode::cancelled)
      << c->error().to_string();
}

// Answers written in a loaned region come whole over shared memory (in the ring itself, or a
// buffer of the session's when the ring has no room: a 64 KiB ring and a 1 MiB answer) and over
// a plain socket; a notification the handler sends while it holds the region arrives first.
TEST_P(CallerThreadShmTest, LoanedAnswersComeWholeAndInOrder) {
  std::atomic<int> notes{0};
  auto small = connect_client(client_runtime_, client_address() + "&shm_ring=65536");
  auto plain = connect_client(client_runtime_, dir_.unix_address("s.sock"));
  ASSERT_TRUE(small && plain);
  for (Client* client : {client_.get(), small.get(), plain.get()}) {
    client->handle("note", [&notes](CallContext&, std::string_view) -> Result<std::string> {
      notes.fetch_add(1);
      return std::string();
    });
  }
  for (Client* client : {client_.get(), small.get(), plain.get()}) {
    for (std::size_t size : {std::size_t{1} << 20, std::size_t{4000}, std::size_t{0}}) {
      for (const char* note : {"", ":note"}) {
        const int notes_before = notes.load();
        auto r = client->call("make.loaned", std::to_string(size) + note);
        ASSERT_TRUE(r) << size << note << ": " << r.error().to_string();
        ASSERT_EQ(r->size(), size);
        for (std::size_t i = 0; i < size; ++i) {
          ASSERT_EQ((*r)[i], static_cast<char>(i * 7 + i / 251)) << "byte " << i << " of " << size;
        }
        if (*note) {
          EXPECT_EQ(notes.load(), notes_before + 1) << "the note ahead of the answer";
        }
      }
    }
  }
  EXPECT_GT(client_->stats().in_place_bytes + client_->stats().answers_on_caller_thread, 0u);
  small->close();
  plain->close();
}

// The pattern loaned requests are written with: byte i of a payload of `size` bytes.
char pattern(std::size_t i, std::size_t size) {
  return static_cast<char>(i * 13 + size + i / 509);
}

// Requests written in a loaned region (Caller::call_loaned) come whole and cut to what the
// writer used: in the ring itself over shared memory when the calling thread takes the
// connection, in a buffer when the ring is too small for them (a 64 KiB ring, 1 MiB) or over a
// plain socket.
TEST_P(CallerThreadShmTest, LoanedRequestsComeWholeFromTheRingOrABuffer) {
  auto small = connect_client(client_runtime_, client_address() + "&shm_ring=65536");
  auto plain = connect_client(client_runtime_, dir_.unix_address("s.sock"));
  ASSERT_TRUE(small && plain);
  const int rounds = kSanitizerBuild ? 3 : 20;
  for (Client* client : {client_.get(), small.get(), plain.get()}) {
    for (int round = 0; round < rounds; ++round) {
      for (std::size_t size : {std::size_t{1} << 20, std::size_t{4000}, std::size_t{1}}) {
        const std::size_t used = size - size / 3;  // less than it asked for, except for 1 byte
        std::size_t given = 0;
        auto r = client->call_loaned("echo", size, [&](std::span<char> region) {
          given = region.size();
          for (std::size_t i = 0; i < used; ++i) region[i] = pattern(i, used);
          return used;
        });
        ASSERT_TRUE(r) << size << ": " << r.error().to_string();
        ASSERT_EQ(given, size);
        ASSERT_EQ(r->size(), used);
        for (std::size_t i = 0; i < used; ++i) {
          ASSERT_EQ((*r)[i], pattern(i, used)) << "byte " << i << " of " << used;
        }
      }
    }
  }
  const auto in_ring = client_->stats().requests_written_in_place;
  const auto in_small_ring = small->stats().requests_written_in_place;
  // spin keeps the connection parked between calls: the calling thread takes it for most of
  // them (the I/O thread takes it back now and then, for a heartbeat). The others let
  // scheduling decide, as in the first test here.
  if (std::string_view(GetParam()) == "spin") {
    EXPECT_GT(in_ring, static_cast<std::uint64_t>(3 * rounds / 2));
    EXPECT_GT(in_small_ring, static_cast<std::uint64_t>(2 * rounds / 2));
  } else {
    EXPECT_GT(in_ring, 0u);
  }
  EXPECT_LE(in_small_ring, static_cast<std::uint64_t>(2 * rounds)) << "1 MiB in a 64 KiB ring";
  EXPECT_EQ(plain->stats().requests_written_in_place, 0u);
  small->close();
  plain->close();
}

// Large loaned requests one after another wrap around the ring: with spin (the connection
// parked for the caller) they are still written in place, the mapping being mirrored (a region
// across the ring's end is contiguous). The I/O thread may take the rings back for a moment (a
// doorbell it saw first, which a sanitizer's slowness makes likelier), and that call goes
// through it instead; with the ring crossed four times, two such calls still leave two
// crossings written in place.
TEST_P(CallerThreadShmTest, LoanedRequestsAcrossTheRingsEndAreStillWrittenInPlace) {
  if (std::string_view(GetParam()) != "spin") GTEST_SKIP() << "only spin parks for sure";
  constexpr std::size_t kSize = std::size_t{1} << 20;  // a quarter of the 4 MiB ring, plus a head
  constexpr int kCalls = 16;                           // around the ring four times
  ASSERT_TRUE(client_->call("echo", "first"));         // parks the connection for this thread
  const auto before = client_->stats().requests_written_in_place;
  for (int i = 0; i < kCalls; ++i) {
    auto r = client_->call_loaned("echo", kSize, [&](std::span<char> region) {
      for (std::size_t at = 0; at < kSize; at += 4096) region[at] = pattern(at, kSize);
      return kSize;
    });
    ASSERT_TRUE(r) << i << ": " << r.error().to_string();
    ASSERT_EQ(r->size(), kSize);
    for (std::size_t at = 0; at < kSize; at += 4096) {
      ASSERT_EQ((*r)[at], pattern(at, kSize)) << "call " << i << ", byte " << at;
    }
  }
  EXPECT_GE(client_->stats().requests_written_in_place - before,
            static_cast<std::uint64_t>(kCalls - 2));
}

// A writer that says it used more than it was given, or that throws, sends nothing (the
// handler never runs) and leaves the connection as it was; a region over the peer's limit is
// refused before the writer runs. The same for the callback form, whose `done` gets the error.
TEST_P(CallerThreadShmTest, ALoanedRequestThatCannotGoSendsNothing) {
  const auto overrun = [](std::span<char> region) { return region.size() + 1; };
  for (int round = 0; round < 3; ++round) {
    auto r = client_->call_loaned("count", 100, overrun);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << r.error().to_string();
    EXPECT_THROW((void)client_->call_loaned("count", 100,
                                            [](std::span<char>) -> std::size_t {
                                              throw std::runtime_error("writer failed");
                                            }),
                 std::runtime_error);
    bool ran = false;
    auto big = client_->call_loaned("count", client_->peer_max_message_size() + std::size_t{1},
                                    [&](std::span<char>) {
                                      ran = true;
                                      return std::size_t{0};
                                    });
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code, StatusCode::message_too_large) << big.error().to_string();
    EXPECT_FALSE(ran);
    Event<Result<std::string>> failed;
    const auto caller = std::this_thread::get_id();
    client_->call_async_loaned("count", 100, overrun, {}, [&](Result<std::string> result) {
      EXPECT_NE(std::this_thread::get_id(), caller);
      failed.set(std::move(result));
    });
    auto f = failed.wait_for(kWait);
    ASSERT_TRUE(f && !*f);
    EXPECT_EQ(f->error().code, StatusCode::invalid_argument) << f->error().to_string();
    // The ring holds nothing of them: the next request is read whole and alone.
    auto ok = client_->call_loaned("count", 3, [](std::span<char> region) {
      std::memcpy(region.data(), "abc", 3);
      return std::size_t{3};
    });
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(*ok, "abc");
  }
  EXPECT_EQ(counted_.load(), 3) << "only the calls that could go reached the handler";
}

// The callback form from an application thread (the request written here when the connection
// is parked) and from an I/O thread (a buffer; the blocking form is refused there), a
// deadline, and eight threads at once, each with its own answer.
TEST_P(CallerThreadShmTest, LoanedCallsInEveryFormGetTheirOwnAnswers) {
  const auto write_text = [](const std::string& text) {
    return [&text](std::span<char> region) {
      std::memcpy(region.data(), text.data(), text.size());
      return text.size();
    };
  };
  const int calls = kSanitizerBuild ? 50 : 500;
  const auto before = client_->stats().requests_written_in_place;
  for (int i = 0; i < calls; ++i) {
    ASSERT_TRUE(client_->call("echo", "b"));  // leaves the connection parked
    const std::string text = "cb " + std::to_string(i);
    Event<bool> done;
    client_->call_async_loaned("echo", text.size(), write_text(text), {},
                               [&](Result<std::string> r) {
                                 done.set(r && *r == text && client_runtime_.on_io_thread());
                               });
    ASSERT_EQ(done.wait_for(kWait), true) << "call " << i;
  }
  EXPECT_GT(client_->stats().requests_written_in_place, before);

  Event<std::pair<Result<std::string>, StatusCode>> from_io;
  asio::post(client_runtime_.executor(), [&] {
    auto blocking = client_->call_loaned("echo", 1, [](std::span<char> r) {
      r[0] = 'x';
      return std::size_t{1};
    });
    const StatusCode refused = blocking ? StatusCode::ok : blocking.error().code;
    static const std::string text = "from the I/O thread";
    client_->call_async_loaned("echo", text.size(), write_text(text), {},
                               [&, refused](Result<std::string> r) {
                                 from_io.set({std::move(r), refused});
                               });
  });
  auto io = from_io.wait_for(kWait);
  ASSERT_TRUE(io && io->first) << (io ? io->first.error().to_string() : "no completion");
  EXPECT_EQ(*io->first, "from the I/O thread");
  EXPECT_EQ(io->second, StatusCode::failed_precondition);

  CallOptions bounded;
  bounded.timeout = Millis{100};
  const std::string wait_text = "w";
  auto late = client_->call_loaned("wait", 1, write_text(wait_text), bounded);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, StatusCode::deadline_exceeded) << late.error().to_string();
  EXPECT_EQ(saw_cancel_.wait_for(kWait), true);
  gate_.open();

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < calls / 4; ++i) {
        const std::string text = std::to_string(t) + "/" + std::to_string(i);
        auto r = client_->call_loaned("echo", text.size() + 10, write_text(text));
        if (!r || *r != text) wrong.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A blocking call with CallOptions::answer_view hands the answer to it before it returns (an
// empty result): where it lies in the ring, on the calling thread, when that thread reads it
// (spin makes sure it does); over a plain socket on the I/O thread while the caller waits. A
// view that throws on the calling thread ends that call only.
TEST_P(CallerThreadShmTest, BlockingCallsHandTheirAnswerToAView) {
  auto plain = connect_client(client_runtime_, dir_.unix_address("s.sock"));
  ASSERT_TRUE(plain);
  const auto caller = std::this_thread::get_id();
  for (Client* client : {client_.get(), plain.get()}) {
    const auto in_place_before = client->stats().in_place_bytes;
    int on_this_thread = 0;
    const int rounds = kSanitizerBuild ? 3 : 20;
    for (int round = 0; round < rounds; ++round) {
      for (std::size_t size : {std::size_t{1} << 20, std::size_t{100}}) {
        std::size_t seen = 0, wrong = 0;
        CallOptions options;
        options.answer_view = [&](std::string_view answer) {
          seen = answer.size();
          for (std::size_t i = 0; i < answer.size(); ++i) {
            if (answer[i] != static_cast<char>(i * 7 + i / 251)) ++wrong;
          }
          if (std::this_thread::get_id() == caller) ++on_this_thread;
        };
        auto r = client->call("make", std::to_string(size), options);
        ASSERT_TRUE(r) << size << ": " << r.error().to_string();
        EXPECT_TRUE(r->empty());
        ASSERT_EQ(seen, size);
        EXPECT_EQ(wrong, 0u);
        // With a loaned request, too.
        const std::string text = std::to_string(size);
        seen = 0;
        r = client->call_loaned(
            "make", text.size(),
            [&](std::span<char> region) {
              std::memcpy(region.data(), text.data(), text.size());
              return text.size();
            },
            options);
        ASSERT_TRUE(r) << r.error().to_string();
        ASSERT_EQ(seen, size);
        EXPECT_EQ(wrong, 0u);
      }
    }
    if (client == plain.get()) {
      EXPECT_EQ(on_this_thread, 0) << "a socket's answer is read by the I/O thread";
    } else if (std::string_view(GetParam()) == "spin") {
      EXPECT_GT(on_this_thread, rounds * 2);
      EXPECT_GT(client->stats().in_place_bytes - in_place_before, static_cast<std::uint64_t>(rounds)
                                                                      << 20)
          << "1 MiB answers read where they lie";
    }
  }
  CallOptions throwing;
  throwing.answer_view = [](std::string_view) { throw std::runtime_error("view failed"); };
  for (int i = 0; i < 5; ++i) {
    EXPECT_THROW((void)client_->call("echo", "x", throwing), std::runtime_error);
    auto next = client_->call("echo", "after");
    ASSERT_TRUE(next) << next.error().to_string();
    EXPECT_EQ(*next, "after");
  }
  plain->close();
}

// A socket connection on the same I/O thread as a shared-memory one is still read, large
// answers and small, even while that thread spins on the rings by request (shm_wait=spin keeps
// handlers posted without end; the socket the idle thread reads itself must go back to the
// reactor then).
TEST_P(CallerThreadShmTest, ASocketBesideTheSharedMemoryConnectionIsStillRead) {
  auto plain = connect_client(client_runtime_, dir_.unix_address("s.sock"));
  ASSERT_TRUE(plain);
  CallOptions bounded;
  bounded.timeout = Millis{kSanitizerBuild ? 10000 : 3000};
  for (int round = 0; round < 3; ++round) {
    for (const char* size : {"1048576", "17"}) {
      auto r = plain->call("make", size, bounded);
      ASSERT_TRUE(r) << "round " << round << ", " << size << " bytes: " << r.error().to_string();
      EXPECT_EQ(r->size(), std::stoul(size));
    }
    auto shm = client_->call("echo", "beside");
    ASSERT_TRUE(shm) << shm.error().to_string();
  }
  plain->close();
}

INSTANTIATE_TEST_SUITE_P(Waits, CallerThreadShmTest, ::testing::Values("spin", "adaptive", "block"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace plexus::test::caller_thread
