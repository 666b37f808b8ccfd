// The topic and pattern grammar (src/rpc/topic_pattern.hpp): the wildcard matching table and
// every rejected shape.
#include "rpc/topic_pattern.hpp"

#include <gtest/gtest.h>

namespace plexus::rpc {
namespace {

struct Row {
  const char* pattern;
  const char* topic;
  bool matches;
};

TEST(TopicPattern, WildcardMatchingTable) {
  const Row rows[] = {
      {"db.users", "db.users", true},
      {"db.users", "db.user", false},
      {"db.users", "db.users.x", false},
      {"db.users", "db", false},
      {"db.*", "db.users", true},
      {"db.*", "db", false},
      {"db.*", "db.users.insert", false},
      {"db.*", "dbx.users", false},
      {"*", "db", true},
      {"*", "db.users", false},
      {"*.users", "db.users", true},
      {"*.users", "db.orders", false},
      {"db.*.insert", "db.users.insert", true},
      {"db.*.insert", "db.users.delete", false},
      {"db.*.insert", "db.insert", false},
      {"*.*", "a.b", true},
      {"*.*", "a", false},
      {"*.*", "a.b.c", false},
      {"db.>", "db.users", true},
      {"db.>", "db.users.insert", true},
      {"db.>", "db", false},
      {"db.>", "dbx.users", false},
      {">", "db", true},
      {">", "db.users.insert", true},
      {"*.>", "db", false},
      {"*.>", "db.users", true},
      {"db.*.>", "db.users.insert.x", true},
      {"db.*.>", "db.users", false},
      {"a.b.c", "a.b.c", true},
      {"a.b.c", "a.b", false},
  };
  for (const auto& r : rows) {
    ASSERT_TRUE(validate_pattern(r.pattern)) << r.pattern;
    ASSERT_TRUE(validate_topic(r.topic)) << r.topic;
    EXPECT_EQ(topic_matches(r.pattern, r.topic), r.matches) << r.pattern << " vs " << r.topic;
  }
}

TEST(TopicPattern, RejectsMalformedPatternsWithInvalidArgument) {
  for (const char* bad : {"", ".", "db.", ".db", "db..users", "db.>.x", ">.x", "db.us*", "db.>>",
                          "db.**", "a>", "*a"}) {
    auto r = validate_pattern(bad);
    ASSERT_FALSE(r) << '"' << bad << '"';
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
  EXPECT_FALSE(validate_pattern(std::string(256, 'a')));
  EXPECT_TRUE(validate_pattern(std::string(255, 'a')));
  EXPECT_NE(validate_pattern("db..x").error().message.find("empty segment at byte 3"),
            std::string::npos)
      << validate_pattern("db..x").error().message;
}

TEST(TopicPattern, TopicsMayNotUseWildcards) {
  for (const char* bad : {"", "db.*", "db.>", ">", "*", "db..x", "db.", "a*b"}) {
    auto r = validate_topic(bad);
    ASSERT_FALSE(r) << '"' << bad << '"';
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
  EXPECT_TRUE(validate_topic("demo.ticker"));
  EXPECT_TRUE(validate_topic("x"));
}

}  // namespace
}  // namespace plexus::rpc
