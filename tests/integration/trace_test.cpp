// Trace context (plexus/trace.hpp): W3C traceparent ids drawn when a call has none, carried by
// calls, notifications, publishes, streams and lanes, and passed on by themselves to what a
// handler sends. Across real processes with their JSON logs, and in-process over every
// transport for each kind of message.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

constexpr Millis kWait{10000};

bool is_traceparent(const std::string& t) {
  return t.size() == 55 && t.substr(0, 3) == "00-" && t[35] == '-' && t[52] == '-';
}

// Every line of a JSON log, parsed; a line that is not JSON fails the test.
std::vector<json> json_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto parsed = json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << path << ": not JSON: " << line;
    if (!parsed.is_discarded()) out.push_back(std::move(parsed));
  }
  return out;
}

// Lines of `lines` whose trace_id belongs to the trace `trace_id` (the 32 hex digits).
std::size_t lines_of_trace(const std::vector<json>& lines, const std::string& trace_id) {
  std::size_t n = 0;
  for (const auto& l : lines) {
    if (l.contains("trace_id") && trace_id_of(l["trace_id"].get<std::string>()) == trace_id) ++n;
  }
  return n;
}

// Sets an environment variable for the child processes spawned while it lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// client → server A ("trace.relay", offloaded) → server B ("context"), and a publish on A: one
// trace throughout, in both servers' JSON logs.
TEST(TraceAcrossProcessesTest, ATraceCrossesTwoServersAndAPublishAndShowsInBothLogs) {
  TempDir dir;
  ServerProcess b, a;
  {
    const ScopedEnv level("PLEXUS_LOG", "debug");
    const ScopedEnv format("PLEXUS_LOG_FORMAT", "json");
    b = ServerProcess::spawn({"--listen", "unix://" + dir.path() + "/b.sock"}, kWait,
                             dir.path() + "/b.log");
    ASSERT_TRUE(b.running());
    a = ServerProcess::spawn(
        {"--listen", "unix://" + dir.path() + "/a.sock", "--relay-to", b.address()}, kWait,
        dir.path() + "/a.log");
    ASSERT_TRUE(a.running());
  }
  Runtime runtime;
  auto client = connect_client(runtime, a.address());
  ASSERT_TRUE(client);
  Event<std::string> published_trace;
  ASSERT_TRUE(client->subscribe("trace.topic", [&](std::string_view, std::string_view) {
    published_trace.set(current_trace());
  }));

  // The client sets no trace: server A draws one, and everything after it continues it.
  auto answer = client->call("trace.relay", "hello");
  ASSERT_TRUE(answer) << answer.error().to_string();
  const auto j = json::parse(*answer);
  const std::string at_a = j["trace"];
  const std::string at_b = j["next"]["trace_id"];
  ASSERT_TRUE(is_traceparent(at_a)) << at_a;
  ASSERT_TRUE(is_traceparent(at_b)) << at_b;
  const std::string trace = trace_id_of(at_a);
  EXPECT_EQ(trace_id_of(at_b), trace) << "B's call is not in A's trace";
  EXPECT_NE(at_b.substr(36, 16), at_a.substr(36, 16)) << "B's call has no parent id of its own";
  auto seen = published_trace.wait_for(kWait);
  ASSERT_TRUE(seen) << "the publish never arrived";
  EXPECT_EQ(trace_id_of(*seen), trace) << "the publish did not carry the trace: " << *seen;

  // Both servers have logged the calls (before answering them); every line is JSON.
  const auto a_lines = json_lines(dir.path() + "/a.log");
  const auto b_lines = json_lines(dir.path() + "/b.log");
  EXPECT_GE(lines_of_trace(a_lines, trace), 2u) << "A logs the call in and its call out";
  EXPECT_GE(lines_of_trace(b_lines, trace), 1u) << "B logs the call in";
  for (const auto* lines : {&a_lines, &b_lines}) {
    for (const auto& l : *lines) {
      ASSERT_TRUE(l.contains("time") && l.contains("level") && l.contains("message")) << l.dump();
    }
  }
}

// Both ends in this process: what a handler received, from whichever thread it ran on.
class TraceTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    PLEXUS_SKIP_OVER_EXEC(
        "the server runs in the test's own process, and exec: always starts a child");
    ServerOptions options;
    options.listen = {listen_address(GetParam(), dir_)};
    options.metrics = false;
    auto server = Server::create(runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("seen", [this](CallContext& ctx, std::string_view) -> Result<std::string> {
      seen_.set(std::string(ctx.trace_id()));
      return std::string();
    });
    server_->handle_stream(
        "stream.seen",
        [this](CallContext& ctx, std::string, Stream) -> asio::awaitable<Result<std::string>> {
          seen_.set(std::string(ctx.trace_id()));
          co_return std::string("done");
        });
    ASSERT_TRUE(server_->start());
    client_ = connect_client(runtime_, server_->addresses().at(0));
    ASSERT_TRUE(client_);
  }
  void TearDown() override {
    if (client_) client_->close();
    if (server_) server_->shutdown(Millis{1000});
  }

  // What the handler saw belongs to `trace` and is a hop of its own (a new parent id).
  void expect_child_of(const std::string& trace) {
    auto seen = seen_.wait_for(kWait);
    ASSERT_TRUE(seen) << "the handler never ran";
    EXPECT_EQ(trace_id_of(*seen), trace_id_of(trace)) << *seen;
    EXPECT_NE(*seen, trace) << "no new parent id";
  }

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
  Event<std::string> seen_;
};

