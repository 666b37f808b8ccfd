// Access policies (plexus/security.hpp, src/security/access_policy.cpp): every parse error at
// its line, each who-key matching and not, deny precedence, which rule answers, subscription
// coverage, and the example policy in docs/examples/.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "plexus/security.hpp"

namespace plexus::test::acl {
namespace {

using Action = AccessAction;

// Parses `text`, failing the test when it does not parse.
AccessPolicy parse_ok(const std::string& text) {
  auto policy = AccessPolicy::parse(text);
  EXPECT_TRUE(policy) << policy.error().to_string() << "\n" << text;
  if (!policy) return *AccessPolicy::parse("");
  return std::move(*policy);
}

// Expects `text` to be refused at `line` with a message containing `what`.
void expect_error(const std::string& text, int line, const std::string& what) {
  auto policy = AccessPolicy::parse(text, "p.toml");
  ASSERT_FALSE(policy) << "parsed:\n" << text;
  const auto& e = policy.error();
  EXPECT_EQ(e.code, StatusCode::invalid_argument) << e.to_string();
  const std::string prefix = "p.toml:" + std::to_string(line) + ":";
  EXPECT_EQ(e.message.substr(0, prefix.size()), prefix) << e.message << "\n" << text;
  EXPECT_NE(e.message.find(what), std::string::npos) << e.message << "\nwanted: " << what;
  EXPECT_NE(e.details.find("{\"line\":" + std::to_string(line) + ",\"column\":"), std::string::npos)
      << e.details;
}

PeerIdentity uid_peer(std::uint32_t uid, std::uint32_t gid = 1000) {
  PeerIdentity p;
  p.uid = uid;
  p.gid = gid;
  return p;
}

PeerIdentity token_peer(std::string subject, std::vector<std::string> scopes) {
  PeerIdentity p;
  p.subject = std::move(subject);
  p.scopes = std::move(scopes);
  return p;
}

bool allowed(const AccessPolicy& policy, const PeerIdentity& peer, Action action,
             std::string_view target) {
  return policy.check(peer, action, target).allowed;
}

// A rule named "r" applying to `who` that allows calling "m.*".
std::string rule_for(const std::string& who) {
  return "[[rule]]\nname = \"r\"\n" + who + "\ncall = [\"m.*\"]\n";
}

// --- parse errors ---------------------------------------------------------------------------

TEST(AccessPolicyParse, TomlSyntaxErrorAtItsLine) {
  expect_error("version = 1\n[[rule]]\nname = \"a\"\nuid = [1,,2]\n", 4, "");
  expect_error("[[rule]\n", 1, "");
}

TEST(AccessPolicyParse, UnknownTopLevelKeyNamesItAndTheAllowedOnes) {
  expect_error("version = 1\n\ncolour = \"red\"\n", 3, "unknown key \"colour\"");
  expect_error("version = 1\n\ncolour = \"red\"\n", 3, "version and rule");
  expect_error("[[rules]]\nname = \"a\"\n", 1, "unknown key \"rules\"");
}

TEST(AccessPolicyParse, UnknownRuleKeyNamesItAndTheAllowedOnes) {
  const std::string text = "[[rule]]\nname = \"a\"\nuid = 1\n  callz = [\"x\"]\ncall = [\"x\"]\n";
  expect_error(text, 4, "unknown key \"callz\" in a rule");
  expect_error(
      text, 4,
      "name, effect, uid, user, gid, group, executable, subject, scope, certificate, anyone");
}

TEST(AccessPolicyParse, WrongTypesAtTheirLines) {
  expect_error("[[rule]]\nname = 5\nuid = 1\ncall = [\"x\"]\n", 2, "\"name\" must be a string");
  expect_error("[[rule]]\nname = \"a\"\nuid = \"1000\"\ncall = [\"x\"]\n", 3,
               "\"uid\" takes an integer");
  expect_error("[[rule]]\nname = \"a\"\nuid = [1,\n  \"2\"]\ncall = [\"x\"]\n", 4,
               "\"uid\" takes an integer");
  expect_error("[[rule]]\nname = \"a\"\nuid = -1\ncall = [\"x\"]\n", 3, "not a valid id");
  expect_error("[[rule]]\nname = \"a\"\ngid = 4294967296\ncall = [\"x\"]\n", 3, "not a valid id");
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\ncall = 3\n", 4, "\"call\" takes a string");
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\ncall = []\n", 4, "empty list");
  expect_error("[[rule]]\nname = \"a\"\nsubject = 7\ncall = [\"x\"]\n", 3,
               "\"subject\" takes a string");
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\neffect = \"maybe\"\ncall = [\"x\"]\n", 4,
               "\"effect\" must be \"allow\" or \"deny\"");
  expect_error("[[rule]]\nname = \"a\"\nanyone = 1\ncall = [\"x\"]\n", 3, "\"anyone\" must be");
  expect_error("[[rule]]\nname = \"a\"\nanyone = false\ncall = [\"x\"]\n", 3,
               "\"anyone\" may only be true");
  expect_error("version = \"1\"\n", 1, "\"version\" must be an integer");
  expect_error("rule = 3\n", 1, "array of tables");
  expect_error("\n[rule]\nname = \"a\"\n", 2, "array of tables");
  expect_error("[[rule]]\nname = \"a\"\nexecutable = \"bin/x\"\ncall = [\"x\"]\n", 3,
               "not an absolute path");
}

