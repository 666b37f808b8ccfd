// The spool-directory transport between processes: the test process sends through a
// SpoolSender and `plexus spool recv --ack` (the C++ SpoolReceiver inside the CLI) receives in a
// process of its own, started late, or stopped and started again while a new sender takes over;
// shell scripts send and acknowledge with `plexus spool` and interoperate with the C++ API both
// ways. SpoolObserve: a sender and receiver in a process that serves plexus show in its
// /metrics (checked by promtool), plexus.stats and log; `plexus spool stats` reads a directory.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "observe_kit.hpp"
#include "plexus/plexus.hpp"
#include "plexus/spool.hpp"
#include "test_kit.hpp"

namespace plexus::test::spool_processes {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr Millis kWait{120000};

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

bool empty_dir(const std::string& dir) {
  return fs::is_empty(dir);
}

TEST(SpoolProcesses, TenThousandMessagesWithTheReceiverStartedAfterTheFirstFiveThousand) {
  const int total = kSanitizerBuild ? 2000 : 10000;
  TempDir tmp;
  const std::string dir = tmp.path() + "/spool/main";
  SpoolOptions o;
  // The volume runs without fsync (kill -9 safe, not OS-crash safe): at ~120 fsyncs/s on this
  // kind of disk 10,000 messages would take minutes. `make bench` measures the fsync'd rate,
  // and SpoolCli below uses the default (fsync'd) path.
  o.sync = false;
  auto sender = SpoolSender::create(dir, o);
  ASSERT_TRUE(sender) << sender.error().to_string();
  std::set<std::string> sent;
  auto send = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      auto id = (*sender)->send("task", "{\"n\":" + std::to_string(i) + "}");
      ASSERT_TRUE(id) << id.error().to_string();
      sent.insert(*id);
    }
  };
  send(0, total / 2);
  ASSERT_FALSE(empty_dir(dir + "/messages"));
  // The receiver: another process, started now, handling (and acknowledging) `total` messages.
  // Its output goes to a file: a pipe nobody reads until the end would stall it.
  const std::string out_file = tmp.path() + "/received.jsonl";
  BackgroundCommand receiver(cli_binary() + " spool recv " + dir + " --ack --no-sync --count " +
                             std::to_string(total) + " --timeout-ms " +
                             std::to_string(kWait.count()) + " > " + out_file);
  send(total / 2, total);
  ASSERT_TRUE((*sender)->wait_idle(kWait)) << "pending: " << (*sender)->stats().pending;
  auto [rc, diagnostics] = receiver.finish();
  ASSERT_EQ(rc, 0) << diagnostics;
  std::ifstream received(out_file);
  const std::string out((std::istreambuf_iterator<char>(received)), {});
  std::map<std::string, int> times;
  std::set<int> numbers;
  for (const auto& j : json_lines(out)) {
    ++times[j.at("id").get<std::string>()];
    // Sent as bytes (send(type, payload)): the CLI prints them as a JSON string.
    numbers.insert(json::parse(j.at("payload").get<std::string>()).at("n").get<int>());
    EXPECT_EQ(j.at("attempt"), 1);
  }
  EXPECT_EQ(times.size(), sent.size());
  EXPECT_EQ(numbers.size(), static_cast<std::size_t>(total));
  for (const auto& [id, n] : times) {
    ASSERT_EQ(n, 1) << id << " handled more than once";
    ASSERT_TRUE(sent.contains(id)) << id;
  }
  const auto stats = (*sender)->stats();
  EXPECT_EQ(stats.acked, static_cast<std::uint64_t>(total));
  EXPECT_EQ(stats.retried, 0u);
  EXPECT_EQ(stats.dead_lettered, 0u);
  // The sender removed every message and then its ack: nothing is left behind.
  EXPECT_TRUE(empty_dir(dir + "/messages"));
  EXPECT_TRUE(empty_dir(dir + "/acks"));
  EXPECT_TRUE(empty_dir(dir + "/errors"));
}

