// The daemon as a local bus (docs/PROTOCOL.md §Bus), with three real processes: `plexus serve`,
// a provider (tests/support/bus_provider.cpp) that registers com.example.search, and this test
// as the caller. Calls, payload bytes, traces, deadlines, cancels, errors with details, streams
// and their cancel, a provider killed mid-call, ownership and queueing, the names topic, bad
// names, an access policy per bus method, the metrics, re-registration after the daemon
// restarts, and `plexus ls` / `plexus describe ADDR SERVICE`.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_serve.hpp"
#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test::bus {
namespace {

using json = nlohmann::json;
constexpr Millis kWait{10000};
constexpr const char* kService = "com.example.search";

// The next line of `child` that starts with `prefix` (lines before it are skipped); empty when
// none comes within kWait.
std::string line_starting(ChildProcess& child, const std::string& prefix) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    auto l =
        child.line(std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()));
    if (!l) return {};
    if (l->starts_with(prefix)) return *l;
  }
  return {};
}

// Events of the plexus.bus.names topic, as the test client receives them.
class NameEvents {
 public:
  void add(std::string_view payload) {
    std::lock_guard lock(mu_);
    events_.push_back(json::parse(payload));
    cv_.notify_all();
  }
  // The next event about `name` whose "event" is `what`; null after kWait.
  json next(const std::string& name, const std::string& what) {
    std::unique_lock lock(mu_);
    json found;
    cv_.wait_for(lock, kWait, [&] {
      while (!events_.empty()) {
        json e = std::move(events_.front());
        events_.pop_front();
        if (e["name"] == name && e["event"] == what) {
          found = std::move(e);
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<json> events_;
};

class BusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.unix_address("bus.sock");
    serve_ = std::make_unique<CliServe>(serve_args());
    caller_ = connect_client(runtime_, socket_);
    ASSERT_NE(caller_, nullptr);
  }
  virtual std::vector<std::string> serve_args() { return {"--listen", socket_, "--no-http"}; }

  // A provider child; expects `ready` ("READY owner", "READY queued" or "REFUSED") first.
  ChildProcess provider(const std::string& label, const std::string& ready,
                        std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {bus_provider_binary(), "--address", socket_, "--label", label};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = ChildProcess::spawn(argv);
    const auto line = child.line(kWait);
    EXPECT_TRUE(line && line->starts_with(ready)) << label << ": " << line.value_or("(nothing)");
    if (line) last_line_ = *line;
    return child;
  }

  std::string method(const std::string& m) const {
    std::string full = kService;  // appended, not `+`: g++ 12 warns (array-bounds) on that
    full += '/';
    full += m;
    return full;
  }

  Result<std::string> call(const std::string& m, std::string payload, CallOptions o = {}) {
    return caller_->call(method(m), std::move(payload), o);
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<CliServe> serve_;
  Runtime runtime_;
  std::unique_ptr<Client> caller_;
  std::string last_line_;
};

TEST_F(BusTest, CallsReachTheProviderWithBytesUnchangedAndTheTraceCarried) {
  auto p = provider("search-1", "READY owner");
  // Every byte value, 300 KiB: passed through, not re-encoded.
  const std::string bytes = pattern_bytes(300 * 1024, 7);
  auto echoed = call("echo", bytes);
  ASSERT_TRUE(echoed) << echoed.error().to_string();
  EXPECT_EQ(*echoed, bytes);

  CallOptions o;
  o.trace_id = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto q = call("query", "\"rust\"", o);
  ASSERT_TRUE(q) << q.error().to_string();
  const auto seen = json::parse(*q);
  EXPECT_EQ(seen["provider"], "search-1");
  EXPECT_EQ(seen["query"], "\"rust\"");
  EXPECT_EQ(seen["ms_left"], "none");  // no deadline set, none invented
  // The same trace, a new parent: the daemon is one hop of it.
  const std::string trace = seen["trace"];
  EXPECT_EQ(trace.substr(0, 35), o.trace_id.substr(0, 35)) << trace;
  EXPECT_NE(trace, o.trace_id);
}

TEST_F(BusTest, TheDeadlineCrossesAsTimeLeftAndItsExpiryCancelsTheProvider) {
  auto p = provider("search-1", "READY owner");
  CallOptions o;
  o.timeout = Millis{400};
  auto r = call("hang", "{}", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::deadline_exceeded) << r.error().to_string();
  const auto hang = line_starting(p, "HANG ");
  ASSERT_FALSE(hang.empty());
  const auto ms = std::stoll(hang.substr(hang.rfind(' ') + 1));
  EXPECT_GT(ms, 0) << hang;
  EXPECT_LE(ms, 400) << hang;
  EXPECT_EQ(line_starting(p, "CANCELLED"), "CANCELLED");
}

TEST_F(BusTest, ACancelReachesTheProvider) {
  auto p = provider("search-1", "READY owner");
  std::promise<Result<std::string>> done;
  const CallId id = caller_->call_async(method("hang"), "{}", {},
                                        [&done](Result<std::string> r) { done.set_value(r); });
  ASSERT_FALSE(line_starting(p, "HANG ").empty());
  caller_->cancel(id);
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(f.get().error().code, StatusCode::cancelled);
  EXPECT_EQ(line_starting(p, "CANCELLED"), "CANCELLED");
}

TEST_F(BusTest, TheProvidersErrorArrivesUnchanged) {
  auto p = provider("search-1", "READY owner");
  auto r = call("fail", "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::failed_precondition);
  EXPECT_EQ(r.error().message, "the index is not built yet");
  EXPECT_EQ(json::parse(r.error().details), json::parse(R"({"index":"main","progress":0.42})"));
}

TEST_F(BusTest, AStreamCarriesItemsProgressAndResultWithinTheCallersWindow) {
  auto p = provider("search-1", "READY owner");
  StreamOptions so;
  so.window.items = 4;
  Stream s = caller_->open_stream(method("count"), "2000", so);
  std::uint64_t expected = 0;
  while (true) {
    auto item = s.read();
    ASSERT_TRUE(item) << item.error().to_string();
    if (!*item) break;
    ASSERT_EQ(**item, std::to_string(expected));
    ++expected;
  }
  EXPECT_EQ(expected, 2000u);
  ASSERT_TRUE(s.outcome());
  ASSERT_TRUE(*s.outcome());
  EXPECT_EQ(**s.outcome(), "counted 2000");
  EXPECT_EQ(s.progress().total, std::optional<std::uint64_t>(2000));
  // The daemon wrote no further ahead than this side's window allowed.
  EXPECT_LE(s.stats().peak_buffered_items, 5u);
}

TEST_F(BusTest, CancellingAStreamReachesTheProvider) {
  auto p = provider("search-1", "READY owner");
  StreamOptions so;
  so.window.items = 1;
  Stream s = caller_->open_stream(method("count"), "100000000", so);
  auto first = s.read();
  ASSERT_TRUE(first && *first) << (first ? "end" : first.error().to_string());
  s.cancel("the caller had enough");
  EXPECT_EQ(line_starting(p, "STREAM CANCELLED"), "STREAM CANCELLED");
}

TEST_F(BusTest, AProviderKilledMidCallFailsTheCallUnavailableSayingItWentAway) {
  auto p = provider("search-1", "READY owner");
  const auto pid = p.pid();
  std::promise<Result<std::string>> done;
  caller_->call_async(method("hang"), "{}", {},
                      [&done](Result<std::string> r) { done.set_value(r); });
  ASSERT_FALSE(line_starting(p, "HANG ").empty());
  p.kill_now();
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  const auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  const auto details = json::parse(r.error().details);
  EXPECT_EQ(details["reason"], "provider_gone");
  EXPECT_EQ(details["service"], kService);
  EXPECT_EQ(details["provider"]["pid"], pid);
  // The name went with it: a new call is told the service has no owner now.
  auto after = call("query", "{}");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, StatusCode::unavailable) << after.error().to_string();
  EXPECT_NE(after.error().message.find("has no owner now: its provider went away"),
            std::string::npos)
      << after.error().message;
  EXPECT_EQ(json::parse(after.error().details)["reason"], "no_owner");
}

TEST_F(BusTest, OneOwnerAQueueThatIsPromotedOnItsDeathAndARefusal) {
  // Shared with the subscription: events may still come (a provider's end releases its name)
  // after the test body, until the fixture closes the client.
  auto shared_events = std::make_shared<NameEvents>();
  NameEvents& events = *shared_events;
  ASSERT_TRUE(caller_->subscribe("plexus.bus.names",
                                 [shared_events](std::string_view, std::string_view payload) {
                                   shared_events->add(payload);
                                 }));
  auto first = provider("first", "READY owner");
  const auto acquired = events.next(kService, "acquired");
  ASSERT_FALSE(acquired.is_null());
  EXPECT_EQ(acquired["owner"]["pid"], first.pid());
  EXPECT_EQ(acquired["owner"]["name"], "first");
  EXPECT_EQ(acquired["reason"], "registered");

  auto second = provider("second", "READY queued", {"--queue"});
  auto third = provider("third", "REFUSED");
  EXPECT_NE(last_line_.find("already_exists"), std::string::npos) << last_line_;
  EXPECT_NE(last_line_.find("\"pid\":" + std::to_string(first.pid())), std::string::npos)
      << "the refusal names the owner: " << last_line_;

  auto list = caller_->call("plexus.bus.list", "{}");
  ASSERT_TRUE(list) << list.error().to_string();
  const auto services = json::parse(*list)["services"];
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0]["queued"], 1);
  EXPECT_EQ(services[0]["owner"]["name"], "first");

  auto q = call("query", "{}");
  ASSERT_TRUE(q) << q.error().to_string();
  EXPECT_EQ(json::parse(*q)["provider"], "first");

  first.kill_now();
  const auto changed = events.next(kService, "owner_changed");
  ASSERT_FALSE(changed.is_null());
  EXPECT_EQ(changed["reason"], "disconnected");
  EXPECT_EQ(changed["owner"]["name"], "second");
  EXPECT_EQ(changed["old_owner"]["name"], "first");
  EXPECT_EQ(line_starting(second, "PROMOTED"), "PROMOTED");
  q = call("query", "{}");
  ASSERT_TRUE(q) << q.error().to_string();
  EXPECT_EQ(json::parse(*q)["provider"], "second");

  second.kill_now();
  const auto released = events.next(kService, "released");
  ASSERT_FALSE(released.is_null());
  EXPECT_TRUE(released["owner"].is_null());
  EXPECT_EQ(released["old_owner"]["name"], "second");
}

TEST_F(BusTest, ReleaseGivesTheNameBackAndBadRequestsGetPreciseErrors) {
  auto p = provider("search-1", "READY owner");
  // Not a service name.
  for (const char* bad : {"search", "plexus.bus", "com..x", "com.example/x"}) {
    auto r = caller_->call("plexus.bus.register", json{{"name", bad}}.dump());
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
    EXPECT_EQ(json::parse(r.error().details)["field"], "service name") << r.error().to_string();
  }
  auto local = register_service(*caller_, "nodots");
  ASSERT_FALSE(local);
  EXPECT_EQ(local.error().code, StatusCode::invalid_argument);
  // A service name whose methods the client does not serve.
  local = register_service(*caller_, "com.example.nothing");
  ASSERT_FALSE(local);
  EXPECT_EQ(local.error().code, StatusCode::invalid_argument) << local.error().to_string();
  // Someone else's name, and a method name that breaks the rule.
  auto taken = caller_->call("plexus.bus.register", json{{"name", kService}}.dump());
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, StatusCode::already_exists);
  EXPECT_EQ(json::parse(taken.error().details)["owner"]["name"], "search-1");
  auto bad_method = caller_->call("plexus.bus.register",
                                  json{{"name", "com.example.other"}, {"methods", {"a/b"}}}.dump());
  ASSERT_FALSE(bad_method);
  EXPECT_EQ(bad_method.error().code, StatusCode::invalid_argument);
  // Releasing a name this connection does not hold.
  auto not_held = caller_->call("plexus.bus.release", json{{"name", kService}}.dump());
  ASSERT_FALSE(not_held);
  EXPECT_EQ(not_held.error().code, StatusCode::not_found);

  // The test client provides a service itself, releases it, and its methods are gone.
  caller_->handle("com.example.local/ping",
                  [](CallContext&, std::string_view) -> Result<std::string> { return "pong"; });
  auto name = register_service(*caller_, "com.example.local");
  ASSERT_TRUE(name) << name.error().to_string();
  EXPECT_EQ((*name)->state(), NameState::owner);
  auto other = connect_client(runtime_, socket_);
  ASSERT_NE(other, nullptr);
  auto pong = other->call("com.example.local/ping", "");
  ASSERT_TRUE(pong) << pong.error().to_string();
  EXPECT_EQ(*pong, "pong");
  // Registering again replaces the owner's methods: the ones no longer listed go.
  caller_->handle("com.example.local/extra",
                  [](CallContext&, std::string_view) -> Result<std::string> { return "extra"; });
  auto again = caller_->call("plexus.bus.register",
                             json{{"name", "com.example.local"}, {"methods", {"extra"}}}.dump());
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(json::parse(*again)["state"], "owner");
  auto extra = other->call("com.example.local/extra", "");
  ASSERT_TRUE(extra) << extra.error().to_string();
  auto dropped = other->call("com.example.local/ping", "");
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.error().code, StatusCode::not_found);
  ASSERT_TRUE((*name)->release());
  auto gone = other->call("com.example.local/extra", "");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, StatusCode::unavailable);
  EXPECT_NE(gone.error().message.find("released the name"), std::string::npos)
      << gone.error().message;
  // Owned again: its methods are served, and one it does not list is not found.
  auto back = register_service(*caller_, "com.example.local");
  ASSERT_TRUE(back) << back.error().to_string();
  auto served = other->call("com.example.local/extra", "");
  ASSERT_TRUE(served) << served.error().to_string();
  auto unlisted = other->call("com.example.local/nothing", "");
  ASSERT_FALSE(unlisted);
  EXPECT_EQ(unlisted.error().code, StatusCode::not_found) << unlisted.error().to_string();
}

