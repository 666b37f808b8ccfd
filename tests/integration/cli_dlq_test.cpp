// `plexus serve --data-dir`, `plexus queue` and `plexus dlq` as an operator uses them: the real
// binaries, a server whose --config sets a queue's retries, dead letters made by a consumer
// whose handler fails, listed, shown, replayed and purged from the CLI (tables and --json);
// and data directories the server cannot use (not SQLite, read-only, held by another server)
// make `plexus serve` exit non-zero with the store's error.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_serve.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test::dlq_cli {
namespace {

using nlohmann::json;

constexpr Millis kWait{20000};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// One JSON document the CLI printed.
json parse_json(const std::string& output) {
  auto j = json::parse(output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << output;
  return j;
}

class CliDlqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.unix_address("q.sock");
    config_ = dir_.file("serve.toml");
    write_file(config_, "data-dir = \"" + dir_.file("data") +
                            "\"\n"
                            "[queues.jobs]\n"
                            "max-retries = 0\n"
                            "retry-delay-ms = 10\n");
  }
  // `plexus` with `args` against the server.
  CommandResult cli(const std::string& command, const std::string& rest = {}) {
    return run_cli(command + " " + socket_ + (rest.empty() ? "" : " " + rest));
  }

  TempDir dir_;
  std::string socket_;
  std::string config_;
};

TEST_F(CliDlqTest, DeadLettersAreListedShownReplayedAndPurged) {
  CliServe serve({"--listen", socket_, "--no-http", "--config", config_});
  ASSERT_GT(serve.pid(), 0);

  // Two messages a handler refuses, and a marker it handles, sent with the CLI.
  auto one = cli("queue send", "jobs --type fail 'first doomed'");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const std::string first_id = one.output.substr(0, one.output.find('\n'));
  auto two = cli("queue send --json", "jobs --type fail --group g1 --priority 0 'second'");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const std::string second_id = parse_json(two.output)["id"];
  ASSERT_EQ(cli("queue send", "jobs --id marker-1 marker").exit_code, 0);
  const auto again = cli("queue send", "jobs --id marker-1 marker");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("marker-1 (duplicate)"), std::string::npos) << again.output;

  Runtime runtime;
  ClientOptions co;
  co.address = socket_;
  auto client = Client::connect(runtime, co);
  ASSERT_TRUE(client) << client.error().to_string();
  ConsumerOptions options;
  options.queue = "jobs";
  options.prefetch = 1;  // in order: the marker comes after both failures are recorded
  auto consumer = Consumer::create(**client, options);
  ASSERT_TRUE(consumer) << consumer.error().to_string();
  std::atomic<bool> accept{false};
  Event<bool> marker;
  Event<std::string> replayed;
  (*consumer)->on("fail", [&](const Delivery& d) -> Result<void> {
    if (accept) {
      replayed.set(d.id);
      return {};
    }
    return make_error(StatusCode::permission_denied, "card declined");
  });
  (*consumer)->on("task", [&](const Delivery&) -> Result<void> {
    marker.set(true);
    return {};
  });
  ASSERT_TRUE((*consumer)->start());
  ASSERT_TRUE(marker.wait_for(kWait));

  // list: a table, then JSON.
  const auto table = cli("dlq list", "jobs");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find(first_id), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(second_id), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("handler_error"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("card declined"), std::string::npos) << table.output;
  const auto listed = cli("dlq list --json");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const auto rows = parse_json(listed.output);
  ASSERT_EQ(rows.size(), 2u) << listed.output;
  EXPECT_EQ(rows[0]["id"], first_id);  // oldest first
  EXPECT_EQ(rows[0]["queue"], "jobs");
  EXPECT_EQ(rows[0]["type"], "fail");
  EXPECT_EQ(rows[0]["reason"], "handler_error");
  EXPECT_EQ(rows[0]["status"], "permission_denied");
  EXPECT_EQ(rows[0]["error"], "card declined");
  EXPECT_EQ(rows[0]["attempts"], 1);
  EXPECT_EQ(rows[0]["payload"], "first doomed");
  EXPECT_EQ(rows[1]["group"], "g1");
  EXPECT_EQ(cli("dlq list --json", "other").output, "[]\n");

  // show: one in full, by id; an unknown id is not_found.
  const auto shown = cli("dlq show", "--id " + second_id);
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("payload (6 bytes):\nsecond"), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("permission_denied"), std::string::npos) << shown.output;
  const auto shown_json = cli("dlq show --json", "--id " + second_id);
  ASSERT_EQ(shown_json.exit_code, 0) << shown_json.output;
  const auto letter = parse_json(shown_json.output);
  EXPECT_EQ(letter["id"], second_id);
  ASSERT_EQ(letter["history"].size(), 1u) << shown_json.output;
  EXPECT_EQ(letter["history"][0]["reason"], "handler_error");
  const auto unknown = cli("dlq show", "--id no-such-id");
  EXPECT_EQ(unknown.exit_code, static_cast<int>(StatusCode::not_found)) << unknown.output;

  // queue stats: the figures and counters.
  const auto stats = cli("queue stats --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  const auto figures = parse_json(stats.output);
  EXPECT_EQ(figures["counters"]["sent"], 3);
  EXPECT_EQ(figures["counters"]["dead_lettered"], 2);
  EXPECT_EQ(figures["counters"]["duplicates_dropped"], 1);
  ASSERT_EQ(figures["queues"].size(), 1u) << stats.output;
  EXPECT_EQ(figures["queues"][0]["dead_letters"], 2);
  const auto stats_table = cli("queue stats");
  EXPECT_EQ(stats_table.exit_code, 0) << stats_table.output;
  EXPECT_NE(stats_table.output.find("2 dead-lettered"), std::string::npos) << stats_table.output;
  const auto server_stats = run_cli("stats " + socket_);
  EXPECT_EQ(server_stats.exit_code, 0) << server_stats.output;
  EXPECT_NE(server_stats.output.find("durable queues (" + dir_.file("data") + ", group_commit)"),
            std::string::npos)
      << server_stats.output;

  // replay: the handler now accepts it, and it leaves the dead letters.
  accept = true;
  const auto replay = cli("dlq replay", "--id " + first_id);
  ASSERT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_EQ(replay.output, "replayed " + first_id + "\n");
  EXPECT_EQ(replayed.wait_for(kWait), first_id);
  EXPECT_EQ(cli("dlq show", "--id " + first_id).exit_code, static_cast<int>(StatusCode::not_found));

  // purge: a whole queue needs --yes.
  const auto unconfirmed = cli("dlq purge", "jobs");
  EXPECT_EQ(unconfirmed.exit_code, static_cast<int>(StatusCode::failed_precondition))
      << unconfirmed.output;
  EXPECT_NE(unconfirmed.output.find("--yes"), std::string::npos) << unconfirmed.output;
  EXPECT_EQ(cli("dlq purge").exit_code, static_cast<int>(StatusCode::invalid_argument));
  const auto purged = cli("dlq purge --json", "jobs --yes");
  ASSERT_EQ(purged.exit_code, 0) << purged.output;
  EXPECT_EQ(parse_json(purged.output)["purged"], 1);
  EXPECT_EQ(cli("dlq list --json").output, "[]\n");
  EXPECT_EQ(cli("dlq list").output, "no dead letters\n");
  (*consumer)->stop();
}