TEST(AccessPolicyParse, EmptyMissingOrDuplicateName) {
  expect_error("[[rule]]\nuid = 1\nname = \"\"\ncall = [\"x\"]\n", 3, "\"name\" is empty");
  expect_error("\n[[rule]]\nuid = 1\ncall = [\"x\"]\n", 2, "needs a name");
  expect_error(
      "[[rule]]\nname = \"a\"\nuid = 1\ncall = [\"x\"]\n\n[[rule]]\nuid = 2\nname = \"a\"\n"
      "call = [\"y\"]\n",
      8, "duplicate rule name \"a\"");
}

TEST(AccessPolicyParse, RuleNamingNoPeer) {
  expect_error(
      "version = 1\n\n[[rule]]\nname = \"a\"\ncall = [\"x\"]\n", 3,
      "add uid, user, gid, group, executable, certificate, subject, scope, or anyone = true");
}

TEST(AccessPolicyParse, AnyoneWithOtherWhoKeys) {
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\nanyone = true\ncall = [\"x\"]\n", 4,
               "may not be combined");
  expect_error("[[rule]]\nname = \"a\"\nanyone = true\nscope = \"s\"\ncall = [\"x\"]\n", 3,
               "may not be combined");
}

TEST(AccessPolicyParse, RuleWithNoAction) {
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\n\n[[rule]]\nname = \"b\"\nuid = 2\n", 1,
               "rule \"a\" covers no action");
}

TEST(AccessPolicyParse, InvalidPatternSaysWhy) {
  const std::string text = "[[rule]]\nname = \"a\"\nuid = 1\ncall = [\"ok\",\n  \"a..b\"]\n";
  expect_error(text, 5, "\"call\": invalid pattern \"a..b\"");
  expect_error(text, 5, "empty segment at byte 2");
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\nsubscribe = [\"a.>.b\"]\n", 4,
               "> must be the last segment");
  expect_error("[[rule]]\nname = \"a\"\nuid = 1\npublish = [\"a*\"]\n", 4,
               "must be a whole segment");
}

TEST(AccessPolicyParse, UnknownUserOrGroup) {
  expect_error("[[rule]]\nname = \"a\"\nuser = \"no-such-user-plexus\"\ncall = [\"x\"]\n", 3,
               "unknown user \"no-such-user-plexus\"");
  expect_error(
      "[[rule]]\nname = \"a\"\ngroup = [\"root\", \"no-such-group-plexus\"]\n"
      "call = [\"x\"]\n",
      3, "unknown group \"no-such-group-plexus\"");
}

TEST(AccessPolicyParse, UnknownVersion) {
  expect_error("# a policy\nversion = 2\n", 2, "unknown version 2 (only 1 is known)");
}

