// The session over an in-process loopback connection pair (transport/loopback/): calls, errors,
// deadlines, cancel, heartbeats, drain and ping, and what each injected fault (a frame dropped,
// delayed or corrupted, a failed write, a link cut mid-frame) does to the calls in flight. One
// thread runs the io_context that carries both ends, so every case is deterministic and fast;
// no child process, no socket.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "loopback_sessions.hpp"
#include "rpc/time_source.hpp"

namespace plexus::rpc {
namespace {

using namespace std::chrono_literals;
using test_support::LoopbackSessions;
using test_support::SessionEnd;
using test_support::SessionLink;

class LoopbackSessionTest : public ::testing::Test {
 protected:
  LoopbackSessionTest() {
    serve("echo",
          [](CallContext&, std::string_view p) -> Result<std::string> { return std::string(p); });
  }

  void TearDown() override { EXPECT_TRUE(net_.close_all()); }

  void serve(const std::string& method, SyncHandler fn) {
    server_.serve(method, HandlerEntry{std::move(fn), nullptr, nullptr});
  }
  void serve_async(const std::string& method, AsyncHandler fn) {
    server_.serve(method, HandlerEntry{std::move(fn), nullptr, nullptr});
  }

  // Joins the two ends and runs the handshake to its end.
  void open(SessionOptions client = {}, SessionOptions server = {}) {
    ASSERT_TRUE(net_.connect(link_, client, server));
  }

  template <typename Done>
  bool run_until(Done&& done, std::chrono::milliseconds limit = 5s) {
    return net_.run_until(std::forward<Done>(done), limit);
  }

  // Starts a call from the client; the slot fills when it completes.
  std::shared_ptr<std::optional<Result<std::string>>> start_call(std::string method,
                                                                 std::string payload,
                                                                 CallOptions options = {},
                                                                 CallId* id_out = nullptr) {
    auto out = std::make_shared<std::optional<Result<std::string>>>();
    const CallId id = client_.session->next_call_id();
    if (id_out) *id_out = id;
    client_.session->call(id, method, std::move(payload), options,
                          [out](Result<std::string> r) { *out = std::move(r); });
    return out;
  }

  Result<std::string> call(std::string method, std::string payload, CallOptions options = {}) {
    auto out = start_call(std::move(method), std::move(payload), options);
    if (!run_until([&] { return out->has_value(); })) {
      return make_error(StatusCode::unknown, "the call never completed");
    }
    return **out;
  }

  LoopbackSessions net_;
  SessionLink link_;  // after net_: the sessions (and their timers) go before its io_context
  SessionEnd& client_ = link_.client;
  SessionEnd& server_ = link_.server;
};

TEST_F(LoopbackSessionTest, ACallAndItsAnswerCrossTheLoopback) {
  open();
  auto r = call("echo", "hello");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, "hello");
  EXPECT_EQ(server_.session->counters().calls_in.load(), 1u);
  EXPECT_EQ(client_.session->counters().calls_out.load(), 1u);
}

TEST_F(LoopbackSessionTest, AnUnknownMethodIsNotFoundAndTheSessionLivesOn) {
  open();
  auto r = call("no.such.method", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::not_found);
  EXPECT_TRUE(call("echo", "still here"));
}

// "PREFIX/*" answers every "PREFIX/NAME" without an entry of its own (the bus's activation),
// seeing the whole method name; a method with its own entry, or another prefix, is not its.
TEST_F(LoopbackSessionTest, APrefixEntryAnswersTheMethodsUnderItThatHaveNoneOfTheirOwn) {
  serve("com.example.search/*", [](CallContext& ctx, std::string_view) -> Result<std::string> {
    return "fallback for " + std::string(ctx.method());
  });
  serve("com.example.search/own",
        [](CallContext&, std::string_view) -> Result<std::string> { return std::string("own"); });
  open();
  auto r = call("com.example.search/query", "");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, "fallback for com.example.search/query");
  EXPECT_EQ(*call("com.example.search/own", ""), "own");
  EXPECT_EQ(call("com.example.other/query", "").error().code, StatusCode::not_found);
  EXPECT_EQ(call("com.example.search", "").error().code, StatusCode::not_found);
}

