// Observability end to end, over a real child-process server with its HTTP endpoint on an
// ephemeral loopback port: /metrics passes promtool, the Grafana dashboard queries only metrics
// /metrics exports, the status page renders in headless Chromium, /ready flips to 503 while
// draining, `plexus stats` and Server::metrics() report calls, and a trace id shows in both
// peers' debug logs.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "observe/http_endpoint.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

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
  const auto file = dir_.file("metrics.txt");
  std::ofstream(file) << metrics.body;
  const auto check = run("promtool check metrics < " + file);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool lint complaints";
}

TEST_F(ObserveTest, DashboardQueriesNameOnlyExportedMetrics) {
  start();
  make_calls();
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
  ASSERT_EQ(run("command -v chromium").exit_code, 0)
      << "chromium is not installed (scripts/install-deps.sh installs it)";
  start();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(client_->call("echo", "{}"));
  const std::string flags =
      "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--disable-dev-shm-usage --user-data-dir=" +
      dir_.file("chromium") + " --virtual-time-budget=5000 --window-size=1280,900 ";
  const auto page = server_.http_address() + "/";
  const auto dom = run(flags + "--dump-dom " + page + " 2>/dev/null");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  // The methods table's row for echo, with its call count.
  const std::regex echo_row(
      "<td[^>]*data-col=\"method\">echo</td><td[^>]*data-col=\"calls\">7</td>");
  EXPECT_TRUE(std::regex_search(dom.output, echo_row)) << dom.output;
  EXPECT_NE(dom.output.find(">serving<"), std::string::npos);

  const std::string artifacts = PLEXUS_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  const auto png = artifacts + "/status-page.png";
  std::filesystem::remove(png);
  const auto shot = run(flags + "--screenshot=" + png + " " + page);
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
  const auto text = run(cli_binary() + " stats " + server_.address());
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(std::regex_search(text.output, std::regex("\necho +5 +0 "))) << text.output;
  const auto raw = run(cli_binary() + " stats --json " + server_.address());
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

// An in-process sink on the default logger for the client side's log lines.
class CapturedLog {
 public:
  CapturedLog() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
    level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::debug);
  }
  ~CapturedLog() {
    auto& sinks = spdlog::default_logger()->sinks();
    std::erase(sinks, sink_);
    spdlog::set_level(level_);
  }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum level_;
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

}  // namespace
}  // namespace plexus::test
