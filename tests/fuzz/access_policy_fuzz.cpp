// libFuzzer target: arbitrary bytes as an access policy's text. Parsing never crashes; a failure
// is invalid_argument with a message that starts with the origin; a policy that parses answers
// check() for a few fixed identities, actions and targets, naming a rule every time: when it
// allows, an allow rule that applies to the peer and covers that action (never "default"); when
// it denies, "default" or a deny rule that applies to the peer.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "plexus/security.hpp"

namespace {

std::vector<plexus::PeerIdentity> identities() {
  std::vector<plexus::PeerIdentity> out(5);
  out[1].uid = 0;
  out[1].gid = 0;
  out[2].uid = 1000;
  out[2].gid = 1000;
  out[2].groups = {24, 50, 100};
  out[2].executable = "/usr/bin/helper";
  out[3].subject = "alice";
  out[3].scopes = {"reader", "admin"};
  out[4].uid = 65534;
  out[4].gid = 65534;
  out[4].subject = "svc";
  out[4].scopes = {"writer"};
  return out;
}

constexpr std::string_view kTargets[] = {
    "a", "a.b", "news.x", "news.x.y", "admin.reset", "math.add", "plexus.ping", "a..b",
    "",  ".",   "x.*",    "news.>",   ">",           "*",        "news.*.y"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = AccessPolicy::parse(text, "fuzz.toml");
  if (!policy) {
    FUZZ_CHECK(policy.error().code == StatusCode::invalid_argument);
    FUZZ_CHECK(policy.error().message.starts_with("fuzz.toml"));
    return 0;
  }
  FUZZ_CHECK(policy->origin() == "fuzz.toml");
  static const auto peers = identities();
  for (const auto& peer : peers) {
    const auto rules = policy->rules_for(peer);
    FUZZ_CHECK(rules.size() <= policy->rule_count());
    for (std::size_t a = 0; a < 5; ++a) {
      const auto action = static_cast<AccessAction>(a);
      for (const auto target : kTargets) {
        const auto d = policy->check(peer, action, target);
        FUZZ_CHECK(!d.rule.empty());
        if (d.allowed) FUZZ_CHECK(d.rule != "default");
        if (d.rule == "default") {
          FUZZ_CHECK(!d.allowed);
          continue;
        }
        bool found = false;
        for (const auto& r : rules) {
          if (r.name == d.rule && r.allow == d.allowed && !r.patterns[a].empty()) found = true;
        }
        FUZZ_CHECK(found);
      }
    }
  }
  return 0;
}
