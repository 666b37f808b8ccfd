// Observability end to end, over a real child-process server with its HTTP endpoint on an
// ephemeral loopback port: /metrics passes promtool, the pub/sub, stream, cache, rate-limit and
// breaker families count exactly what the test did, the Grafana dashboard queries only metrics
// /metrics exports, the status page renders in headless Chromium (breakers, topics, caches,
// rate limits, durable queues), /ready flips to 503 while draining, `plexus stats` and
// Server::metrics() report calls, client-side breakers are exported, and a trace id shows in both
// peers' debug logs.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/runtime_internals.hpp"
#include "cli_serve.hpp"
#include "connect.hpp"
#include "observe/http_endpoint.hpp"
#include "observe/metrics.hpp"
#include "observe/prometheus_text.hpp"
#include "observe_kit.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct HttpResult {
  int status = 0;
  std::string body;
};

// GET on the server's HTTP endpoint ("http://127.0.0.1:PORT").
HttpResult get(const std::string& base, const std::string& path) {
  httplib::Client client(base);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body};
}

// Every metric name (the first token of each sample line) in a Prometheus text body.
std::set<std::string> exported_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

// A subscription's messages, counted; tests wait for a count instead of sleeping.
class CountingInbox {
 public:
  MessageHandler handler() {
    return [this](std::string_view, std::string_view) {
      std::lock_guard lock(mu_);
      ++count_;
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, Millis timeout = Millis{10000}) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

class ObserveTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}, const std::string& stderr_path = {}) {
    std::vector<std::string> args{"--listen", dir_.unix_address("s.sock"), "--http", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = ServerProcess::spawn(args, Millis{10000}, stderr_path);
    ASSERT_TRUE(server_.running());
    ASSERT_FALSE(server_.http_address().empty()) << "the server reported no HTTP address";
    ClientOptions options;
    options.name = "observe-test";
    options.reconnect.enabled = false;
    client_ = connect_client(runtime_, server_.address(), options);
    ASSERT_TRUE(client_);
  }
  // Some traffic so every method family has samples: echo ×5, one not_found, one sleep.
  void make_calls() {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->call("echo", "{}"));
    ASSERT_FALSE(client_->call("fail", R"({"code":"not_found"})"));
    ASSERT_TRUE(client_->call("sleep", R"({"ms":1})"));
  }

  // One of each decision the module families count, with known totals (asserted in
  // ModuleFamiliesCountEachDecisionExactly): a cache miss then a hit on p.search; a request
  // fib's JSON Schema refuses (looked up in its cache first: a miss); 6 calls to
  // p.limited (burst 5 per client), the last refused; 5 failures of p.dep, which open its
  // breaker, then one call it fails fast; 100 server publishes to a drop_newest subscription
  // with room for 10 (90 dropped, 10 delivered).
  void make_decisions(CountingInbox& inbox) {
    ASSERT_TRUE(client_->call("p.search", R"({"q":"ada"})"));
    ASSERT_TRUE(client_->call("p.search", R"({ "q": "ada" })"));  // same canonical key: a hit
    auto invalid = client_->call("fib", R"({"n":-1})");  // the demo's schema: a cache miss first
    ASSERT_FALSE(invalid);
    ASSERT_EQ(invalid.error().code, StatusCode::invalid_argument);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->call("p.limited", ""));
    auto limited = client_->call("p.limited", "");
    ASSERT_FALSE(limited);
    ASSERT_EQ(limited.error().code, StatusCode::resource_exhausted);
    ASSERT_TRUE(client_->call("p.dep.health", R"({"healthy":false})"));
    for (int i = 0; i < 5; ++i) ASSERT_FALSE(client_->call("p.dep", ""));
    auto fast = client_->call("p.dep", "");
    ASSERT_FALSE(fast);
    ASSERT_NE(fast.error().details.find("\"breaker\":\"open\""), std::string::npos)
        << fast.error().to_string();
    SubscribeOptions o;
    o.queue_limit = 10;
    o.policy = SlowPolicy::drop_newest;
    ASSERT_TRUE(client_->subscribe("slow.x", inbox.handler(), o));
    // 100 messages queued within one handler run, before any is delivered: 90 over the limit.
    ASSERT_TRUE(client_->call("pubsub.burst", R"({"topic":"slow.x","n":100})"));
    ASSERT_TRUE(inbox.wait_for(10));
    ASSERT_TRUE(client_->call("pubsub.await", R"({"field":"delivered","value":10})"));
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

