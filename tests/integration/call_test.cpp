// Request/response, notify and symmetric calls between this process and a child server.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "call_kit.hpp"
#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

class CallTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
    ClientOptions options;
    options.name = "call-test";
    client_ = connect_client(runtime_, server_.address(), options);
    ASSERT_TRUE(client_);
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

TEST_P(CallTest, EchoReturnsThePayload) {
  auto r = client_->call("echo", R"({"hello":"world"})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, R"({"hello":"world"})");
}

TEST_P(CallTest, EmptyAndBinaryPayloadsSurvive) {
  EXPECT_EQ(*client_->call("echo", ""), "");
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  EXPECT_EQ(*client_->call("echo", binary), binary);
}

TEST_P(CallTest, UnknownMethodIsNotFound) {
  auto r = client_->call("no.such.method", "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::not_found);
  EXPECT_NE(r.error().message.find("no.such.method"), std::string::npos);
}

TEST_P(CallTest, HandlerErrorKeepsCodeMessageAndDetails) {
  auto r = client_->call("fail", R"({"code":"permission_denied","message":"nope"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::permission_denied);
  EXPECT_EQ(r.error().message, "nope");
  EXPECT_EQ(json::parse(r.error().details)["requested"]["code"], "permission_denied");
}

// call_async_view over every transport: small and large answers (a large one arrives in a
// string of its own over sockets, in the ring over shm) and errors, each call exactly once.
TEST_P(CallTest, AnswersAsViewsCarryTheBytesOrTheError) {
  // The callback's state lives as long as the callback: a late second delivery is counted.
  struct Seen {
    std::string payload;
    Event<bool> done;
    int calls = 0;
    bool same = false;
  };
  for (const std::string& payload : {std::string("small"), pattern_bytes(300 * 1024, 5)}) {
    auto seen = std::make_shared<Seen>();
    seen->payload = payload;
    client_->call_async_view("echo", payload, {}, [seen](Result<std::string_view> r) {
      ++seen->calls;
      seen->same = r && *r == seen->payload;
      seen->done.set(true);
    });
    ASSERT_TRUE(seen->done.wait_for(Millis{10000}));
    ASSERT_TRUE(client_->call("echo", "after"));  // anything still due arrives before this
    EXPECT_EQ(seen->calls, 1);
    EXPECT_TRUE(seen->same) << payload.size() << " bytes";
  }
  auto failed = std::make_shared<Event<StatusCode>>();
  client_->call_async_view(
      "fail", R"({"code":"permission_denied","message":"nope"})", {},
      [failed](Result<std::string_view> r) { failed->set(r ? StatusCode::ok : r.error().code); });
  EXPECT_EQ(failed->wait_for(Millis{10000}), StatusCode::permission_denied);
}

TEST_P(CallTest, ThrowingHandlerFailsOnlyThatCall) {
  auto r = client_->call("fail", R"({"throw":true})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::internal);
  // The connection lives on.
  EXPECT_TRUE(client_->call("echo", "still here"));
  EXPECT_EQ(client_->state(), ConnectionState::connected);
}

TEST_P(CallTest, ThousandConcurrentCallsAllAnswered) {
  // Each call sleeps 50 ms in the server, so all 1000 are in flight at once.
  constexpr int kCalls = 1000;
  Countdown all(2 * kCalls);
  std::mutex mu;
  std::set<std::string> answers;
  int failures = 0;
  auto record = [&](Result<std::string> r) {
    {
      std::lock_guard lock(mu);
      if (r) {
        answers.insert(*r);
      } else {
        ++failures;
      }
    }
    all.done();
  };
  for (int i = 0; i < kCalls; ++i) {
    client_->call_async("sleep", R"({"ms":50})", {}, record);
    client_->call_async("echo", std::to_string(i), {}, record);
  }
  ASSERT_TRUE(all.wait_for(Millis{30000}));
  EXPECT_EQ(failures, 0);
  // 1000 distinct echo answers (each matched to its own call) plus the one sleep answer text.
  EXPECT_EQ(answers.size(), static_cast<std::size_t>(kCalls) + 1);
  EXPECT_TRUE(answers.contains(R"({"slept_ms":50})"));
}

TEST_P(CallTest, AnswersArriveOutOfOrderMatchedById) {
  // The slow call is sent first and answered last; each completion gets its own answer.
  Event<std::string> slow, fast;
  client_->call_async("sleep", R"({"ms":300})", {},
                      [&](Result<std::string> r) { slow.set(r ? *r : r.error().to_string()); });
  client_->call_async("sleep", R"({"ms":1})", {}, [&](Result<std::string> r) {
    fast.set(r ? *r : r.error().to_string());
    EXPECT_FALSE(slow.is_set()) << "the fast answer should come first";
  });
  EXPECT_EQ(fast.wait_for(Millis{5000}), R"({"slept_ms":1})");
  EXPECT_EQ(slow.wait_for(Millis{5000}), R"({"slept_ms":300})");
}

// Blocking calls from application threads (not I/O threads), eight at once: each thread gets
// its own answers, whatever the others do.
TEST_P(CallTest, BlockingCallsFromEightThreadsEachGetTheirOwnAnswer) {
  EXPECT_EQ(wrong_echoes_from_threads(*client_, 8, kSanitizerBuild ? 50 : 400), 0);
}

// A blocking call from an application thread writes its request on that thread when nothing
// waits to be written (into the shared-memory ring, or with one sendmsg on a socket) instead of
// handing it to the I/O thread; the answer still comes, whole, through the I/O thread over a
// socket.
TEST_P(CallTest, BlockingCallsWriteTheirRequestOnTheCallingThread) {
  const auto before = client_->stats().calls_on_caller_thread;
  constexpr int kCalls = 50;
  for (int i = 0; i < kCalls; ++i) {
    auto r = client_->call("echo", "blocking " + std::to_string(i));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, "blocking " + std::to_string(i));
  }
  // Most of them: now and then the I/O thread is writing (a heartbeat) and takes the call.
  EXPECT_GE(client_->stats().calls_on_caller_thread - before,
            static_cast<std::uint64_t>(kCalls * 4 / 5));
}

// A blocked caller's deadline passes whatever the runtime's wait strategy (its I/O thread
// spinning, adaptive or sleeping at once): the call fails with deadline_exceeded at its deadline
// and the client goes on.
TEST_P(CallTest, ABlockedCallersDeadlinePassesWhateverTheWaitStrategy) {
  for (WaitStrategy wait : {WaitStrategy::spin, WaitStrategy::adaptive, WaitStrategy::block}) {
    RuntimeOptions runtime_options;
    runtime_options.idle_wait = wait;
    Runtime runtime(runtime_options);
    ClientOptions options;
    options.name = "deadline-" + std::string(to_string(wait));
    auto client = connect_client(runtime, server_.address(), options);
    ASSERT_TRUE(client);
    CallOptions call;
    call.timeout = Millis{50};
    const auto start = std::chrono::steady_clock::now();
    auto r = client->call("block", "", call);  // "block" never answers
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r) << to_string(wait);
    EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded) << to_string(wait);
    EXPECT_GE(took, Millis{50}) << to_string(wait);
    EXPECT_LT(took, Millis{5000}) << to_string(wait);
    EXPECT_TRUE(client->call("echo", "after")) << to_string(wait);
  }
}

// The server dies while a caller is blocked on its answer: the caller gets unavailable, never
// hangs.
TEST_P(CallTest, ABlockedCallerGetsUnavailableWhenTheServerDies) {
  const auto frames_before = client_->stats().frames_out;
  std::thread killer([&] {
    // No event says the request left: the client's frame counter is read every millisecond.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (client_->stats().frames_out == frames_before &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(Millis{1});
    }
    server_.kill_now();
  });
  auto r = client_->call("block", "");
  killer.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
}

