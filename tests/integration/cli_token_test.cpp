// `plexus token keygen | issue | verify`, the real binary: key files and their modes, a token
// issued and verified, and the refusals a user sees (a key not held, an expired token).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "test_kit.hpp"

// A namespace of its own: the unity build puts this file beside others.
namespace plexus::test::cli_token {
namespace {

using nlohmann::json;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

class CliTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* kid : {"k1", "k2"}) {
      const auto r = run_cli(std::string("token keygen --kid ") + kid + " --dir " + dir_.path());
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find(dir_.file(std::string(kid) + ".key")), std::string::npos);
      EXPECT_NE(r.output.find(dir_.file(std::string(kid) + ".pub")), std::string::npos);
    }
  }
  // The token `issue ARGS` prints (stdout alone).
  std::string issue(const std::string& args) {
    const auto r = run_command(cli_binary() + " token issue --key " + dir_.file("k1.key") + " " +
                               args + " 2>/dev/null");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return trim(r.output);
  }
  TempDir dir_;
};

TEST_F(CliTokenTest, KeygenWritesASecretOnlyItsOwnerReadsAndRefusesToOverwrite) {
  EXPECT_EQ(mode_of(dir_.file("k1.key")), 0600u);
  EXPECT_EQ(mode_of(dir_.file("k1.pub")) & ~0644u, 0u);  // 0644 less the umask
  EXPECT_NE(mode_of(dir_.file("k1.pub")) & 0400u, 0u);
  const json secret = json::parse(read_all(dir_.file("k1.key")));
  const json pub = json::parse(read_all(dir_.file("k1.pub")));
  EXPECT_EQ(secret["kid"], "k1");
  EXPECT_TRUE(secret.contains("d"));
  EXPECT_FALSE(pub.contains("d"));
  EXPECT_EQ(secret["x"], pub["x"]);

  const std::string before = read_all(dir_.file("k1.key"));
  auto again = run_cli("token keygen --kid k1 --dir " + dir_.path());
  EXPECT_EQ(again.exit_code, 6) << again.output;  // already_exists
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;
  EXPECT_EQ(read_all(dir_.file("k1.key")), before);
  auto forced = run_cli("token keygen --kid k1 --force --dir " + dir_.path());
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_NE(read_all(dir_.file("k1.key")), before);
  EXPECT_EQ(mode_of(dir_.file("k1.key")), 0600u);
}

TEST_F(CliTokenTest, IssueThenVerifyPrintsTheClaims) {
  const std::string token =
      issue("--subject alice --scope math.call --scope news.read --issuer ci --ttl 15m");
  ASSERT_FALSE(token.empty());
  const auto r = run_command(cli_binary() + " token verify --public-key " + dir_.file("k2.pub") +
                             " --public-key " + dir_.file("k1.pub") + " " + token + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json claims = json::parse(r.output);
  EXPECT_EQ(claims["subject"], "alice");
  EXPECT_EQ(claims["scopes"], json::array({"math.call", "news.read"}));
  EXPECT_EQ(claims["issuer"], "ci");
  EXPECT_EQ(claims["key_id"], "k1");
  EXPECT_EQ(claims["expires"].get<std::int64_t>() - claims["issued_at"].get<std::int64_t>(), 900);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  EXPECT_LE(std::abs(claims["issued_at"].get<std::int64_t>() - now), 60);
  EXPECT_TRUE(claims["not_before"].is_null());
  // From stdin too.
  const auto piped = run_command("echo " + token + " | " + cli_binary() +
                                 " token verify --public-key " + dir_.file("k1.pub") + " -");
  EXPECT_EQ(piped.exit_code, 0) << piped.output;
}

TEST_F(CliTokenTest, VerifyWithAnotherKeyRefusesAsUnknownKey) {
  const std::string token = issue("--subject alice");
  const auto r = run_cli("token verify --public-key " + dir_.file("k2.pub") + " " + token);
  EXPECT_EQ(r.exit_code, 16) << r.output;  // unauthenticated
  EXPECT_NE(r.output.find("token was signed by a key this server does not hold (kid \"k1\")"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\"reason\":\"unknown_key\""), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(token), std::string::npos);  // never echoed
}

TEST_F(CliTokenTest, AnExpiryInThePastIsReportedAsExpired) {
  const std::string token = issue("--subject alice --expires 1796626800");  // 2026-12-07T07:00:00Z
  const auto r = run_cli("token verify --public-key " + dir_.file("k1.pub") + " " + token);
  EXPECT_EQ(r.exit_code, 16) << r.output;
  EXPECT_NE(r.output.find("token expired at 2026-12-07T07:00:00Z"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"reason\":\"expired\""), std::string::npos) << r.output;
}

TEST_F(CliTokenTest, NotYetValidAndUsageErrors) {
  const std::string token = issue("--subject alice --not-before-in 1h --ttl 2h");
  auto r = run_cli("token verify --public-key " + dir_.file("k1.pub") + " " + token);
  EXPECT_EQ(r.exit_code, 16) << r.output;
  EXPECT_NE(r.output.find("\"reason\":\"not_yet_valid\""), std::string::npos) << r.output;
  // Servers are given public keys only.
  r = run_cli("token verify --public-key " + dir_.file("k1.key") + " " + token);
  EXPECT_EQ(r.exit_code, 3) << r.output;  // invalid_argument
  EXPECT_NE(r.output.find("secret"), std::string::npos) << r.output;
  EXPECT_EQ(run_cli("token issue --key " + dir_.file("k1.key") + " --subject a --ttl 5x").exit_code,
            64);
  EXPECT_EQ(run_cli("token issue --key " + dir_.file("k1.pub") + " --subject a").exit_code, 3);
  EXPECT_EQ(run_cli("token issue --key " + dir_.file("none.key") + " --subject a").exit_code, 5);
}

}  // namespace
}  // namespace plexus::test::cli_token