TEST_F(ObserveTest, MetricsEndpointPassesPromtoolAndCountsCalls) {
  start();
  make_calls();
  const auto metrics = get(server_.http_address(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("plexus_rpc_server_calls_total{method=\"echo\"} 5\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(
      metrics.body.find("plexus_rpc_server_errors_total{method=\"fail\",code=\"not_found\"} 1\n"),
      std::string::npos);
  EXPECT_NE(metrics.body.find("plexus_rpc_server_latency_seconds_count{method=\"echo\"} 5\n"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("plexus_connections_open 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("# TYPE plexus_transport_hot_reads_total counter\n"),
            std::string::npos);
  const auto file = dir_.file("metrics.txt");
  std::ofstream(file) << metrics.body;
  const auto check = run_command("promtool check metrics < " + file);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool lint complaints";
}

// Every module family (pub/sub, streams, cache, rate limit, breaker) counts exactly what the
// test did, in /metrics (through promtool), in `plexus stats --json` (the built-in
// plexus.stats), and client-side families in the client's own registry.
TEST_F(ObserveTest, ModuleFamiliesCountEachDecisionExactly) {
  start();
  CountingInbox inbox;
  make_decisions(inbox);
  // A stream with a one-item window: the producer waits for credit before each later item.
  StreamOptions so;
  so.window = {1, 1u << 20};
  Stream stream = client_->open_stream("stream.count", R"({"n":3,"size":8})", so);
  std::size_t items = 0;
  for (;;) {
    auto item = stream.read();
    ASSERT_TRUE(item) << item.error().to_string();
    if (!*item) break;
    ++items;
  }
  ASSERT_EQ(items, 3u);
  const auto outcome = stream.outcome();
  ASSERT_TRUE(outcome && *outcome);
  const auto producer = json::parse(**outcome);  // the producer's own StreamStats
  ASSERT_GE(producer["credit_waits"].get<int>(), 1) << **outcome;

  const auto m = get(server_.http_address(), "/metrics");
  ASSERT_EQ(m.status, 200);
  const auto& t = m.body;
  // Response cache (p.search; the demo's fib caches too).
  EXPECT_EQ(series(t, R"(plexus_cache_hits_total{method="p.search"})"), 1) << t;
  EXPECT_EQ(series(t, R"(plexus_cache_misses_total{method="p.search"})"), 1);
  EXPECT_EQ(series(t, R"(plexus_cache_entries{method="p.search"})"), 1);
  EXPECT_GT(series(t, R"(plexus_cache_size_bytes{method="p.search"})"), 0);
  EXPECT_EQ(series(t, R"(plexus_cache_evictions_total{method="p.search",reason="expired"})"), 0);
  EXPECT_EQ(series(t, R"(plexus_cache_hits_total{method="fib"})"), 0);
  EXPECT_EQ(series(t, R"(plexus_cache_misses_total{method="fib"})"), 1);
  EXPECT_EQ(series(t, R"(plexus_cache_entries{method="fib"})"), 0) << "refused: not stored";
  // Schema validation (fib only).
  EXPECT_EQ(series(t, R"(plexus_validation_failures_total{method="fib"})"), 1);
  EXPECT_EQ(series(t, R"(plexus_validation_failures_total{method="p.search"})"), -1);
  EXPECT_EQ(series(t, R"(plexus_cache_hits_total{method="p.limited"})"), -1) << "no cache there";
  // Rate limit (p.limited: 5 per client, then refused).
  EXPECT_EQ(series(t, R"(plexus_rate_limit_rejections_total{method="p.limited",scope="client"})"),
            1);
  EXPECT_EQ(series(t, R"(plexus_rate_limit_rejections_total{method="p.limited",scope="handler"})"),
            0);
  // Breaker (p.dep): open, opened once, one call failed fast.
  const std::string dep = R"(side="server",target="test-server",method="p.dep")";
  EXPECT_EQ(series(t, "plexus_breaker_state{" + dep + R"(,state="open"})"), 1);
  EXPECT_EQ(series(t, "plexus_breaker_state{" + dep + R"(,state="closed"})"), 0);
  EXPECT_EQ(series(t, "plexus_breaker_state{" + dep + R"(,state="half_open"})"), 0);
  EXPECT_EQ(series(t, "plexus_breaker_transitions_total{" + dep + R"(,to="open"})"), 1);
  EXPECT_EQ(series(t, "plexus_breaker_transitions_total{" + dep + R"(,to="closed"})"), 0);
  EXPECT_EQ(series(t, "plexus_breaker_rejections_total{" + dep + "}"), 1);
  // Pub/sub: 100 published, 10 delivered, 90 dropped by drop_newest; the server's own
  // "local.>" subscription and the test's "slow.x".
  EXPECT_EQ(series(t, "plexus_pubsub_published_total"), 100);
  EXPECT_EQ(series(t, "plexus_pubsub_delivered_total"), 10);
  EXPECT_EQ(series(t, R"(plexus_pubsub_dropped_messages_total{policy="drop_newest"})"), 90);
  EXPECT_EQ(series(t, R"(plexus_pubsub_dropped_messages_total{policy="drop_oldest"})"), 0);
  EXPECT_EQ(series(t, R"(plexus_pubsub_dropped_messages_total{policy="block"})"), 0);
  EXPECT_EQ(series(t, "plexus_pubsub_slow_subscriber_disconnects_total"), 0);
  EXPECT_EQ(series(t, R"(plexus_pubsub_subscriptions{pattern="slow.x"})"), 1);
  EXPECT_EQ(series(t, R"(plexus_pubsub_subscriptions{pattern="local.>"})"), 1);
  EXPECT_EQ(series(t, R"(plexus_pubsub_queued_messages{pattern="slow.x"})"), 0);
  // Streams, server side: one accepted, 3 items of 8 bytes sent, over and closed.
  EXPECT_EQ(series(t, R"(plexus_streams_started_total{side="server",direction="accepted"})"), 1);
  EXPECT_EQ(series(t, R"(plexus_streams_started_total{side="server",direction="opened"})"), 0);
  EXPECT_EQ(series(t, R"(plexus_streams_open{side="server"})"), 0);
  EXPECT_EQ(series(t, R"(plexus_stream_items_total{side="server",direction="sent"})"), 3);
  EXPECT_EQ(series(t, R"(plexus_stream_bytes_total{side="server",direction="sent"})"), 24);
  EXPECT_EQ(series(t, R"(plexus_stream_credit_waits_total{side="server"})"),
            producer["credit_waits"].get<double>());
  const auto file = dir_.file("metrics.txt");
  std::ofstream(file) << t;
  const auto check = run_command("promtool check metrics < " + file);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool lint complaints";

  // The client's own registry: its stream, from the opening side.
  const auto mine = observe::to_prometheus_text(detail::runtime_metrics(runtime_).collect());
  EXPECT_EQ(series(mine, R"(plexus_streams_started_total{side="client",direction="opened"})"), 1)
      << mine;
  EXPECT_EQ(series(mine, R"(plexus_stream_items_total{side="client",direction="received"})"), 3);
  EXPECT_EQ(series(mine, R"(plexus_stream_bytes_total{side="client",direction="received"})"), 24);
  EXPECT_EQ(series(mine, "plexus_client_reconnects_total"), 0);

  // The same numbers through plexus.stats: `plexus stats --json` and its text summary.
  const auto raw = run_command(cli_binary() + " stats --json " + server_.address());
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  const auto snap = json::parse(raw.output);
  EXPECT_EQ(snap["pubsub"]["dropped"], 90) << raw.output;
  EXPECT_EQ(snap["pubsub"]["published"], 100);
  EXPECT_EQ(snap["streams"]["started"], 1);
  json breaker, cache, limit;
  for (const auto& r : snap["sections"]["breakers"]) {
    if (r["method"] == "p.dep") breaker = r;
  }
  for (const auto& r : snap["sections"]["caches"]) {
    if (r["method"] == "p.search") cache = r;
  }
  for (const auto& r : snap["sections"]["rate_limits"]) {
    if (r["method"] == "p.limited") limit = r;
  }
  EXPECT_EQ(breaker["state"], "open") << raw.output;
  EXPECT_EQ(breaker["rejected"], 1);
  EXPECT_EQ(cache["hits"], 1);
  EXPECT_EQ(cache["hit_ratio"], 0.5);
  EXPECT_EQ(limit["rejected_client"], 1);
  EXPECT_EQ(snap["metrics"]["plexus_breaker_state"]["type"], "gauge");
  const auto text = run_command(cli_binary() + " stats " + server_.address());
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(std::regex_search(text.output, std::regex("\np\\.dep +server +open +1 +1\n")))
      << text.output;
  EXPECT_NE(text.output.find("pub/sub: 100 published, 10 delivered, 90 dropped"), std::string::npos)
      << text.output;
}

// Client-side breakers feed the same families from the client's runtime, and an in-process
// server on that runtime shows them in metrics() and metrics_text() beside its own.
TEST(ClientMetricsTest, ClientBreakerStateAndTransitionsPerMethod) {
  TempDir dir;
  Runtime runtime;
  ServerOptions so;
  so.listen = {dir.unix_address("b.sock")};
  so.name = "in-process";
  auto server = Server::create(runtime, so);
  ASSERT_TRUE(server);
  (*server)->handle("down", [](CallContext&, std::string_view) -> Result<std::string> {
    return make_error(StatusCode::unavailable, "down on purpose");
  });
  (*server)->handle("up", [](CallContext&, std::string_view) -> Result<std::string> {
    return std::string("{}");
  });
  ASSERT_TRUE((*server)->start());
  auto clock = std::make_shared<ManualClock>();
  ClientOptions co;
  co.breaker = BreakerOptions{};
  co.breaker->failures_to_open = 2;
  co.clock = clock;
  co.reconnect.enabled = false;
  const auto address = (*server)->addresses().front();
  auto client = connect_client(runtime, address, co);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->call("up", "{}"));
  for (int i = 0; i < 2; ++i) ASSERT_FALSE(client->call("down", "{}"));
  auto fast = client->call("down", "{}");
  ASSERT_FALSE(fast);
  EXPECT_NE(fast.error().details.find("\"breaker\":\"open\""), std::string::npos);

  const auto t = (*server)->metrics_text();
  const std::string down = R"(side="client",target=")" + address + R"(",method="down")";
  const std::string up = R"(side="client",target=")" + address + R"(",method="up")";
  EXPECT_EQ(series(t, "plexus_breaker_state{" + down + R"(,state="open"})"), 1) << t;
  EXPECT_EQ(series(t, "plexus_breaker_state{" + down + R"(,state="closed"})"), 0);
  EXPECT_EQ(series(t, "plexus_breaker_state{" + up + R"(,state="closed"})"), 1);
  EXPECT_EQ(series(t, "plexus_breaker_transitions_total{" + down + R"(,to="open"})"), 1);
  EXPECT_EQ(series(t, "plexus_breaker_transitions_total{" + up + R"(,to="open"})"), 0);
  EXPECT_EQ(series(t, "plexus_breaker_rejections_total{" + down + "}"), 1);
  EXPECT_EQ(client->breaker_stats().breaker_opened, 1u);
  EXPECT_EQ(client->breaker_stats().breaker_rejected, 1u);
  // Half-open after the open time, closed after two successes: each transition counted.
  clock->advance(std::chrono::seconds(60));
  // "down" still fails: half-open -> open again.
  ASSERT_FALSE(client->call("down", "{}"));
  const auto t2 = (*server)->metrics_text();
  EXPECT_EQ(series(t2, "plexus_breaker_transitions_total{" + down + R"(,to="half_open"})"), 1);
  EXPECT_EQ(series(t2, "plexus_breaker_transitions_total{" + down + R"(,to="open"})"), 2);
  const auto m = (*server)->metrics();
  bool row = false;
  for (const auto& r : m["sections"]["breakers"]) {
    if (r["method"] == "down" && r["side"] == "client") {
      row = true;
      EXPECT_EQ(r["state"], "open");
      EXPECT_EQ(r["opened"], 2);
    }
  }
  EXPECT_TRUE(row) << m.dump();
  // A closed client takes its families with it.
  client.reset();
  EXPECT_EQ(series((*server)->metrics_text(), "plexus_breaker_state{" + down + R"(,state="open"})"),
            -1);
  (*server)->shutdown(Millis{1000});
}

// Names are taken from sample lines only: the registry prints no family without samples (no
// HELP/TYPE-only families), so a name counts as exported only when it has a value. The test
// server has a breaker (p.dep), caches (p.search, fib), a rate limit (p.limited) and a
// subscription (local.>), so those families have samples without any traffic; with a data
// directory and one message on a queue, the durable queues' families have samples too, and
// with a spool sender (--spool) the spool directories' families.
TEST_F(ObserveTest, DashboardQueriesNameOnlyExportedMetrics) {
  start({"--data-dir", dir_.file("data"), "--spool", dir_.file("spool/main")});
  make_calls();
  QueueClient queues(*client_);
  NewMessage m;
  m.queue = "dashboard";
  ASSERT_TRUE(queues.send(m));
  const auto exported = exported_names(get(server_.http_address(), "/metrics").body);
  ASSERT_FALSE(exported.empty());
  const std::regex metric_name("plexus_[a-z0-9_]+");
  std::size_t queries = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(PLEXUS_SOURCE_DIR "/deploy/grafana")) {
    if (entry.path().extension() != ".json") continue;
    const auto dashboard = json::parse(read_file(entry.path()));
    // Every string under "expr" (panel queries) or "definition" (template variables).
    std::vector<const json*> stack{&dashboard};
    while (!stack.empty()) {
      const json* node = stack.back();
      stack.pop_back();
      if (!node->is_structured()) continue;
      for (auto it = node->begin(); it != node->end(); ++it) {
        const bool query = node->is_object() && (it.key() == "expr" || it.key() == "definition");
        if (query && it->is_string()) {
          const auto expr = it->get<std::string>();
          ++queries;
          std::size_t names = 0;
          for (std::sregex_iterator m(expr.begin(), expr.end(), metric_name), end; m != end; ++m) {
            ++names;
            EXPECT_TRUE(exported.contains(m->str())) << entry.path().filename() << ": " << m->str()
                                                     << " is not in /metrics (" << expr << ")";
          }
          EXPECT_GT(names, 0u) << "query names no plexus metric: " << expr;
        }
        stack.push_back(&*it);
      }
    }
  }
  EXPECT_GE(queries, 10u) << "the dashboard's queries were not found";
}

TEST_F(ObserveTest, StatusPageShowsACalledMethodInHeadlessChromium) {
  ASSERT_EQ(run_command("command -v chromium").exit_code, 0)
      << "chromium is not installed (scripts/install-deps.sh installs it)";
  start({"--data-dir", dir_.file("data")});
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(client_->call("echo", "{}"));
  CountingInbox inbox;
  make_decisions(inbox);  // an open breaker, a cache hit, a refused call, 90 drops on slow.x
  // Two messages waiting on a durable queue no one consumes.
  QueueClient queues(*client_);
  NewMessage order;
  order.queue = "orders";
  ASSERT_TRUE(queues.send(order));
  ASSERT_TRUE(queues.send(order));
  // A failed call with a trace of its own: the recent-errors table shows it with its trace id.
  const auto trace = new_trace();
  CallOptions traced;
  traced.trace_id = trace;
  ASSERT_FALSE(client_->call("no.such.method", "", traced));
  // Tall enough that the screenshot shows every section below the long methods table.
  const std::string flags =
      "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--disable-dev-shm-usage --user-data-dir=" +
      dir_.file("chromium") + " --virtual-time-budget=5000 --window-size=1280,2100 ";
  const auto page = server_.http_address() + "/";
  const auto dom = run_command(flags + "--dump-dom " + page + " 2>/dev/null");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  // The methods table's row for echo, with its call count.
  const std::regex echo_row(
      "<td[^>]*data-col=\"method\">echo</td><td[^>]*data-col=\"calls\">7</td>");
  EXPECT_TRUE(std::regex_search(dom.output, echo_row)) << dom.output;
  EXPECT_NE(dom.output.find(">serving<"), std::string::npos);
  // The breakers table: p.dep open (the state cell styled as such) after one fast failure.
  const std::regex breaker_row(
      "<td[^>]*data-col=\"method\">p\\.dep</td><td[^>]*data-col=\"side\">server</td>"
      "<td[^>]*data-col=\"target\">test-server</td>"
      "<td class=\"state-open\" data-col=\"state\">open</td>"
      "<td[^>]*data-col=\"opened\">1</td><td[^>]*data-col=\"rejected\">1</td>");
  EXPECT_TRUE(std::regex_search(dom.output, breaker_row)) << dom.output;
  // The topics table: the slow subscriber with its queue and its 90 drops.
  const std::regex topic_row(
      "<td[^>]*data-col=\"pattern\">slow\\.x</td><td[^>]*data-col=\"subscriber\">observe-test"
      "</td><td[^>]*data-col=\"policy\">drop_newest</td><td[^>]*data-col=\"queue\">0 / 10</td>"
      "<td[^>]*data-col=\"delivered\">10</td><td[^>]*data-col=\"dropped\">90</td>");
  EXPECT_TRUE(std::regex_search(dom.output, topic_row)) << dom.output;
  // The cache and rate-limit tables.
  const std::regex cache_row(
      "<td[^>]*data-col=\"method\">p\\.search</td><td[^>]*data-col=\"entries\">1</td>"
      "<td[^>]*data-col=\"size\">[^<]+</td><td[^>]*data-col=\"hits\">1</td>"
      "<td[^>]*data-col=\"misses\">1</td><td[^>]*data-col=\"ratio\">50.0 %</td>");
  EXPECT_TRUE(std::regex_search(dom.output, cache_row)) << dom.output;
  const std::regex limit_row(
      "<td[^>]*data-col=\"method\">p\\.limited</td>(<td[^>]*>[^<]*</td>){3}"
      "<td[^>]*data-col=\"rejected_handler\">0</td><td[^>]*data-col=\"rejected_client\">1</td>");
  EXPECT_TRUE(std::regex_search(dom.output, limit_row)) << dom.output;
  const std::regex queue_row(
      "<td[^>]*data-col=\"queue\">orders</td><td[^>]*data-col=\"ready\">2</td>"
      "<td[^>]*data-col=\"delayed\">0</td><td[^>]*data-col=\"in_flight\">0</td>"
      "<td[^>]*data-col=\"size\">[^<]+</td><td[^>]*data-col=\"oldest\">[0-9.]+ m?s</td>"
      "<td[^>]*data-col=\"dead_letters\">0</td>");
  EXPECT_TRUE(std::regex_search(dom.output, queue_row)) << dom.output;
  const std::regex failed_row(
      "<td[^>]*data-col=\"method\">no\\.such\\.method</td>"
      "<td[^>]*data-col=\"code\">not_found</td>.*?"
      "<td[^>]*data-col=\"trace\">" +
      trace + "</td>");
  EXPECT_TRUE(std::regex_search(dom.output, failed_row)) << dom.output;
  // The charts, drawn by the page from its polls (several within the virtual time budget):
  // each has a line with points for echo (calls/s, p99) and for the open connections.
  const auto points_in = [&](const std::string& chart, const std::string& series) {
    const auto at = dom.output.find("id=\"" + chart + "\"");
    if (at == std::string::npos) return 0;
    const auto end = dom.output.find("</figure>", at);
    const std::string figure = dom.output.substr(at, end - at);
    std::smatch m;
    const std::regex line("<polyline[^>]*data-series=\"" + series + "\" data-points=\"([0-9]+)\"");
    return std::regex_search(figure, m, line) ? std::stoi(m[1].str()) : 0;
  };
  EXPECT_GE(points_in("chart-calls", "echo"), 2) << dom.output;
  EXPECT_GE(points_in("chart-p99", "echo"), 2) << dom.output;
  EXPECT_GE(points_in("chart-connections", "open"), 2) << dom.output;
  EXPECT_GE(points_in("chart-pubsub", "dropped"), 2) << dom.output;

  const std::string artifacts = PLEXUS_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  const auto png = artifacts + "/status-page.png";
  std::filesystem::remove(png);
  const auto shot = run_command(flags + "--screenshot=" + png + " " + page);
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  const auto bytes = read_file(png);
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(ObserveTest, ReadyIs503WhileDrainingAndHealthSaysSo) {
  start({"--drain-ms", "4000"});
  EXPECT_EQ(get(server_.http_address(), "/ready").status, 200);
  EXPECT_EQ(json::parse(get(server_.http_address(), "/health").body)["status"], "serving");
  // A call that never answers keeps the drain going until --drain-ms. The event is shared with
  // the callback so that an early ASSERT return cannot leave it pointing at a dead stack frame.
  auto blocked_done = std::make_shared<Event<bool>>();
  client_->call_async("block", "{}", {},
                      [blocked_done](Result<std::string>) { blocked_done->set(true); });
  ASSERT_TRUE(client_->call("echo", "{}"));  // frames are ordered: block is running now
  server_.signal(SIGTERM);
  // The server marks itself draining before it sends GOAWAY; once a call fails because of the
  // GOAWAY, /ready must say 503. The failing call either met the GOAWAY in flight ("server
  // shutting down") or came after the client had already dropped the connection it was told to
  // leave ("not connected"): both are unavailable, and nothing else may fail it.
  bool refused = false;
  for (int i = 0; i < 100000 && !refused; ++i) {
    auto r = client_->call("echo", "{}");
    if (r) continue;
    ASSERT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
    refused = true;
  }
  ASSERT_TRUE(refused) << "the server never sent GOAWAY";
  const auto ready = get(server_.http_address(), "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json::parse(ready.body)["ready"], false);
  EXPECT_EQ(get(server_.http_address(), "/live").status, 200);
  EXPECT_EQ(json::parse(get(server_.http_address(), "/health").body)["status"], "draining");
  EXPECT_TRUE(blocked_done->wait_for(Millis{15000}));
  const auto status = server_.wait_exit(Millis{15000});
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST(HttpEndpointTest, ReadyFollowsItsProviderAndBadAddressesAreRefused) {
  std::atomic<bool> ready{false};
  observe::HttpProviders p;
  p.metrics_text = [] { return std::string("m 1\n"); };
  p.health = [] { return json{{"status", "starting"}}; };
  p.ready = [&ready] { return ready.load(); };
  p.status = [] { return json::object(); };
  auto endpoint = observe::HttpEndpoint::start("127.0.0.1:0", p);
  ASSERT_TRUE(endpoint) << endpoint.error().to_string();
  const auto url = (*endpoint)->url();
  EXPECT_EQ(get(url, "/ready").status, 503) << "not ready before listening";
  ready = true;
  EXPECT_EQ(get(url, "/ready").status, 200);
  EXPECT_EQ(get(url, "/metrics").body, "m 1\n");
  EXPECT_EQ(get(url, "/nope").status, 404);
  const auto page = get(url, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("/status.json"), std::string::npos);
  EXPECT_EQ(observe::HttpEndpoint::start("127.0.0.1", p).error().code,
            StatusCode::invalid_argument);
  EXPECT_EQ(observe::HttpEndpoint::start("127.0.0.1:70000", p).error().code,
            StatusCode::invalid_argument);
}

TEST_F(ObserveTest, StatsCommandAndBuiltInMethodReportCalls) {
  start();
  make_calls();
  const auto text = run_command(cli_binary() + " stats " + server_.address());
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(std::regex_search(text.output, std::regex("\necho +5 +0 "))) << text.output;
  const auto raw = run_command(cli_binary() + " stats --json " + server_.address());
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  const auto snapshot = json::parse(raw.output);
  bool found = false;
  for (const auto& m : snapshot["methods"]) {
    if (m["method"] != "fail") continue;
    found = true;
    EXPECT_EQ(m["calls"], 1);
    EXPECT_EQ(m["errors"]["not_found"], 1);
    EXPECT_GT(m["p50_seconds"].get<double>(), 0);
  }
  EXPECT_TRUE(found) << raw.output;
  EXPECT_EQ(snapshot["status"], "serving");
  EXPECT_GE(snapshot["connections"]["open"].get<int>(), 1);
  EXPECT_GT(snapshot["process"]["rss_bytes"].get<double>(), 0);
  EXPECT_GT(snapshot["transport"]["frames_out"].get<double>(), 0);
  EXPECT_TRUE(snapshot["sections"]["topics"].is_array());
}

TEST(ServerMetricsTest, InProcessSnapshotCountsCallsAndMetricsCanBeSwitchedOff) {
  TempDir dir;
  for (const bool on : {true, false}) {
    Runtime runtime;
    ServerOptions options;
    options.listen = {dir.unix_address(on ? "on.sock" : "off.sock")};
    options.metrics = on;
    auto server = Server::create(runtime, options);
    ASSERT_TRUE(server);
    (*server)->handle("twice", [](CallContext&, std::string_view p) -> Result<std::string> {
      return std::string(p) + std::string(p);
    });
    ASSERT_TRUE((*server)->start());
    EXPECT_TRUE((*server)->ready());
    auto client = connect_client(runtime, (*server)->addresses().front());
    ASSERT_TRUE(client);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->call("twice", "ab"));
    const auto m = (*server)->metrics();
    json row;
    for (const auto& r : m["methods"]) {
      if (r["method"] == "twice") row = r;
    }
    if (on) {
      EXPECT_EQ(row["calls"], 3) << m.dump();
    } else {
      EXPECT_TRUE(row.is_null()) << "no per-method stats with metrics off: " << m.dump();
    }
    EXPECT_GE(m["transport"]["frames_in"].get<double>(), 4) << "transport counts are always kept";
    EXPECT_TRUE((*server)->http_address().empty());
    client.reset();
    (*server)->shutdown(Millis{1000});
    EXPECT_FALSE((*server)->ready());
  }
}

// The library's log lines in this process (the client side's), through set_log_handler, at
// debug level; each line as text and as the record the handler received.
class CapturedLog {
 public:
  struct Line {
    LogLevel level;
    std::string message;
    std::uint64_t call_id;
    std::string trace_id, method, peer;
  };
  CapturedLog() : level_(log_level()) {
    set_log_handler([this](const LogRecord& r) {
      std::lock_guard lock(mu_);
      lines_.push_back({r.level, std::string(r.message), r.call_id, std::string(r.trace_id),
                        std::string(r.method), std::string(r.peer)});
    });
    set_log_level(LogLevel::debug);
  }
  ~CapturedLog() {
    set_log_handler({});
    set_log_level(level_);
  }
  std::string text() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l.message + "\n";
    return out;
  }
  std::vector<Line> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  LogLevel level_;
  std::mutex mu_;
  std::vector<Line> lines_;
};

TEST_F(ObserveTest, TraceIdAndCallIdShowInBothPeersDebugLogs) {
  const auto log_path = dir_.file("server.log");
  ::setenv("PLEXUS_LOG", "debug", 1);
  start({}, log_path);
  ::unsetenv("PLEXUS_LOG");
  std::string client_log;
  {
    CapturedLog captured;  // after start(): the runtime's logger exists, the I/O thread is idle
    CallOptions traced;
    traced.trace_id = "trace-obs-7f3a";
    auto who = client_->call("whoami", "{}", traced);
    ASSERT_TRUE(who);
    EXPECT_EQ(json::parse(*who)["trace_id"], "trace-obs-7f3a");
    ASSERT_FALSE(client_->call("fail", R"({"code":"invalid_argument"})"));
    client_.reset();  // the connection closes: one more connection event
    client_log = captured.text();
    // A handler gets what the line is about as fields, not only in the text.
    bool traced_line = false;
    for (const auto& l : captured.lines()) {
      if (l.method == "whoami" && l.trace_id == "trace-obs-7f3a" && l.call_id != 0 &&
          l.level == LogLevel::debug) {
        traced_line = true;
      }
    }
    EXPECT_TRUE(traced_line) << client_log;
  }
  server_.signal(SIGTERM);
  ASSERT_TRUE(server_.wait_exit(Millis{15000}));
  const auto server_log = read_file(log_path);
  // The client's line and the server's line for the traced call name the same call id.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(client_log, m,
                                std::regex("call ([0-9]+) \"whoami\" to .* trace=trace-obs-7f3a")))
      << client_log;
  const auto id = m[1].str();
  EXPECT_TRUE(std::regex_search(
      server_log,
      std::regex("call " + id + " \"whoami\" from \"observe-test\" .* trace=trace-obs-7f3a")))
      << server_log;
  // One line per error with the peer and the call id, and one per connection event.
  EXPECT_TRUE(std::regex_search(
      server_log,
      std::regex("call [0-9]+ \"fail\" from \"observe-test\" .* failed: invalid_argument")))
      << server_log;
  EXPECT_TRUE(std::regex_search(server_log, std::regex("session with \"observe-test\" .* ready")));
  EXPECT_TRUE(std::regex_search(server_log, std::regex("session with \"observe-test\" .* closed")));
}

TEST_F(ObserveTest, ServerLogsOneJsonObjectPerLineWithTheCallsFields) {
  const auto log_path = dir_.file("server.log");
  ::setenv("PLEXUS_LOG", "debug", 1);
  ::setenv("PLEXUS_LOG_FORMAT", "json", 1);
  start({}, log_path);
  ::unsetenv("PLEXUS_LOG");
  ::unsetenv("PLEXUS_LOG_FORMAT");
  CallOptions traced;
  traced.trace_id = "trace-json-42";
  ASSERT_FALSE(client_->call("fail", R"({"code":"invalid_argument"})", traced));
  client_.reset();
  server_.signal(SIGTERM);
  ASSERT_TRUE(server_.wait_exit(Millis{15000}));
  std::istringstream log(read_file(log_path));
  std::string line;
  int lines = 0;
  bool failed_call = false;
  while (std::getline(log, line)) {
    if (line.empty()) continue;
    ++lines;
    const auto j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    for (const char* key : {"time", "level", "logger", "message"}) {
      EXPECT_TRUE(j.contains(key)) << key << " missing: " << line;
    }
    EXPECT_EQ(j.value("logger", ""), "plexus") << line;
    if (j.value("method", "") == "fail" &&
        j.value("message", "").find("failed") != std::string::npos) {
      failed_call = true;
      EXPECT_EQ(j.value("level", ""), "info") << line;
      EXPECT_EQ(j.value("trace_id", ""), "trace-json-42") << line;
      EXPECT_EQ(j.value("peer", ""), "observe-test") << line;
      EXPECT_GT(j.value("call_id", 0), 0) << line;
    }
  }
  EXPECT_GT(lines, 3);
  EXPECT_TRUE(failed_call) << read_file(log_path);
}

TEST(ObserveLog, AnApplicationsOwnSpdlogLoggerAndLevelSurviveARuntime) {
  // The application's logger, set before plexus is used, at its own level.
  std::ostringstream app_out;
  auto app = std::make_shared<spdlog::logger>(
      "app", std::make_shared<spdlog::sinks::ostream_sink_mt>(app_out));
  const auto previous = spdlog::default_logger();
  const auto previous_level = spdlog::get_level();
  spdlog::set_default_logger(app);
  spdlog::set_level(spdlog::level::trace);
  {
    TempDir dir;
    Runtime runtime;
    ServerOptions options;
    options.listen = {dir.unix_address("s.sock")};
    auto server = Server::create(runtime, options);
    ASSERT_TRUE(server);
    ASSERT_TRUE((*server)->start());
    ClientOptions copts;
    copts.reconnect.enabled = false;
    auto client = connect_client(runtime, dir.unix_address("s.sock"), copts);
    ASSERT_TRUE(client);
    EXPECT_FALSE(client->call("no.such.method", "{}"));  // something plexus logs about
    spdlog::info("the application's own line");
  }
  EXPECT_EQ(spdlog::default_logger(), app);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::trace);
  app->flush();
  // The application's lines are in its sink; plexus's are not.
  EXPECT_NE(app_out.str().find("the application's own line"), std::string::npos);
  EXPECT_EQ(app_out.str().find("plexus:"), std::string::npos) << app_out.str();
  spdlog::set_default_logger(previous);
  spdlog::set_level(previous_level);
}

