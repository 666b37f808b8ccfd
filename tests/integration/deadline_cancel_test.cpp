// Deadlines travel in the frame and cancels reach the handler, across real processes.
#include <gtest/gtest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

// The test server's "block" handler never answers; when its call is cancelled it notifies the
// caller "event.cancelled" {"id":…,"deadline":…}. These tests wait on that event.
class DeadlineCancelTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
    client_ = connect_client(runtime_, server_.address());
    ASSERT_TRUE(client_);
    client_->handle("event.cancelled",
                    [this](CallContext&, std::string_view p) -> Result<std::string> {
                      cancelled_.set(json::parse(p));
                      return std::string();
                    });
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
  Event<json> cancelled_;
};

TEST_P(DeadlineCancelTest, DeadlineFailsTheCallAndTheHandlerSeesIt) {
  CallOptions options;
  options.timeout = Millis{100};
  auto r = client_->call("block", "", options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded);
  auto event = cancelled_.wait_for(Millis{5000});
  ASSERT_TRUE(event) << "the handler never saw the deadline";
  EXPECT_TRUE((*event)["deadline"].get<bool>()) << "the deadline travelled in the frame";
}

TEST_P(DeadlineCancelTest, CallFinishingBeforeItsDeadlineSucceeds) {
  CallOptions options;
  options.timeout = Millis{5000};
  auto r = client_->call("sleep", R"({"ms":10})", options);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, R"({"slept_ms":10})");
}

TEST_P(DeadlineCancelTest, CancelCompletesTheCallAndReachesTheHandler) {
  Event<Error> result;
  const CallId id = client_->call_async("block", "", {}, [&](Result<std::string> r) {
    result.set(r ? Error{StatusCode::ok, *r, {}} : r.error());
  });
  // Frames on a connection are handled in order: once echo answers, "block" is running.
  ASSERT_TRUE(client_->call("echo", "sync"));
  client_->cancel(id);
  auto error = result.wait_for(Millis{5000});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, StatusCode::cancelled);
  auto event = cancelled_.wait_for(Millis{5000});
  ASSERT_TRUE(event) << "the handler never saw the cancel";
  EXPECT_EQ((*event)["id"].get<CallId>(), id);
  EXPECT_FALSE((*event)["deadline"].get<bool>());
  // The connection is unaffected.
  EXPECT_EQ(*client_->call("echo", "after"), "after");
}

TEST_P(DeadlineCancelTest, AsioCancellationSignalCancelsACoAwaitedCall) {
  asio::cancellation_signal signal;
  Event<StatusCode> code;
  asio::co_spawn(
      runtime_.io(),
      [&]() -> asio::awaitable<void> {
        auto token = asio::bind_cancellation_slot(signal.slot(), asio::use_awaitable);
        auto r = co_await client_->async_call("block", "", token);
        code.set(r ? StatusCode::ok : r.error().code);
      },
      asio::detached);
  ASSERT_TRUE(client_->call("echo", "sync"));  // "block" has reached the handler
  asio::post(runtime_.io(), [&] { signal.emit(asio::cancellation_type::terminal); });
  EXPECT_EQ(code.wait_for(Millis{5000}), StatusCode::cancelled);
  EXPECT_TRUE(cancelled_.wait_for(Millis{5000})) << "the handler never saw the cancel";
}

TEST_P(DeadlineCancelTest, CancellingAnUnknownIdIsHarmless) {
  client_->cancel(987654321);
  EXPECT_EQ(*client_->call("echo", "fine"), "fine");
}

PLEXUS_ALL_TRANSPORTS(DeadlineCancelTest);

}  // namespace
}  // namespace plexus::test
