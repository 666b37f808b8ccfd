// Dead and frozen peers, reconnect after a server restart, and calls while disconnected.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include <atomic>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

class LivenessTest : public ::testing::TestWithParam<Transport> {
 protected:
  void start_server(const std::string& listen) {
    server_ = ServerProcess::spawn({"--listen", listen});
    ASSERT_TRUE(server_.running());
  }
  std::unique_ptr<Client> connect(ClientOptions options) {
    return connect_client(runtime_, server_.address(), options);
  }
  // Waits until the client's state is `want` (signalled by on_state_change).
  static bool wait_state(Client& client, ConnectionState want, Millis timeout) {
    auto reached = std::make_shared<Event<bool>>();
    client.on_state_change([reached, want](ConnectionState s) {
      if (s == want) reached->set(true);
    });
    if (client.state() == want) return true;
    return reached->wait_for(timeout).has_value();
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
};

TEST_P(LivenessTest, PeerKilledMidCallFailsEveryInFlightCallWithUnavailable) {
  start_server(listen_address(GetParam(), dir_));
  ClientOptions options;
  options.reconnect.enabled = false;
  auto client = connect(options);
  ASSERT_TRUE(client);
  constexpr int kCalls = 100;
  Countdown all(kCalls);
  std::atomic<int> unavailable{0};
  std::atomic<int> with_signal{0};  // over exec: the helper's death, "killed by signal 9"
  for (int i = 0; i < kCalls; ++i) {
    client->call_async("block", "", {}, [&](Result<std::string> r) {
      if (!r && r.error().code == StatusCode::unavailable) ++unavailable;
      if (!r &&
          r.error().message.find("helper killed by signal 9 (SIGKILL)") != std::string::npos &&
          r.error().details.find("\"signal\":9") != std::string::npos) {
        ++with_signal;
      }
      all.done();
    });
  }
  ASSERT_TRUE(client->call("echo", "sync"));  // every block call is now in the server
  server_.kill_now();                         // SIGKILL, then reap
  ASSERT_TRUE(all.wait_for(Millis{10000}));
  EXPECT_EQ(unavailable.load(), kCalls);
  // The client is the helper's parent: it reaps it, and its calls fail with how it died.
  if (GetParam() == Transport::exec) {
    EXPECT_EQ(with_signal.load(), kCalls);
  }
}

TEST_P(LivenessTest, FrozenPeerIsDetectedByHeartbeat) {
  start_server(listen_address(GetParam(), dir_));
  ClientOptions options;
  options.reconnect.enabled = false;
  options.heartbeat_interval = Millis{100};
  options.heartbeat_timeout = Millis{400};
  auto client = connect(options);
  ASSERT_TRUE(client);
  Event<Error> result;
  client->call_async("block", "", {}, [&](Result<std::string> r) {
    result.set(r ? Error{StatusCode::ok, *r, {}} : r.error());
  });
  ASSERT_TRUE(client->call("echo", "sync"));
  const auto frozen_at = std::chrono::steady_clock::now();
  server_.signal(SIGSTOP);  // alive but silent: only the heartbeat can tell
  auto error = result.wait_for(Millis{10000});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, StatusCode::unavailable);
  EXPECT_NE(error->message.find("heartbeat timeout"), std::string::npos) << error->message;
  RecordProperty("detected_after_ms",
                 std::to_string(std::chrono::duration_cast<Millis>(
                                    std::chrono::steady_clock::now() - frozen_at)
                                    .count()));
  server_.signal(SIGCONT);
}

TEST_P(LivenessTest, ClientReconnectsAfterTheServerRestarts) {
  start_server(listen_address(GetParam(), dir_));
  if (GetParam() == Transport::exec) {
    // The restart is the client's: its reconnect spawns a new helper at once (there is no
    // time without a server, when a call would fail fast or wait for one).
    ClientOptions options;
    options.reconnect.initial_delay = Millis{20};
    auto client = connect(options);
    ASSERT_TRUE(client);
    EXPECT_EQ(*client->call("echo", "before"), "before");
    const pid_t first = server_.pid();
    ASSERT_GT(first, 0);
    auto lost = std::make_shared<Event<bool>>();
    client->on_state_change([lost](ConnectionState s) {
      if (s == ConnectionState::reconnecting) lost->set(true);
    });
    server_.kill_now();
    ASSERT_TRUE(lost->wait_for(Millis{10000}));
    ASSERT_TRUE(client->wait_connected(Millis{20000}));
    EXPECT_EQ(client->call("echo", "after").value_or("failed"), "after");
    EXPECT_EQ(client->stats().reconnects, 1u);
    const pid_t second = server_.pid();
    EXPECT_GT(second, 0);
    EXPECT_NE(second, first);
    EXPECT_EQ(client->peer().identity().pid, std::optional<std::int32_t>(second));
    return;
  }
  const std::string address = server_.address();  // tcp: the port the first server chose
  ClientOptions options;
  options.reconnect.initial_delay = Millis{20};
  options.reconnect.max_delay = Millis{200};
  auto client = connect(options);
  ASSERT_TRUE(client);
  EXPECT_EQ(*client->call("echo", "before"), "before");

  server_.kill_now();
  ASSERT_TRUE(wait_state(*client, ConnectionState::reconnecting, Millis{10000}));
  // While disconnected a call fails fast by default…
  auto fast = client->call("echo", "x");
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().code, StatusCode::unavailable);
  // …or waits for the connection when asked to.
  Event<std::string> waited;
  CallOptions wait;
  wait.wait_for_ready = true;
  wait.timeout = Millis{20000};
  client->call_async("echo", "waited", wait,
                     [&](Result<std::string> r) { waited.set(r ? *r : r.error().to_string()); });

  start_server(address);  // same path (stale socket file replaced) or same port
  ASSERT_TRUE(client->wait_connected(Millis{20000}));
  EXPECT_EQ(waited.wait_for(Millis{20000}), "waited");
  EXPECT_EQ(*client->call("echo", "after"), "after");
  EXPECT_EQ(client->stats().reconnects, 1u);
}

