// Two `plexus serve` daemons, each in its own directory, joined through a real nats-server on
// loopback (`plexus serve --config` with a [nats] table): calls, errors, deadlines and publishes
// cross in both directions; the NATS server stopped and started again; a URL nobody answers and
// a [nats] table with an unknown key.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_serve.hpp"
#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test::nats_bridge_test {

using nlohmann::json;

// A loopback TCP port nobody listens on now (bound, read, released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// `nats-server -a 127.0.0.1 -p PORT`, its log read until it says it accepts connections.
class NatsServer {
 public:
  explicit NatsServer(int port) : port_(port) { start(); }
  void start() {
    process_ = ChildProcess::spawn({"/bin/sh", "-c",
                                    std::string("exec ") + PLEXUS_NATS_SERVER +
                                        " -a 127.0.0.1 -p " + std::to_string(port_) + " 2>&1"});
    for (;;) {
      const auto line = process_.line(Millis{10000});
      ASSERT_TRUE(line) << "nats-server did not start on port " << port_;
      if (line->find("Server is ready") != std::string::npos) return;
    }
  }
  void stop() { process_.kill_now(); }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  ChildProcess process_;
};

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// Messages a subscription received, to wait on.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::string>> messages;  // guarded by mu

  MessageHandler handler() {
    return [this](std::string_view topic, std::string_view payload) {
      std::lock_guard lock(mu);
      messages.emplace_back(topic, payload);
      cv.notify_all();
    };
  }
  // Waits until a message on `topic` is in; how many on it then.
  std::size_t await(const std::string& topic) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return count(topic) > 0; });
    return count(topic);
  }
  std::size_t count(const std::string& topic) const {  // under mu
    std::size_t n = 0;
    for (const auto& [t, p] : messages) n += t == topic;
    return n;
  }
};

// Two daemons, a and b, bridged through one nats-server:
//   a (demo) exports echo, fail and sleep; imports b's plexus.stats as b.stats;
//   b exports plexus.stats; imports a's methods as a.echo, a.fail, a.sleep, and `nobody`
//   (which no bridge exports); topics a.> go from a to b, b.> from b to a, shared.> both ways.
class NatsBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = std::make_unique<NatsServer>(free_port());
    const auto url = nats_->url();
    const auto config_a = write_file(dir_a_.file("a.toml"), R"(demo = true
name = "a"
[nats]
url = ")" + url + R"("
name = "a"
reconnect-wait-ms = 100
export-methods = ["echo", "fail", "sleep"]
import-methods = ["b.stats=plexus.stats"]
export-topics = ["a.>", "shared.>"]
import-topics = ["b.>", "shared.>"]
)");
    const auto config_b = write_file(dir_b_.file("b.toml"), R"(name = "b"
[nats]
url = ")" + url + R"("
name = "b"
reconnect-wait-ms = 100
export-methods = ["plexus.stats"]
import-methods = ["a.echo=echo", "a.fail=fail", "a.sleep=sleep", "nobody"]
export-topics = ["b.>", "shared.>"]
import-topics = ["a.>", "shared.>"]
)");
    a_ = std::make_unique<CliServe>(std::vector<std::string>{"--listen", address_a(), "--http",
                                                             "127.0.0.1:0", "--config", config_a},
                                    dir_a_.file("a.log"));
    b_ = std::make_unique<CliServe>(
        std::vector<std::string>{"--listen", address_b(), "--no-http", "--config", config_b},
        dir_b_.file("b.log"));
    ClientOptions o;
    client_a_ = connect_client(runtime_, address_a(), o);
    client_b_ = connect_client(runtime_, address_b(), o);
    ASSERT_TRUE(client_a_ && client_b_);
  }
  void TearDown() override {
    client_a_.reset();
    client_b_.reset();
    a_.reset();  // each must exit cleanly (CliServe::stop)
    b_.reset();
  }
  std::string address_a() const { return dir_a_.unix_address("a.sock"); }
  std::string address_b() const { return dir_b_.unix_address("b.sock"); }

  // The "nats" row of a daemon's plexus.stats.
  static json nats_row(Client& client) {
    auto stats = client.call("plexus.stats", "");
    if (!stats) return json::object();
    const auto rows =
        json::parse(*stats).value("sections", json::object()).value("nats", json::array());
    return rows.empty() ? json::object() : rows.front();
  }
  // Reads the row until `want` holds for it, up to 20 s (the bridge reports a reconnect only
  // in its metrics, so they are read again until they say so).
  static json await_row(Client& client, const std::function<bool(const json&)>& want) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    json row;
    while (std::chrono::steady_clock::now() < until) {
      row = nats_row(client);
      if (want(row)) return row;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return row;
  }

  TempDir dir_a_;
  TempDir dir_b_;
  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<CliServe> a_;
  std::unique_ptr<CliServe> b_;
  Runtime runtime_;
  std::unique_ptr<Client> client_a_;
  std::unique_ptr<Client> client_b_;
  // What the clients' subscriptions received; TearDown closes the clients first, so no handler
  // runs once these go.
  Inbox on_a_;
  Inbox on_b_;
};

