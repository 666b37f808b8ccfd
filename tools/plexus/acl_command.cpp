// plexus acl check: what an access policy (plexus/security.hpp) decides for one identity, read
// from the flags; with no question, the rules that apply to it.
#include <grp.h>
#include <pwd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "plexus/security.hpp"

namespace plexus::cli {
namespace {

constexpr std::size_t kActions = 5;

struct AclCheckArgs {
  std::string file;
  std::optional<std::uint32_t> uid;
  std::string user;
  std::optional<std::uint32_t> gid;
  std::vector<std::string> groups;
  std::string executable;
  std::string subject;
  std::string certificate;
  std::vector<std::string> scopes;
  std::array<std::vector<std::string>, kActions> questions;  // per AccessAction
};

AccessAction action_at(std::size_t i) {
  return static_cast<AccessAction>(i);
}

Result<std::uint32_t> uid_of(const std::string& name) {
  if (const passwd* pw = ::getpwnam(name.c_str())) return static_cast<std::uint32_t>(pw->pw_uid);
  return make_error(StatusCode::invalid_argument, "--user: no user \"" + name + "\"");
}

Result<std::uint32_t> gid_of(const std::string& name) {
  if (const group* gr = ::getgrnam(name.c_str())) return static_cast<std::uint32_t>(gr->gr_gid);
  return make_error(StatusCode::invalid_argument, "--group: no group \"" + name + "\"");
}

// The identity the flags describe, and only that (--user sets the uid, not the groups).
Result<PeerIdentity> identity_of(const AclCheckArgs& a) {
  PeerIdentity peer;
  peer.uid = a.uid;
  if (!a.user.empty()) {
    auto uid = uid_of(a.user);
    if (!uid) return tl::unexpected(uid.error());
    if (a.uid && *a.uid != *uid) {
      return make_error(StatusCode::invalid_argument, "--user " + a.user + " is uid " +
                                                          std::to_string(*uid) + ", not --uid " +
                                                          std::to_string(*a.uid));
    }
    peer.uid = *uid;
  }
  peer.gid = a.gid;
  for (const auto& name : a.groups) {
    auto gid = gid_of(name);
    if (!gid) return tl::unexpected(gid.error());
    peer.groups.push_back(*gid);
  }
  peer.executable = a.executable;
  peer.subject = a.subject;
  peer.certificate = a.certificate;
  peer.scopes = a.scopes;
  return peer;
}

void list_rules(const AccessPolicy& policy, const PeerIdentity& peer) {
  const auto rules = policy.rules_for(peer);
  if (rules.empty()) {
    std::printf("no rule of %s applies: everything is denied\n", policy.origin().c_str());
    return;
  }
  for (const auto& rule : rules) {
    std::printf("rule \"%s\" (%s)\n", rule.name.c_str(), rule.allow ? "allow" : "deny");
    for (std::size_t i = 0; i < kActions; ++i) {
      if (rule.patterns[i].empty()) continue;
      std::string line;
      for (const auto& p : rule.patterns[i]) line += (line.empty() ? "" : " ") + p;
      std::printf("  %s %s: %s\n", rule.allow ? "allows" : "denies",
                  std::string(to_string(action_at(i))).c_str(), line.c_str());
    }
  }
}

int acl_check(const AclCheckArgs& a) {
  auto policy = AccessPolicy::load(a.file);
  if (!policy) return fail(policy.error());
  auto peer = identity_of(a);
  if (!peer) return fail(peer.error());
  bool asked = false;
  bool denied = false;
  for (std::size_t i = 0; i < kActions; ++i) {
    const std::string action(to_string(action_at(i)));
    for (const auto& target : a.questions[i]) {
      asked = true;
      const auto d = policy->check(*peer, action_at(i), target);
      denied = denied || !d.allowed;
      if (d.allowed || d.rule != "default") {
        std::printf("%s %s %s (rule \"%s\")\n", d.allowed ? "allow" : "deny", action.c_str(),
                    target.c_str(), d.rule.c_str());
      } else {
        std::printf("deny %s %s (no rule allows it)\n", action.c_str(), target.c_str());
      }
    }
  }
  if (!asked) list_rules(*policy, *peer);
  std::fflush(stdout);
  return denied ? static_cast<int>(StatusCode::permission_denied) : 0;
}

// `plexus acl reload [ADDRESS]`: the running server reads its --acl file (and token keys) again.
int acl_reload(const std::string& address) {
  Runtime runtime;
  auto client = connect_client(runtime, address, 3000, "plexus-cli");
  if (!client) return fail(client.error());
  CallOptions options;
  options.timeout = Millis{10000};
  auto result = (*client)->call("plexus.acl.reload", "{}", options);
  if (!result) return fail(result.error());
  const auto answer = nlohmann::json::parse(*result, nullptr, false);
  std::printf("reloaded: %s\n",
              answer.is_object() ? answer.value("reloaded", "").c_str() : result->c_str());
  return 0;
}

}  // namespace

Run add_acl(CLI::App& app) {
  auto args = std::make_shared<AclCheckArgs>();
  auto* acl = app.add_subcommand("acl", "Access policies (TOML files of allow and deny rules)");
  acl->require_subcommand(1);
  auto* check = acl->add_subcommand(
      "check",
      "What a policy decides for one peer: each --call/--notify/--publish/--subscribe/--stream "
      "is answered allow or deny (exit 7 when any is denied); with none, the rules that apply "
      "to the peer are listed. The peer is what the flags say and nothing more.");
  check->add_option("file", args->file, "The policy file")->required();
  check->add_option("--uid", args->uid, "The peer's user id");
  check->add_option("--user", args->user, "The peer's user, by name (sets the uid only)");
  check->add_option("--gid", args->gid, "The peer's primary group id");
  // Each repeatable option takes one value per occurrence: `--call a --call b FILE` leaves FILE.
  check->add_option("--group", args->groups, "A supplementary group, by name (repeatable)")
      ->allow_extra_args(false);
  check->add_option("--executable", args->executable, "The peer's executable (absolute path)");
  check->add_option("--subject", args->subject, "A verified token's subject");
  check->add_option("--certificate", args->certificate,
                    "A verified client certificate's subject (RFC 2253, e.g. CN=alice,O=Example)");
  check->add_option("--scope", args->scopes, "A verified token's scope (repeatable)")
      ->allow_extra_args(false);
  for (std::size_t i = 0; i < kActions; ++i) {
    const std::string action(to_string(action_at(i)));
    const std::string what =
        i == static_cast<std::size_t>(AccessAction::subscribe)
            ? "Ask whether the peer may subscribe to this pattern"
            : "Ask whether the peer may " + action + " this " +
                  (i == static_cast<std::size_t>(AccessAction::publish) ? "topic" : "method");
    check->add_option("--" + action, args->questions[i], what + " (repeatable)")
        ->allow_extra_args(false);
  }
  auto address = std::make_shared<std::string>("default");
  auto* reload = acl->add_subcommand(
      "reload",
      "Makes a running plexus serve read its --acl file and --token-key files again (as SIGHUP "
      "does); connections stay. Only the server's own user or root may, and its policy must "
      "allow calling plexus.acl.reload. An invalid file is refused with its line, and the "
      "running policy stays.");
  reload->add_option("address", *address, "The server (default: the default socket)");
  return [check, args, reload, address] {
    if (check->parsed()) return acl_check(*args);
    if (reload->parsed()) return acl_reload(*address);
    return -1;
  };
}

}  // namespace plexus::cli
