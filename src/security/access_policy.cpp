// Access policies: a TOML file of allow and deny rules (plexus/security.hpp; the grammar is in
// docs/examples/access-policy.toml). Parsed once into an immutable Impl that check() reads
// from any thread: user and group names are resolved to numbers at load, patterns validated.
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "platform/posix/accounts.hpp"
#include "plexus/security.hpp"
#include "wire/topic_pattern.hpp"

namespace plexus {
// Named, not anonymous: the layer compiles as one unity translation unit with token.cpp.
namespace access_policy_detail {

constexpr std::size_t kActions = 5;
constexpr std::string_view kActionNames[kActions] = {"call", "notify", "publish", "subscribe",
                                                     "stream"};
constexpr std::string_view kWhoKeys =
    "uid, user, gid, group, executable, subject, scope, certificate";

// Whom a rule applies to: every list given must match (AND), any of its values (OR).
struct Who {
  std::vector<std::uint32_t> uids;        // uid =
  std::vector<std::uint32_t> user_uids;   // user =, resolved
  std::vector<std::uint32_t> gids;        // gid =
  std::vector<std::uint32_t> group_gids;  // group =, resolved
  std::vector<std::string> executables;
  std::vector<std::string> subjects;
  std::vector<std::string> scopes;
  std::vector<std::string> certificates;  // a verified client certificate's subject (RFC 2253)
  bool anyone = false;

  bool empty() const {
    return uids.empty() && user_uids.empty() && gids.empty() && group_gids.empty() &&
           executables.empty() && subjects.empty() && scopes.empty() && certificates.empty() &&
           !anyone;
  }
};

template <typename T>
bool contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool uid_in(const std::vector<std::uint32_t>& list, const PeerIdentity& peer) {
  return list.empty() || (peer.uid && contains(list, *peer.uid));
}

bool gid_in(const std::vector<std::uint32_t>& list, const PeerIdentity& peer) {
  if (list.empty()) return true;
  if (peer.gid && contains(list, *peer.gid)) return true;
  return std::any_of(peer.groups.begin(), peer.groups.end(),
                     [&](std::uint32_t g) { return contains(list, g); });
}

bool string_in(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || (!value.empty() && contains(list, value));
}

bool matches(const Who& who, const PeerIdentity& peer) {
  if (who.anyone) return true;
  if (!uid_in(who.uids, peer) || !uid_in(who.user_uids, peer)) return false;
  if (!gid_in(who.gids, peer) || !gid_in(who.group_gids, peer)) return false;
  if (!string_in(who.executables, peer.executable)) return false;
  if (!string_in(who.subjects, peer.subject)) return false;
  if (!string_in(who.certificates, peer.certificate)) return false;
  if (!who.scopes.empty() &&
      std::none_of(peer.scopes.begin(), peer.scopes.end(),
                   [&](const std::string& s) { return contains(who.scopes, s); })) {
    return false;
  }
  return true;
}

// Whether some topic matches both valid patterns: what a deny rule's subscribe pattern
// refuses (a subscription that could receive any topic the rule denies).
bool patterns_overlap(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const std::size_t a_end = std::min(a.find('.', i), a.size());
    const std::size_t b_end = std::min(b.find('.', j), b.size());
    const std::string_view sa = a.substr(i, a_end - i);
    const std::string_view sb = b.substr(j, b_end - j);
    if (sa == ">" || sb == ">") return true;  // both have a segment left here
    if (sa != "*" && sb != "*" && sa != sb) return false;
    i = std::min(a_end + 1, a.size());
    j = std::min(b_end + 1, b.size());
  }
  return i >= a.size() && j >= b.size();
}

// One rule as parsed.
struct Rule {
  std::string name;
  bool deny = false;
  Who who;
  std::optional<Who> except;  // the rule does not apply to peers matching it
  std::array<std::vector<std::string>, kActions> patterns;

  bool applies_to(const PeerIdentity& peer) const {
    return matches(who, peer) && !(except && matches(*except, peer));
  }
};

class Parser {
 public:
  explicit Parser(std::string_view origin) : origin_(origin) {}