TEST(SpoolProcesses, BothSidesRestartAndEachMessageIsHandledOnce) {
  const int total = kSanitizerBuild ? 400 : 2000;
  TempDir tmp;
  const std::string dir = tmp.path() + "/spool/main";
  SpoolOptions o;
  o.sync = false;  // as above: the volume, not the disk
  std::set<std::string> sent;
  auto send = [&](SpoolSender& sender, int from, int to) {
    for (int i = from; i < to; ++i) {
      auto id = sender.send("task", std::to_string(i));
      ASSERT_TRUE(id) << id.error().to_string();
      sent.insert(*id);
    }
  };
  {
    auto first = SpoolSender::create(dir, o);
    ASSERT_TRUE(first);
    send(**first, 0, total / 2);
  }  // the first sender goes away with everything pending
  const auto receive = [&](int count, const std::string& file) {
    return std::make_unique<BackgroundCommand>(
        cli_binary() + " spool recv " + dir + " --ack --no-sync " + "--count " +
        std::to_string(count) + " --timeout-ms " + std::to_string(kWait.count()) + " > " + file);
  };
  // The first receiver process handles a quarter and exits (its last handler finishes and is
  // acknowledged first); a second sender takes over and sends the rest meanwhile.
  auto receiver = receive(total / 4, tmp.path() + "/first.jsonl");
  auto second = SpoolSender::create(dir, o);
  ASSERT_TRUE(second);
  // The receiver removes no message file that asked for an ack: the new sender finds them all.
  EXPECT_EQ((*second)->stats().adopted, static_cast<std::uint64_t>(total / 2));
  send(**second, total / 2, total);
  auto [rc1, log1] = receiver->finish();
  ASSERT_EQ(rc1, 0) << log1;
  std::ifstream first_out(tmp.path() + "/first.jsonl");
  const auto first_lines = json_lines(std::string((std::istreambuf_iterator<char>(first_out)), {}));
  ASSERT_GE(first_lines.size(), static_cast<std::size_t>(total / 4));
  // The second receiver process handles what is left.
  receiver = receive(total - static_cast<int>(first_lines.size()), tmp.path() + "/second.jsonl");
  ASSERT_TRUE((*second)->wait_idle(kWait)) << "pending: " << (*second)->stats().pending;
  auto [rc2, log2] = receiver->finish();
  ASSERT_EQ(rc2, 0) << log2;
  std::ifstream second_out(tmp.path() + "/second.jsonl");
  auto lines = json_lines(std::string((std::istreambuf_iterator<char>(second_out)), {}));
  lines.insert(lines.end(), first_lines.begin(), first_lines.end());
  std::map<std::string, int> times;
  for (const auto& j : lines) ++times[j.at("id").get<std::string>()];
  EXPECT_EQ(times.size(), sent.size());
  for (const auto& [id, n] : times) {
    ASSERT_EQ(n, 1) << id << " handled more than once";
    ASSERT_TRUE(sent.contains(id)) << id;
  }
  EXPECT_TRUE(empty_dir(dir + "/messages"));
  EXPECT_TRUE(empty_dir(dir + "/acks"));
}

