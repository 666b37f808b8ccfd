// A Client and a Server over a spool directory (`dir:///path/group`, docs/PROTOCOL.md §23.7):
// the client is the directory's sender and the server its receiver, with no socket between
// them. A call is answered once its message was handled (or dead-lettered with the handler's
// status), a notify arrives, messages sent while no server runs wait in the directory and are
// handled once when it starts, what a directory cannot carry is refused, and the CLI (another
// process) and `plexus spool send` reach a Server's handlers through the directory. A server
// process killed with SIGKILL in the middle and started again hands every message to its
// handler exactly once, and every call is answered.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plexus/plexus.hpp"
#include "plexus/spool.hpp"
#include "test_kit.hpp"

namespace plexus::test::spool_connection {
namespace {

namespace fs = std::filesystem;
constexpr Millis kWait{60000};

// What the server's handlers saw, with a wait for a count.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> payloads;
  std::vector<std::string> ids;  // CallContext::message_id()

  void add(std::string_view payload, std::string_view id) {
    std::lock_guard lock(mu);
    payloads.emplace_back(payload);
    ids.emplace_back(id);
    cv.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] { return payloads.size() >= n; });
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return payloads.size();
  }
};

class SpoolConnectionTest : public ::testing::Test {
 protected:
  std::string address(const std::string& options = "") const {
    return "dir://" + tmp_.path() + "/spool/jobs" + options;
  }
  std::string directory() const { return tmp_.path() + "/spool/jobs"; }

  void serve(const std::string& listen) {
    ServerOptions so;
    so.listen = {listen};
    auto server = Server::create(runtime_, so);
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("task", [this](CallContext& ctx, std::string_view p) -> Result<std::string> {
      seen_.add(p, ctx.message_id());
      return std::string("answers are not carried back");
    });
    server_->handle("note", [this](CallContext& ctx, std::string_view p) -> Result<std::string> {
      notes_.add(p, ctx.message_id());
      return std::string();
    });
    ASSERT_TRUE(server_->start());
  }
  void connect(const std::string& to) {
    ClientOptions co;
    co.address = to;
    auto c = Client::connect(runtime_, co);
    ASSERT_TRUE(c) << c.error().to_string();
    client_ = std::move(*c);
  }
  // The directory's files: ready messages, acks and errors (spool_directory_stats()).
  SpoolDirectoryStats files() const {
    auto s = spool_directory_stats(directory());
    EXPECT_TRUE(s) << s.error().to_string();
    return s ? *s : SpoolDirectoryStats{};
  }
  // Polls the directory's listing (files appear without any event the test could wait on)
  // until `done` holds; false after kWait.
  template <typename Fn>
  bool until(Fn done) const {
    const auto end = std::chrono::steady_clock::now() + kWait;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  TempDir tmp_;
  Runtime runtime_;
  Seen seen_;
  Seen notes_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(SpoolConnectionTest, ACallIsAnsweredOnceHandledAndAResendOfItsIdIsNotHandledAgain) {
  serve(address("?sync=0"));
  connect(address("?sync=0"));
  auto answer = client_->call("task", "first");
  ASSERT_TRUE(answer) << answer.error().to_string();
  EXPECT_EQ(*answer, "");  // the ack carries no payload
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_FALSE(seen_.ids[0].empty());  // a plain call still travels as an acknowledged message

  AckOptions o;
  o.message_id = "order-7";
  o.ack_timeout = Millis{20000};
  ASSERT_TRUE(send_acked(*client_, "task", "order 7", o));
  ASSERT_TRUE(send_acked(*client_, "task", "order 7", o));  // a sender whose ack was lost
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_.payloads[1], "order 7");
  EXPECT_EQ(seen_.ids[1], "order-7");

  // Every byte value through the files.
  std::string bytes;
  for (int i = 0; i < 256 * 64; ++i) bytes.push_back(static_cast<char>(i & 0xff));
  ASSERT_TRUE(client_->call("task", bytes));
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_EQ(seen_.payloads[2], bytes);

  // The directory's session is counted like any other: three acknowledged messages handled
  // (the resend of order-7 was answered by the client's end, which remembers acked ids).
  const std::string metrics = server_->metrics_text();
  EXPECT_NE(metrics.find("plexus_acked_messages_total{outcome=\"handled\"} 3\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("method=\"task\""), std::string::npos);

  // A notify is a message that asks for no ack: handled, then removed.
  ASSERT_TRUE(client_->notify("note", "fire and forget"));
  ASSERT_TRUE(notes_.wait_for(1));
  EXPECT_EQ(notes_.payloads[0], "fire and forget");
  EXPECT_EQ(notes_.ids[0], "");
  // The sender cleans up what was handled: nothing is left but the empty directories.
  EXPECT_TRUE(until([&] {
    const auto f = files();
    return f.ready.count == 0 && f.acks.count == 0 && f.errors.count == 0;
  }));
}

TEST_F(SpoolConnectionTest, MessagesSentWhileNoServerRunsAreHandledOnceWhenOneStarts) {
  connect(address("?sync=0"));
  constexpr int kCount = 50;
  std::mutex mu;
  std::condition_variable cv;
  int ok = 0, failed = 0;
  for (int i = 0; i < kCount; ++i) {
    CallOptions co;
    co.timeout = kWait;
    client_->call_async("task", "message " + std::to_string(i), co, [&](Result<std::string> r) {
      std::lock_guard lock(mu);
      ++(r ? ok : failed);
      cv.notify_all();
    });
  }
  // A call with a short deadline fails, but its message stays for the receiver to come.
  CallOptions quick;
  quick.timeout = Millis{100};
  auto late = client_->call("task", "outlived its caller", quick);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, StatusCode::deadline_exceeded);
  ASSERT_TRUE(until([&] { return files().ready.count == kCount + 1; }));
  EXPECT_EQ(seen_.size(), 0u);

