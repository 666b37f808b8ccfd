// Signed tokens: Ed25519 JWTs (RFC 7519, RFC 8037) issued by SigningKey and checked by
// TokenVerifier. Keys travel as JSON Web Keys (OKP, Ed25519). libsodium does the cryptography
// and the base64url; nlohmann::json the header, the claims and the keys.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/security.hpp"

namespace plexus {
namespace security::token_detail {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr std::size_t kMaxTokenSize = 8192;
constexpr std::size_t kMaxKeyFileSize = 64 * 1024;
constexpr std::size_t kMaxKeyIdLength = 64;
constexpr std::size_t kPublicKeySize = crypto_sign_PUBLICKEYBYTES;  // 32
constexpr std::size_t kSeedSize = crypto_sign_SEEDBYTES;            // 32
constexpr std::size_t kSignatureSize = crypto_sign_BYTES;           // 64
static_assert(crypto_sign_SECRETKEYBYTES == 64, "SigningKey::secret_ holds seed and public key");

bool sodium_ready() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = sodium_init() >= 0; });
  return ready;
}

bool valid_key_id(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKeyIdLength) return false;
  for (const char c : kid) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string key_id_problem() {
  return "a key id is 1 to 64 characters of letters, digits, '.', '_' and '-'";
}

std::string base64url(const unsigned char* data, std::size_t size) {
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(size, variant), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::string base64url(std::string_view text) {
  return base64url(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

// Decodes exactly `size` bytes into `out`; false on anything else (bad characters, padding,
// non-zero trailing bits, another length).
bool base64url_decode(std::string_view text, unsigned char* out, std::size_t size) {
  std::size_t written = 0;
  if (sodium_base642bin(out, size, text.data(), text.size(), nullptr, &written, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return false;
  }
  return written == size;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 1, '\0');
  std::size_t written = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &written, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  out.resize(written);
  return out;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-12-07T07:00:00Z" for years 1..9999; the bare number of seconds outside them.
std::string format_time(std::int64_t t) {
  constexpr std::int64_t kFirst = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr std::int64_t kLast = 253402300799;   // 9999-12-31T23:59:59Z
  if (t < kFirst || t > kLast) return std::to_string(t) + " seconds since the epoch";
  std::int64_t days = t / 86400;
  std::int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    days -= 1;
  }
  // Howard Hinnant's civil_from_days.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                static_cast<long long>(year), static_cast<long long>(month),
                static_cast<long long>(day), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

// Every verification failure: unauthenticated, with a stable reason for programs.
tl::unexpected<Error> refuse(std::string_view reason, std::string message,
                             json extra = json::object()) {
  extra["reason"] = reason;
  return make_error(StatusCode::unauthenticated, std::move(message), extra.dump());
}

tl::unexpected<Error> malformed(const std::string& what) {
  return refuse("malformed", "token is malformed: " + what);
}

tl::unexpected<Error> invalid(std::string message) {
  return make_error(StatusCode::invalid_argument, std::move(message));
}

// A file's contents; not_found / permission_denied when it cannot be read.
Result<std::string> read_small_file(const std::string& path, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    const int err = errno;
    const std::string why = std::string("cannot read ") + std::string(what) + " " + path;
    if (err == ENOENT || err == ENOTDIR)
      return make_error(StatusCode::not_found, why + ": no such file");
    if (err == EACCES || err == EPERM) {
      return make_error(StatusCode::permission_denied, why + ": permission denied");
    }
    return make_error(StatusCode::failed_precondition, why + ": error " + std::to_string(err));
  }
  std::string text;
  char buf[4096];
  std::size_t n;
  bool too_large = false;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (text.size() + n > kMaxKeyFileSize) {
      too_large = true;
      break;
    }
    text.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  sodium_memzero(buf, sizeof buf);
  if (too_large || failed) {
    sodium_memzero(text.data(), text.size());
    if (too_large) {
      return invalid(std::string(what) + " " + path + " is too large to be a key (over 64 KiB)");
    }
    return make_error(StatusCode::failed_precondition,
                      "cannot read " + std::string(what) + " " + path);
  }
  return text;
}

// Wipes a string that held secret material before it is freed.
void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// The fields both kinds of JWK share: kty, crv, kid. Returns the kid.
Result<std::string> check_jwk_common(const json& jwk) {
  if (!jwk.is_object()) return invalid("the key is not a JSON Web Key (a JSON object)");
  const auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string() || kty->get_ref<const std::string&>() != "OKP") {
    return invalid("the key is not an Ed25519 key: \"kty\" must be \"OKP\"");
  }
  const auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || crv->get_ref<const std::string&>() != "Ed25519") {
    return invalid("the key is not an Ed25519 key: \"crv\" must be \"Ed25519\"");
  }
  const auto kid = jwk.find("kid");
  if (kid == jwk.end() || !kid->is_string()) return invalid("the key has no key id (\"kid\")");
  const auto& id = kid->get_ref<const std::string&>();
  if (!valid_key_id(id)) return invalid("the key's \"kid\" is not valid: " + key_id_problem());
  if (const auto alg = jwk.find("alg"); alg != jwk.end()) {
    if (!alg->is_string() || alg->get_ref<const std::string&>() != "EdDSA") {
      return invalid("the key's \"alg\", when present, must be \"EdDSA\"");
    }
  }
  return id;
}

// Splits "scope" on spaces, skipping empty pieces.
std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    if (end > i) out.emplace_back(text.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

bool has_whitespace(std::string_view s) {
  for (const char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return true;
  }
  return false;
}

// An optional integer claim: nullopt when absent; an error when present but not an integer
// that fits int64.
Result<std::optional<std::int64_t>> integer_claim(const json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::int64_t>{};
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) {
      return malformed(std::string("\"") + name + "\" is out of range");
    }
    return std::optional<std::int64_t>{static_cast<std::int64_t>(v)};
  }
  if (it->is_number_integer()) return std::optional<std::int64_t>{it->get<std::int64_t>()};
  return malformed(std::string("\"") + name + "\" must be an integer (seconds since the epoch)");
}

