// The NATS bridge's pure parts (src/api/nats_subjects.hpp, read_nats_bridge_config): subjects of
// methods and topics and back, the checks on names and patterns, errors in replies, and the
// [nats] table of a config file.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "api/nats_subjects.hpp"
#include "plexus/nats_bridge.hpp"
#include "test_kit.hpp"

namespace plexus::test::nats_subjects_unit {

namespace nd = detail::nats;

TEST(NatsSubjects, MethodsAndTopicsMapToSubjectsAndBack) {
  EXPECT_EQ(nd::call_subject("plexus", "echo"), "plexus.call.echo");
  // A bus service's method: dots are subject tokens, the '/' stays inside its token.
  const auto s = nd::call_subject("site.a", "com.example.search/query");
  EXPECT_EQ(s, "site.a.call.com.example.search/query");
  EXPECT_EQ(nd::method_of("site.a", s), "com.example.search/query");
  EXPECT_EQ(nd::topic_subject("plexus", "db.users"), "plexus.topic.db.users");
  EXPECT_EQ(nd::topic_of("plexus", "plexus.topic.db.users"), "db.users");
  // Subjects of another shape or prefix name nothing.
  EXPECT_FALSE(nd::method_of("plexus", "plexus.topic.db"));
  EXPECT_FALSE(nd::topic_of("plexus", "plexus.call.echo"));
  EXPECT_FALSE(nd::method_of("plexus", "plexusx.call.echo"));
  EXPECT_FALSE(nd::method_of("plexus", "plexus.call."));
  EXPECT_FALSE(nd::topic_of("plexus", "plexus.topic"));
}

TEST(NatsSubjects, NamesAndPatternsAreChecked) {
  EXPECT_TRUE(nd::valid_subject("a.b.c", false));
  EXPECT_TRUE(nd::valid_subject("svc/query", false));
  EXPECT_TRUE(nd::valid_subject("a.*.c", true));
  EXPECT_TRUE(nd::valid_subject("a.>", true));
  EXPECT_FALSE(nd::valid_subject("a.*", false));   // wildcards only where allowed
  EXPECT_FALSE(nd::valid_subject("a.>.b", true));  // > only as the last token
  EXPECT_FALSE(nd::valid_subject("a.b*", true));   // never inside a token
  EXPECT_FALSE(nd::valid_subject("a..b", false));
  EXPECT_FALSE(nd::valid_subject(".a", false));
  EXPECT_FALSE(nd::valid_subject("a.", false));
  EXPECT_FALSE(nd::valid_subject("a b", false));
  EXPECT_FALSE(nd::valid_subject("a\tb", false));
  EXPECT_FALSE(nd::valid_subject("", false));

  NatsBridgeOptions o;
  o.url = "nats://127.0.0.1:4222";
  o.export_methods = {"echo", "com.example.>"};
  o.import_topics = {"a.*"};
  EXPECT_TRUE(nd::check_options(o));
  o.export_topics = {"x..y"};
  auto bad = nd::check_options(o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, StatusCode::invalid_argument);
  EXPECT_NE(bad.error().message.find("exported topic \"x..y\""), std::string::npos);
  o.export_topics.clear();
  o.default_timeout = Millis{0};
  EXPECT_FALSE(nd::check_options(o));
  o.default_timeout = Millis{1};
  EXPECT_TRUE(nd::check_options(o));
  o.url.clear();
  EXPECT_FALSE(nd::check_options(o));
}

TEST(NatsSubjects, ImportsNameOneMethodOrALocalAndARemoteOne) {
  auto same = nd::parse_import("com.example.search/query");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->local, "com.example.search/query");
  EXPECT_EQ(same->remote, "com.example.search/query");
  auto renamed = nd::parse_import("b.echo=echo");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->local, "b.echo");
  EXPECT_EQ(renamed->remote, "echo");
  EXPECT_FALSE(nd::parse_import("=echo"));
  EXPECT_FALSE(nd::parse_import("echo="));
  EXPECT_FALSE(nd::parse_import("svc.*"));
  EXPECT_FALSE(nd::parse_import(""));
}

