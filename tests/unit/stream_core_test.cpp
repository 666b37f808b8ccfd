// The stream core (src/rpc/stream_core.hpp) between two sessions on a loopback pair: the test
// drives the opener's core directly and the acceptor through the Stream its handler was given.
// Items both ways, credit (a writer at zero credit waits for the reader's STREAM_CREDIT), the
// end with a value or a status, cancel from either side, and a peer that vanishes mid-stream.
#include <gtest/gtest.h>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "loopback_sessions.hpp"
#include "rpc/stream_core.hpp"

namespace plexus::rpc {
namespace {

using namespace std::chrono_literals;
using test_support::LoopbackSessions;
using test_support::SessionLink;

using ReadResult = Result<std::optional<std::string>>;
template <typename T>
using Slot = std::shared_ptr<std::optional<T>>;

// The acceptor's side of a stream served by StreamCoreTest::held_handler.
struct HeldStream {
  std::optional<Stream> stream;
  std::string payload;
  bool cancelled = false;  // its CallContext reported the cancel
  bool returned = false;
  std::optional<Result<std::string>> answer;  // what the handler returns once released
  asio::steady_timer* gate = nullptr;         // while the handler waits
};

class StreamCoreTest : public ::testing::Test {
 protected:
  StreamCoreTest() {
    serve("echo", [this](CallContext& ctx, std::string payload, Stream stream) {
      return echo_handler(ctx, std::move(payload), std::move(stream));
    });
    serve("held", [this](CallContext& ctx, std::string payload, Stream stream) {
      return held_handler(ctx, std::move(payload), std::move(stream));
    });
  }

  void TearDown() override { EXPECT_TRUE(net_.close_all()); }

  void serve(const std::string& method, StreamHandler handler) {
    link_.server.serve(method, HandlerEntry{std::move(handler), nullptr, nullptr});
  }

  void connect(SessionOptions client = {}, SessionOptions server = {}) {
    ASSERT_TRUE(net_.connect(link_, client, server));
  }

  // Opens a stream from the client; the core is the opener's end, driven by the test.
  std::shared_ptr<StreamCore> open(std::string method, std::string payload = {},
                                   StreamWindow window = {}) {
    auto core = std::make_shared<StreamCore>(net_.io.get_executor(), window);
    link_.client.session->open_stream(core, std::move(method), std::move(payload));
    return core;
  }

  // Opens a stream to "held" and runs until its handler holds the acceptor's end.
  std::shared_ptr<StreamCore> open_held(StreamWindow window = {}) {
    auto core = open("held", "args", window);
    EXPECT_TRUE(net_.run_until([&] { return held_.stream.has_value(); }));
    return core;
  }

  // Lets the held handler return `answer`.
  void release(Result<std::string> answer) {
    ASSERT_NE(held_.gate, nullptr);
    held_.answer = std::move(answer);
    held_.gate->cancel();
  }

  static Slot<ReadResult> reading(StreamCore& core) {
    auto slot = std::make_shared<std::optional<ReadResult>>();
    core.read([slot](ReadResult r) { *slot = std::move(r); });
    return slot;
  }
  static Slot<ReadResult> reading(Stream& stream) {
    auto slot = std::make_shared<std::optional<ReadResult>>();
    stream.start_read([slot](ReadResult r) { *slot = std::move(r); });
    return slot;
  }
  static Slot<Result<void>> writing(StreamCore& core, std::string item) {
    auto slot = std::make_shared<std::optional<Result<void>>>();
    core.write(std::move(item), [slot](Result<void> r) { *slot = std::move(r); });
    return slot;
  }
  static Slot<Result<void>> writing(Stream& stream, std::string item) {
    auto slot = std::make_shared<std::optional<Result<void>>>();
    stream.start_write(std::move(item), [slot](Result<void> r) { *slot = std::move(r); });
    return slot;
  }

  // Runs until the slot is filled (bounded), then its value; a hang fails the test.
  template <typename T>
  T result(const Slot<T>& slot) {
    if (!net_.run_until([&] { return slot->has_value(); }, 2s)) {
      ADD_FAILURE() << "the operation never completed";
      return T(tl::unexpected(Error{StatusCode::unknown, "never completed", ""}));
    }
    return **slot;
  }