Result<json> decode_json_part(std::string_view part, const char* what) {
  const auto bytes = base64url_decode(part);
  if (!bytes) return malformed(std::string("its ") + what + " is not valid base64url");
  json value = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return malformed(std::string("its ") + what + " is not JSON");
  if (!value.is_object()) return malformed(std::string("its ") + what + " is not a JSON object");
  return value;
}

}  // namespace security::token_detail

namespace td = security::token_detail;

// ---- SigningKey ----

Result<SigningKey> SigningKey::generate(std::string key_id) {
  if (!td::valid_key_id(key_id)) return td::invalid("invalid key id: " + td::key_id_problem());
  if (!td::sodium_ready()) return make_error(StatusCode::internal, "libsodium failed to start");
  SigningKey key;
  key.key_id_ = std::move(key_id);
  std::array<unsigned char, td::kPublicKeySize> pk{};
  crypto_sign_keypair(pk.data(), key.secret_.data());
  return key;
}

Result<SigningKey> SigningKey::parse(std::string_view text) {
  if (!td::sodium_ready()) return make_error(StatusCode::internal, "libsodium failed to start");
  td::json jwk = td::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (jwk.is_discarded()) return td::invalid("the secret key is not JSON");
  // Wipe the copy of "d" the parsed JSON holds, whatever happens below.
  struct WipeD {
    td::json& jwk;
    ~WipeD() {
      if (!jwk.is_object()) return;
      if (const auto d = jwk.find("d"); d != jwk.end() && d->is_string()) {
        td::wipe(d->get_ref<std::string&>());
      }
    }
  } wipe_d{jwk};
  auto kid = td::check_jwk_common(jwk);
  if (!kid) return tl::unexpected(kid.error());
  const auto d = jwk.find("d");
  if (d == jwk.end()) {
    return td::invalid("this is a public key (it has no \"d\"): signing needs the secret key");
  }
  std::array<unsigned char, td::kSeedSize> seed{};
  if (!d->is_string() ||
      !td::base64url_decode(d->get_ref<const std::string&>(), seed.data(), seed.size())) {
    sodium_memzero(seed.data(), seed.size());
    return td::invalid("the secret key's \"d\" is not 32 bytes of base64url");
  }
  SigningKey key;
  std::array<unsigned char, td::kPublicKeySize> pk{};
  crypto_sign_seed_keypair(pk.data(), key.secret_.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  if (const auto x = jwk.find("x"); x != jwk.end()) {
    std::array<unsigned char, td::kPublicKeySize> given{};
    if (!x->is_string() ||
        !td::base64url_decode(x->get_ref<const std::string&>(), given.data(), given.size())) {
      return td::invalid("the secret key's \"x\" is not 32 bytes of base64url");
    }
    if (sodium_memcmp(given.data(), pk.data(), pk.size()) != 0) {
      return td::invalid("the secret key's \"x\" is not the public half of its \"d\"");
    }
  }
  key.key_id_ = std::move(*kid);
  return key;
}

Result<SigningKey> SigningKey::load(const std::string& path) {
  auto text = td::read_small_file(path, "secret key");
  if (!text) return tl::unexpected(text.error());
  auto key = parse(*text);
  td::wipe(*text);
  if (!key) {
    Error e = key.error();
    e.message = path + ": " + e.message;
    return tl::unexpected(std::move(e));
  }
  return key;
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : key_id_(std::move(other.key_id_)), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
  other.key_id_.clear();
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    key_id_ = std::move(other.key_id_);
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
    other.key_id_.clear();
  }
  return *this;
}