TEST_F(BusTest, TheMetricsCountNamesAndForwardedCallsPerService) {
  auto p = provider("search-1", "READY owner");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(call("echo", "x"));
  auto stats = caller_->call("plexus.stats", "");
  ASSERT_TRUE(stats);
  const auto doc = json::parse(*stats);
  EXPECT_EQ(doc["bus"]["names"], 1);
  EXPECT_EQ(doc["bus"]["forwarded"], 3);
  bool per_method = false;
  for (const auto& m : doc["methods"]) {
    if (m["method"] == method("echo")) {
      per_method = true;
      EXPECT_EQ(m["calls"], 3);
    }
  }
  EXPECT_TRUE(per_method) << doc["methods"].dump();
  const auto& family = doc["metrics"]["plexus_bus_forwarded_calls_total"];
  ASSERT_EQ(family["samples"].size(), 1u) << family.dump();
  EXPECT_EQ(family["samples"][0]["labels"]["service"], kService);
  EXPECT_EQ(family["samples"][0]["value"], 3);
  EXPECT_EQ(doc["metrics"]["plexus_bus_names"]["samples"][0]["value"], 1);
}

TEST_F(BusTest, AProviderRegistersAgainAfterTheDaemonRestarts) {
  auto p = provider("search-1", "READY owner");
  ASSERT_TRUE(call("query", "{}"));
  caller_.reset();
  serve_.reset();  // SIGTERM; the provider starts reconnecting
  serve_ = std::make_unique<CliServe>(serve_args());
  caller_ = connect_client(runtime_, socket_);
  ASSERT_NE(caller_, nullptr);
  // Shared with the subscription: events may still come (a provider's end releases its name)
  // after the test body, until the fixture closes the client.
  auto shared_events = std::make_shared<NameEvents>();
  NameEvents& events = *shared_events;
  ASSERT_TRUE(caller_->subscribe("plexus.bus.names",
                                 [shared_events](std::string_view, std::string_view payload) {
                                   shared_events->add(payload);
                                 }));
  // Registered before the subscription (then listed) or after it (then announced).
  auto list = caller_->call("plexus.bus.list", "{}");
  ASSERT_TRUE(list);
  if (json::parse(*list)["services"].empty()) {
    ASSERT_FALSE(events.next(kService, "acquired").is_null());
  }
  auto q = call("query", "{}");
  ASSERT_TRUE(q) << q.error().to_string();
  EXPECT_EQ(json::parse(*q)["provider"], "search-1");
}