  // Reads every item until the end and echoes it; returns how many it echoed.
  static asio::awaitable<Result<std::string>> echo_handler(CallContext&, std::string,
                                                           Stream stream) {
    int n = 0;
    for (;;) {
      auto item = co_await stream.async_read(asio::use_awaitable);
      if (!item) co_return tl::unexpected(item.error());
      if (!*item) break;
      auto sent = co_await stream.async_write(**item, asio::use_awaitable);
      if (!sent) co_return tl::unexpected(sent.error());
      ++n;
    }
    co_return "echoed " + std::to_string(n);
  }

  // Hands its Stream to the test and waits until release() (or a cancel) lets it return.
  asio::awaitable<Result<std::string>> held_handler(CallContext& ctx, std::string payload,
                                                    Stream stream) {
    held_.stream = stream;
    held_.payload = std::move(payload);
    asio::steady_timer gate(co_await asio::this_coro::executor,
                            asio::steady_timer::time_point::max());
    held_.gate = &gate;
    ctx.on_cancel([this] {
      held_.cancelled = true;
      if (held_.gate) held_.gate->cancel();
    });
    std::error_code ec;
    co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    held_.gate = nullptr;
    held_.returned = true;
    if (held_.answer) co_return std::move(*held_.answer);
    co_return make_error(StatusCode::cancelled, "the handler saw the cancel");
  }

  HeldStream held_;
  LoopbackSessions net_;
  SessionLink link_;  // after net_: the sessions (and their timers) go before its io_context
};

TEST_F(StreamCoreTest, ItemsFlowBothWaysAndTheHandlersValueEndsTheStream) {
  connect();
  auto core = open("echo");
  for (const char* item : {"one", "two", "three"}) {
    ASSERT_TRUE(result(writing(*core, item)));
    auto echoed = result(reading(*core));
    ASSERT_TRUE(echoed) << echoed.error().to_string();
    ASSERT_TRUE(*echoed);
    EXPECT_EQ(**echoed, item);
  }
  core->close_write();
  auto end = result(reading(*core));
  ASSERT_TRUE(end) << end.error().to_string();
  EXPECT_FALSE(*end) << "a clean end reads as nullopt";
  ASSERT_TRUE(core->outcome());
  ASSERT_TRUE(*core->outcome());
  EXPECT_EQ(**core->outcome(), "echoed 3");
  const auto st = core->stats();
  EXPECT_EQ(st.items_sent, 3u);
  EXPECT_EQ(st.items_received, 3u);
}

TEST_F(StreamCoreTest, AWriterAtZeroItemCreditWaitsForTheReadersCredit) {
  connect();
  auto core = open_held(StreamWindow{2, 1u << 20});  // the acceptor may send two items ahead
  EXPECT_EQ(held_.payload, "args");
  Stream& acceptor = *held_.stream;
  ASSERT_TRUE(result(writing(acceptor, "1")));
  ASSERT_TRUE(result(writing(acceptor, "2")));
  auto third = writing(acceptor, "3");
  net_.settle();
  EXPECT_FALSE(third->has_value()) << "a write past the credit completed";
  EXPECT_EQ(core->stats().items_received, 2u);
  EXPECT_EQ(acceptor.stats().credit_waits, 1u);
  EXPECT_EQ(acceptor.stats().queued_bytes, 1u);

  // Reading one item uses half the window: the reader grants it back, the writer goes on.
  auto first = result(reading(*core));
  ASSERT_TRUE(first && *first);
  EXPECT_EQ(**first, "1");
  ASSERT_TRUE(result(third));
  EXPECT_EQ(core->stats().credits_granted, 1u);
  for (const char* expected : {"2", "3"}) {
    auto item = result(reading(*core));
    ASSERT_TRUE(item && *item);
    EXPECT_EQ(**item, expected);
  }
  release(std::string("fed"));
  auto end = result(reading(*core));
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST_F(StreamCoreTest, AWriterPastTheByteCreditWaitsForTheReadersCredit) {
  connect();
  auto core = open_held(StreamWindow{100, 10});  // ten bytes ahead, items do not limit
  Stream& acceptor = *held_.stream;
  // The byte credit may go negative by less than one item: 10 - 8 leaves 2, so the second
  // 8-byte item still goes; then it is spent.
  ASSERT_TRUE(result(writing(acceptor, "12345678")));
  ASSERT_TRUE(result(writing(acceptor, "abcdefgh")));
  auto third = writing(acceptor, "ABCDEFGH");
  net_.settle();
  EXPECT_FALSE(third->has_value()) << "a write past the byte credit completed";
  EXPECT_EQ(core->stats().bytes_received, 16u);
  auto first = result(reading(*core));
  ASSERT_TRUE(first && *first);
  ASSERT_TRUE(result(third));
  auto second = result(reading(*core));
  auto last = result(reading(*core));
  ASSERT_TRUE(second && *second && last && *last);
  EXPECT_EQ(**last, "ABCDEFGH");
}

TEST_F(StreamCoreTest, TheHandlersErrorEndsTheStreamWithItsStatus) {
  connect();
  auto core = open_held();
  ASSERT_TRUE(result(writing(*held_.stream, "partial")));
  release(make_error(StatusCode::permission_denied, "not yours"));
  // What arrived before the end is still read first.
  auto item = result(reading(*core));
  ASSERT_TRUE(item && *item);
  EXPECT_EQ(**item, "partial");
  auto end = result(reading(*core));
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code, StatusCode::permission_denied);
  EXPECT_EQ(end.error().message, "not yours");
  ASSERT_TRUE(core->outcome());
  ASSERT_FALSE(*core->outcome());
  EXPECT_EQ(core->outcome()->error().code, StatusCode::permission_denied);
  auto late = result(writing(*core, "too late"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, StatusCode::permission_denied);
}

TEST_F(StreamCoreTest, TheOpenersCancelReachesTheHandler) {
  connect();
  auto core = open_held();
  auto served_read = reading(*held_.stream);
  auto own_read = reading(*core);
  net_.settle();
  core->cancel(Error{StatusCode::cancelled, "enough", ""});
  auto seen = result(served_read);
  ASSERT_FALSE(seen);
  EXPECT_EQ(seen.error().code, StatusCode::cancelled);
  EXPECT_EQ(seen.error().message, "enough");
  ASSERT_TRUE(net_.run_until([&] { return held_.cancelled && held_.returned; }));
  auto own = result(own_read);
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code, StatusCode::cancelled);
  ASSERT_TRUE(core->outcome());
  ASSERT_FALSE(*core->outcome());
  EXPECT_EQ(core->outcome()->error().code, StatusCode::cancelled);
  // Both sides forgot the stream; the session is still there for the next.
  EXPECT_EQ(link_.server.session->streams_being_served(), 0u);
  EXPECT_FALSE(link_.client.closed);
}

TEST_F(StreamCoreTest, TheAcceptorsCancelFailsTheOpenersReadAndWrite) {
  connect();
  auto core = open_held();
  auto pending = reading(*core);
  net_.settle();
  held_.stream->cancel("stop");
  auto r = result(pending);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::cancelled);
  EXPECT_EQ(r.error().message, "stop");
  auto w = result(writing(*core, "after"));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, StatusCode::cancelled);
  ASSERT_TRUE(net_.run_until([&] { return held_.returned; }));
  EXPECT_EQ(link_.server.session->streams_being_served(), 0u);
}