TEST(AccessPolicyParse, ExceptErrors) {
  expect_error("[[rule]]\nname = \"a\"\nanyone = true\nexcept = 3\ncall = [\"x\"]\n", 4,
               "\"except\" must be a table");
  expect_error(
      "[[rule]]\nname = \"a\"\nanyone = true\nexcept = { anyone = true }\n"
      "call = [\"x\"]\n",
      4, "unknown key \"anyone\" in except");
  expect_error("[[rule]]\nname = \"a\"\nanyone = true\nexcept = {}\ncall = [\"x\"]\n", 4,
               "\"except\" names no peer");
}

TEST(AccessPolicyParse, ValidPoliciesAndOrigin) {
  auto empty = AccessPolicy::parse("", "empty.toml");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->rule_count(), 0u);
  EXPECT_EQ(empty->origin(), "empty.toml");
  EXPECT_EQ(empty->check(uid_peer(0), Action::call, "x").rule, "default");
  const auto p = parse_ok(
      "version = 1\n[[rule]]\nname = \"a\"\nuid = [1, 2]\ncall = \"x\"\n"
      "[[rule]]\nname = \"b\"\neffect = \"deny\"\nanyone = true\nstream = [\"y.*\"]\n");
  EXPECT_EQ(p.rule_count(), 2u);
  EXPECT_EQ(p.origin(), "policy");
}

TEST(AccessPolicyLoad, MissingFileIsNotFound) {
  auto p = AccessPolicy::load("/nonexistent/plexus/policy.toml");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, StatusCode::not_found);
}

TEST(AccessPolicyLoad, ErrorsNameThePath) {
  const std::string path = ::testing::TempDir() + "plexus_acl_bad.toml";
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("[[rule]]\nname = \"a\"\n", f);
  std::fclose(f);
  auto p = AccessPolicy::load(path);
  std::remove(path.c_str());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message.substr(0, path.size() + 3), path + ":1:") << p.error().message;
}

// --- who a rule applies to ------------------------------------------------------------------

TEST(AccessPolicyWho, Uid) {
  const auto p = parse_ok(rule_for("uid = [1000, 1001]"));
  EXPECT_TRUE(allowed(p, uid_peer(1000), Action::call, "m.a"));
  EXPECT_TRUE(allowed(p, uid_peer(1001), Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, uid_peer(1002), Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, PeerIdentity{}, Action::call, "m.a"));  // no uid: never matches
}

TEST(AccessPolicyWho, User) {
  const auto root = parse_ok(rule_for("user = \"root\""));
  EXPECT_TRUE(allowed(root, uid_peer(0), Action::call, "m.a"));
  EXPECT_FALSE(allowed(root, uid_peer(65534), Action::call, "m.a"));
  EXPECT_FALSE(allowed(root, PeerIdentity{}, Action::call, "m.a"));
  const auto nobody = parse_ok(rule_for("user = [\"nobody\"]"));
  EXPECT_TRUE(allowed(nobody, uid_peer(65534), Action::call, "m.a"));
  EXPECT_FALSE(allowed(nobody, uid_peer(0), Action::call, "m.a"));
}

TEST(AccessPolicyWho, GidMatchesPrimaryOrSupplementaryGroups) {
  const auto p = parse_ok(rule_for("gid = 50"));
  EXPECT_TRUE(allowed(p, uid_peer(1000, 50), Action::call, "m.a"));
  auto supplementary = uid_peer(1000, 1000);
  supplementary.groups = {24, 50, 100};
  EXPECT_TRUE(allowed(p, supplementary, Action::call, "m.a"));
  supplementary.groups = {24, 100};
  EXPECT_FALSE(allowed(p, supplementary, Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, PeerIdentity{}, Action::call, "m.a"));
}

TEST(AccessPolicyWho, GroupResolvesAndMatchesLikeGid) {
  const auto p = parse_ok(rule_for("group = \"root\""));
  EXPECT_TRUE(allowed(p, uid_peer(1000, 0), Action::call, "m.a"));
  auto supplementary = uid_peer(1000, 1000);
  supplementary.groups = {0};
  EXPECT_TRUE(allowed(p, supplementary, Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, uid_peer(1000, 1000), Action::call, "m.a"));
}

TEST(AccessPolicyWho, Executable) {
  const auto p = parse_ok(rule_for("executable = \"/usr/bin/helper\""));
  PeerIdentity peer;
  peer.executable = "/usr/bin/helper";
  EXPECT_TRUE(allowed(p, peer, Action::call, "m.a"));
  peer.executable = "/usr/bin/helper2";
  EXPECT_FALSE(allowed(p, peer, Action::call, "m.a"));
  peer.executable.clear();
  EXPECT_FALSE(allowed(p, peer, Action::call, "m.a"));
}