TEST_F(BusTest, CliListsServicesAndDescribesOne) {
  auto p = provider("search-1", "READY owner");
  const auto ls = run_cli("ls " + socket_);
  EXPECT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find("com.example.search  owner \"search-1\" pid " + std::to_string(p.pid())),
            std::string::npos)
      << ls.output;
  EXPECT_NE(ls.output.find("  com.example.search/count  (stream)\n"), std::string::npos)
      << ls.output;
  EXPECT_NE(ls.output.find("  com.example.search/query\n"), std::string::npos) << ls.output;

  const auto described = run_cli("describe " + socket_ + " com.example.search");
  ASSERT_EQ(described.exit_code, 0) << described.output;
  const auto doc = json::parse(described.output);
  EXPECT_EQ(doc["service"], kService);
  EXPECT_EQ(doc["owner"]["name"], "search-1");
  ASSERT_EQ(doc["methods"].size(), 5u);
  EXPECT_EQ(doc["methods"][0]["name"], "com.example.search/count");
  EXPECT_EQ(doc["methods"][0]["stream"], true);

  const auto unknown = run_cli("describe " + socket_ + " com.example.nobody");
  EXPECT_EQ(unknown.exit_code, 5) << unknown.output;  // not_found
}

// An access policy on the bus: one method of the service allowed, another refused, like any
// method of the daemon's own.
class BusAclTest : public BusTest {
 protected:
  std::vector<std::string> serve_args() override {
    const std::string path = dir_.file("policy.toml");
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(R"(version = 1

[[rule]]
name = "bus-users"
anyone = true
call = ["plexus.>", "com.example.search/query"]
subscribe = ["plexus.bus.names"]

[[rule]]
name = "no-fail"
effect = "deny"
anyone = true
call = ["com.example.search/fail"]
)",
               f);
    std::fclose(f);
    return {"--listen", socket_, "--no-http", "--acl", path};
  }
};