TEST_F(StreamCoreTest, ALinkCutMidFrameEndsTheStreamWithAnErrorOnBothSides) {
  connect();
  auto core = open_held();
  auto pending = reading(*core);
  net_.settle();
  auto& out = *link_.server.connection;
  out.faults().close_mid_frame = out.frames_sent() + 1;
  (void)writing(*held_.stream, std::string(1000, 'x'));  // half of it arrives
  auto r = result(pending);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  ASSERT_TRUE(net_.run_until([&] { return held_.cancelled && held_.returned; }));
  EXPECT_EQ(core->stats().items_received, 0u);
  auto w = result(writing(*core, "after"));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, StatusCode::unavailable);
}

TEST_F(StreamCoreTest, AHungPeerEndsTheStreamAtTheHeartbeatInsteadOfHanging) {
  SessionOptions client;
  client.heartbeat_interval = 20ms;
  client.heartbeat_timeout = 100ms;
  SessionOptions server;
  server.heartbeat_interval = 0ms;
  server.heartbeat_timeout = 0ms;
  connect(client, server);
  auto core = open_held();
  auto pending = reading(*core);
  link_.server.connection->faults().drop_all = true;  // nothing the acceptor sends arrives
  (void)writing(*held_.stream, "lost");
  auto r = result(pending);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  EXPECT_EQ(core->stats().items_received, 0u);
}

TEST_F(StreamCoreTest, AnUnknownMethodIsRefusedAtTheOpen) {
  connect();
  auto core = open("no.such.stream");
  auto r = result(reading(*core));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::not_found);
  ASSERT_TRUE(core->outcome());
  ASSERT_FALSE(*core->outcome());
  EXPECT_EQ(core->outcome()->error().code, StatusCode::not_found);
}

}  // namespace
}  // namespace plexus::rpc
