// The spool-directory transport between processes: the test process sends through a
// SpoolSender and `plexus spool recv --ack` (the C++ SpoolReceiver inside the CLI) receives in a
// process of its own, started late, or stopped and started again while a new sender takes over;
// shell scripts send and acknowledge with `plexus spool` and interoperate with the C++ API both
// ways.
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

}  // namespace
}  // namespace plexus::test::spool_processes