TEST(SpoolCli, AScriptSendsAndTheCppReceiverHandles) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/spool/main";
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SpoolMessage> got;               // guarded by mu
  auto receiver = SpoolReceiver::create(dir);  // fsync'd, the defaults
  ASSERT_TRUE(receiver);
  ASSERT_TRUE((*receiver)->on("task", [&](const SpoolMessage& m) -> Result<void> {
    std::lock_guard lock(mu);
    got.push_back(m);
    cv.notify_all();
    return {};
  }));
  ASSERT_TRUE((*receiver)->start());
  const std::string script =
      "set -e; for i in 1 2 3 4 5; do echo \"{\\\"type\\\":\\\"task\\\",\\\"payload\\\":"
      "{\\\"n\\\":$i}}\"; done | " +
      cli_binary() + " spool send dir://" + dir + " > " + tmp.path() + "/ids.txt; " + cli_binary() +
      " spool send " + dir + " task '\"one more\"' --id script-6 >> " + tmp.path() + "/ids.txt";
  auto r = run_command("bash -c '" + [&] {
    std::string s;
    for (char c : script) {
      if (c == '\'') {
        s += "'\\''";
      } else {
        s += c;
      }
    }
    return s;
  }() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return got.size() >= 6; }));
  std::set<int> numbers;
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(got[i].json);
    EXPECT_EQ(got[i].group, "main");
    numbers.insert(json::parse(got[i].payload).at("n").get<int>());
  }
  EXPECT_EQ(numbers, (std::set<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(got[5].id, "script-6");
  EXPECT_EQ(got[5].payload, "\"one more\"");
  // The ids the script printed are the ones handled.
  std::set<std::string> printed;
  std::ifstream ids(tmp.path() + "/ids.txt");
  for (std::string line; std::getline(ids, line);) printed.insert(json::parse(line).at("id"));
  std::set<std::string> handled;
  for (const auto& m : got) handled.insert(m.id);
  EXPECT_EQ(printed, handled);
}

TEST(SpoolCli, TheCppSenderAndAScriptThatReceivesAndAcknowledges) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/spool/main";
  SpoolOptions o;
  o.max_retries = 0;  // a failure dead-letters at once
  auto sender = SpoolSender::create(dir, o);
  ASSERT_TRUE(sender);
  Event<SpoolDeadLetter> dead;
  (*sender)->on_dead_letter([&](const SpoolDeadLetter& d) { dead.set(d); });
  for (int job = 1; job <= 2; ++job) {
    SpoolSend task;
    task.payload = "{\"job\":" + std::to_string(job) + "}";
    task.json = true;
    ASSERT_TRUE((*sender)->send(std::move(task)));
  }
  SpoolSend failing;
  failing.type = "command";
  failing.payload = "{\"job\":3}";
  failing.json = true;
  failing.id = "will-fail";
  ASSERT_TRUE((*sender)->send(failing));
  // The script: wait for three messages, acknowledge the tasks, fail the command.
  const std::string p = cli_binary();
  const std::string script =
      "set -e\n"
      "out=$(" +
      p + " spool recv " + dir +
      " --count 3 --timeout-ms 60000)\n"
      "echo \"$out\" > " +
      tmp.path() +
      "/recv.txt\n"
      "tasks=$(echo \"$out\" | grep '\"type\":\"task\"' | sed -n "
      "'s/.*\"id\":\"\\([^\"]*\\)\".*/\\1/p')\n"
      "" +
      p + " spool ack " + dir +
      " $tasks\n"
      "" +
      p + " spool ack " + dir + " will-fail --error internal --message 'disk on fire'\n";
  {
    std::ofstream f(tmp.path() + "/script.sh");
    f << script;
  }
  auto r = run_command("bash " + tmp.path() + "/script.sh");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto d = dead.wait_for(kWait);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, "will-fail");
  EXPECT_EQ(d->reason, DeadLetterReason::handler_error);
  EXPECT_EQ(d->error.code, StatusCode::internal);
  EXPECT_EQ(d->error.message, "disk on fire");
  ASSERT_TRUE((*sender)->wait_idle(kWait));
  EXPECT_EQ((*sender)->stats().acked, 2u);
  EXPECT_TRUE(empty_dir(dir + "/messages"));
  EXPECT_TRUE(empty_dir(dir + "/acks"));
  EXPECT_TRUE(fs::exists(dir + "/errors/will-fail.msg.reason"));
  // What recv printed: three JSON lines with the payloads as JSON values.
  std::ifstream recv(tmp.path() + "/recv.txt");
  std::string text((std::istreambuf_iterator<char>(recv)), {});
  const auto lines = json_lines(text);
  ASSERT_EQ(lines.size(), 3u);
  std::set<int> jobs;
  for (const auto& j : lines) jobs.insert(j.at("payload").at("job").get<int>());
  EXPECT_EQ(jobs, (std::set<int>{1, 2, 3}));
  // A script replays the dead letter; a receiver then handles it.
  auto replayed = run_cli("spool replay " + dir + " will-fail");
  ASSERT_EQ(replayed.exit_code, 0) << replayed.output;
  auto again = run_cli("spool recv " + dir + " --count 1 --timeout-ms 60000");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("\"id\":\"will-fail\""), std::string::npos) << again.output;
  EXPECT_FALSE(fs::exists(dir + "/errors/will-fail.msg"));
  // Bad input from a script: a clear error and its status as the exit code.
  auto bad = run_cli("spool send " + tmp.path() + "/../x task 1");
  EXPECT_EQ(bad.exit_code, static_cast<int>(StatusCode::invalid_argument)) << bad.output;
  auto twice = run_cli("spool ack " + dir + " no-such-id");
  EXPECT_EQ(twice.exit_code, static_cast<int>(StatusCode::not_found)) << twice.output;
}

