// A server's authentication and access control: the token verifier and access policy in force
// (both replaceable while it runs), the HELLO check that admits a peer, and the per-session
// gates that ask the policy. Private to src/api.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "observe/metrics.hpp"
#include "plexus/security.hpp"
#include "rpc/access_gate.hpp"
#include "wire/handshake.hpp"

namespace plexus {

class AccessControl : public std::enable_shared_from_this<AccessControl> {
 public:
  // Counts authentications by result and denials by action and rule in `registry` (null: not
  // counted).
  AccessControl(std::shared_ptr<const TokenVerifier> tokens, bool require_token,
                std::optional<AccessPolicy> policy, observe::Registry* registry);

  // Authenticates a peer from its HELLO (SessionCallbacks::on_hello): verifies its token
  // against the keys in force, and gives it a gate when a policy is set. `peer`: what the
  // kernel verified. unauthenticated when a required token is missing or does not verify.
  Result<rpc::Admission> admit(const PeerIdentity& peer, const wire::PeerHello& hello);

  // Replaces the policy (reload); sessions ask the new one from their next message on.
  // failed_precondition when the server started without one: its sessions have no gates.
  Result<void> set_policy(AccessPolicy policy);
  // Replaces the token keys; connections already admitted stay.
  void set_tokens(std::shared_ptr<const TokenVerifier> tokens);

  bool has_policy() const { return has_policy_; }
  std::optional<AccessPolicy> policy() const;
  std::uint64_t policy_version() const { return version_.load(std::memory_order_acquire); }
  // Where denials of `action` by `rule` are counted (null: not counted); stable.
  observe::Counter* denial_counter(AccessAction action, const std::string& rule);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TokenVerifier> tokens_;  // guarded by mu_
  bool require_token_ = true;
  std::optional<AccessPolicy> policy_;  // guarded by mu_
  const bool has_policy_;
  std::atomic<std::uint64_t> version_{1};
  observe::CounterFamily* authentications_ = nullptr;
  observe::CounterFamily* denials_ = nullptr;
};

}  // namespace plexus