TEST_P(CallTest, CoAwaitFormOnTheIoThread) {
  Event<std::string> got;
  asio::co_spawn(
      runtime_.io(),
      [&]() -> asio::awaitable<void> {
        auto r = co_await client_->async_call("echo", "co", asio::use_awaitable);
        // Options as a named local: g++ 12 corrupts temporaries with destructors inside a
        // co_await expression (documented in caller.hpp).
        CallOptions options;
        options.timeout = Millis{5000};
        auto r2 =
            co_await client_->async_call("echo", "-with-options", options, asio::use_awaitable);
        got.set((r ? *r : r.error().to_string()) + (r2 ? *r2 : r2.error().to_string()));
      },
      asio::detached);
  EXPECT_EQ(got.wait_for(Millis{5000}), "co-with-options");
}

TEST_P(CallTest, BlockingCallOnIoThreadIsRefusedNotDeadlocked) {
  Event<StatusCode> code;
  asio::post(runtime_.io(), [&] {
    auto r = client_->call("echo", "x");
    code.set(r ? StatusCode::ok : r.error().code);
  });
  EXPECT_EQ(code.wait_for(Millis{5000}), StatusCode::failed_precondition);
}

struct Sum {
  int a = 0, b = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Sum, a, b)
};
struct Echoed {
  int a = 0, b = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Echoed, a, b)
};