TEST_F(BusAclTest, OneBusMethodAllowedAnotherRefused) {
  auto p = provider("search-1", "READY owner");
  auto allowed = call("query", "{}");
  ASSERT_TRUE(allowed) << allowed.error().to_string();
  auto refused = call("fail", "{}");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::permission_denied) << refused.error().to_string();
  EXPECT_NE(refused.error().message.find("com.example.search/fail"), std::string::npos);
  // Not listed in any rule: refused as well (default deny).
  auto unlisted = call("echo", "x");
  ASSERT_FALSE(unlisted);
  EXPECT_EQ(unlisted.error().code, StatusCode::permission_denied);
}

}  // namespace
}  // namespace plexus::test::bus

namespace plexus::test::bus {
namespace {

// Activation: service files in a directory of the test's (`plexus serve --services-dir`).
class BusActivationTest : public BusTest {
 protected:
  std::vector<std::string> serve_args() override {
    const std::string dir = dir_.file("services");
    std::filesystem::create_directory(dir);
    write(dir + "/search.toml", "name = \"com.example.search\"\nexec = \"" + bus_provider_binary() +
                                    "\"\nargs = [\"--label\", \"activated\"]\n"
                                    "start_timeout_ms = 10000\n");
    write(dir + "/exits.toml", "name = \"com.example.exits\"\nexec = \"/bin/false\"\n");
    write(dir + "/silent.toml",
          "name = \"com.example.silent\"\nexec = \"/bin/sleep\"\nargs = [\"30\"]\n"
          "start_timeout_ms = 300\n");
    write(dir + "/unknown-key.toml",
          "name = \"com.example.colour\"\nexec = \"/bin/true\"\ncolour = \"blue\"\n");
    write(dir + "/missing.toml", "name = \"com.example.missing\"\nexec = \"/no/such/provider\"\n");
    return {"--listen", socket_, "--no-http", "--services-dir", dir};
  }
  static void write(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr) << path;
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
};

TEST_F(BusActivationTest, ACallToAServiceNotRunningStartsItAndIsAnswered) {
  const auto before = run_cli("ls " + socket_);
  EXPECT_NE(before.output.find("com.example.search  not running: started by its first call"),
            std::string::npos)
      << before.output;
  CallOptions o;
  o.timeout = Millis{10000};
  auto q = call("query", "\"first\"", o);
  ASSERT_TRUE(q) << q.error().to_string();
  const auto seen = json::parse(*q);
  EXPECT_EQ(seen["provider"], "activated");
  EXPECT_EQ(seen["query"], "\"first\"");
  // It registered: the next call goes straight to it, and it is listed as the owner.
  auto again = call("echo", "second");
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(*again, "second");
  const auto after = run_cli("ls " + socket_);
  EXPECT_NE(after.output.find("com.example.search  owner \"activated\""), std::string::npos)
      << after.output;
  // A method the provider does not serve: not found, and nothing is started again.
  auto unknown = call("nothing", "{}");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, StatusCode::not_found) << unknown.error().to_string();
}

TEST_F(BusActivationTest, AProviderThatExitsAtStartFailsTheCallWithItsExitStatus) {
  auto r = caller_->call("com.example.exits/run", "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  EXPECT_NE(r.error().message.find("exited with status 1 before it registered"), std::string::npos)
      << r.error().message;
  const auto details = json::parse(r.error().details);
  EXPECT_EQ(details["reason"], "provider_exited");
  EXPECT_EQ(details["exit_status"], 1);
  EXPECT_EQ(details["service"], "com.example.exits");
}

TEST_F(BusActivationTest, AProviderThatNeverRegistersFailsTheCallAtItsStartTimeout) {
  auto r = caller_->call("com.example.silent/run", "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  const auto details = json::parse(r.error().details);
  EXPECT_EQ(details["reason"], "start_timeout");
  EXPECT_EQ(details["timeout_ms"], 300);
  // The provider that never registered was stopped (SIGTERM): its exit is waited for, not polled.
  ASSERT_TRUE(details["pid"].is_number());
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, details["pid"].get<pid_t>(), 0));
  if (pidfd >= 0) {  // -1: it is gone already
    pollfd p{pidfd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, static_cast<int>(kWait.count())), 1) << "the provider still runs";
    ::close(pidfd);
  }
}

TEST_F(BusActivationTest, BadServiceFilesAreReportedToCallersAndByLs) {
  auto colour = caller_->call("com.example.colour/x", "{}");
  ASSERT_FALSE(colour);
  EXPECT_EQ(colour.error().code, StatusCode::failed_precondition);
  EXPECT_NE(colour.error().message.find("unknown-key.toml:3:1: unknown key \"colour\""),
            std::string::npos)
      << colour.error().message;
  EXPECT_EQ(json::parse(colour.error().details)["line"], 3);

  auto missing = caller_->call("com.example.missing/x", "{}");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StatusCode::failed_precondition);
  EXPECT_NE(missing.error().message.find("executable /no/such/provider is missing"),
            std::string::npos)
      << missing.error().message;
  EXPECT_EQ(json::parse(missing.error().details)["reason"], "bad_service_file");

  const auto ls = run_cli("ls " + socket_);
  EXPECT_NE(ls.output.find("com.example.colour  cannot be started: "), std::string::npos)
      << ls.output;
  EXPECT_NE(ls.output.find("com.example.missing  cannot be started: "), std::string::npos)
      << ls.output;
}

}  // namespace
}  // namespace plexus::test::bus