SigningKey::~SigningKey() {
  sodium_memzero(secret_.data(), secret_.size());
}

std::string SigningKey::public_jwk() const {
  td::ordered_json jwk;
  jwk["kty"] = "OKP";
  jwk["crv"] = "Ed25519";
  jwk["kid"] = key_id_;
  jwk["x"] = td::base64url(secret_.data() + td::kSeedSize, td::kPublicKeySize);
  return jwk.dump();
}

std::string SigningKey::secret_jwk() const {
  td::ordered_json jwk;
  jwk["kty"] = "OKP";
  jwk["crv"] = "Ed25519";
  jwk["kid"] = key_id_;
  jwk["x"] = td::base64url(secret_.data() + td::kSeedSize, td::kPublicKeySize);
  std::string d = td::base64url(secret_.data(), td::kSeedSize);
  jwk["d"] = d;
  td::wipe(d);
  std::string out = jwk.dump();
  td::wipe(jwk["d"].get_ref<std::string&>());
  return out;
}

Result<std::string> SigningKey::issue(const TokenClaims& claims) const {
  if (key_id_.empty()) return td::invalid("this signing key was moved from");
  if (claims.subject.empty()) return td::invalid("a token needs a subject");
  for (const auto& scope : claims.scopes) {
    if (scope.empty()) return td::invalid("a scope may not be empty");
    if (td::has_whitespace(scope)) return td::invalid("a scope may not contain whitespace");
  }
  const std::int64_t issued_at = claims.issued_at != 0 ? claims.issued_at : td::unix_now();
  if (claims.expires <= issued_at) {
    return td::invalid("a token must expire after it is issued (expires " +
                       td::format_time(claims.expires) + ", issued " + td::format_time(issued_at) +
                       ")");
  }
  if (claims.not_before && *claims.not_before >= claims.expires) {
    return td::invalid("a token's not-before must come before its expiry");
  }
  td::ordered_json header;
  header["alg"] = "EdDSA";
  header["typ"] = "JWT";
  header["kid"] = key_id_;
  td::ordered_json body;
  if (!claims.issuer.empty()) body["iss"] = claims.issuer;
  body["sub"] = claims.subject;
  body["iat"] = issued_at;
  if (claims.not_before) body["nbf"] = *claims.not_before;
  body["exp"] = claims.expires;
  if (!claims.scopes.empty()) {
    std::string scope;
    for (const auto& s : claims.scopes) {
      if (!scope.empty()) scope += ' ';
      scope += s;
    }
    body["scope"] = scope;
  }
  std::string body_text;
  try {
    body_text = body.dump();
  } catch (const td::json::exception&) {
    return td::invalid("a token's subject, issuer and scopes must be valid UTF-8");
  }
  std::string token = td::base64url(header.dump()) + "." + td::base64url(body_text);
  if (token.size() + 1 + 86 > td::kMaxTokenSize) {
    return td::invalid("the token would be larger than 8 KiB, which verifiers refuse");
  }
  std::array<unsigned char, td::kSignatureSize> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(token.data()),
                       token.size(), secret_.data());
  token += '.';
  token += td::base64url(sig.data(), sig.size());
  return token;
}