TEST_P(CallTest, TypedMethodRoundTripAndDecodeError) {
  constexpr Method<Sum, Echoed> kEcho{"echo"};
  auto r = call(*client_, kEcho, Sum{1, 2});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->a, 1);
  EXPECT_EQ(r->b, 2);
  constexpr Method<Sum, Echoed> kCount{"count"};  // answers {"count":n}: not an Echoed
  auto bad = call(*client_, kCount, Sum{});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(json::parse(bad.error().details)["codec"], "json");
  EXPECT_EQ(json::parse(bad.error().details)["errors"][0]["rule"], "decode");
}

TEST_P(CallTest, ServerCallsBackIntoTheClient) {
  client_->handle("client.greet", [](CallContext& ctx, std::string_view p) -> Result<std::string> {
    return "hello " + std::string(p) + " from " + std::string(ctx.method());
  });
  auto r = client_->call("call_back", "server");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, "hello server from client.greet");
}

TEST_P(CallTest, NotifyRunsTheHandlerWithoutAnAnswer) {
  // "count" counts notifies too: two notifies then a call sees them.
  const auto before = json::parse(*client_->call("count", ""))["count"].get<int>();
  ASSERT_TRUE(client_->notify("count", ""));
  ASSERT_TRUE(client_->notify("count", ""));
  const auto after = json::parse(*client_->call("count", ""))["count"].get<int>();
  EXPECT_EQ(after, before + 3);  // frames on one connection are handled in order
}

TEST_P(CallTest, ServerSeesNameAndTraceId) {
  CallOptions options;
  options.trace_id = "trace-123";
  auto r = client_->call("whoami", "", options);
  ASSERT_TRUE(r);
  auto j = json::parse(*r);
  EXPECT_EQ(j["name"], "call-test");
  EXPECT_EQ(j["trace_id"], "trace-123");
  if (GetParam() != Transport::tcp) {
    EXPECT_EQ(j["pid"].get<int>(), ::getpid());  // kernel-verified peer credentials
  }
}