TEST(AccessPolicyWho, Subject) {
  const auto p = parse_ok(rule_for("subject = [\"alice\", \"bob\"]"));
  EXPECT_TRUE(allowed(p, token_peer("alice", {}), Action::call, "m.a"));
  EXPECT_TRUE(allowed(p, token_peer("bob", {}), Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, token_peer("carol", {}), Action::call, "m.a"));
  auto claimed = uid_peer(1000);
  claimed.name = "alice";  // the name a peer claims is never used
  EXPECT_FALSE(allowed(p, claimed, Action::call, "m.a"));
}

TEST(AccessPolicyWho, CertificateSubject) {
  const auto p = parse_ok(rule_for("certificate = \"CN=alice,O=Example\""));
  auto alice = uid_peer(1000);
  alice.certificate = "CN=alice,O=Example";
  EXPECT_TRUE(allowed(p, alice, Action::call, "m.a"));
  auto other = uid_peer(1000);
  other.certificate = "CN=mallory,O=Example";
  EXPECT_FALSE(allowed(p, other, Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, token_peer("CN=alice,O=Example", {}), Action::call, "m.a"))
      << "a token's subject is not a certificate's";
}

TEST(AccessPolicyWho, Scope) {
  const auto p = parse_ok(rule_for("scope = \"admin\""));
  EXPECT_TRUE(allowed(p, token_peer("x", {"read", "admin"}), Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, token_peer("x", {"read"}), Action::call, "m.a"));
  EXPECT_FALSE(allowed(p, token_peer("x", {}), Action::call, "m.a"));
}

TEST(AccessPolicyWho, Anyone) {
  const auto p = parse_ok(rule_for("anyone = true"));
  EXPECT_TRUE(allowed(p, PeerIdentity{}, Action::call, "m.a"));
  EXPECT_TRUE(allowed(p, uid_peer(12), Action::call, "m.a"));
  EXPECT_TRUE(allowed(p, token_peer("x", {}), Action::call, "m.a"));
}

TEST(AccessPolicyWho, KeysAreAndedValuesOred) {
  const auto p = parse_ok(rule_for("uid = [1000, 1001]\nscope = \"admin\""));
  auto peer = token_peer("x", {"admin"});
  EXPECT_FALSE(allowed(p, peer, Action::call, "m.a"));  // no uid
  peer.uid = 1001;
  EXPECT_TRUE(allowed(p, peer, Action::call, "m.a"));
  peer.scopes = {"read"};
  EXPECT_FALSE(allowed(p, peer, Action::call, "m.a"));
}

TEST(AccessPolicyWho, ExceptLeavesPeersOut) {
  const auto p = parse_ok(rule_for("anyone = true\nexcept = { user = \"root\" }"));
  EXPECT_FALSE(allowed(p, uid_peer(0), Action::call, "m.a"));
  EXPECT_TRUE(allowed(p, uid_peer(1000), Action::call, "m.a"));
  EXPECT_TRUE(allowed(p, PeerIdentity{}, Action::call, "m.a"));
}

// --- decisions ------------------------------------------------------------------------------

TEST(AccessPolicyDecision, DenyWinsOverAnyAllowWhereverItIs) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"all\"\nuid = 1000\ncall = [\">\"]\n"
      "[[rule]]\nname = \"no-admin\"\neffect = \"deny\"\nanyone = true\ncall = [\"admin.>\"]\n");
  const auto d = p.check(uid_peer(1000), Action::call, "admin.reset");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "no-admin");
  const auto ok = p.check(uid_peer(1000), Action::call, "math.add");
  EXPECT_TRUE(ok.allowed);
  EXPECT_EQ(ok.rule, "all");
}

TEST(AccessPolicyDecision, FirstMatchingAllowInFileOrderIsNamed) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"other\"\nuid = 5\ncall = [\">\"]\n"
      "[[rule]]\nname = \"first\"\nuid = 1000\ncall = [\"math.*\"]\n"
      "[[rule]]\nname = \"second\"\nanyone = true\ncall = [\">\"]\n");
  EXPECT_EQ(p.check(uid_peer(1000), Action::call, "math.add").rule, "first");
  EXPECT_EQ(p.check(uid_peer(1000), Action::call, "news.get").rule, "second");
}