TEST_P(LivenessTest, WaitingCallFailsAtItsDeadlineWhenNoServerComes) {
  PLEXUS_SKIP_OVER_EXEC(
      "a reconnecting client spawns its server again: one that never comes back does not exist");
  start_server(listen_address(GetParam(), dir_));
  ClientOptions options;
  options.reconnect.initial_delay = Millis{20};
  auto client = connect(options);
  ASSERT_TRUE(client);
  server_.kill_now();
  ASSERT_TRUE(wait_state(*client, ConnectionState::reconnecting, Millis{10000}));
  CallOptions wait;
  wait.wait_for_ready = true;
  wait.timeout = Millis{100};
  auto r = client->call("echo", "x", wait);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded);
}

TEST_P(LivenessTest, ClientGivesUpAfterMaxAttempts) {
  PLEXUS_SKIP_OVER_EXEC(
      "a reconnecting client spawns its server again: one that never comes back does not exist");
  start_server(listen_address(GetParam(), dir_));
  ClientOptions options;
  options.reconnect.initial_delay = Millis{5};
  options.reconnect.max_attempts = 3;
  auto client = connect(options);
  ASSERT_TRUE(client);
  auto closed = std::make_shared<Event<bool>>();
  client->on_state_change([closed](ConnectionState s) {
    if (s == ConnectionState::closed) closed->set(true);
  });
  server_.kill_now();
  ASSERT_TRUE(closed->wait_for(Millis{10000}));
  CallOptions wait;
  wait.wait_for_ready = true;
  auto r = client->call("echo", "x", wait);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable);
}

TEST(LivenessConnect, AClientStartedBeforeItsServerWaitsForItWhenAsked) {
  TempDir dir;
  Runtime runtime;
  ClientOptions options;
  options.address = dir.unix_address("later.sock");
  options.reconnect.initial_delay = Millis{10};
  options.reconnect.max_delay = Millis{50};
  options.wait_for_server = Millis{60000};
  std::promise<Result<std::unique_ptr<Client>>> connected;
  auto result = connected.get_future();
  std::thread connecting([&] { connected.set_value(Client::connect(runtime, options)); });
  // connect() is still waiting: nobody listens yet.
  EXPECT_EQ(result.wait_for(Millis{100}), std::future_status::timeout);
  auto server = ServerProcess::spawn({"--listen", options.address});
  ASSERT_TRUE(server.running());
  ASSERT_EQ(result.wait_for(Millis{30000}), std::future_status::ready);
  connecting.join();
  auto client = result.get();
  ASSERT_TRUE(client) << client.error().to_string();
  EXPECT_EQ((*client)->call("echo", "late").value_or("failed"), "late");
}

TEST(LivenessConnect, WaitingForAServerThatNeverComesEndsWithUnavailable) {
  TempDir dir;
  Runtime runtime;
  ClientOptions options;
  options.address = dir.unix_address("never.sock");
  options.reconnect.initial_delay = Millis{10};
  options.reconnect.max_delay = Millis{20};
  options.wait_for_server = Millis{200};
  const auto started = std::chrono::steady_clock::now();
  auto client = Client::connect(runtime, options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, StatusCode::unavailable);
  // It did wait (a lower bound only: an upper bound would time the machine, not the code).
  EXPECT_GE(std::chrono::steady_clock::now() - started, Millis{200});
}

TEST(LivenessConnect, ConnectToNothingFailsWithUnavailable) {
  TempDir dir;
  Runtime runtime;
  ClientOptions options;
  options.address = dir.unix_address("nobody.sock");
  auto client = Client::connect(runtime, options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, StatusCode::unavailable);
}

TEST(LivenessConnect, ServerThatNeverAnswersTheHandshakeHitsTheConnectTimeout) {
  // A socket that listens but never accepts: the kernel completes the connection, nobody
  // answers HELLO.
  TempDir dir;
  const auto path = dir.file("mute.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  Runtime runtime;
  ClientOptions options;
  options.address = "unix://" + path;
  options.connect_timeout = Millis{200};
  auto client = Client::connect(runtime, options);
  ::close(fd);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, StatusCode::deadline_exceeded);
  EXPECT_NE(client.error().message.find("handshake"), std::string::npos) << client.error().message;
}

PLEXUS_ALL_TRANSPORTS(LivenessTest);

}  // namespace
}  // namespace plexus::test