TEST_P(CallTest, EachCallSeesOnlyItsOwnContext) {
  CallOptions traced;
  traced.trace_id = "trace-ctx";
  traced.timeout = Millis{5000};
  std::set<std::uint64_t> ids;
  for (int round = 0; round < 3; ++round) {
    auto first = client_->call("context", "", traced);
    ASSERT_TRUE(first) << first.error().to_string();
    auto a = json::parse(*first);
    EXPECT_EQ(a["method"], "context");
    EXPECT_EQ(a["trace_id"], "trace-ctx");
    EXPECT_TRUE(a["deadline"].get<bool>());
    EXPECT_FALSE(a["cancelled"].get<bool>());
    auto second = client_->call("context", "");
    ASSERT_TRUE(second) << second.error().to_string();
    auto b = json::parse(*second);
    // None sent: the callee drew a traceparent of its own, not the previous call's.
    const auto drawn = b["trace_id"].get<std::string>();
    EXPECT_EQ(drawn.size(), 55u) << drawn;
    EXPECT_EQ(drawn.substr(0, 3), "00-") << drawn;
    EXPECT_FALSE(b["deadline"].get<bool>());
    EXPECT_FALSE(b["cancelled"].get<bool>());
    ids.insert(a["id"].get<std::uint64_t>());
    ids.insert(b["id"].get<std::uint64_t>());
  }
  EXPECT_EQ(ids.size(), 6u);  // every call its own id
  // Another method in between: the context names the method being served.
  auto who = client_->call("whoami", "");
  ASSERT_TRUE(who);
  EXPECT_EQ(json::parse(*client_->call("context", ""))["method"], "context");
}

PLEXUS_ALL_TRANSPORTS(CallTest);

}  // namespace
}  // namespace plexus::test

namespace plexus::test {
namespace {

// With several I/O threads each connection runs on its own strand: the same calls still work,
// completions arrive on the runtime's threads, and none interleave inside a session.
TEST(CallTestMultiThread, TwoIoThreadsServeConcurrentCalls) {
  TempDir dir;
  auto server = ServerProcess::spawn({"--listen", dir.unix_address("s.sock")});
  ASSERT_TRUE(server.running());
  Runtime runtime(RuntimeOptions{.io_threads = 2});
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < 4; ++c) {
    ClientOptions options;
    options.address = server.address();
    auto client = Client::connect(runtime, options);
    ASSERT_TRUE(client) << client.error().to_string();
    clients.push_back(std::move(*client));
  }
  constexpr int kPerClient = 500;
  Countdown all(4 * kPerClient);
  std::atomic<int> wrong{0};
  for (auto& client : clients) {
    for (int i = 0; i < kPerClient; ++i) {
      client->call_async("echo", std::to_string(i), {}, [&, i](Result<std::string> r) {
        if (!r || *r != std::to_string(i) || !runtime.on_io_thread()) ++wrong;
        all.done();
      });
    }
  }
  ASSERT_TRUE(all.wait_for(Millis{30000}));
  EXPECT_EQ(wrong.load(), 0);
}

// Strict ping-pong (one call in flight per connection) is where a lost readiness edge would
// stall a connection for good (the transport reads through Asio's edge-triggered epoll
// reactor). Several I/O threads race for the epoll events; payloads
// larger than the 64 KiB read chunk take the "buffer filled, read again" path too. Every call
// has a deadline, so a stall fails the test instead of hanging it. `shm_query` (e.g.
// "?shm=1&shm_wait=spin"): the same over shared memory, with the client dialing so.
void sequential_ping_pong_never_stalls(RuntimeOptions runtime_options, bool calls_beside,
                                       const std::string& shm_query = "") {
  TempDir dir;
  auto server = ServerProcess::spawn({"--listen", dir.unix_address("s.sock") + shm_query});
  ASSERT_TRUE(server.running());
  Runtime runtime(runtime_options);
  constexpr int kClients = 4;
  constexpr int kCalls = 1000;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kClients; ++c) {
    ClientOptions options;
    options.address = "unix://" + dir.file("s.sock") + shm_query;
    auto client = Client::connect(runtime, options);
    ASSERT_TRUE(client) << client.error().to_string();
    ASSERT_EQ(shm_query.empty(), (*client)->stats().shm_mapped_bytes == 0);
    clients.push_back(std::move(*client));
  }
  Countdown all(kClients);
  std::atomic<int> wrong{0};
  // With calls beside, the chains go on until those are done: a thread that never left the
  // chains' sockets or rings would never run them.
  std::atomic<bool> stop{!calls_beside};
  CallOptions call_options;
  call_options.timeout = Millis{10000};
  // Each completion issues the next call: at most one message in flight per connection.
  std::vector<std::function<void(int)>> next(kClients);
  for (int c = 0; c < kClients; ++c) {
    next[c] = [&, c](int i) {
      if (i >= kCalls && stop) {
        all.done();
        return;
      }
      const std::string payload =
          i % 50 == 49 ? std::string(70000, static_cast<char>('a' + c)) : std::to_string(i);
      clients[c]->call_async("echo", payload, call_options,
                             [&, c, i, payload](Result<std::string> r) {
                               if (!r || *r != payload) ++wrong;
                               next[c](i + 1);
                             });
    };
  }
  for (int c = 0; c < kClients; ++c) next[c](0);
  // Calls from this thread meanwhile, one at a time: work posted to the I/O thread from
  // outside, which its looks at one hot socket or ring must not keep waiting. Waited for here
  // with a bound of this thread's own (a starved I/O thread would never run the call's timer).
  // (EXPECT, not ASSERT: returning would leave the chains running on destroyed locals.)
  for (int done = 0; calls_beside && done < 200; ++done) {
    auto answer = std::make_shared<Event<std::string>>();
    clients[done % kClients]->call_async(
        "echo", "beside", call_options,
        [answer](Result<std::string> r) { answer->set(r ? *r : r.error().to_string()); });
    const auto got = answer->wait_for(Millis{20000});
    EXPECT_EQ(got.value_or("no answer within 20 s"), "beside");
    if (got != "beside") break;
  }
  stop = true;
  if (!all.wait_for(Millis{60000})) {
    // Returning would leave the chains' callbacks using the locals above once they are gone.
    ADD_FAILURE() << "the ping-pong chains stalled";
    std::abort();
  }
  EXPECT_EQ(wrong.load(), 0);
  std::uint64_t hot_reads = 0;
  for (auto& client : clients) hot_reads += client->stats().hot_reads;
  if (!shm_query.empty()) {
    EXPECT_EQ(hot_reads, 0u) << "shared-memory connections have no socket to read";
  } else if (runtime_options.io_threads > 1) {
    EXPECT_EQ(hot_reads, 0u) << "several I/O threads never read a socket themselves";
  } else {
    EXPECT_GT(hot_reads, 0u) << "the idle thread never read a socket itself";
  }
}

