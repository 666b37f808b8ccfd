// libFuzzer target: arbitrary bytes as a token, checked by a verifier holding one fixed key (from
// a fixed seed) at a fixed time. A refusal is always unauthenticated with a known reason; an
// acceptance has a subject, an expiry after now, the held key's id and no not-before after now.
// The same bytes go to SigningKey::parse and TokenVerifier::add_key, which must not crash
// either; a key they accept must issue a token a verifier of its public half accepts.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "plexus/security.hpp"

namespace plexus::fuzz::token {

constexpr std::int64_t kNow = 1796626800;  // 2026-12-07T07:00:00Z
// The seed corpus (tests/fuzz/corpus/token/) is signed by this key: the seed is bytes 0..31.
constexpr std::string_view kSecretJwk =
    R"({"kty":"OKP","crv":"Ed25519","kid":"fuzz","d":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"})";

const TokenVerifier& fixed_verifier() {
  static const TokenVerifier verifier = [] {
    TokenVerifier v;
    auto key = SigningKey::parse(kSecretJwk);
    FUZZ_CHECK(key.has_value());
    FUZZ_CHECK(v.add_key(key->public_jwk()).has_value());
    return v;
  }();
  return verifier;
}

bool known_reason(const std::string& details) {
  const auto d = nlohmann::json::parse(details, nullptr, false);
  if (!d.is_object()) return false;
  const auto it = d.find("reason");
  if (it == d.end() || !it->is_string()) return false;
  const auto& r = it->get_ref<const std::string&>();
  return r == "malformed" || r == "unknown_key" || r == "bad_signature" || r == "expired" ||
         r == "not_yet_valid";
}

}  // namespace plexus::fuzz::token

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  using namespace plexus::fuzz::token;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto claims = fixed_verifier().verify(text, kNow);
  if (!claims) {
    FUZZ_CHECK(claims.error().code == StatusCode::unauthenticated);
    FUZZ_CHECK(known_reason(claims.error().details));
    FUZZ_CHECK(!claims.error().message.empty());
  } else {
    FUZZ_CHECK(size <= 8192);
    FUZZ_CHECK(!claims->subject.empty());
    FUZZ_CHECK(claims->expires > kNow);
    FUZZ_CHECK(!claims->not_before || *claims->not_before <= kNow);
    FUZZ_CHECK(claims->key_id == "fuzz");
    for (const auto& scope : claims->scopes) {
      FUZZ_CHECK(!scope.empty() && scope.find(' ') == std::string::npos);
    }
  }

  // The same bytes as a secret key.
  auto key = SigningKey::parse(text);
  if (!key) {
    FUZZ_CHECK(key.error().code == StatusCode::invalid_argument);
  } else {
    TokenVerifier own;
    FUZZ_CHECK(own.add_key(key->public_jwk()).has_value());
    TokenClaims c;
    c.subject = "fuzz";
    c.issued_at = kNow;
    c.expires = kNow + 60;
    const auto token = key->issue(c);
    FUZZ_CHECK(token.has_value());
    const auto back = own.verify(*token, kNow);
    FUZZ_CHECK(back.has_value() && back->subject == "fuzz" && back->key_id == key->key_id());
  }

  // And as a public key.
  TokenVerifier fresh;
  const auto added = fresh.add_key(text);
  if (added) {
    FUZZ_CHECK(fresh.key_count() == 1);
  } else {
    FUZZ_CHECK(added.error().code == StatusCode::invalid_argument);
    FUZZ_CHECK(fresh.key_count() == 0);
  }
  return 0;
}