TEST_P(TraceTest, ACallInATraceScopeCarriesAChild) {
  const auto trace = new_trace();
  const TraceScope scope(trace);
  ASSERT_TRUE(client_->call("seen", ""));
  expect_child_of(trace);
}

TEST_P(TraceTest, ANotificationCarriesTheTrace) {
  const auto trace = new_trace();
  const TraceScope scope(trace);
  ASSERT_TRUE(client_->notify("seen", ""));
  expect_child_of(trace);
}

TEST_P(TraceTest, ALaneOpenCarriesTheTrace) {
  const auto trace = new_trace();
  const TraceScope scope(trace);
  auto lane = client_->open_lane("seen");
  ASSERT_TRUE(lane);
  ASSERT_TRUE(lane->send("x"));
  expect_child_of(trace);
}

TEST_P(TraceTest, AStreamOpenCarriesTheTrace) {
  const auto trace = new_trace();
  const TraceScope scope(trace);
  auto s = client_->open_stream("stream.seen", "");
  auto end = s.read();
  ASSERT_TRUE(end) << end.error().to_string();
  expect_child_of(trace);
}

TEST_P(TraceTest, APublishCarriesTheTraceToRemoteAndLocalSubscribers) {
  auto listener = connect_client(runtime_, server_->addresses().at(0));
  ASSERT_TRUE(listener);
  Event<std::string> remote, local;
  ASSERT_TRUE(listener->subscribe(
      "t.*", [&](std::string_view, std::string_view) { remote.set(current_trace()); }));
  ASSERT_TRUE(server_->subscribe(
      "t.*", [&](std::string_view, std::string_view) { local.set(current_trace()); }));
  const auto trace = new_trace();
  {
    const TraceScope scope(trace);
    ASSERT_TRUE(client_->publish("t.x", "m"));
  }
  for (auto* got : {&remote, &local}) {
    auto t = got->wait_for(kWait);
    ASSERT_TRUE(t) << "a subscriber never got the message";
    EXPECT_EQ(trace_id_of(*t), trace_id_of(trace)) << *t;
  }
  listener->close();
}

// A coroutine handler that calls back after a suspension (where no thread-local trace reaches)
// still continues its call's trace through ctx.peer().
TEST_P(TraceTest, CallsThroughCtxPeerContinueTheTraceAfterASuspension) {
  server_->handle_coro(
      "later", [](CallContext& ctx, std::string) -> asio::awaitable<Result<std::string>> {
        asio::steady_timer timer(co_await asio::this_coro::executor, Millis{5});
        co_await timer.async_wait(asio::use_awaitable);
        co_return co_await ctx.peer().async_call("client.seen", "", asio::use_awaitable);
      });
  Event<std::string> at_client;
  client_->handle("client.seen", [&](CallContext& ctx, std::string_view) -> Result<std::string> {
    at_client.set(std::string(ctx.trace_id()));
    return std::string();
  });
  const auto trace = new_trace();
  CallOptions options;
  options.trace_id = trace;
  ASSERT_TRUE(client_->call("later", "", options));
  auto t = at_client.wait_for(kWait);
  ASSERT_TRUE(t);
  EXPECT_EQ(trace_id_of(*t), trace_id_of(trace)) << *t;
}

// Without any trace, a callee draws one; an id that is not a traceparent passes unchanged.
TEST_P(TraceTest, ACallWithoutATraceGetsOneAndAnOpaqueIdPassesUnchanged) {
  ASSERT_TRUE(client_->call("seen", ""));
  auto drawn = seen_.wait_for(kWait);
  ASSERT_TRUE(drawn);
  EXPECT_TRUE(is_traceparent(*drawn)) << *drawn;
  Event<std::string> passed;
  client_->handle("client.opaque", [&](CallContext& ctx, std::string_view) -> Result<std::string> {
    passed.set(std::string(ctx.trace_id()));
    return std::string();
  });
  server_->handle("relay.opaque", [](CallContext& ctx, std::string_view) -> Result<std::string> {
    ctx.peer().call_async("client.opaque", "", {}, [](Result<std::string>) {});
    return std::string(ctx.trace_id());
  });
  CallOptions options;
  options.trace_id = "req-42";
  auto r = client_->call("relay.opaque", "", options);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "req-42");
  EXPECT_EQ(passed.wait_for(kWait), "req-42") << "an opaque id is passed on unchanged";
}

PLEXUS_ALL_TRANSPORTS(TraceTest);

}  // namespace
}  // namespace plexus::test