// ---- observability ---------------------------------------------------------------------------

TEST(SpoolObserve, SenderAndReceiverShowInTheServersMetricsStatsAndLog) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/spool/g1";
  std::mutex log_mu;
  std::vector<std::string> warnings;  // guarded by log_mu
  LogHandlerScope log([&](const LogRecord& r) {
    if (r.level != LogLevel::warn) return;
    std::lock_guard lock(log_mu);
    warnings.emplace_back(r.message);
  });
  Runtime runtime;
  ServerOptions so;
  so.name = "spool-observe";
  so.listen = {tmp.unix_address("s.sock")};
  so.http = "127.0.0.1:0";
  auto server = Server::create(runtime, so);
  ASSERT_TRUE(server) << server.error().to_string();
  ASSERT_TRUE((*server)->start());

  // Left in the directory before anyone starts: a crashed writer's temporary file (an hour
  // old) and a file that is not a message.
  ASSERT_TRUE(fs::create_directories(dir + "/acks"));
  ASSERT_TRUE(fs::create_directories(dir + "/messages"));
  write_aged_file(dir + "/acks/.tmp-gone-1-1", "partial", std::chrono::hours(1));
  std::ofstream(dir + "/messages/junk.msg") << "not a frame";

  auto clock = std::make_shared<ManualClock>();
  SpoolOptions o;
  o.sync = false;
  o.clock = clock;
  o.max_retries = 1;  // the failing message: two attempts, then a dead letter
  o.runtime = &runtime;
  auto sender = SpoolSender::create(dir, o);
  ASSERT_TRUE(sender) << sender.error().to_string();
  EXPECT_FALSE(fs::exists(dir + "/acks/.tmp-gone-1-1"));
  Event<bool> bad_failed_once;
  Event<bool> dead;
  (*sender)->on_ack([&](const std::string& id, const Result<void>& outcome) {
    if (id == "bad-1" && !outcome) bad_failed_once.set(true);
  });
  (*sender)->on_dead_letter([&](const SpoolDeadLetter&) { dead.set(true); });

  auto receiver = SpoolReceiver::create(dir, o);
  ASSERT_TRUE(receiver);
  Event<bool> probe_seen;
  Event<bool> release_probe;
  ASSERT_TRUE((*receiver)->on("task", [](const SpoolMessage&) -> Result<void> { return {}; }));
  ASSERT_TRUE((*receiver)->on("bad", [](const SpoolMessage&) -> Result<void> {
    return make_error(StatusCode::internal, "disk on fire");
  }));
  // The last message: it holds the receiver until the test has read the metrics, so that its
  // counters are those of everything before it.
  ASSERT_TRUE((*receiver)->on("probe", [&](const SpoolMessage&) -> Result<void> {
    probe_seen.set(true);
    release_probe.wait_for(kWait);
    return {};
  }));
  ASSERT_TRUE((*receiver)->start());

  ASSERT_TRUE((*sender)->send("task", "{\"n\":1}"));
  ASSERT_TRUE((*sender)->send("task", "{\"n\":2}"));
  SpoolSend bad;
  bad.type = "bad";
  bad.id = "bad-1";
  bad.payload = "{}";
  ASSERT_TRUE((*sender)->send(bad));
  ASSERT_TRUE(bad_failed_once.wait_for(kWait));
  clock->advance(std::chrono::seconds(5));  // the retry: attempt 2 fails too, a dead letter
  (*sender)->run_due_timers();
  ASSERT_TRUE(dead.wait_for(kWait));
  ASSERT_TRUE((*sender)->wait_idle(kWait));
  ASSERT_TRUE((*sender)->send("probe", "{}"));
  ASSERT_TRUE(probe_seen.wait_for(kWait));

  const std::string text = http_get((*server)->http_address(), "/metrics");
  ASSERT_FALSE(text.empty());
  const std::string labels = "dir=\"" + dir + "\",group=\"g1\"";
  auto sender_count = [&](const std::string& outcome) {
    return series(text, "plexus_spool_messages_total{" + labels + ",role=\"sender\",outcome=\"" +
                            outcome + "\"}");
  };
  auto receiver_count = [&](const std::string& outcome) {
    return series(text, "plexus_spool_messages_total{" + labels + ",role=\"receiver\",outcome=\"" +
                            outcome + "\"}");
  };
  EXPECT_EQ(sender_count("sent"), 4) << text;
  EXPECT_EQ(sender_count("acked"), 2);
  EXPECT_EQ(sender_count("retried"), 1);
  EXPECT_EQ(sender_count("dead_lettered"), 1);
  EXPECT_EQ(sender_count("adopted"), 0);
  EXPECT_EQ(receiver_count("delivered"), 4);  // two tasks, two attempts of bad-1
  EXPECT_EQ(receiver_count("redelivered"), 1);
  EXPECT_EQ(receiver_count("acked"), 2);
  EXPECT_EQ(receiver_count("failed"), 2);
  EXPECT_EQ(receiver_count("duplicate"), 0);
  EXPECT_EQ(receiver_count("corrupt"), 1);
  EXPECT_EQ(
      series(text, "plexus_spool_stale_temp_files_removed_total{" + labels + ",role=\"sender\"}"),
      1);
  EXPECT_EQ(
      series(text, "plexus_spool_stale_temp_files_removed_total{" + labels + ",role=\"receiver\"}"),
      0);
  // The directory, once however many of its endpoints the process has: the probe is the one
  // message file; errors/ holds the dead letter and junk.msg.
  EXPECT_EQ(series(text, "plexus_spool_pending{" + labels + ",state=\"ready\"}"), 1);
  EXPECT_EQ(series(text, "plexus_spool_pending{" + labels + ",state=\"waiting\"}"), 0);
  EXPECT_GE(series(text, "plexus_spool_oldest_pending_age_seconds{" + labels + "}"), 0);
  EXPECT_EQ(series(text, "plexus_spool_acks{" + labels + "}"), 0);
  EXPECT_EQ(series(text, "plexus_spool_dead_letters{" + labels + "}"), 2);
  EXPECT_GE(series(text, "plexus_spool_dead_letter_oldest_age_seconds{" + labels + "}"), 0);
  EXPECT_EQ(series(text, "plexus_spool_temp_files{" + labels + ",state=\"stale\"}"), 0);
  const auto file = tmp.path() + "/metrics.txt";
  std::ofstream(file) << text;
  const auto check = run_command("promtool check metrics < " + file);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool lint complaints";

  // plexus.stats: one row per sender and receiver in the "spools" section.
  const auto stats = (*server)->metrics();
  const auto& rows = stats["sections"]["spools"];
  ASSERT_TRUE(rows.is_array()) << stats["sections"].dump();
  ASSERT_EQ(rows.size(), 2u) << rows.dump();
  std::map<std::string, json> by_role;
  for (const auto& r : rows) by_role[r["role"].get<std::string>()] = r;
  EXPECT_EQ(by_role["sender"]["dir"], dir);
  EXPECT_EQ(by_role["sender"]["messages"]["dead_lettered"], 1);
  EXPECT_EQ(by_role["sender"]["stale_temp_files_removed"], 1);
  EXPECT_EQ(by_role["receiver"]["messages"]["corrupt"], 1);
  EXPECT_EQ(by_role["receiver"]["directory"]["dead_letters"], 2);
  EXPECT_EQ(by_role["receiver"]["directory"]["ready"], 1);

  // The log: the dead letter and the refused file, each once, at warn.
  {
    std::lock_guard lock(log_mu);
    auto count = [&](const std::string& a, const std::string& b) {
      return std::count_if(warnings.begin(), warnings.end(), [&](const std::string& w) {
        return w.find(a) != std::string::npos && w.find(b) != std::string::npos;
      });
    };
    EXPECT_EQ(count("bad-1", "dead-lettered after 2 deliveries"), 1)
        << ::testing::PrintToString(warnings);
    EXPECT_EQ(count("bad-1", "disk on fire"), 1);
    EXPECT_EQ(count("junk.msg", "moved to errors/"), 1) << ::testing::PrintToString(warnings);
  }

  // Gone with their sender and receiver.
  release_probe.set(true);
  ASSERT_TRUE((*sender)->wait_idle(kWait));
  sender->reset();
  const std::string without_sender = (*server)->metrics_text();
  EXPECT_EQ(without_sender.find("role=\"sender\""), std::string::npos);
  EXPECT_NE(without_sender.find("plexus_spool_pending{" + labels), std::string::npos);
  receiver->reset();
  const std::string without_either = (*server)->metrics_text();
  EXPECT_EQ(without_either.find(labels), std::string::npos) << without_either;
}

