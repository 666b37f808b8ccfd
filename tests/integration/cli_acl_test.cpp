// `plexus acl check`: the real binary's answers, listing and exit statuses for a policy file,
// and an invalid file's error at its line.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "test_kit.hpp"

namespace plexus::test::acl_cli {
namespace {

constexpr const char* kPolicy = R"(version = 1

[[rule]]
name = "ops"
uid = 1000
call = ["math.*"]
publish = ["news.>"]
subscribe = ["news.>"]

[[rule]]
name = "no-admin"
effect = "deny"
anyone = true
except = { user = "root" }
publish = ["admin.>"]

[[rule]]
name = "readers"
scope = "reader"
call = ["news.get"]
)";

class CliAclTest : public ::testing::Test {
 protected:
  void SetUp() override { policy_ = write("policy.toml", kPolicy); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_.file(name);
    std::FILE* f = std::fopen(path.c_str(), "w");
    EXPECT_NE(f, nullptr) << path;
    if (f) {
      std::fputs(text.c_str(), f);
      std::fclose(f);
    }
    return path;
  }
  TempDir dir_;
  std::string policy_;
};

TEST_F(CliAclTest, AllowedQuestionsExitZero) {
  const auto r = run_cli("acl check " + policy_ +
                         " --uid 1000 --call math.add --call math.mul --subscribe 'news.*'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "allow call math.add (rule \"ops\")\n"
            "allow call math.mul (rule \"ops\")\n"
            "allow subscribe news.* (rule \"ops\")\n");
}

TEST_F(CliAclTest, FileMayFollowRepeatableOptions) {
  const auto r = run_cli("acl check --uid 1000 --call math.add --call math.mul " + policy_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "allow call math.add (rule \"ops\")\n"
            "allow call math.mul (rule \"ops\")\n");
}

TEST_F(CliAclTest, AnyDenialExitsWithPermissionDenied) {
  const auto r = run_cli("acl check " + policy_ +
                         " --uid 1000 --call math.add --call other.x --publish admin.x");
  EXPECT_EQ(r.exit_code, 7) << r.output;  // StatusCode::permission_denied
  EXPECT_EQ(r.output,
            "allow call math.add (rule \"ops\")\n"
            "deny call other.x (no rule allows it)\n"
            "deny publish admin.x (rule \"no-admin\")\n");
}

TEST_F(CliAclTest, IdentityFromNamesAndTokenFlags) {
  auto r = run_cli("acl check " + policy_ + " --user root --publish admin.x");
  EXPECT_EQ(r.exit_code, 7) << r.output;  // root is not denied, but nothing allows it
  EXPECT_EQ(r.output, "deny publish admin.x (no rule allows it)\n");
  r = run_cli("acl check " + policy_ +
              " --subject svc --scope writer --scope reader --call news.get");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "allow call news.get (rule \"readers\")\n");
  r = run_cli("acl check " + policy_ + " --user no-such-user-plexus --call x");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("no user \"no-such-user-plexus\""), std::string::npos) << r.output;
}

TEST_F(CliAclTest, WithoutQuestionsListsTheRulesThatApply) {
  const auto r = run_cli("acl check " + policy_ + " --uid 1000");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "rule \"ops\" (allow)\n"
            "  allows call: math.*\n"
            "  allows publish: news.>\n"
            "  allows subscribe: news.>\n"
            "rule \"no-admin\" (deny)\n"
            "  denies publish: admin.>\n");
}

TEST_F(CliAclTest, InvalidFileNamesItsLine) {
  const auto bad =
      write("bad.toml", "version = 1\n\n[[rule]]\nname = \"x\"\nuid = 1\ncall = [\"a..b\"]\n");
  const auto r = run_cli("acl check " + bad + " --uid 1 --call a");
  EXPECT_EQ(r.exit_code, 3) << r.output;  // StatusCode::invalid_argument
  EXPECT_NE(r.output.find(bad + ":6:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("invalid pattern \"a..b\""), std::string::npos) << r.output;
}

TEST_F(CliAclTest, MissingFileIsNotFound) {
  const auto r = run_cli("acl check " + dir_.file("none.toml") + " --uid 1 --call a");
  EXPECT_EQ(r.exit_code, 5) << r.output;  // StatusCode::not_found
}

}  // namespace
}  // namespace plexus::test::acl_cli