TEST_F(CliDlqTest, QueueSendReadsOneMessagePerLineOfStandardInput) {
  CliServe serve({"--listen", socket_, "--no-http", "--data-dir", dir_.file("data"), "--durability",
                  "every_message"});
  ASSERT_GT(serve.pid(), 0);
  const auto sent = run_command("printf 'one\\ntwo\\nthree\\n' | " + cli_binary() +
                                " queue send --json " + socket_ + " lines --type note");
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  std::istringstream in(sent.output);
  std::string line;
  std::size_t ids = 0;
  while (std::getline(in, line)) {
    EXPECT_FALSE(parse_json(line)["duplicate"].get<bool>());
    ++ids;
  }
  EXPECT_EQ(ids, 3u);
  const auto figures = parse_json(cli("queue stats --json").output);
  ASSERT_EQ(figures["queues"].size(), 1u);
  EXPECT_EQ(figures["queues"][0]["queue"], "lines");
  EXPECT_EQ(figures["queues"][0]["ready"], 3);
  EXPECT_EQ(figures["queues"][0]["bytes"], 11);
  // A bad queue name is the server's invalid_argument.
  EXPECT_EQ(cli("queue send", "'../x' hi").exit_code,
            static_cast<int>(StatusCode::invalid_argument));
}

TEST_F(CliDlqTest, WithoutADataDirectoryTheCommandsSaySo) {
  CliServe serve({"--listen", socket_, "--no-http"});
  ASSERT_GT(serve.pid(), 0);
  const auto r = cli("dlq list");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::failed_precondition)) << r.output;
  EXPECT_NE(r.output.find("--data-dir"), std::string::npos) << r.output;
}

// `plexus serve --data-dir DIR` that cannot use DIR: exits non-zero, the store's error on stderr.
CommandResult serve_once(const std::string& args) {
  return run_cli("serve --no-http " + args);
}

TEST_F(CliDlqTest, ServeRefusesADatabaseThatIsNotSqlite) {
  const auto data = dir_.file("data");
  ::mkdir(data.c_str(), 0700);
  write_file(data + "/plexus.db", std::string(4096, 'x'));
  const auto r = serve_once("--listen " + socket_ + " --data-dir " + data);
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::failed_precondition)) << r.output;
  EXPECT_NE(r.output.find(data + "/plexus.db"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not a SQLite database"), std::string::npos) << r.output;
}

TEST_F(CliDlqTest, ServeRefusesAReadOnlyDataDirectory) {
  // Root writes anything: the server runs as nobody then, in a directory nobody may read.
  ::chmod(dir_.path().c_str(), 0755);
  const auto data = dir_.file("data");
  ::mkdir(data.c_str(), 0555);
  ::chmod(data.c_str(), 0555);
  const std::string as =
      ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : std::string();
  const auto r = run_command(as + cli_binary() + " serve --no-http --listen unix:@plexus-dlq-" +
                             std::to_string(::getpid()) + " --data-dir " + data + " 2>&1");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::permission_denied)) << r.output;
  EXPECT_NE(r.output.find(data + "/plexus.db: cannot create the database: its directory is not "
                                 "writable"),
            std::string::npos)
      << r.output;
}

TEST_F(CliDlqTest, ServeRefusesADataDirectoryAnotherServerHolds) {
  CliServe first({"--listen", socket_, "--no-http", "--data-dir", dir_.file("data")});
  ASSERT_GT(first.pid(), 0);
  const auto r = serve_once("--listen " + dir_.unix_address("second.sock") + " --data-dir " +
                            dir_.file("data"));
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::unavailable)) << r.output;
  EXPECT_NE(r.output.find("in use by another process"), std::string::npos) << r.output;
}

TEST_F(CliDlqTest, ServeRefusesAnUnknownQueueSettingWithItsLine) {
  write_file(config_, "[queues.jobs]\nmax-retries = 1\nmax-retry = 2\n");
  const auto r = serve_once("--listen " + socket_ + " --config " + config_);
  EXPECT_EQ(r.exit_code, 64) << r.output;
  EXPECT_NE(r.output.find(config_ + ":3: unknown key \"max-retry\""), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace plexus::test::dlq_cli