TEST(AccessPolicyDecision, DefaultDeny) {
  const auto p = parse_ok(rule_for("uid = 1000"));
  const auto d = p.check(uid_peer(1000), Action::call, "other.x");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "default");
  EXPECT_EQ(p.check(uid_peer(1000), Action::publish, "m.a").rule, "default");  // other action
}

TEST(AccessPolicyDecision, EachActionHasItsOwnPatterns) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"r\"\nanyone = true\ncall = [\"c.*\"]\nnotify = [\"n.*\"]\n"
      "publish = [\"p.*\"]\nsubscribe = [\"s.>\"]\nstream = [\"f.*\"]\n");
  const PeerIdentity peer;
  EXPECT_TRUE(allowed(p, peer, Action::call, "c.x"));
  EXPECT_TRUE(allowed(p, peer, Action::notify, "n.x"));
  EXPECT_TRUE(allowed(p, peer, Action::publish, "p.x"));
  EXPECT_TRUE(allowed(p, peer, Action::subscribe, "s.x"));
  EXPECT_TRUE(allowed(p, peer, Action::stream, "f.x"));
  EXPECT_FALSE(allowed(p, peer, Action::call, "n.x"));
  EXPECT_FALSE(allowed(p, peer, Action::notify, "c.x"));
  EXPECT_FALSE(allowed(p, peer, Action::publish, "s.x"));
  EXPECT_FALSE(allowed(p, peer, Action::stream, "p.x"));
}

TEST(AccessPolicyDecision, SubscribeNeedsAPatternThatCoversIt) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"wide\"\nuid = 1\nsubscribe = [\"news.>\"]\n"
      "[[rule]]\nname = \"narrow\"\nuid = 2\nsubscribe = [\"news.*\"]\n");
  EXPECT_TRUE(allowed(p, uid_peer(1), Action::subscribe, "news.*"));
  EXPECT_TRUE(allowed(p, uid_peer(1), Action::subscribe, "news.>"));
  EXPECT_TRUE(allowed(p, uid_peer(1), Action::subscribe, "news.a.*"));
  EXPECT_FALSE(allowed(p, uid_peer(1), Action::subscribe, ">"));
  EXPECT_TRUE(allowed(p, uid_peer(2), Action::subscribe, "news.*"));
  EXPECT_TRUE(allowed(p, uid_peer(2), Action::subscribe, "news.sport"));
  EXPECT_FALSE(allowed(p, uid_peer(2), Action::subscribe, "news.>"));
  EXPECT_FALSE(allowed(p, uid_peer(2), Action::subscribe, "news.a.b"));
}

TEST(AccessPolicyDecision, DenyRefusesASubscriptionThatOverlapsIt) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"all\"\nanyone = true\nsubscribe = [\">\"]\n"
      "[[rule]]\nname = \"secret\"\neffect = \"deny\"\nanyone = true\n"
      "subscribe = [\"news.secret.>\"]\n");
  EXPECT_EQ(p.check(PeerIdentity{}, Action::subscribe, ">").rule, "secret");
  EXPECT_EQ(p.check(PeerIdentity{}, Action::subscribe, "news.*.x").rule, "secret");
  EXPECT_EQ(p.check(PeerIdentity{}, Action::subscribe, "news.secret.a").rule, "secret");
  EXPECT_EQ(p.check(PeerIdentity{}, Action::subscribe, "news.*").rule, "all");
  EXPECT_EQ(p.check(PeerIdentity{}, Action::subscribe, "news.public.>").rule, "all");
}