  Result<std::vector<Rule>> parse(std::string_view text) {
    toml::table table;
    try {
      table = toml::parse(text, std::string_view(origin_));
    } catch (const toml::parse_error& e) {
      return error_at(e.source().begin, std::string(e.description()));
    } catch (const std::exception& e) {
      return make_error(StatusCode::invalid_argument, origin_ + ": " + e.what());
    }
    const toml::node* rules = nullptr;
    for (const auto& [key, node] : table) {
      if (key.str() == "version") {
        if (!node.is_integer()) return error_at(node, "\"version\" must be an integer");
        if (const auto v = *node.value<std::int64_t>(); v != 1) {
          return error_at(node, "unknown version " + std::to_string(v) + " (only 1 is known)");
        }
      } else if (key.str() == "rule") {
        rules = &node;
      } else {
        return error_at(key.source().begin, "unknown key \"" + std::string(key.str()) +
                                                "\" (the top-level keys are version and rule)");
      }
    }
    std::vector<Rule> out;
    if (!rules) return out;
    const auto* array = rules->as_array();
    if (!array) return error_at(*rules, "\"rule\" must be an array of tables ([[rule]])");
    std::set<std::string> names;
    for (const auto& element : *array) {
      const auto* rule_table = element.as_table();
      if (!rule_table) return error_at(element, "each rule must be a table ([[rule]])");
      auto rule = parse_rule(*rule_table);
      if (!rule) return tl::unexpected(rule.error());
      if (!names.insert(rule->name).second) {
        return error_at(name_position_,
                        "duplicate rule name \"" + rule->name + "\" (names must be unique)");
      }
      out.push_back(std::move(*rule));
    }
    return out;
  }

 private:
  tl::unexpected<Error> error_at(const toml::source_position& where, const std::string& what) {
    const auto line = std::to_string(where.line);
    const auto column = std::to_string(where.column);
    return make_error(StatusCode::invalid_argument,
                      origin_ + ":" + line + ":" + column + ": " + what,
                      "{\"line\":" + line + ",\"column\":" + column + "}");
  }
  tl::unexpected<Error> error_at(const toml::node& node, const std::string& what) {
    return error_at(node.source().begin, what);
  }

  // The elements of a value or of a list of values (a list may not be empty).
  Result<std::vector<const toml::node*>> values_of(std::string_view key, const toml::node& node) {
    std::vector<const toml::node*> out;
    if (const auto* array = node.as_array()) {
      if (array->empty()) {
        return error_at(node, "\"" + std::string(key) + "\" is an empty list (leave it out)");
      }
      for (const auto& element : *array) out.push_back(&element);
    } else {
      out.push_back(&node);
    }
    return out;
  }

  Result<std::vector<std::uint32_t>> ids(std::string_view key, const toml::node& node) {
    auto values = values_of(key, node);
    if (!values) return tl::unexpected(values.error());
    std::vector<std::uint32_t> out;
    for (const auto* v : *values) {
      if (!v->is_integer()) {
        return error_at(*v, "\"" + std::string(key) + "\" takes an integer or a list of them");
      }
      const auto n = *v->value<std::int64_t>();
      if (n < 0 || n > 0xFFFFFFFFLL) {
        return error_at(*v, "\"" + std::string(key) + "\": " + std::to_string(n) +
                                " is not a valid id (0..4294967295)");
      }
      out.push_back(static_cast<std::uint32_t>(n));
    }
    return out;
  }

  Result<std::vector<std::pair<std::string, const toml::node*>>> strings(std::string_view key,
                                                                         const toml::node& node) {
    auto values = values_of(key, node);
    if (!values) return tl::unexpected(values.error());
    std::vector<std::pair<std::string, const toml::node*>> out;
    for (const auto* v : *values) {
      if (!v->is_string()) {
        return error_at(*v, "\"" + std::string(key) + "\" takes a string or a list of them");
      }
      auto s = *v->value<std::string>();
      if (s.empty()) return error_at(*v, "\"" + std::string(key) + "\": empty string");
      out.emplace_back(std::move(s), v);
    }
    return out;
  }