TEST(SpoolObserve, SpoolStatsPrintsWhatADirectoryHoldsAsATableAndAsJson) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/spool/main";
  // Two messages waiting for a receiver, an ack for a sender to clean up, a dead letter and a
  // stale and a fresh temporary file: written as a script's sender and receiver would.
  for (const char* id : {"m1", "m2", "m3"}) {
    auto sent = run_cli("spool send " + dir + " task '{}' --no-sync --id " + std::string(id));
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
  }
  auto acked = run_cli("spool ack " + dir + " m3 --no-sync");
  ASSERT_EQ(acked.exit_code, 0) << acked.output;
  std::ofstream(dir + "/errors/old.msg") << "x";
  std::ofstream(dir + "/errors/old.msg.reason") << "{}";
  write_aged_file(dir + "/messages/.tmp-crashed-1-1", "partial", std::chrono::hours(2));
  write_aged_file(dir + "/acks/.tmp-writing-2-1", "partial", std::chrono::seconds(0));

  auto j = run_cli("spool stats " + dir + " --json");
  ASSERT_EQ(j.exit_code, 0) << j.output;
  const auto s = json::parse(j.output, nullptr, false);
  ASSERT_TRUE(s.is_object()) << j.output;
  EXPECT_EQ(s["directory"], dir);
  EXPECT_EQ(s["ready"]["count"], 3);
  EXPECT_GE(s["ready"]["oldest_age_ms"].get<std::int64_t>(), 0);
  EXPECT_EQ(s["waiting"]["count"], 0);
  EXPECT_EQ(s["acks"]["count"], 1);
  EXPECT_EQ(s["errors"]["count"], 1);
  EXPECT_EQ(s["temporary"]["count"], 2);
  EXPECT_EQ(s["temporary"]["stale"], 1);
  EXPECT_GE(s["temporary"]["oldest_age_ms"].get<std::int64_t>(), 2 * 3600 * 1000);

  auto table = run_cli("spool stats dir://" + dir);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  std::map<std::string, std::string> count_of;
  std::istringstream lines(table.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string kind, count;
    words >> kind >> count;
    count_of[kind] = count;
  }
  EXPECT_EQ(count_of["ready"], "3") << table.output;
  EXPECT_EQ(count_of["waiting"], "0");
  EXPECT_EQ(count_of["acks"], "1");
  EXPECT_EQ(count_of["errors"], "1");
  EXPECT_EQ(count_of["temporary"], "2");
  EXPECT_NE(table.output.find("2.0 h"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("1 temporary files are stale"), std::string::npos) << table.output;
  // Reading changed nothing.
  EXPECT_TRUE(fs::exists(dir + "/messages/.tmp-crashed-1-1"));

  auto missing = run_cli("spool stats " + tmp.path() + "/nothing/here");
  EXPECT_EQ(missing.exit_code, static_cast<int>(StatusCode::not_found)) << missing.output;
}

}  // namespace
}  // namespace plexus::test::spool_processes