TEST_F(LoopbackSessionTest, AHandlerThatThrowsFailsOnlyThatCall) {
  serve("throws", [](CallContext&, std::string_view) -> Result<std::string> {
    throw std::runtime_error("on purpose");
  });
  open();
  auto r = call("throws", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::internal);
  EXPECT_NE(r.error().message.find("on purpose"), std::string::npos) << r.error().message;
  EXPECT_TRUE(call("echo", "after"));
  EXPECT_FALSE(client_.closed);
}

TEST_F(LoopbackSessionTest, ADroppedAnswerEndsInTheCallersDeadline) {
  open();
  server_.connection->faults().drop = server_.connection->frames_sent() + 1;
  CallOptions options;
  options.timeout = 50ms;
  auto r = call("echo", "lost", options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded);
  // Only that frame was lost: the session goes on.
  auto next = call("echo", "found");
  ASSERT_TRUE(next) << next.error().to_string();
  EXPECT_EQ(*next, "found");
}

TEST_F(LoopbackSessionTest, DelayedFramesArriveInOrderAndCallsStillComplete) {
  open();
  std::vector<std::string> order;
  serve("record", [&order](CallContext&, std::string_view p) -> Result<std::string> {
    order.emplace_back(p);
    return std::string(p);
  });
  client_.connection->faults().delay = 20ms;
  std::vector<std::shared_ptr<std::optional<Result<std::string>>>> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(start_call("record", std::to_string(i)));
  ASSERT_TRUE(run_until([&] {
    for (auto& c : calls) {
      if (!c->has_value()) return false;
    }
    return true;
  }));
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(order[i], std::to_string(i));
    ASSERT_TRUE(*calls[i]);
    EXPECT_EQ(**calls[i], std::to_string(i));
  }
}

TEST_F(LoopbackSessionTest, ACorruptedFrameKindIsAProtocolErrorThatClosesBothEnds) {
  open();
  auto& faults = client_.connection->faults();
  faults.corrupt = client_.connection->frames_sent() + 1;
  faults.corrupt_at = 4;  // the kind byte: REQUEST (3) becomes 252, a kind nobody knows
  auto r = call("echo", "scrambled");
  ASSERT_FALSE(r);
  ASSERT_TRUE(run_until([&] { return client_.closed && server_.closed; }));
  // The server found the bad frame: its session ends, naming it.
  EXPECT_NE(server_.closed->message.find("unknown frame kind 252"), std::string::npos)
      << server_.closed->to_string();
  // It said why in a GOAWAY before it closed: the client closes with that status.
  EXPECT_EQ(client_.closed->code, StatusCode::protocol_error) << client_.closed->to_string();
}

TEST_F(LoopbackSessionTest, AFailedWriteFailsTheCallAndClosesBothEnds) {
  open();
  client_.connection->faults().fail_write = client_.connection->frames_sent() + 1;
  auto r = call("echo", "never written");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  ASSERT_TRUE(run_until([&] { return client_.closed && server_.closed; }));
  EXPECT_EQ(client_.closed->code, StatusCode::unavailable);
  EXPECT_EQ(server_.closed->code, StatusCode::unavailable);
  EXPECT_EQ(server_.session->counters().calls_in.load(), 0u);
}