  // One who-key into `who`; false when `key` is not one.
  Result<bool> who_key(std::string_view key, const toml::node& node, Who& who) {
    if (key == "uid" || key == "gid") {
      auto list = ids(key, node);
      if (!list) return tl::unexpected(list.error());
      (key == "uid" ? who.uids : who.gids) = std::move(*list);
      return true;
    }
    if (key == "user" || key == "group") {
      auto list = strings(key, node);
      if (!list) return tl::unexpected(list.error());
      auto& into = key == "user" ? who.user_uids : who.group_gids;
      for (const auto& [name, where] : *list) {
        const auto id = key == "user" ? platform::uid_of_user(name) : platform::gid_of_group(name);
        if (!id) {
          return error_at(*where, "unknown " + std::string(key) + " \"" + name + "\" (no such " +
                                      std::string(key) + " on this machine)");
        }
        into.push_back(*id);
      }
      return true;
    }
    if (key == "executable" || key == "subject" || key == "scope" || key == "certificate") {
      auto list = strings(key, node);
      if (!list) return tl::unexpected(list.error());
      auto& into = key == "executable" ? who.executables
                   : key == "subject"  ? who.subjects
                   : key == "scope"    ? who.scopes
                                       : who.certificates;
      for (auto& [value, where] : *list) {
        if (key == "executable" && value.front() != '/') {
          return error_at(*where, "\"executable\": \"" + value + "\" is not an absolute path");
        }
        into.push_back(std::move(value));
      }
      return true;
    }
    return false;
  }

  static std::string allowed_rule_keys() {
    return "name, effect, " + std::string(kWhoKeys) +
           ", anyone, except, call, notify, publish, subscribe, stream";
  }

  Result<Rule> parse_rule(const toml::table& table) {
    Rule rule;
    const toml::node* name = nullptr;
    const toml::node* anyone = nullptr;
    const toml::node* except = nullptr;
    bool has_action = false;
    for (const auto& [key_node, node] : table) {
      const std::string_view key = key_node.str();
      if (key == "name") {
        if (!node.is_string()) return error_at(node, "\"name\" must be a string");
        rule.name = *node.value<std::string>();
        if (rule.name.empty()) return error_at(node, "\"name\" is empty");
        name = &node;
        continue;
      }
      if (key == "effect") {
        const auto effect = node.value<std::string>();
        if (!node.is_string() || (*effect != "allow" && *effect != "deny")) {
          return error_at(node, "\"effect\" must be \"allow\" or \"deny\"");
        }
        rule.deny = *effect == "deny";
        continue;
      }
      if (key == "anyone") {
        if (!node.is_boolean()) return error_at(node, "\"anyone\" must be true");
        if (!*node.value<bool>()) {
          return error_at(node, "\"anyone\" may only be true (to name some peers, use " +
                                    std::string(kWhoKeys) + ")");
        }
        rule.who.anyone = true;
        anyone = &node;
        continue;
      }
      if (key == "except") {
        except = &node;
        continue;
      }
      if (const auto* action = std::find(std::begin(kActionNames), std::end(kActionNames), key);
          action != std::end(kActionNames)) {
        auto list = strings(key, node);
        if (!list) return tl::unexpected(list.error());
        auto& into = rule.patterns[static_cast<std::size_t>(action - std::begin(kActionNames))];
        for (auto& [pattern, where] : *list) {
          if (auto ok = wire::validate_pattern(pattern); !ok) {
            return error_at(*where, "\"" + std::string(key) + "\": invalid pattern \"" + pattern +
                                        "\": " + ok.error().message);
          }
          into.push_back(std::move(pattern));
        }
        has_action = true;
        continue;
      }
      auto is_who = who_key(key, node, rule.who);
      if (!is_who) return tl::unexpected(is_who.error());
      if (!*is_who) {
        return error_at(key_node.source().begin, "unknown key \"" + std::string(key) +
                                                     "\" in a rule (the keys are " +
                                                     allowed_rule_keys() + ")");
      }
    }
    const auto where = table.source().begin;
    if (!name) return error_at(where, "a rule needs a name (name = \"...\")");
    name_position_ = name->source().begin;
    if (anyone) {
      Who others = rule.who;
      others.anyone = false;
      if (!others.empty()) {
        return error_at(*anyone, "rule \"" + rule.name +
                                     "\": \"anyone = true\" may not be combined with " +
                                     std::string(kWhoKeys) + " (use except to leave peers out)");
      }
    } else if (rule.who.empty()) {
      return error_at(where,
                      "rule \"" + rule.name +
                          "\" names no peer: add uid, user, gid, group, executable, certificate, "
                          "subject, scope, or anyone = true");
    }
    if (except) {
      const auto* except_table = except->as_table();
      if (!except_table) {
        return error_at(*except, "\"except\" must be a table of " + std::string(kWhoKeys) +
                                     " (except = { user = \"root\" })");
      }
      Who who;
      for (const auto& [key_node, node] : *except_table) {
        auto is_who = who_key(key_node.str(), node, who);
        if (!is_who) return tl::unexpected(is_who.error());
        if (!*is_who) {
          return error_at(key_node.source().begin, "unknown key \"" + std::string(key_node.str()) +
                                                       "\" in except (the keys are " +
                                                       std::string(kWhoKeys) + ")");
        }
      }
      if (who.empty()) {
        return error_at(*except, "\"except\" names no peer: add " + std::string(kWhoKeys));
      }
      rule.except = std::move(who);
    }
    if (!has_action) {
      return error_at(where, "rule \"" + rule.name +
                                 "\" covers no action: add call, notify, publish, subscribe, "
                                 "or stream");
    }
    return rule;
  }