TEST(CliServeHttp, TwoServersEachGetTheirOwnPortAndTheirHealthNamesThem) {
  TempDir dir;
  // Neither names a port: the first may take the default one, the second must not share it.
  CliServe alpha({"--name", "alpha", "--listen", dir.unix_address("a.sock")});
  CliServe beta({"--name", "beta", "--listen", dir.unix_address("b.sock")});
  ASSERT_FALSE(alpha.url().empty());
  ASSERT_FALSE(beta.url().empty());
  EXPECT_NE(alpha.url(), beta.url());
  for (const auto* serve : {&alpha, &beta}) {
    const std::string name = serve == &alpha ? "alpha" : "beta";
    const std::string address = dir.unix_address(serve == &alpha ? "a.sock" : "b.sock");
    // Every request reaches the server it is addressed to (several, as a scraper would).
    for (int i = 0; i < 5; ++i) {
      const auto health = get(serve->url(), "/health");
      ASSERT_EQ(health.status, 200) << serve->url();
      const auto h = json::parse(health.body);
      EXPECT_EQ(h.value("name", ""), name);
      EXPECT_EQ(h.value("pid", 0), serve->pid());
      EXPECT_EQ(h.value("http", ""), serve->url());
      EXPECT_EQ(h.at("listen"), json::array({address}));
    }
    const auto status = json::parse(get(serve->url(), "/status.json").body);
    EXPECT_EQ(status.value("name", ""), name);
    EXPECT_EQ(status.at("listen"), json::array({address}));
  }
  // `plexus stats` says where the page is.
  const auto stats = run_cli("stats " + dir.unix_address("b.sock"));
  EXPECT_NE(stats.output.find("HTTP " + beta.url() + "/"), std::string::npos) << stats.output;
}