  serve(address("?sync=0"));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return ok + failed == kCount; }));
    EXPECT_EQ(ok, kCount);
  }
  ASSERT_TRUE(seen_.wait_for(kCount + 1));
  std::map<std::string, int> times;
  {
    std::lock_guard lock(seen_.mu);
    for (const auto& p : seen_.payloads) ++times[p];
  }
  EXPECT_EQ(times.size(), static_cast<std::size_t>(kCount + 1));
  for (const auto& [payload, n] : times) EXPECT_EQ(n, 1) << payload;
  EXPECT_EQ(times.count("outlived its caller"), 1u);
}

TEST_F(SpoolConnectionTest, AFailingHandlerIsRetriedThenTheCallFailsWithItsStatusAsADeadLetter) {
  const std::string rules = "?sync=0&ack_timeout_ms=20000&max_retries=2&retry_delay_ms=10";
  ServerOptions so;
  so.listen = {address(rules)};
  auto server = Server::create(runtime_, so);
  ASSERT_TRUE(server);
  std::atomic<int> attempts{0};
  (*server)->handle("task", [&](CallContext&, std::string_view) -> Result<std::string> {
    ++attempts;
    return make_error(StatusCode::invalid_argument, "order 9 has no items");
  });
  ASSERT_TRUE((*server)->start());
  connect(address(rules));
  AckOptions once;  // send_acked's own resends would start the spool's rules over
  once.max_retries = 0;
  once.message_id = "order-9";
  auto r = send_acked(*client_, "task", "order 9", once);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(r.error().message, "order 9 has no items");
  const auto details = nlohmann::json::parse(r.error().details, nullptr, false);
  ASSERT_TRUE(details.is_object()) << r.error().details;
  EXPECT_EQ(details["dead_letter"], true);
  EXPECT_EQ(details["reason"], "handler_error");
  EXPECT_EQ(details["attempts"], 3);
  EXPECT_EQ(attempts.load(), 3);  // the first delivery and 2 retries
  EXPECT_TRUE(fs::exists(directory() + "/errors/order-9.msg"));
  EXPECT_TRUE(fs::exists(directory() + "/errors/order-9.msg.reason"));
}