  std::string origin_;
  toml::source_position name_position_{};  // of the last rule parsed
};

// Whether `pattern` (a rule's) covers `target` for `action`: a topic or method it matches, a
// subscription pattern it covers (allow) or overlaps (deny).
bool covers(const std::string& pattern, AccessAction action, std::string_view target, bool deny) {
  if (action != AccessAction::subscribe) return wire::topic_matches(pattern, target);
  return deny ? patterns_overlap(pattern, target) : wire::pattern_covers(pattern, target);
}

}  // namespace access_policy_detail

struct AccessPolicy::Impl {
  std::string origin;
  std::vector<access_policy_detail::Rule> rules;
};

std::string_view to_string(AccessAction action) {
  const auto i = static_cast<std::size_t>(action);
  return i < access_policy_detail::kActions ? access_policy_detail::kActionNames[i] : "unknown";
}

Result<AccessPolicy> AccessPolicy::parse(std::string_view text, std::string_view origin) {
  access_policy_detail::Parser parser(origin);
  auto rules = parser.parse(text);
  if (!rules) return tl::unexpected(rules.error());
  auto impl = std::make_shared<Impl>();
  impl->origin = std::string(origin);
  impl->rules = std::move(*rules);
  return AccessPolicy(std::move(impl));
}

Result<AccessPolicy> AccessPolicy::load(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    const int error = errno;
    const auto code = error == ENOENT   ? StatusCode::not_found
                      : error == EACCES ? StatusCode::permission_denied
                                        : StatusCode::invalid_argument;
    return make_error(code, path + ": " + std::strerror(error));
  }
  std::string text;
  char buffer[8192];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) {
    return make_error(StatusCode::invalid_argument,
                      path + ": cannot read: " + std::strerror(error));
  }
  return parse(text, path);
}

AccessPolicy::Decision AccessPolicy::check(const PeerIdentity& peer, AccessAction action,
                                           std::string_view target) const {
  const auto index = static_cast<std::size_t>(action);
  if (index >= access_policy_detail::kActions) return {false, "default"};
  const bool valid = action == AccessAction::subscribe
                         ? static_cast<bool>(wire::validate_pattern(target))
                         : static_cast<bool>(wire::validate_topic(target));
  if (!valid) return {false, "default"};  // a name no pattern can match
  const access_policy_detail::Rule* allowed_by = nullptr;
  for (const auto& rule : impl_->rules) {
    if (!rule.deny && allowed_by) continue;  // only a deny can change the answer now
    const auto& patterns = rule.patterns[index];
    if (patterns.empty() || !rule.applies_to(peer)) continue;
    const bool hit = std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
      return access_policy_detail::covers(p, action, target, rule.deny);
    });
    if (!hit) continue;
    if (rule.deny) return {false, rule.name};
    allowed_by = &rule;
  }
  if (allowed_by) return {true, allowed_by->name};
  return {false, "default"};
}

std::size_t AccessPolicy::rule_count() const {
  return impl_->rules.size();
}

const std::string& AccessPolicy::origin() const {
  return impl_->origin;
}

std::vector<AccessPolicy::Rule> AccessPolicy::rules_for(const PeerIdentity& peer) const {
  std::vector<Rule> out;
  for (const auto& rule : impl_->rules) {
    if (!rule.applies_to(peer)) continue;
    out.push_back(Rule{rule.name, !rule.deny, rule.patterns});
  }
  return out;
}

}  // namespace plexus