// ---- TokenVerifier ----

struct TokenVerifier::Impl {
  std::map<std::string, std::array<unsigned char, td::kPublicKeySize>, std::less<>> keys;
};

TokenVerifier::TokenVerifier() : impl_(std::make_unique<Impl>()) {}
TokenVerifier::TokenVerifier(const TokenVerifier& other)
    : impl_(std::make_unique<Impl>(other.impl_ ? *other.impl_ : Impl{})) {}
TokenVerifier::TokenVerifier(TokenVerifier&&) noexcept = default;
TokenVerifier& TokenVerifier::operator=(const TokenVerifier& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(other.impl_ ? *other.impl_ : Impl{});
  return *this;
}
TokenVerifier& TokenVerifier::operator=(TokenVerifier&&) noexcept = default;
TokenVerifier::~TokenVerifier() = default;

Result<void> TokenVerifier::add_key(std::string_view text) {
  if (!td::sodium_ready()) return make_error(StatusCode::internal, "libsodium failed to start");
  td::json jwk = td::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (jwk.is_discarded()) return td::invalid("the public key is not JSON");
  if (jwk.is_object()) {
    if (const auto d = jwk.find("d"); d != jwk.end()) {
      if (d->is_string()) td::wipe(d->get_ref<std::string&>());
      return td::invalid(
          "this is a secret key (it has \"d\"): secrets must not be handed to servers; give them "
          "the public key (plexus token keygen writes it to KID.pub)");
    }
  }
  auto kid = td::check_jwk_common(jwk);
  if (!kid) return tl::unexpected(kid.error());
  const auto x = jwk.find("x");
  std::array<unsigned char, td::kPublicKeySize> pk{};
  if (x == jwk.end() || !x->is_string() ||
      !td::base64url_decode(x->get_ref<const std::string&>(), pk.data(), pk.size())) {
    return td::invalid("the public key's \"x\" is not 32 bytes of base64url");
  }
  if (crypto_core_ed25519_is_valid_point(pk.data()) != 1) {
    return td::invalid("the public key's \"x\" is not a valid Ed25519 public key");
  }
  if (!impl_) impl_ = std::make_unique<Impl>();
  if (impl_->keys.contains(*kid)) {
    return make_error(StatusCode::already_exists, "a key with id \"" + *kid + "\" is already held",
                      td::json{{"kid", *kid}}.dump());
  }
  impl_->keys.emplace(std::move(*kid), pk);
  return {};
}

Result<void> TokenVerifier::add_key_file(const std::string& path) {
  auto text = td::read_small_file(path, "public key");
  if (!text) return tl::unexpected(text.error());
  auto added = add_key(*text);
  td::wipe(*text);  // it may have been a secret key by mistake
  if (!added) {
    Error e = added.error();
    e.message = path + ": " + e.message;
    return tl::unexpected(std::move(e));
  }
  return {};
}

std::size_t TokenVerifier::key_count() const {
  return impl_ ? impl_->keys.size() : 0;
}