TEST(CliServeHttp, AnExplicitPortThatIsTakenIsAClearError) {
  TempDir dir;
  // A port held by someone else, listening.
  httplib::Server holder;
  const int port = holder.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  const auto r =
      run_command("timeout 20 " + cli_binary() + " serve --listen " + dir.unix_address("c.sock") +
                  " --http 127.0.0.1:" + std::to_string(port) + " 2>&1");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::failed_precondition)) << r.output;
  EXPECT_NE(r.output.find("cannot bind the HTTP endpoint to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.output;
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

TEST(CliServeConfig, TheFileSetsServesOptionsAndTheCommandLineWins) {
  TempDir dir;
  const auto config = write_file(dir.file("plexus.toml"),
                                 "# served from a file\n"
                                 "name = \"from-file\"\n"
                                 "listen = [\"" +
                                     dir.unix_address("c.sock") +
                                     "\"]\n"
                                     "demo = true\n"
                                     "no-http = true\n"
                                     "max-connections = 64\n");
  {
    CliServe serve({"--config", config});
    const auto stats = run_cli("stats " + dir.unix_address("c.sock") + " --json");
    ASSERT_EQ(stats.exit_code, 0) << stats.output;
    const auto s = json::parse(stats.output);
    EXPECT_EQ(s.value("name", ""), "from-file");
    EXPECT_EQ(s.value("http", "?"), "");  // no-http = true
    EXPECT_EQ(run_cli("call " + dir.unix_address("c.sock") + " echo '\"demo\"'").output,
              "\"demo\"\n");  // demo = true
  }
  CliServe serve({"--config", config, "--name", "from-command-line"});
  const auto s = json::parse(run_cli("stats " + dir.unix_address("c.sock") + " --json").output);
  EXPECT_EQ(s.value("name", ""), "from-command-line");
}

TEST(CliServeConfig, AnUnknownKeyOrABadValueIsAUsageErrorNamingTheLine) {
  TempDir dir;
  const auto unknown = write_file(dir.file("unknown.toml"), "name = \"x\"\n\nlistne = []\n");
  auto r = run_cli("serve --config " + unknown);
  EXPECT_EQ(r.exit_code, 64) << r.output;
  EXPECT_NE(r.output.find(unknown + ":3: unknown key \"listne\""), std::string::npos) << r.output;
  const auto bad = write_file(dir.file("bad.toml"), "no-http = true\nidle-wait = \"sometimes\"\n");
  r = run_cli("serve --config " + bad);
  EXPECT_EQ(r.exit_code, 64) << r.output;
  EXPECT_NE(r.output.find(bad + ":2: --idle-wait"), std::string::npos) << r.output;
  const auto broken = write_file(dir.file("broken.toml"), "name = \n");
  r = run_cli("serve --config " + broken);
  EXPECT_EQ(r.exit_code, 64) << r.output;
  EXPECT_NE(r.output.find(broken + ":1:"), std::string::npos) << r.output;
}

TEST(CliServeConfig, SighupAppliesANewLogLevelWithoutDroppingConnections) {
  TempDir dir;
  const auto address = dir.unix_address("h.sock");
  const auto config_text = [&](const std::string& level, int max_connections) {
    return "listen = [\"" + address + "\"]\ndemo = true\nno-http = true\nlog-level = \"" + level +
           "\"\nmax-connections = " + std::to_string(max_connections) + "\n";
  };
  const auto config = write_file(dir.file("plexus.toml"), config_text("warn", 64));
  const auto log_path = dir.file("serve.log");
  CliServe serve({"--config", config}, log_path);
  Runtime runtime;
  ClientOptions o;
  o.reconnect.enabled = false;
  o.name = "before-reload";
  auto client = connect_client(runtime, address, o);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->call("echo", "\"one\""));
  EXPECT_EQ(read_file(log_path).find("\"echo\" from"), std::string::npos);  // warn: no call lines

  write_file(config, config_text("debug", 128));
  ::kill(serve.pid(), SIGHUP);
  EXPECT_NE(serve.line_containing("max-connections changed; it takes a restart"), "");
  EXPECT_NE(serve.line_containing("reloaded " + config + ": log-level=debug"), "");
  // The connection made before the reload is still the one in use, and now calls are logged.
  ASSERT_TRUE(client->call("echo", "\"two\""));
  EXPECT_EQ(client->stats().reconnects, 0u);
  EXPECT_EQ(client->state(), ConnectionState::connected);
  client.reset();
  serve.stop();  // exits cleanly: the log is complete
  EXPECT_NE(read_file(log_path).find("\"echo\" from \"before-reload\""), std::string::npos)
      << read_file(log_path);
}

// `plexus serve` takes the hard limit of open files (the soft one it inherits may be 1,024), and
// warns when even the hard limit cannot hold --max-connections.
TEST(CliServeLimits, ServeRaisesItsOpenFileLimitAndWarnsWhenTheHardLimitIsTooLow) {
  rlimit inherited{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &inherited), 0);
  if (inherited.rlim_max != RLIM_INFINITY && inherited.rlim_max <= 512) {
    GTEST_SKIP() << "the hard limit of open files is " << inherited.rlim_max;
  }
  const auto soft_limit_of = [](pid_t pid) {
    std::istringstream limits(read_file("/proc/" + std::to_string(pid) + "/limits"));
    std::string line;
    while (std::getline(limits, line)) {
      if (line.starts_with("Max open files")) return line.substr(26, line.find(' ', 26) - 26);
    }
    return std::string("?");
  };
  const std::string hard =
      inherited.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(inherited.rlim_max);
  TempDir dir;
  rlimit low = inherited;
  low.rlim_cur = 256;  // what the servers below inherit
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::optional<CliServe> fits, too_many;
  fits.emplace(std::vector<std::string>{"--listen", dir.unix_address("a.sock"), "--no-http",
                                        "--max-connections", "100"},
               dir.file("fits.log"));
  too_many.emplace(std::vector<std::string>{"--listen", dir.unix_address("b.sock"), "--no-http",
                                            "--max-connections", "4000000000"},
                   dir.file("too_many.log"));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &inherited), 0);
  EXPECT_EQ(soft_limit_of(fits->pid()), hard);
  EXPECT_EQ(soft_limit_of(too_many->pid()), hard);
  EXPECT_EQ(read_file(dir.file("fits.log")).find("open-file limit"), std::string::npos);
  if (inherited.rlim_max != RLIM_INFINITY) {
    EXPECT_NE(read_file(dir.file("too_many.log"))
                  .find("the open-file limit is " + hard + " (hard limit " + hard +
                        "), too low for --max-connections 4000000000"),
              std::string::npos)
        << read_file(dir.file("too_many.log"));
  }
  // Both serve regardless.
  EXPECT_EQ(run_cli("stats " + dir.unix_address("a.sock") + " --json").exit_code, 0);
  EXPECT_EQ(run_cli("stats " + dir.unix_address("b.sock") + " --json").exit_code, 0);
}