TEST(AccessPolicyDecision, TargetsThatAreNotTopicsAreDenied) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"all\"\nanyone = true\ncall = [\">\"]\n"
      "publish = [\">\"]\nsubscribe = [\">\"]\n");
  const std::string bads[] = {"", "a..b", ".a", "a.", "a.*", "a.>", std::string(300, 'a')};
  for (const auto& bad : bads) {
    const auto d = p.check(PeerIdentity{}, Action::call, bad);
    EXPECT_FALSE(d.allowed) << bad;
    EXPECT_EQ(d.rule, "default") << bad;
    EXPECT_FALSE(allowed(p, PeerIdentity{}, Action::publish, bad)) << bad;
  }
  EXPECT_FALSE(allowed(p, PeerIdentity{}, Action::subscribe, "a.>.b"));
  EXPECT_FALSE(allowed(p, PeerIdentity{}, Action::subscribe, ""));
  EXPECT_TRUE(allowed(p, PeerIdentity{}, Action::subscribe, "a.*"));
}

TEST(AccessPolicyDecision, RulesForListsTheRulesThatApply) {
  const auto p = parse_ok(
      "[[rule]]\nname = \"a\"\nuid = 1\ncall = [\"x\", \"y.*\"]\n"
      "[[rule]]\nname = \"b\"\nuid = 2\ncall = [\"z\"]\n"
      "[[rule]]\nname = \"c\"\neffect = \"deny\"\nanyone = true\npublish = [\"q.>\"]\n");
  const auto rules = p.rules_for(uid_peer(1));
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].name, "a");
  EXPECT_TRUE(rules[0].allow);
  EXPECT_EQ(rules[0].patterns[static_cast<std::size_t>(Action::call)],
            (std::vector<std::string>{"x", "y.*"}));
  EXPECT_EQ(rules[1].name, "c");
  EXPECT_FALSE(rules[1].allow);
  EXPECT_EQ(rules[1].patterns[static_cast<std::size_t>(Action::publish)],
            (std::vector<std::string>{"q.>"}));
}

TEST(AccessPolicyDecision, ActionNames) {
  EXPECT_EQ(to_string(Action::call), "call");
  EXPECT_EQ(to_string(Action::notify), "notify");
  EXPECT_EQ(to_string(Action::publish), "publish");
  EXPECT_EQ(to_string(Action::subscribe), "subscribe");
  EXPECT_EQ(to_string(Action::stream), "stream");
}

// --- the example in docs/examples/ ----------------------------------------------------------

TEST(AccessPolicyExample, ParsesAndDecidesAsItsCommentsSay) {
  auto loaded = AccessPolicy::load(PLEXUS_SOURCE_DIR "/docs/examples/access-policy.toml");
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  const auto& p = *loaded;
  EXPECT_EQ(p.rule_count(), 5u);

  const auto desktop = uid_peer(1000);
  EXPECT_EQ(p.check(desktop, Action::call, "math.add").rule, "desktop-user");
  EXPECT_FALSE(allowed(p, desktop, Action::subscribe, ">"));  // it could receive admin.*
  EXPECT_TRUE(allowed(p, desktop, Action::subscribe, "news.>"));
  EXPECT_TRUE(allowed(p, desktop, Action::stream, "files.read"));
  const auto admin = p.check(desktop, Action::call, "admin.reset");
  EXPECT_FALSE(admin.allowed);
  EXPECT_EQ(admin.rule, "no-admin");

  PeerIdentity helper = uid_peer(1234);
  helper.executable = "/usr/libexec/myapp/helper";
  EXPECT_EQ(p.check(helper, Action::publish, "progress.job.7").rule, "helper");
  EXPECT_TRUE(allowed(p, helper, Action::call, "plexus.describe"));
  EXPECT_FALSE(allowed(p, helper, Action::call, "plexus.stats"));
  EXPECT_FALSE(allowed(p, helper, Action::publish, "news.x"));

  const auto reader = token_peer("svc", {"reader"});
  EXPECT_EQ(p.check(reader, Action::subscribe, "news.>").rule, "news-readers");
  EXPECT_TRUE(allowed(p, reader, Action::call, "news.get"));
  EXPECT_FALSE(allowed(p, reader, Action::publish, "news.x"));
  EXPECT_FALSE(allowed(p, token_peer("svc", {"writer"}), Action::call, "news.get"));

  const auto root = uid_peer(0, 0);
  EXPECT_EQ(p.check(root, Action::call, "admin.reset").rule, "root-admin");
  EXPECT_EQ(p.check(root, Action::call, "math.add").rule, "default");
}

}  // namespace
}  // namespace plexus::test::acl
