#include "api/access_control.hpp"

#include <array>
#include <chrono>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "observe/log.hpp"

namespace plexus {

namespace {

// How a denial names the peer: what the server verified, so that the user sees which identity
// to grant (the claimed name would not help: it is never what a policy matches).
std::string described(const PeerIdentity& peer) {
  if (!peer.subject.empty()) return "subject \"" + peer.subject + "\"";
  if (peer.uid) return "uid " + std::to_string(*peer.uid);
  if (!peer.host.empty()) return "host " + peer.host;
  return "this peer";
}

std::string token_reason(const Error& error) {
  const auto details = nlohmann::json::parse(error.details, nullptr, false);
  if (details.is_object() && details.contains("reason") && details["reason"].is_string()) {
    return details["reason"].get<std::string>();
  }
  return "malformed";
}

// One session's questions to the policy, each answered once per policy version: sessions
// call few methods over and over. Strand-only, like the session.
class PolicyGate final : public rpc::AccessGate {
 public:
  PolicyGate(std::shared_ptr<AccessControl> control, PeerIdentity peer)
      : control_(std::move(control)), peer_(std::move(peer)) {}

  std::optional<Error> check(rpc::PeerAction action, std::string_view target) override {
    const auto version = control_->policy_version();
    if (version != version_) {
      version_ = version;
      policy_ = control_->policy();
      for (auto& answers : answers_) answers.clear();
      for (auto& counters : denial_counters_) counters.clear();
      last_.reset();
    }
    const auto a = static_cast<std::size_t>(action);
    // The last question first: a lane or a busy method asks the same one each message.
    if (last_ && last_->action == a && last_->target == target) {
      if (last_->denials) last_->denials->inc();
      return last_->answer;
    }
    auto& answers = answers_[a];
    auto it = answers.find(target);
    if (it == answers.end()) {
      // A peer that sends names at random must not grow this without bound.
      if (answers.size() >= kMaxRemembered) {
        answers.clear();
        denial_counters_[a].clear();
      }
      it = answers.emplace(std::string(target), decide(static_cast<AccessAction>(a), target)).first;
    } else if (it->second) {
      if (auto* counter = denial_counters_[a][it->first]) counter->inc();
    }
    last_ = Last{a, it->first, it->second, it->second ? denial_counters_[a][it->first] : nullptr};
    return it->second;
  }

 private:
  static constexpr std::size_t kMaxRemembered = 1024;
  static constexpr std::size_t kLoudDenials = 16;  // per session, then at debug level
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Answers = std::unordered_map<std::string, std::optional<Error>, Hash, std::equal_to<>>;
  struct Last {
    std::size_t action;
    std::string target;
    std::optional<Error> answer;
    observe::Counter* denials;  // where a repeated denial is counted; null: allowed
  };

  std::optional<Error> decide(AccessAction action, std::string_view target) {
    if (!policy_) return std::nullopt;
    const auto decision = policy_->check(peer_, action, target);
    if (decision.allowed) return std::nullopt;
    auto* counter = control_->denial_counter(action, decision.rule);
    if (counter) counter->inc();
    denial_counters_[static_cast<std::size_t>(action)][std::string(target)] = counter;
    // A peer that tries name after name must not flood the log: the first few at info.
    const auto level = ++logged_ <= kLoudDenials ? spdlog::level::info : spdlog::level::debug;
    observe::logger().log(level, "plexus: {} ({}) may not {} \"{}\" (rule \"{}\")",
                          described(peer_), peer_.address, to_string(action), target,
                          decision.rule);
    return Error{
        StatusCode::permission_denied,
        described(peer_) + " may not " + std::string(to_string(action)) + " \"" +
            std::string(target) + "\"",
        nlohmann::json{{"action", to_string(action)}, {"target", std::string(target)}}.dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace)};
  }

  std::shared_ptr<AccessControl> control_;
  PeerIdentity peer_;
  std::uint64_t version_ = 0;
  std::optional<AccessPolicy> policy_;
  std::array<Answers, 5> answers_;
  // Where the answers that are denials are counted (the registry's counter for their rule).
  std::array<std::unordered_map<std::string, observe::Counter*>, 5> denial_counters_;
  std::optional<Last> last_;
  std::size_t logged_ = 0;
};

}  // namespace

AccessControl::AccessControl(std::shared_ptr<const TokenVerifier> tokens, bool require_token,
                             std::optional<AccessPolicy> policy, observe::Registry* registry)
    : tokens_(std::move(tokens)),
      require_token_(require_token),
      policy_(std::move(policy)),
      has_policy_(policy_.has_value()) {
  if (registry) {
    authentications_ = &registry->counter(
        "plexus_authentications_total",
        "Clients' handshakes checked against the server's token keys, by result (ok, missing, "
        "malformed, unknown_key, bad_signature, expired, not_yet_valid)",
        {"result"});
    denials_ = &registry->counter(
        "plexus_access_denials_total",
        "Calls, messages, subscriptions and streams the access policy refused, by action and "
        "by the rule that refused them (\"default\": no rule allowed it)",
        {"action", "rule"});
  }
}

Result<rpc::Admission> AccessControl::admit(const PeerIdentity& peer,
                                            const wire::PeerHello& hello) {
  std::shared_ptr<const TokenVerifier> tokens;
  {
    std::lock_guard lock(mu_);
    tokens = tokens_;
  }
  rpc::Admission admission;
  const auto count = [this](const std::string& result) {
    if (authentications_) authentications_->with({result}).inc();
  };
  if (tokens) {
    if (hello.token.empty()) {
      if (require_token_) {
        count("missing");
        return tl::unexpected(Error{StatusCode::unauthenticated,
                                    "this server requires a token: pass one with "
                                    "ClientOptions::token or plexus --token",
                                    R"({"reason":"missing"})"});
      }
    } else {
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      auto claims = tokens->verify(hello.token, now);
      if (!claims) {
        count(token_reason(claims.error()));
        return tl::unexpected(claims.error());
      }
      count("ok");
      admission.expires =
          std::chrono::system_clock::time_point(std::chrono::seconds(claims->expires));
      admission.subject = std::move(claims->subject);
      admission.scopes = std::move(claims->scopes);
    }
  }
  if (has_policy_) {
    PeerIdentity verified = peer;
    verified.subject = admission.subject;
    verified.scopes = admission.scopes;
    admission.gate = std::make_shared<PolicyGate>(shared_from_this(), std::move(verified));
  }
  return admission;
}

Result<void> AccessControl::set_policy(AccessPolicy policy) {
  if (!has_policy_) {
    return make_error(StatusCode::failed_precondition,
                      "this server started without an access policy, so its connections have "
                      "none to reload: start it with one (ServerOptions::access_policy, plexus "
                      "serve --acl)");
  }
  std::lock_guard lock(mu_);
  policy_ = std::move(policy);
  version_.fetch_add(1, std::memory_order_acq_rel);
  return {};
}

void AccessControl::set_tokens(std::shared_ptr<const TokenVerifier> tokens) {
  std::lock_guard lock(mu_);
  tokens_ = std::move(tokens);
}

std::optional<AccessPolicy> AccessControl::policy() const {
  std::lock_guard lock(mu_);
  return policy_;
}

observe::Counter* AccessControl::denial_counter(AccessAction action, const std::string& rule) {
  return denials_ ? &denials_->with({std::string(to_string(action)), rule}) : nullptr;
}

}  // namespace plexus