TEST_F(LoopbackSessionTest, ALinkCutMidFrameFailsTheCallAndTheReceiverSeesTheEnd) {
  open();
  server_.connection->faults().close_mid_frame = server_.connection->frames_sent() + 1;
  auto r = call("echo", std::string(1000, 'x'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  ASSERT_TRUE(run_until([&] { return client_.closed && server_.closed; }));
  EXPECT_NE(client_.closed->message.find("peer closed the connection"), std::string::npos)
      << client_.closed->to_string();
  // The handler ran; its answer was cut short on the way.
  EXPECT_EQ(server_.session->counters().calls_in.load(), 1u);
}

TEST_F(LoopbackSessionTest, ASilentPeerIsDeclaredDeadByTheHeartbeat) {
  SessionOptions client;
  client.heartbeat_interval = 20ms;
  client.heartbeat_timeout = 100ms;
  SessionOptions server;
  server.heartbeat_interval = 0ms;  // the server never pings on its own
  server.heartbeat_timeout = 0ms;
  open(client, server);
  // Pings are answered: well past the timeout, the session is alive.
  run_until([] { return false; }, 250ms);
  ASSERT_FALSE(client_.closed) << client_.closed->to_string();
  // The server hangs: nothing it sends arrives any more.
  server_.connection->faults().drop_all = true;
  ASSERT_TRUE(run_until([&] { return client_.closed.has_value(); }, 2s));
  EXPECT_EQ(client_.closed->code, StatusCode::unavailable);
  EXPECT_NE(client_.closed->message.find("heartbeat timeout"), std::string::npos)
      << client_.closed->message;
}

TEST_F(LoopbackSessionTest, CancelReachesTheHandlerAndFailsTheCall) {
  bool cancelled = false;
  std::optional<Responder> held;
  serve_async("hold", [&](CallContext& ctx, std::string_view, Responder r) {
    ctx.on_cancel([&cancelled] { cancelled = true; });
    held = std::move(r);
  });
  open();
  CallId id = 0;
  auto out = start_call("hold", "", {}, &id);
  ASSERT_TRUE(run_until([&] { return held.has_value(); }));
  client_.session->cancel(id);
  ASSERT_TRUE(run_until([&] { return out->has_value() && cancelled; }));
  ASSERT_FALSE(**out);
  EXPECT_EQ((*out)->error().code, StatusCode::cancelled);
  held.reset();  // answering now changes nothing for the caller
  EXPECT_TRUE(call("echo", "after cancel"));
}

TEST_F(LoopbackSessionTest, GoawayRefusesNewCallsAndLetsTheOneInFlightFinish) {
  std::optional<Responder> held;
  serve_async("hold", [&](CallContext&, std::string_view, Responder r) { held = std::move(r); });
  open();
  auto first = start_call("hold", "");
  ASSERT_TRUE(run_until([&] { return held.has_value(); }));
  server_.session->goaway(Error{StatusCode::ok, "draining", ""});  // graceful: status ok
  ASSERT_TRUE(run_until([&] { return !client_.session->accepting_calls(); }));
  auto refused = call("echo", "too late");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::unavailable);
  held->reply(std::string("finished"));
  ASSERT_TRUE(run_until([&] { return first->has_value(); }));
  ASSERT_TRUE(**first) << (*first)->error().to_string();
  EXPECT_EQ(***first, "finished");
}

TEST_F(LoopbackSessionTest, APingMeasuresTheRoundTripAndFailsWhenTheLinkDies) {
  open();
  std::optional<Result<std::chrono::nanoseconds>> rtt;
  client_.session->ping([&](Result<std::chrono::nanoseconds> r) { rtt = r; });
  ASSERT_TRUE(run_until([&] { return rtt.has_value(); }));
  ASSERT_TRUE(*rtt);
  EXPECT_GT(**rtt, std::chrono::nanoseconds(0));

  rtt.reset();
  server_.connection->faults().drop_all = true;  // the PONG never comes
  client_.session->ping([&](Result<std::chrono::nanoseconds> r) { rtt = r; });
  client_.session->close(Error{StatusCode::cancelled, "closed by the test", ""});
  ASSERT_TRUE(run_until([&] { return rtt.has_value(); }));
  ASSERT_FALSE(*rtt);
  EXPECT_EQ(rtt->error().code, StatusCode::unavailable);
}

TEST_F(LoopbackSessionTest, OneWayNotifiesArriveInOrder) {
  open();
  std::vector<std::string> got;
  serve("note", [&got](CallContext&, std::string_view p) -> Result<std::string> {
    got.emplace_back(p);
    return std::string();
  });
  client_.connection->faults().delay = 5ms;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client_.session->notify("note", std::to_string(i)));
  ASSERT_TRUE(run_until([&] { return got.size() == 100; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], std::to_string(i));
  EXPECT_EQ(server_.session->counters().notifies_in.get(), 100u);
}

// ---- time driven by hand (SessionOptions::time): deadlines, heartbeats and batch waits happen
// exactly when the clock says, and not a tick before.

class ManualTimeSessionTest : public LoopbackSessionTest {
 protected:
  void open_manual(SessionOptions client = {}, SessionOptions server = {}) {
    client.time = time_;
    server.time = time_;
    open(client, server);
  }
  // Moves the clock on in 1 ms steps, running what each step makes ready.
  void advance(std::chrono::milliseconds d) {
    for (auto step = 0ms; step < d; step += 1ms) {
      time_->advance(1ms);
      net_.settle();
    }
  }
  std::shared_ptr<ManualTimeSource> time_ = std::make_shared<ManualTimeSource>();
};

TEST_F(ManualTimeSessionTest, AManualTimerFiresOnlyOnceItsTimeHasCome) {
  bool fired = false;
  auto timer = time_->make_timer(net_.io.get_executor());
  timer->wait(10ms, [&] { fired = true; });
  advance(9ms);
  EXPECT_FALSE(fired);
  EXPECT_EQ(time_->armed(), 1u);
  advance(1ms);
  EXPECT_TRUE(fired);
  fired = false;
  timer->wait(10ms, [&] { fired = true; });
  timer->cancel();
  advance(20ms);
  EXPECT_FALSE(fired);
  EXPECT_EQ(time_->armed(), 0u);
}

TEST_F(ManualTimeSessionTest, ASilentPeerIsDeadExactlyAtTheHeartbeatTimeout) {
  SessionOptions client;
  client.heartbeat_interval = 20ms;
  client.heartbeat_timeout = 100ms;
  SessionOptions server;
  server.heartbeat_interval = 0ms;
  server.heartbeat_timeout = 0ms;
  open_manual(client, server);
  server_.connection->faults().drop_all = true;  // the server hangs from here on
  advance(99ms);
  ASSERT_FALSE(client_.closed) << client_.closed->to_string();
  advance(1ms);
  ASSERT_TRUE(client_.closed);
  EXPECT_EQ(client_.closed->code, StatusCode::unavailable);
  EXPECT_NE(client_.closed->message.find("peer silent for 100 ms"), std::string::npos)
      << client_.closed->message;
}

TEST_F(ManualTimeSessionTest, ACallFailsExactlyAtItsDeadlineAndTheHandlerIsCancelled) {
  std::optional<Responder> held;
  bool cancelled = false;
  serve_async("hang", [&](CallContext& ctx, std::string_view, Responder r) {
    ctx.on_cancel([&] { cancelled = true; });
    held.emplace(std::move(r));
  });
  open_manual();
  CallOptions options;
  options.timeout = 50ms;
  auto out = start_call("hang", "x", options);
  net_.settle();
  ASSERT_TRUE(held.has_value());
  advance(49ms);
  EXPECT_FALSE(out->has_value());
  advance(1ms);
  ASSERT_TRUE(out->has_value());
  ASSERT_FALSE(**out);
  EXPECT_EQ((*out)->error().code, StatusCode::deadline_exceeded);
  EXPECT_TRUE(cancelled);
}

TEST_F(ManualTimeSessionTest, BatchedNotifiesLeaveWhenTheBatchWaitIsOver) {
  std::vector<std::string> got;
  serve("note", [&got](CallContext&, std::string_view p) -> Result<std::string> {
    got.emplace_back(p);
    return std::string();
  });
  SessionOptions client;
  client.batching = BatchOptions{true, 50, 100ms};
  open_manual(client);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_.session->notify("note", std::to_string(i)));
  advance(99ms);
  EXPECT_TRUE(got.empty());
  advance(1ms);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], "2");
}

}  // namespace
}  // namespace plexus::rpc