TEST_F(NatsBridgeTest, ACallCrossesInBothDirections) {
  auto echoed = client_b_->call("a.echo", R"({"hello":"from b"})");
  ASSERT_TRUE(echoed) << echoed.error().to_string();
  EXPECT_EQ(*echoed, R"({"hello":"from b"})");

  auto stats = client_a_->call("b.stats", "");
  ASSERT_TRUE(stats) << stats.error().to_string();
  EXPECT_EQ(json::parse(*stats).value("name", ""), "b");

  // Payloads are bytes: a large one crosses unchanged.
  const auto big = json{{"text", std::string(100000, 'x')}};
  auto back = client_b_->call("a.echo", big.dump());
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, big.dump());

  const auto row = nats_row(*client_b_);
  EXPECT_EQ(row.value("connected", false), true) << row;
  EXPECT_GE(row.value("calls_imported", 0), 2) << row;
}

TEST_F(NatsBridgeTest, AnErrorWithItsDetailsCrosses) {
  auto r = client_b_->call("a.fail", R"({"code":"not_found","message":"no such user"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::not_found) << r.error().to_string();
  EXPECT_EQ(r.error().message, "no such user");
  ASSERT_FALSE(r.error().details.empty());
  EXPECT_EQ(json::parse(r.error().details).at("requested").value("code", ""), "not_found")
      << r.error().details;
}

TEST_F(NatsBridgeTest, TheCallersDeadlineCrosses) {
  CallOptions options;
  options.timeout = Millis{300};
  const auto start = std::chrono::steady_clock::now();
  auto r = client_b_->call("a.sleep", R"({"ms":10000})", options);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded) << r.error().to_string();
  EXPECT_LT(took, std::chrono::seconds(5));
  // The exporting side got the deadline too: a's call to sleep ended early, failed with
  // deadline_exceeded or cancelled, rather than running its 10 s (a counts it among sleep's
  // errors).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string sleep_errors;
  while (std::chrono::steady_clock::now() < until) {
    auto stats = client_a_->call("plexus.stats", "");
    ASSERT_TRUE(stats);
    sleep_errors.clear();
    for (const auto& m : json::parse(*stats).value("methods", json::array())) {
      if (m.value("method", "") == "sleep") sleep_errors = m.dump();
    }
    if (sleep_errors.find("\"errors\":{}") == std::string::npos && !sleep_errors.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(sleep_errors.find("deadline_exceeded") != std::string::npos ||
              sleep_errors.find("cancelled") != std::string::npos)
      << sleep_errors;
}

TEST_F(NatsBridgeTest, AMethodNoBridgeExportsIsUnavailable) {
  CallOptions options;
  options.timeout = Millis{5000};
  const auto start = std::chrono::steady_clock::now();
  auto r = client_b_->call("nobody", "{}", options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  EXPECT_NE(r.error().message.find("plexus.call.nobody"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));  // not the deadline
}

TEST_F(NatsBridgeTest, APublishCrossesInBothDirections) {
  ASSERT_TRUE(client_b_->subscribe("a.>", on_b_.handler()));
  ASSERT_TRUE(client_a_->subscribe("b.>", on_a_.handler()));
  ASSERT_TRUE(client_a_->publish("a.news", R"({"n":1})"));
  EXPECT_EQ(on_b_.await("a.news"), 1u);
  ASSERT_TRUE(client_b_->publish("b.news", R"({"n":2})"));
  EXPECT_EQ(on_a_.await("b.news"), 1u);
  std::lock_guard lock(on_b_.mu);
  EXPECT_EQ(on_b_.messages.front().second, R"({"n":1})");
}

TEST_F(NatsBridgeTest, TopicsBothDaemonsExportAndImportDoNotLoop) {
  ASSERT_TRUE(client_a_->subscribe("shared.>", on_a_.handler()));
  ASSERT_TRUE(client_b_->subscribe("shared.>", on_b_.handler()));
  // Rounds back and forth, each message seen on both sides (its publisher's locally, the other
  // through NATS): a message that looped would come back again and again meanwhile.
  const std::vector<std::pair<Client*, std::string>> rounds = {{client_a_.get(), "shared.one"},
                                                               {client_b_.get(), "shared.two"},
                                                               {client_a_.get(), "shared.three"},
                                                               {client_b_.get(), "shared.four"}};
  for (const auto& [client, topic] : rounds) {
    ASSERT_TRUE(client->publish(topic, "x"));
    EXPECT_EQ(on_a_.await(topic), 1u) << topic;
    EXPECT_EQ(on_b_.await(topic), 1u) << topic;
  }
  std::lock_guard la(on_a_.mu);
  std::lock_guard lb(on_b_.mu);
  for (const auto& [client, topic] : rounds) {
    EXPECT_EQ(on_a_.count(topic), 1u) << topic;
    EXPECT_EQ(on_b_.count(topic), 1u) << topic;
  }
  EXPECT_EQ(on_a_.messages.size(), 4u);
  EXPECT_EQ(on_b_.messages.size(), 4u);
}

TEST_F(NatsBridgeTest, TheBridgeReconnectsAfterTheNatsServerRestartsAndSaysSo) {
  ASSERT_TRUE(client_b_->call("a.echo", "1"));
  nats_->stop();
  auto down = await_row(*client_b_, [](const json& r) { return !r.value("connected", true); });
  EXPECT_FALSE(down.value("connected", true)) << down;
  EXPECT_GE(down.value("disconnects", 0), 1) << down;
  // While NATS is away an imported call fails at once.
  auto away = client_b_->call("a.echo", "2");
  ASSERT_FALSE(away);
  EXPECT_EQ(away.error().code, StatusCode::unavailable) << away.error().to_string();

  nats_->start();
  for (auto* client : {client_a_.get(), client_b_.get()}) {
    auto up = await_row(*client, [](const json& r) {
      return r.value("connected", false) && r.value("reconnects", 0) >= 1;
    });
    EXPECT_TRUE(up.value("connected", false)) << up;
    EXPECT_EQ(up.value("reconnects", 0), 1) << up;
  }
  // And the log: one line when it lost NATS, one when it was back.
  std::ifstream log(dir_b_.file("b.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("NATS bridge: disconnected from " + nats_->url()), std::string::npos) << text;
  EXPECT_NE(text.find("NATS bridge: reconnected to " + nats_->url()), std::string::npos) << text;
  auto again = client_b_->call("a.echo", "3");
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(*again, "3");
  // /metrics says the same.
  httplib::Client http(a_->url());
  const auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("plexus_nats_reconnects_total 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("plexus_nats_connected 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("plexus_nats_messages_total{direction=\"in\"}"), std::string::npos);
}

TEST(NatsBridgeConfig, ANatsUrlNobodyAnswersStopsServeWithTheUrl) {
  TempDir dir;
  const auto url = "nats://127.0.0.1:" + std::to_string(free_port());
  const auto r = run_command("timeout 30 " + cli_binary() + " serve --no-http --listen " +
                             dir.unix_address("s.sock") + " --nats " + url + " 2>&1");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::unavailable)) << r.output;
  EXPECT_NE(r.output.find("no NATS server answers at " + url), std::string::npos) << r.output;
}

TEST(NatsBridgeConfig, AnUnknownKeyInTheNatsTableIsAnErrorWithItsLine) {
  TempDir dir;
  const auto config = write_file(
      dir.file("c.toml"), "[nats]\nurl = \"nats://127.0.0.1:4222\"\nexport-method = [\"echo\"]\n");
  const auto r = run_command("timeout 30 " + cli_binary() + " serve --no-http --listen " +
                             dir.unix_address("s.sock") + " --config " + config + " 2>&1");
  EXPECT_EQ(r.exit_code, 64) << r.output;
  EXPECT_NE(r.output.find(config + ":3: unknown key \"export-method\" in [nats]"),
            std::string::npos)
      << r.output;
}

TEST(NatsBridgeConfig, ExportsWithoutAUrlAndBadPatternsAreErrors) {
  TempDir dir;
  const auto no_url = write_file(dir.file("a.toml"), "[nats]\nexport-methods = [\"echo\"]\n");
  auto r = run_command("timeout 30 " + cli_binary() + " serve --no-http --listen " +
                       dir.unix_address("a.sock") + " --config " + no_url + " 2>&1");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::invalid_argument)) << r.output;
  EXPECT_NE(r.output.find("no url"), std::string::npos) << r.output;

  const auto bad = write_file(dir.file("b.toml"), "[nats]\nexport-topics = [\"a.>.b\"]\n");
  r = run_command("timeout 30 " + cli_binary() + " serve --no-http --listen " +
                  dir.unix_address("b.sock") + " --config " + bad +
                  " --nats nats://127.0.0.1:1 2>&1");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::invalid_argument)) << r.output;
  EXPECT_NE(r.output.find("exported topic \"a.>.b\""), std::string::npos) << r.output;
}

}  // namespace plexus::test::nats_bridge_test