// At its open-file limit a server cannot accept: it says so (once, not for every retry), new
// clients wait in the kernel's queue, and once connections close it accepts again and says so.
TEST(CliServeLimits, AtItsOpenFileLimitServeSaysSoAndAcceptsAgainOnceConnectionsClose) {
  if (kSanitizerBuild) {
    // The sanitizers' runtime needs descriptors of its own in the child (UBSan probes memory
    // through a pipe before it trusts a vptr), and this test takes them all: it reports
    // "invalid vptr" on a sound object and exits.
    GTEST_SKIP() << "a sanitizer runtime cannot run out of descriptors";
  }
  TempDir dir;
  const auto address = dir.unix_address("s.sock");
  // 64 descriptors, hard limit included (serve raises its soft limit to the hard one).
  CliServe serve({"--listen", address, "--no-http", "--name", "crowded"}, dir.file("serve.log"),
                 64);
  // More connections than the server has descriptors: the last ones stay in the listen queue.
  const std::string path = address.substr(std::string("unix://").size());
  std::vector<int> crowd;
  for (int i = 0; i < 100; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << i;
    crowd.push_back(fd);
  }
  // The child's log is a file: read it until the line is there (bounded).
  const auto log_has = [&](const std::string& text) {
    for (int i = 0; i < 500; ++i) {
      if (read_file(dir.file("serve.log")).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(Millis{10});
    }
    return false;
  };
  EXPECT_TRUE(
      log_has("\"crowded\" cannot accept connections: Too many open files (open-file "
              "limit 64); new clients wait until some close"))
      << read_file(dir.file("serve.log"));
  // Held a while: the listener retries every 50 ms meanwhile, and says nothing more.
  std::this_thread::sleep_for(Millis{300});
  for (int fd : crowd) ::close(fd);
  EXPECT_TRUE(log_has("\"crowded\" accepts connections again")) << read_file(dir.file("serve.log"));
  EXPECT_EQ(run_cli("stats " + address + " --json").exit_code, 0);
  // Until it accepted again: one warning for several failed accepts.
  const auto log = read_file(dir.file("serve.log"));
  const auto again = log.find("accepts connections again (after ");
  ASSERT_NE(again, std::string::npos) << log;
  const int failed =
      std::atoi(log.c_str() + again + std::string("accepts connections again (after ").size());
  EXPECT_GE(failed, 3) << log;
  std::size_t said = 0;
  for (auto at = log.find("cannot accept"); at != std::string::npos && at < again;
       at = log.find("cannot accept", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << log;
}

}  // namespace
}  // namespace plexus::test