TEST_F(SpoolConnectionTest, WhatADirectoryCannotCarryIsRefusedClearly) {
  connect(address("?sync=0"));
  auto stats = client_->call("plexus.stats", "{}");
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, StatusCode::failed_precondition);
  EXPECT_NE(stats.error().message.find("spool directory"), std::string::npos);
  auto sub = client_->subscribe("news.*", [](std::string_view, std::string_view) {});
  ASSERT_FALSE(sub);
  EXPECT_NE(sub.error().message.find("spool directory"), std::string::npos)
      << sub.error().to_string();

  ClientOptions bad;
  bad.address = address("?retries=3");
  auto c = Client::connect(runtime_, bad);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, StatusCode::invalid_argument);
  EXPECT_NE(c.error().message.find("unknown option"), std::string::npos) << c.error().message;

  ServerOptions so;
  so.listen = {"dir://relative/jobs"};
  auto s = Server::create(runtime_, so);
  Result<void> started = s ? (*s)->start() : Result<void>(tl::unexpected(s.error()));
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, StatusCode::invalid_argument);
}

TEST_F(SpoolConnectionTest, TheCliAndASpoolScriptReachAServersHandlersThroughTheDirectory) {
  serve(address());
  // Another process, the CLI, calls through the directory: it returns once handled.
  auto call = run_cli("call " + shell_word(address()) + " task '{\"n\":1}'");
  ASSERT_EQ(call.exit_code, 0) << call.output;
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_.payloads[0], "{\"n\":1}");
  // A script's message, written by `plexus spool send`, reaches the same handler.
  auto sent = run_cli("spool send " + directory() + " task '{\"n\":2}' --id from-a-script");
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  ASSERT_TRUE(seen_.wait_for(2));
  EXPECT_EQ(seen_.payloads[1], "{\"n\":2}");
  EXPECT_EQ(seen_.ids[1], "from-a-script");
  EXPECT_TRUE(until([&] { return fs::exists(directory() + "/acks/from-a-script.ack"); }));
}

TEST(SpoolConnectionProcess, AServerKilledMidwayAndStartedAgainHandlesEveryMessageOnce) {
  const int total = kSanitizerBuild ? 2000 : 10000;
  TempDir tmp;
  // Without fsync: kill -9 safe (what is tested), not OS-crash safe; fsync'd files would make
  // the test minutes long on this kind of disk.
  const std::string address = "dir://" + tmp.path() + "/spool/jobs?sync=0";
  Runtime runtime;
  ClientOptions co;
  co.address = address;
  auto client = Client::connect(runtime, co);
  ASSERT_TRUE(client) << client.error().to_string();
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, failed = 0;
  for (int i = 0; i < total; ++i) {
    CallOptions o;
    o.timeout = Millis{120000};
    (*client)->call_async("task", "m-" + std::to_string(i), o, [&](Result<std::string> r) {
      std::lock_guard lock(mu);
      ++(r ? answered : failed);
      cv.notify_all();
    });
  }
  std::map<std::string, int> handled;  // payload -> times, across both server processes
  std::set<std::string> ids;
  auto read_until = [&](ChildProcess& server, const std::function<bool(const std::string&)>& stop) {
    for (;;) {
      auto line = server.line(kWait);
      if (!line) return false;
      if (line->starts_with("H ")) {
        const auto space = line->find(' ', 2);
        ids.insert(line->substr(2, space - 2));
        ++handled[line->substr(space + 1)];
      }
      if (stop(*line)) return true;
    }
  };
  {
    auto first = ChildProcess::spawn({queue_peer_binary(), "spool-serve", "--address", address,
                                      "--block-at", std::to_string(total / 3)});
    ASSERT_TRUE(read_until(first, [](const std::string& l) { return l.starts_with("BLOCKED"); }));
    first.kill_now();  // mid-way: one message in its handler, the rest in the directory
  }
  EXPECT_EQ(handled.size(), static_cast<std::size_t>(total / 3 - 1));
  auto second = ChildProcess::spawn({queue_peer_binary(), "spool-serve", "--address", address});
  ASSERT_TRUE(read_until(second, [&](const std::string&) {
    return handled.size() == static_cast<std::size_t>(total);
  }));
  for (const auto& [payload, times] : handled) EXPECT_EQ(times, 1) << payload;
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(total));  // each under its own message id
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return answered + failed == total; }));
  EXPECT_EQ(answered, total);
}

}  // namespace
}  // namespace plexus::test::spool_connection