Result<TokenClaims> TokenVerifier::verify(std::string_view token, std::int64_t now) const {
  if (token.empty()) return td::malformed("it is empty");
  if (token.size() > td::kMaxTokenSize) {
    return td::malformed("it is " + std::to_string(token.size()) + " bytes long, over the " +
                         std::to_string(td::kMaxTokenSize) + " allowed");
  }
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return td::malformed("a token is three base64url parts separated by dots");
  }
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view claims_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);
  const std::string_view signed_part = token.substr(0, dot2);

  // The header: which algorithm and which key.
  auto header = td::decode_json_part(header_part, "header");
  if (!header) return tl::unexpected(header.error());
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) {
    return td::malformed("its header names no algorithm (\"alg\")");
  }
  const auto& alg_name = alg->get_ref<const std::string&>();
  if (alg_name != "EdDSA") {
    // Named in the message only when it looks like an algorithm's name ("none", "HS256").
    if (alg_name.size() <= 16 && td::valid_key_id(alg_name)) {
      return td::malformed("it uses the algorithm \"" + alg_name +
                           "\"; only EdDSA (Ed25519) is accepted");
    }
    return td::malformed("its algorithm is not EdDSA (Ed25519), the only one accepted");
  }
  if (const auto typ = header->find("typ"); typ != header->end()) {
    if (!typ->is_string() || typ->get_ref<const std::string&>() != "JWT") {
      return td::malformed("its header's \"typ\", when present, must be \"JWT\"");
    }
  }
  if (header->contains("crit")) {
    return td::malformed("its header has critical extensions (\"crit\"), which are not supported");
  }
  const auto kid = header->find("kid");
  if (kid == header->end() || !kid->is_string()) {
    return td::malformed("its header names no key (\"kid\")");
  }
  const auto& key_id = kid->get_ref<const std::string&>();
  if (!td::valid_key_id(key_id)) {
    return td::malformed("its header's key id (\"kid\") is not valid");
  }
  static const Impl kNoKeys;  // a moved-from verifier holds none
  const Impl& held = impl_ ? *impl_ : kNoKeys;
  const auto key = held.keys.find(key_id);
  if (key == held.keys.end()) {
    return td::refuse(
        "unknown_key",
        "token was signed by a key this server does not hold (kid \"" + key_id + "\")",
        td::json{{"kid", key_id}});
  }

  // The signature, over the ASCII of "header.claims".
  std::array<unsigned char, td::kSignatureSize> sig{};
  if (!td::base64url_decode(signature_part, sig.data(), sig.size())) {
    return td::malformed("its signature is not 64 bytes of base64url");
  }
  if (!td::sodium_ready()) return make_error(StatusCode::internal, "libsodium failed to start");
  if (crypto_sign_verify_detached(sig.data(),
                                  reinterpret_cast<const unsigned char*>(signed_part.data()),
                                  signed_part.size(), key->second.data()) != 0) {
    return td::refuse("bad_signature", "token signature is invalid", td::json{{"kid", key_id}});
  }

  // The claims, signed by a key held here: check their types, then the times.
  auto body = td::decode_json_part(claims_part, "claims part");
  if (!body) return tl::unexpected(body.error());
  TokenClaims claims;
  claims.key_id = key_id;
  const auto sub = body->find("sub");
  if (sub == body->end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return td::malformed("it names no subject (\"sub\" must be a non-empty string)");
  }
  claims.subject = sub->get<std::string>();
  if (const auto iss = body->find("iss"); iss != body->end()) {
    if (!iss->is_string()) return td::malformed("\"iss\" must be a string");
    claims.issuer = iss->get<std::string>();
  }
  if (const auto scope = body->find("scope"); scope != body->end()) {
    if (!scope->is_string()) return td::malformed("\"scope\" must be a string");
    claims.scopes = td::split_scopes(scope->get_ref<const std::string&>());
  }
  auto exp = td::integer_claim(*body, "exp");
  if (!exp) return tl::unexpected(exp.error());
  if (!*exp) return td::malformed("it has no expiry (\"exp\")");
  claims.expires = **exp;
  auto nbf = td::integer_claim(*body, "nbf");
  if (!nbf) return tl::unexpected(nbf.error());
  claims.not_before = *nbf;
  auto iat = td::integer_claim(*body, "iat");
  if (!iat) return tl::unexpected(iat.error());
  claims.issued_at = iat->value_or(0);

  if (now >= claims.expires) {
    return td::refuse("expired", "token expired at " + td::format_time(claims.expires),
                      td::json{{"expires", claims.expires}, {"now", now}});
  }
  if (claims.not_before && now < *claims.not_before) {
    return td::refuse("not_yet_valid",
                      "token is not valid before " + td::format_time(*claims.not_before),
                      td::json{{"not_before", *claims.not_before}, {"now", now}});
  }
  return claims;
}

}  // namespace plexus
