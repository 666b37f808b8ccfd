// Schema validation alone: every failing path and rule is reported.
#include <gtest/gtest.h>

#include "policy/validate.hpp"
#include "rpc/deadline.hpp"

namespace plexus::policy {
namespace {

using nlohmann::json;

const json kSchema = json::parse(R"({
  "type": "object",
  "required": ["query", "limit"],
  "properties": {
    "query": {"type": "string", "minLength": 1},
    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
    "tags": {"type": "array", "items": {"type": "string"}}
  }
})");

TEST(SchemaValidator, AcceptsAValidDocument) {
  auto v = SchemaValidator::create(kSchema);
  ASSERT_TRUE(v) << v.error().to_string();
  EXPECT_TRUE((*v)->validate(json{{"query", "x"}, {"limit", 5}}));
}

TEST(SchemaValidator, ReportsEveryFailingPath) {
  auto v = SchemaValidator::create(kSchema);
  ASSERT_TRUE(v);
  auto r = (*v)->validate(json::parse(R"({"query":"","limit":1000,"tags":["a",7]})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  const auto errors = json::parse(r.error().details)["errors"];
  std::set<std::string> paths;
  for (const auto& e : errors) {
    paths.insert(e["path"].get<std::string>());
    EXPECT_FALSE(e["rule"].get<std::string>().empty());
  }
  EXPECT_EQ(paths, (std::set<std::string>{"/query", "/limit", "/tags/1"})) << errors.dump();
}

TEST(SchemaValidator, MissingRequiredPropertyNamesIt) {
  auto v = SchemaValidator::create(kSchema);
  ASSERT_TRUE(v);
  auto r = (*v)->validate(json::object());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().details.find("query"), std::string::npos) << r.error().details;
  EXPECT_NE(r.error().details.find("limit"), std::string::npos) << r.error().details;
}

TEST(SchemaValidator, NotJsonHasTheSameShape) {
  const auto e = SchemaValidator::not_json("syntax error");
  EXPECT_EQ(e.code, StatusCode::invalid_argument);
  const auto errors = json::parse(e.details)["errors"];
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["path"], "");
  EXPECT_EQ(errors[0]["rule"], "json");
}

TEST(SchemaValidator, RefusesAnUnusableSchema) {
  auto v = SchemaValidator::create(json{{"type", 42}});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, StatusCode::invalid_argument);
}

TEST(Timeout, ShorterOfCallerDeadlineAndHandlerLimitWins) {
  const std::chrono::steady_clock::time_point now{std::chrono::seconds(10)};
  using std::chrono::milliseconds;
  auto none = rpc::effective_deadline(now, std::nullopt, std::nullopt);
  EXPECT_FALSE(none.at);
  auto own = rpc::effective_deadline(now, std::nullopt, milliseconds(50));
  EXPECT_EQ(*own.at, now + milliseconds(50));
  EXPECT_TRUE(own.handler_limit_won);
  auto caller = rpc::effective_deadline(now, now + milliseconds(20), milliseconds(50));
  EXPECT_EQ(*caller.at, now + milliseconds(20));
  EXPECT_FALSE(caller.handler_limit_won);
  auto handler = rpc::effective_deadline(now, now + milliseconds(80), milliseconds(50));
  EXPECT_EQ(*handler.at, now + milliseconds(50));
  EXPECT_TRUE(handler.handler_limit_won);
}

}  // namespace
}  // namespace plexus::policy
