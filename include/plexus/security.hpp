/// \file
/// Who may connect, call, publish and subscribe: signed tokens (Ed25519 JWTs) and access
/// policies (TOML files of allow and deny rules). docs/SECURITY.md describes both for users.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/call.hpp"
#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

/// What a token says about its bearer. Times are seconds since the Unix epoch.
struct PLEXUS_EXPORT TokenClaims {
  std::string subject;                     ///< "sub": who the bearer is (required, non-empty)
  std::vector<std::string> scopes;         ///< "scope": space-separated in the token (RFC 8693)
  std::string issuer;                      ///< "iss"; empty: none
  std::int64_t issued_at = 0;              ///< "iat"
  std::optional<std::int64_t> not_before;  ///< "nbf": not valid before
  std::int64_t expires = 0;                ///< "exp": not valid from this second on (required)
  std::string key_id;                      ///< "kid" of the key that signed it (the token's header)
};

/// An Ed25519 key pair that signs tokens. The secret never leaves it but through secret_jwk();
/// it is wiped on destruction. Move-only; const methods may be called from any thread.
class PLEXUS_EXPORT SigningKey {
 public:
  /// A new random key named `key_id` (1..64 characters of [A-Za-z0-9._-]; invalid_argument
  /// otherwise).
  static Result<SigningKey> generate(std::string key_id);
  /// Reads a secret key as secret_jwk() writes it. invalid_argument on anything else (the
  /// message never quotes the secret).
  static Result<SigningKey> parse(std::string_view jwk);
  /// parse() of a file's contents; not_found / permission_denied when it cannot be read.
  static Result<SigningKey> load(const std::string& path);

  SigningKey(SigningKey&&) noexcept;             ///< Moves the key; the source is left empty.
  SigningKey& operator=(SigningKey&&) noexcept;  ///< Moves the key; the old one is wiped.
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  /// The key's id: the "kid" of the tokens it issues.
  const std::string& key_id() const { return key_id_; }
  /// The key pair as a JSON Web Key: {"kty":"OKP","crv":"Ed25519","kid":…,"x":…,"d":…}.
  std::string secret_jwk() const;
  /// The public half only (no "d"): what servers are given to verify tokens.
  std::string public_jwk() const;
  /// A signed token: a JWT (header {"alg":"EdDSA","typ":"JWT","kid":key_id()}) carrying
  /// `claims` (its key_id is ignored). invalid_argument on an empty subject, a scope with a
  /// space, or an expiry not after issued_at.
  Result<std::string> issue(const TokenClaims& claims) const;

 private:
  SigningKey() = default;
  std::string key_id_;
  std::array<unsigned char, 64> secret_{};  // libsodium's secret key: the seed, then public key
};

/// Verifies tokens with public keys only: a server holding it cannot mint tokens. Holds any
/// number of keys at once (during a rotation, the old and the new). Build it, then share it
/// const: verify() may be called from any thread.
class PLEXUS_EXPORT TokenVerifier {
 public:
  TokenVerifier();                                     ///< Holds no key: verifies nothing.
  TokenVerifier(const TokenVerifier&);                 ///< Copies the keys.
  TokenVerifier(TokenVerifier&&) noexcept;             ///< Moves the keys.
  TokenVerifier& operator=(const TokenVerifier&);      ///< Copies the keys.
  TokenVerifier& operator=(TokenVerifier&&) noexcept;  ///< Moves the keys.
  ~TokenVerifier();

  /// Adds a public key (a JWK as SigningKey::public_jwk() writes; a secret JWK is refused so
  /// that secrets are not spread by mistake). invalid_argument on a malformed key,
  /// already_exists when its key id is already held.
  Result<void> add_key(std::string_view jwk);
  /// add_key() of a file's contents.
  Result<void> add_key_file(const std::string& path);
  /// How many keys it holds.
  std::size_t key_count() const;

  /// The claims of a token signed by one of the keys and valid at `now` (seconds since the
  /// epoch). unauthenticated otherwise: malformed, signed by no key held here, a bad signature,
  /// expired, not yet valid. The message says which, for the user; it never echoes the token
  /// or a key.
  Result<TokenClaims> verify(std::string_view token, std::int64_t now) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What a peer asks to do, for AccessPolicy::check.
enum class AccessAction : std::uint8_t { call, notify, publish, subscribe, stream };

/// "call", "notify", "publish", "subscribe", "stream".
PLEXUS_EXPORT std::string_view to_string(AccessAction action);

/// Which peers may do what: a TOML file of rules (docs/SECURITY.md has a complete example).
/// Each rule names whom it applies to (uid, user, gid, group, executable, subject, scope, or
/// anyone) and, per action, the method or topic patterns it covers ("math.*", "news.>").
/// A deny rule that matches wins; else an allow rule that matches allows; else the answer is
/// no (default deny). An immutable value: copies share it, check() may run on any thread.
class PLEXUS_EXPORT AccessPolicy {
 public:
  /// The answer to one question, and which rule gave it ("default" when none matched).
  struct Decision {
    bool allowed = false;  ///< whether the peer may
    std::string rule;      ///< the name of the rule that decided, or "default"
  };

  /// Parses a policy. invalid_argument with "ORIGIN:LINE:COLUMN: what is wrong" (and the line
  /// and column in the details) on a syntax error, an unknown key, a bad pattern, or a user or
  /// group that does not exist on this machine.
  static Result<AccessPolicy> parse(std::string_view text, std::string_view origin = "policy");
  /// parse() of a file; not_found / permission_denied when it cannot be read.
  static Result<AccessPolicy> load(const std::string& path);

  /// Whether `peer` may do `action` on `target` (a method, or a topic; for subscribe, the
  /// subscription's pattern, allowed only when a rule's pattern covers every topic it matches).
  Decision check(const PeerIdentity& peer, AccessAction action, std::string_view target) const;
  /// How many rules it has.
  std::size_t rule_count() const;

  /// A rule's name, effect and patterns, for tools (`plexus acl check` lists them).
  struct Rule {
    std::string name;   ///< its unique name
    bool allow = true;  ///< effect: allow (true) or deny
    /// The patterns per action, indexed by AccessAction (empty: the rule covers none).
    std::array<std::vector<std::string>, 5> patterns;
  };
  /// The rules that apply to `peer` (their who-keys match it), in file order.
  std::vector<Rule> rules_for(const PeerIdentity& peer) const;
  /// Where it was read from (parse's origin, load's path).
  const std::string& origin() const;

 private:
  struct Impl;
  explicit AccessPolicy(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace plexus