TEST(NatsSubjects, AnErrorTravelsWithItsCodeMessageAndDetails) {
  const Error e{StatusCode::not_found, "no such user\nat all", R"({"id":7})"};
  const auto body = nd::error_body(e);
  auto back = nd::error_of("5", body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->code, StatusCode::not_found);
  EXPECT_EQ(back->message, e.message);
  EXPECT_EQ(nlohmann::json::parse(back->details), nlohmann::json::parse(e.details));
  // Details that are no JSON travel as their text.
  back = nd::error_of("3", nd::error_body(Error{StatusCode::invalid_argument, "m", "not json"}));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->details, "not json");
  // Ok, an unknown code, a body that is no JSON object.
  EXPECT_FALSE(nd::error_of("", "answer"));
  EXPECT_FALSE(nd::error_of("0", "answer"));
  back = nd::error_of("999", "{}");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->code, StatusCode::unknown);
  back = nd::error_of("x", "plain text");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->code, StatusCode::unknown);
  EXPECT_EQ(back->message, "plain text");
}

std::string write_config(const TempDir& dir, const std::string& text) {
  const auto path = dir.file("serve.toml");
  std::ofstream(path) << text;
  return path;
}

TEST(NatsConfig, TheNatsTableIsRead) {
  TempDir dir;
  const auto path = write_config(dir, R"(demo = true
[queues.jobs]
max-retries = 2
[nats]
url = "nats://10.0.0.1:4222"
prefix = "site.a"
name = "host-a"
export-methods = ["echo", "com.example.>"]
import-methods = ["b.echo=echo", "com.example.search/query"]
export-topics = ["a.>"]
import-topics = ["b.*"]
connect-timeout-ms = 500
reconnect-wait-ms = 250
default-timeout-ms = 10000
queue-group = "workers"
send-asap = false
)");
  auto o = read_nats_bridge_config(path);
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_EQ(o->url, "nats://10.0.0.1:4222");
  EXPECT_EQ(o->prefix, "site.a");
  EXPECT_EQ(o->name, "host-a");
  EXPECT_EQ(o->export_methods, (std::vector<std::string>{"echo", "com.example.>"}));
  ASSERT_EQ(o->import_methods.size(), 2u);
  EXPECT_EQ(o->import_methods[0].local, "b.echo");
  EXPECT_EQ(o->import_methods[0].remote, "echo");
  EXPECT_EQ(o->import_methods[1].remote, "com.example.search/query");
  EXPECT_EQ(o->export_topics, std::vector<std::string>{"a.>"});
  EXPECT_EQ(o->import_topics, std::vector<std::string>{"b.*"});
  EXPECT_EQ(o->connect_timeout, Millis{500});
  EXPECT_EQ(o->reconnect_wait, Millis{250});
  EXPECT_EQ(o->default_timeout, Millis{10000});
  EXPECT_EQ(o->queue_group, "workers");
  EXPECT_FALSE(o->send_asap);
}

TEST(NatsConfig, NoTableMeansNoBridge) {
  TempDir dir;
  auto o = read_nats_bridge_config(write_config(dir, "demo = true\n"));
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->url.empty());
  EXPECT_TRUE(o->export_methods.empty());
}

TEST(NatsConfig, BadKeysAndValuesAreErrorsWithTheirLine) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[nats]\nurl = \"nats://x\"\nexport = [\"echo\"]\n", ":3: unknown key \"export\" in [nats]"},
      {"[nats]\nurl = 4222\n", ":2: nats.url: not a string"},
      {"[nats]\nexport-methods = \"echo\"\n", ":2: nats.export-methods: not an array"},
      {"[nats]\nexport-methods = [1]\n", ":2: nats.export-methods: not a string"},
      {"[nats]\nreconnect-wait-ms = -1\n", ":2: nats.reconnect-wait-ms: not a number"},
      {"[nats]\nimport-methods = [\"a=\"]\n", ":2: imported method \"a=\""},
      {"nats = 3\n", ":1: \"nats\" must be a table"},
      {"[nats]\nsend-asap = 1\n", ":2: nats.send-asap: not true or false"},
      {"[nats\n", ":1: "},
  };
  for (const auto& [text, want] : cases) {
    const auto path = write_config(dir, text);
    auto o = read_nats_bridge_config(path);
    ASSERT_FALSE(o) << text;
    EXPECT_EQ(o.error().code, StatusCode::invalid_argument);
    EXPECT_NE(o.error().message.find(path + want), std::string::npos)
        << text << " -> " << o.error().message;
  }
}

}  // namespace plexus::test::nats_subjects_unit

namespace plexus::test::nats_subjects_unit {

TEST(NatsConfig, TheExampleConfigLoadsAndPassesTheChecks) {
  auto o = read_nats_bridge_config(PLEXUS_SOURCE_DIR "/docs/examples/nats-bridge.toml");
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_EQ(o->name, "host-a");
  EXPECT_EQ(o->import_methods.size(), 2u);
  EXPECT_TRUE(nd::check_options(*o));
}

}  // namespace plexus::test::nats_subjects_unit
