// The topic and pattern grammar (src/wire/topic_pattern.hpp): the wildcard matching table and
// every rejected shape.
#include "wire/topic_pattern.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plexus::wire {
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

// topic_matches against a reference written from the grammar (split into segments, compare
// one by one), for every valid pattern of 1..3 segments over {a, b, *, >} and every topic of
// 1..4 segments over {a, b}.
std::vector<std::string> segments_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

bool reference_match(const std::string& pattern, const std::string& topic) {
  const auto p = segments_of(pattern);
  const auto t = segments_of(topic);
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return t.size() > i;
    if (i >= t.size() || (p[i] != "*" && p[i] != t[i])) return false;
  }
  return p.size() == t.size();
}

std::vector<std::string> joined(const std::vector<std::string>& alphabet, std::size_t max_len) {
  std::vector<std::string> out;
  std::vector<std::string> layer{""};
  for (std::size_t len = 1; len <= max_len; ++len) {
    std::vector<std::string> next;
    for (const auto& prefix : layer) {
      for (const auto& seg : alphabet) next.push_back(prefix.empty() ? seg : prefix + "." + seg);
    }
    out.insert(out.end(), next.begin(), next.end());
    layer = std::move(next);
  }
  return out;
}

TEST(TopicPattern, MatchingAgreesWithTheGrammarExhaustively) {
  int compared = 0;
  for (const auto& pattern : joined({"a", "b", "*", ">"}, 3)) {
    if (!validate_pattern(pattern)) continue;  // > before the end
    for (const auto& topic : joined({"a", "b"}, 4)) {
      ASSERT_EQ(topic_matches(pattern, topic), reference_match(pattern, topic))
          << pattern << " vs " << topic;
      ++compared;
    }
  }
  // Valid patterns: 4 of one segment, 3*4 of two, 3*3*4 of three (> only last) = 52; topics:
  // 2 + 4 + 8 + 16 = 30.
  EXPECT_EQ(compared, 52 * 30);
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
  EXPECT_TRUE(validate_topic(std::string(255, 'a')));
  EXPECT_FALSE(validate_topic(std::string(256, 'a')));
  EXPECT_NE(validate_topic("db..x").error().message.find("empty segment at byte 3"),
            std::string::npos)
      << validate_topic("db..x").error().message;
}

// validate_topic has a one-pass fast path for good topics: it must accept exactly the topics
// the grammar allows. Every string of 1..6 bytes over {a . * >} against the grammar itself:
// non-empty segments separated by single dots, no wildcard byte anywhere.
TEST(TopicPattern, TopicValidationMatchesTheGrammarExhaustively) {
  const std::string alphabet = "a.*>";
  int checked = 0;
  for (std::size_t len = 1; len <= 6; ++len) {
    std::size_t combos = 1;
    for (std::size_t i = 0; i < len; ++i) combos *= alphabet.size();
    for (std::size_t n = 0; n < combos; ++n) {
      std::string topic;
      for (std::size_t i = 0, v = n; i < len; ++i, v /= alphabet.size()) {
        topic += alphabet[v % alphabet.size()];
      }
      bool grammatical = topic.find_first_of("*>") == std::string::npos;
      std::size_t start = 0;
      while (grammatical) {
        const auto dot = topic.find('.', start);
        const auto end = dot == std::string::npos ? topic.size() : dot;
        grammatical = end > start;
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      const auto r = validate_topic(topic);
      ASSERT_EQ(static_cast<bool>(r), grammatical) << '"' << topic << '"';
      if (!r) {
        EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << topic;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4 + 16 + 64 + 256 + 1024 + 4096);
}

TEST(TopicPattern, CoversTable) {
  struct Cover {
    const char* outer;
    const char* inner;
    bool covers;
  };
  const Cover rows[] = {
      {"news.>", "news.*.x", true},
      {"news.>", "news.>", true},
      {"news.>", "news.a", true},
      {"news.>", "news", false},
      {"news.>", ">", false},
      {"news.>", "*.a", false},
      {"news.*", "news.a", true},
      {"news.*", "news.*", true},
      {"news.*", "news.>", false},
      {"news.*", "news.a.b", false},
      {"news.*", "news", false},
      {"news.a", "news.*", false},
      {"news.a", "news.a", true},
      {"news.a", "news.b", false},
      {">", "a", true},
      {">", "*", true},
      {">", ">", true},
      {">", "a.b.>", true},
      {"*", ">", false},
      {"*", "a", true},
      {"*.*", "a.>", false},
      {"a.*.c", "a.b.c", true},
      {"a.*.c", "a.*.c", true},
      {"a.*.c", "a.*.d", false},
      {"a.*.>", "a.b.>", true},
      {"a.*.>", "a.>", false},
      {"a.b", "a.b.c", false},
  };
  for (const auto& r : rows) {
    ASSERT_TRUE(validate_pattern(r.outer)) << r.outer;
    ASSERT_TRUE(validate_pattern(r.inner)) << r.inner;
    EXPECT_EQ(pattern_covers(r.outer, r.inner), r.covers) << r.outer << " covers " << r.inner;
  }
}

// pattern_covers against its definition: outer covers inner when every topic inner matches,
// outer matches too. Every pair of valid patterns of 1..3 segments over {a, b, *, >}, every
// topic of 1..4 segments over {a, b, c} (a pattern of at most 3 segments that is not ">"-ended
// matches no 4-segment topic, and "c" stands for any literal neither pattern names).
TEST(TopicPattern, CoversAgreesWithItsDefinitionExhaustively) {
  std::vector<std::string> patterns;
  for (const auto& p : joined({"a", "b", "*", ">"}, 3)) {
    if (validate_pattern(p)) patterns.push_back(p);
  }
  const auto topics = joined({"a", "b", "c"}, 4);
  int compared = 0;
  for (const auto& outer : patterns) {
    for (const auto& inner : patterns) {
      bool expected = true;
      for (const auto& topic : topics) {
        if (reference_match(inner, topic) && !reference_match(outer, topic)) {
          expected = false;
          break;
        }
      }
      ASSERT_EQ(pattern_covers(outer, inner), expected) << outer << " covers " << inner;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 52 * 52);
}

}  // namespace
}  // namespace plexus::wire