TEST(CallTestMultiThread, SequentialPingPongNeverStalls) {
  sequential_ping_pong_never_stalls(RuntimeOptions{.io_threads = 2}, false);
}

// One I/O thread that polls before it sleeps: it reads the socket of the last input itself
// (transport/hot_read.hpp) while the others wait in the reactor, the four connections taking
// that place from one another, and the server's thread does the same with their four ends.
// Under spin the thread never sleeps, so only its looks and the reactor ever read.
TEST(CallTestHotRead, SequentialPingPongOnOneThreadNeverStalls) {
  for (auto wait : {WaitStrategy::adaptive, WaitStrategy::spin}) {
    SCOPED_TRACE(wait == WaitStrategy::spin ? "spin" : "adaptive");
    sequential_ping_pong_never_stalls(RuntimeOptions{.io_threads = 1, .idle_wait = wait}, true);
  }
}

// The same over shared memory, one I/O thread: a connection whose ring keeps bringing work keeps
// the thread watching it (shm_connection.cpp, kInlineBudget), for a bounded time only, so the
// other three connections' rings and the blocking calls posted from this thread get their turn.
TEST(CallTestShm, SequentialPingPongOnOneThreadLeavesRoomForTheOthers) {
  for (const char* wait : {"spin", "adaptive"}) {
    SCOPED_TRACE(wait);
    sequential_ping_pong_never_stalls(RuntimeOptions{.io_threads = 1}, true,
                                      std::string("?shm=1&shm_wait=") + wait);
  }
}

}  // namespace
}  // namespace plexus::test
