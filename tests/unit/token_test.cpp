// include/plexus/security.hpp, tokens: SigningKey (keys as JWKs, issue) and TokenVerifier
// (add_key, verify): round trips, rotation, tampering, refused algorithms, the time checks at
// their exact boundaries, malformed input, and the stable "reason" of every refusal.
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "plexus/security.hpp"
#include "test_kit.hpp"

namespace plexus::test::token {

using nlohmann::json;

constexpr std::int64_t kNow = 1796626800;  // 2026-12-07T07:00:00Z

std::string b64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);
  return out;
}

std::string unb64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &n, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    ADD_FAILURE() << "test helper: not base64url";
  }
  out.resize(n);
  return out;
}

// A key pair from a fixed seed, so that tests can sign any bytes they like (wrong types, odd
// headers) with a key the verifier holds.
struct FixedKey {
  std::string kid;
  std::array<unsigned char, 32> pk{};
  std::array<unsigned char, 64> sk{};

  explicit FixedKey(std::string id, unsigned char fill = 7) : kid(std::move(id)) {
    EXPECT_GE(sodium_init(), 0);
    std::array<unsigned char, 32> seed{};
    seed.fill(fill);
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  }
  std::string x() const { return b64({reinterpret_cast<const char*>(pk.data()), pk.size()}); }
  std::string d() const { return b64({reinterpret_cast<const char*>(sk.data()), 32}); }
  std::string public_jwk() const {
    return json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", kid}, {"x", x()}}.dump();
  }
  std::string secret_jwk() const {
    return json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", kid}, {"x", x()}, {"d", d()}}.dump();
  }
  // header.claims.signature over the raw texts given.
  std::string sign_raw(const std::string& header, const std::string& claims) const {
    const std::string input = b64(header) + "." + b64(claims);
    std::array<unsigned char, 64> sig{};
    crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(input.data()),
                         input.size(), sk.data());
    return input + "." + b64({reinterpret_cast<const char*>(sig.data()), sig.size()});
  }
  std::string sign(const json& claims) const {
    return sign_raw(json{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", kid}}.dump(), claims.dump());
  }
};

json good_claims() {
  return json{{"sub", "alice"}, {"iat", kNow - 10}, {"exp", kNow + 3600}};
}

TokenVerifier verifier_of(const FixedKey& key) {
  TokenVerifier v;
  EXPECT_TRUE(v.add_key(key.public_jwk()));
  return v;
}

::testing::AssertionResult refused(const Result<TokenClaims>& r, std::string_view reason) {
  if (r) return ::testing::AssertionFailure() << "accepted (subject " << r->subject << ")";
  if (r.error().code != StatusCode::unauthenticated) {
    return ::testing::AssertionFailure()
           << "code " << to_string(r.error().code) << ": " << r.error().to_string();
  }
  const json details = json::parse(r.error().details, nullptr, false);
  if (!details.is_object() || !details.contains("reason")) {
    return ::testing::AssertionFailure() << "details without a reason: " << r.error().details;
  }
  if (details["reason"] != reason) {
    return ::testing::AssertionFailure()
           << "reason " << details["reason"] << ", not " << reason << ": " << r.error().to_string();
  }
  return ::testing::AssertionSuccess() << r.error().to_string();
}

TokenClaims claims_for(std::string subject, std::int64_t expires) {
  TokenClaims c;
  c.subject = std::move(subject);
  c.issued_at = kNow - 60;
  c.expires = expires;
  return c;
}

std::string with_part(const std::string& token, int index, const std::string& part) {
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                          token.substr(d2 + 1)};
  parts[index] = part;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string part_of(const std::string& token, int index) {
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  if (index == 0) return token.substr(0, d1);
  if (index == 1) return token.substr(d1 + 1, d2 - d1 - 1);
  return token.substr(d2 + 1);
}

TEST(Token, RoundTrip) {
  auto key = SigningKey::generate("k1");
  ASSERT_TRUE(key) << key.error().to_string();
  TokenVerifier v;
  ASSERT_TRUE(v.add_key(key->public_jwk()));
  EXPECT_EQ(v.key_count(), 1u);
  auto token = key->issue(claims_for("alice", kNow + 60));
  ASSERT_TRUE(token) << token.error().to_string();
  EXPECT_EQ(std::count(token->begin(), token->end(), '.'), 2);
  EXPECT_EQ(token->find('='), std::string::npos);
  const json header = json::parse(unb64(part_of(*token, 0)));
  EXPECT_EQ(header, (json{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}}));
  auto claims = v.verify(*token, kNow);
  ASSERT_TRUE(claims) << claims.error().to_string();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->key_id, "k1");
  EXPECT_EQ(claims->expires, kNow + 60);
}

TEST(Token, EveryClaimSurvives) {
  auto key = SigningKey::generate("main.2026-12_a");
  ASSERT_TRUE(key);
  TokenVerifier v;
  ASSERT_TRUE(v.add_key(key->public_jwk()));
  TokenClaims in;
  in.subject = "svc:billing/ünïcode";
  in.scopes = {"math.call", "news.subscribe", "admin"};
  in.issuer = "plexus-ca";
  in.issued_at = kNow - 100;
  in.not_before = kNow - 50;
  in.expires = kNow + 100;
  in.key_id = "ignored";
  auto token = key->issue(in);
  ASSERT_TRUE(token) << token.error().to_string();
  auto out = v.verify(*token, kNow);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(out->subject, in.subject);
  EXPECT_EQ(out->scopes, in.scopes);
  EXPECT_EQ(out->issuer, in.issuer);
  EXPECT_EQ(out->issued_at, in.issued_at);
  EXPECT_EQ(out->not_before, in.not_before);
  EXPECT_EQ(out->expires, in.expires);
  EXPECT_EQ(out->key_id, "main.2026-12_a");
  // Claims left out stay out.
  auto bare = key->issue(claims_for("bob", kNow + 1));
  ASSERT_TRUE(bare);
  const json body = json::parse(unb64(part_of(*bare, 1)));
  EXPECT_FALSE(body.contains("nbf"));
  EXPECT_FALSE(body.contains("iss"));
  EXPECT_FALSE(body.contains("scope"));
  auto b = v.verify(*bare, kNow);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->scopes.empty());
  EXPECT_TRUE(b->issuer.empty());
  EXPECT_FALSE(b->not_before);
}

TEST(Token, IssuedAtZeroMeansNow) {
  auto key = SigningKey::generate("k");
  ASSERT_TRUE(key);
  TokenVerifier v;
  ASSERT_TRUE(v.add_key(key->public_jwk()));
  const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  TokenClaims c;
  c.subject = "alice";
  c.expires = before + 3600;
  auto token = key->issue(c);
  ASSERT_TRUE(token) << token.error().to_string();
  auto out = v.verify(*token, before);
  ASSERT_TRUE(out);
  EXPECT_GE(out->issued_at, before);
  EXPECT_LE(out->issued_at, before + 60);
  // An expiry already past now cannot be issued with the current time as iat.
  c.expires = before - 1;
  auto past = key->issue(c);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, StatusCode::invalid_argument);
}

TEST(Token, RotationAcceptsBothKeysAndRefusesAThird) {
  auto old_key = SigningKey::generate("2026-11");
  auto new_key = SigningKey::generate("2026-12");
  auto other = SigningKey::generate("k2");
  ASSERT_TRUE(old_key && new_key && other);
  TokenVerifier v;
  ASSERT_TRUE(v.add_key(old_key->public_jwk()));
  ASSERT_TRUE(v.add_key(new_key->public_jwk()));
  EXPECT_EQ(v.key_count(), 2u);
  for (const SigningKey* k : {&*old_key, &*new_key}) {
    auto token = k->issue(claims_for("alice", kNow + 60));
    ASSERT_TRUE(token);
    auto out = v.verify(*token, kNow);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(out->key_id, k->key_id());
  }
  auto foreign = other->issue(claims_for("mallory", kNow + 60));
  ASSERT_TRUE(foreign);
  const auto r = v.verify(*foreign, kNow);
  EXPECT_TRUE(refused(r, "unknown_key"));
  EXPECT_EQ(r.error().message, "token was signed by a key this server does not hold (kid \"k2\")");
  EXPECT_EQ(json::parse(r.error().details)["kid"], "k2");
  // A key with a held kid but other key material: the signature does not verify.
  auto impostor = SigningKey::generate("2026-12");
  ASSERT_TRUE(impostor);
  EXPECT_TRUE(
      refused(v.verify(*impostor->issue(claims_for("mallory", kNow + 60)), kNow), "bad_signature"));
  // Copies hold the same keys.
  TokenVerifier copy = v;
  EXPECT_EQ(copy.key_count(), 2u);
  EXPECT_TRUE(copy.verify(*old_key->issue(claims_for("alice", kNow + 60)), kNow));
  TokenVerifier moved = std::move(copy);
  EXPECT_EQ(moved.key_count(), 2u);
}

TEST(Token, TamperedClaimsHeaderOrSignatureAreRefused) {
  const FixedKey key("k1");
  const TokenVerifier v = verifier_of(key);
  const std::string token = key.sign(good_claims());
  ASSERT_TRUE(v.verify(token, kNow));

  // Claims changed after signing: the signature no longer matches.
  json richer = good_claims();
  richer["sub"] = "root";
  EXPECT_TRUE(refused(v.verify(with_part(token, 1, b64(richer.dump())), kNow), "bad_signature"));
  json longer = good_claims();
  longer["exp"] = kNow + 10 * 365 * 86400;
  EXPECT_TRUE(refused(v.verify(with_part(token, 1, b64(longer.dump())), kNow), "bad_signature"));
  // Header changed (still EdDSA, same kid): bad signature; header made non-JSON: malformed.
  const std::string header2 = json{{"kid", "k1"}, {"alg", "EdDSA"}}.dump();
  EXPECT_TRUE(refused(v.verify(with_part(token, 0, b64(header2)), kNow), "bad_signature"));
  EXPECT_TRUE(refused(v.verify(with_part(token, 0, b64("{\"alg\":")), kNow), "malformed"));
  // Signature: one bit flipped; truncated; not base64url; empty.
  std::string sig = unb64(part_of(token, 2));
  ASSERT_EQ(sig.size(), 64u);
  sig[10] = static_cast<char>(sig[10] ^ 0x01);
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, b64(sig)), kNow), "bad_signature"));
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, b64(sig.substr(0, 63))), kNow), "malformed"));
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, b64(sig + "x")), kNow), "malformed"));
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, "****"), kNow), "malformed"));
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, ""), kNow), "malformed"));
  // The last character of 64 bytes of base64url carries 2 bits of padding that must be zero.
  std::string noncanonical = part_of(token, 2);
  ASSERT_EQ(noncanonical.size(), 86u);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  noncanonical.back() = alphabet[alphabet.find(noncanonical.back()) | 1];
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, noncanonical), kNow), "malformed"));
  // The signature of one token on another's header and claims.
  const std::string other = key.sign(json{{"sub", "bob"}, {"iat", kNow}, {"exp", kNow + 60}});
  EXPECT_TRUE(refused(v.verify(with_part(token, 2, part_of(other, 2)), kNow), "bad_signature"));
}

TEST(Token, OnlyEdDsaIsAccepted) {
  const FixedKey key("k1");
  const TokenVerifier v = verifier_of(key);
  const std::string claims = good_claims().dump();
  // alg "none", unsigned and with the real signature's place empty.
  const std::string none = b64(R"({"alg":"none","typ":"JWT","kid":"k1"})") + "." + b64(claims);
  auto r = v.verify(none + ".", kNow);
  EXPECT_TRUE(refused(r, "malformed"));
  EXPECT_NE(r.error().message.find("\"none\""), std::string::npos) << r.error().message;
  // alg "none", even signed with a held key.
  EXPECT_TRUE(
      refused(v.verify(key.sign_raw(R"({"alg":"none","kid":"k1"})", claims), kNow), "malformed"));
  // HS256 (an HMAC "signed" with the public key as the secret: the classic confusion).
  r = v.verify(key.sign_raw(R"({"alg":"HS256","typ":"JWT","kid":"k1"})", claims), kNow);
  EXPECT_TRUE(refused(r, "malformed"));
  EXPECT_NE(r.error().message.find("HS256"), std::string::npos);
  for (const char* header :
       {R"({"alg":"eddsa","kid":"k1"})", R"({"alg":"ES256","kid":"k1"})", R"({"kid":"k1"})",
        R"({"alg":["EdDSA"],"kid":"k1"})", R"({"alg":"EdDSA"})", R"({"alg":"EdDSA","kid":""})",
        R"({"alg":"EdDSA","kid":7})", R"({"alg":"EdDSA","kid":"k 1"})",
        R"({"alg":"EdDSA","kid":"k1","typ":"JWS"})", R"({"alg":"EdDSA","kid":"k1","typ":1})",
        R"({"alg":"EdDSA","kid":"k1","crit":["exp"]})"}) {
    SCOPED_TRACE(header);
    EXPECT_TRUE(refused(v.verify(key.sign_raw(header, claims), kNow), "malformed"));
  }
  // A long or odd algorithm name is not echoed.
  r = v.verify(key.sign_raw(R"({"alg":"<script>alert(1)</script>","kid":"k1"})", claims), kNow);
  EXPECT_TRUE(refused(r, "malformed"));
  EXPECT_EQ(r.error().message.find("script"), std::string::npos);
  // Without typ is fine.
  EXPECT_TRUE(v.verify(key.sign_raw(R"({"alg":"EdDSA","kid":"k1"})", claims), kNow));
}

TEST(Token, ExpiryAndNotBeforeAtTheirExactBoundaries) {
  const FixedKey key("k1");
  const TokenVerifier v = verifier_of(key);
  const std::string token =
      key.sign(json{{"sub", "alice"}, {"iat", kNow - 100}, {"nbf", kNow}, {"exp", kNow + 60}});
  // now == nbf: valid; a second before: not yet.
  EXPECT_TRUE(v.verify(token, kNow));
  auto r = v.verify(token, kNow - 1);
  EXPECT_TRUE(refused(r, "not_yet_valid"));
  EXPECT_EQ(r.error().message, "token is not valid before 2026-12-07T07:00:00Z");
  EXPECT_EQ(json::parse(r.error().details)["not_before"], kNow);
  // A second before exp: valid; now == exp: expired.
  EXPECT_TRUE(v.verify(token, kNow + 59));
  r = v.verify(token, kNow + 60);
  EXPECT_TRUE(refused(r, "expired"));
  EXPECT_EQ(r.error().message, "token expired at 2026-12-07T07:01:00Z");
  EXPECT_EQ(json::parse(r.error().details)["expires"], kNow + 60);
  EXPECT_TRUE(refused(v.verify(token, kNow + 1000000), "expired"));
  // Issued by SigningKey: the same.
  const json secret = json::parse(key.secret_jwk());
  auto signer = SigningKey::parse(secret.dump());
  ASSERT_TRUE(signer) << signer.error().to_string();
  TokenClaims c = claims_for("alice", kNow);
  c.issued_at = kNow - 3600;
  auto issued = signer->issue(c);
  ASSERT_TRUE(issued);
  EXPECT_TRUE(refused(v.verify(*issued, kNow), "expired"));
  EXPECT_EQ(v.verify(*issued, kNow).error().message, "token expired at 2026-12-07T07:00:00Z");
  EXPECT_TRUE(v.verify(*issued, kNow - 1));
  // Times far from now are named as numbers rather than dates.
  const std::string ancient = key.sign(json{{"sub", "a"}, {"exp", -99999999999999}});
  r = v.verify(ancient, kNow);
  EXPECT_TRUE(refused(r, "expired"));
  EXPECT_NE(r.error().message.find("-99999999999999"), std::string::npos);
}

TEST(Token, MalformedInputIsRefusedAsMalformed) {
  const FixedKey key("k1");
  const TokenVerifier v = verifier_of(key);
  const std::string good = key.sign(good_claims());
  for (const std::string& bad :
       {std::string(), std::string("."), std::string(".."), std::string("..."),
        std::string("nodots"), std::string("one.dot"), good + ".extra", good + ".", "." + good,
        std::string("!!!.@@@.###"), std::string("e30.e30.e30"), std::string(good.size(), 'A'),
        b64("not json") + "." + part_of(good, 1) + "." + part_of(good, 2),
        b64("[1,2]") + "." + part_of(good, 1) + "." + part_of(good, 2),
        b64("\"EdDSA\"") + "." + part_of(good, 1) + "." + part_of(good, 2), good + "\n", " " + good,
        std::string("eyJhbGciOiJFZERTQSJ9\0.a.b", 24)}) {
    SCOPED_TRACE(bad.substr(0, 40));
    EXPECT_TRUE(refused(v.verify(bad, kNow), "malformed"));
  }
  // Signed by the held key, yet wrong inside: the claims' types are checked.
  const json cases[] = {
      json::array({1, 2}),
      json("alice"),
      json{{"iat", kNow}, {"exp", kNow + 60}},                          // no sub
      json{{"sub", ""}, {"exp", kNow + 60}},                            // empty sub
      json{{"sub", 42}, {"exp", kNow + 60}},                            // sub a number
      json{{"sub", "alice"}},                                           // no exp
      json{{"sub", "alice"}, {"exp", std::to_string(kNow + 60)}},       // exp a string
      json{{"sub", "alice"}, {"exp", static_cast<double>(kNow + 60)}},  // exp a float
      json{{"sub", "alice"}, {"exp", 18446744073709551615ull}},         // exp beyond int64
      json{{"sub", "alice"}, {"exp", kNow + 60}, {"nbf", "0"}},         // nbf a string
      json{{"sub", "alice"}, {"exp", kNow + 60}, {"nbf", 1.5}},         // nbf a float
      json{{"sub", "alice"}, {"exp", kNow + 60}, {"iat", true}},        // iat a bool
      json{{"sub", "alice"}, {"exp", kNow + 60}, {"iss", 1}},           // iss a number
      json{{"sub", "alice"}, {"exp", kNow + 60}, {"scope", json::array({"a"})}},  // scope array
      json{{"sub", "alice"}, {"exp", nullptr}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dump());
    const auto r = v.verify(key.sign(c), kNow);
    EXPECT_TRUE(refused(r, "malformed"));
  }
  // Claims that are not JSON, signed.
  EXPECT_TRUE(refused(v.verify(key.sign_raw(R"({"alg":"EdDSA","kid":"k1"})", "{\"sub\":"), kNow),
                      "malformed"));
  // Over 8 KiB: refused before anything else, even when well signed.
  json big = good_claims();
  big["pad"] = std::string(9 * 1024, 'x');
  const std::string huge = key.sign(big);
  ASSERT_GT(huge.size(), 8192u);
  auto r = v.verify(huge, kNow);
  EXPECT_TRUE(refused(r, "malformed"));
  EXPECT_NE(r.error().message.find("8192"), std::string::npos);
  EXPECT_TRUE(refused(v.verify(std::string(9 * 1024, 'a'), kNow), "malformed"));
  // Just under the limit is fine.
  big["pad"] = std::string(5 * 1024, 'x');
  EXPECT_TRUE(v.verify(key.sign(big), kNow));
}

TEST(Token, MessagesNeverEchoTheToken) {
  const FixedKey key("k1");
  const TokenVerifier v = verifier_of(key);
  const std::string token = key.sign(good_claims());
  std::string sig = unb64(part_of(token, 2));
  sig[0] = static_cast<char>(sig[0] ^ 0x80);
  const std::string bad = with_part(token, 2, b64(sig));
  for (const auto& candidate :
       {bad, token + "x", with_part(token, 1, b64("{\"sub\":\"alice\"}"))}) {
    const auto r = v.verify(candidate, kNow);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find(part_of(candidate, 1)), std::string::npos);
    EXPECT_EQ(r.error().message.find(part_of(candidate, 2)), std::string::npos);
    EXPECT_EQ(r.error().details.find(part_of(candidate, 2)), std::string::npos);
    EXPECT_EQ(r.error().message.find(key.x()), std::string::npos);
  }
  EXPECT_TRUE(refused(v.verify(bad, kNow), "bad_signature"));
  EXPECT_EQ(v.verify(bad, kNow).error().message, "token signature is invalid");
}

TEST(Token, AddKeyRefusals) {
  const FixedKey key("k1");
  TokenVerifier v;
  // A secret key is refused: servers get public keys only.
  auto r = v.add_key(key.secret_jwk());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  EXPECT_NE(r.error().message.find("secret"), std::string::npos);
  EXPECT_EQ(r.error().message.find(key.d()), std::string::npos);
  EXPECT_EQ(v.key_count(), 0u);
  ASSERT_TRUE(v.add_key(key.public_jwk()));
  // The same kid again, even with other key material.
  const FixedKey same_id("k1", 9);
  r = v.add_key(same_id.public_jwk());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::already_exists);
  EXPECT_EQ(v.key_count(), 1u);
  const FixedKey k2("k2", 3);
  json base = json::parse(k2.public_jwk());
  auto with = [&](const char* field, const json& value) {
    json j = base;
    if (value.is_null()) {
      j.erase(field);
    } else {
      j[field] = value;
    }
    return j.dump();
  };
  const std::string x31 = b64(std::string(31, 'a'));
  const std::string x33 = b64(std::string(33, 'a'));
  for (const std::string& bad : {with("crv", "X25519"),
                                 with("crv", "P-256"),
                                 with("kty", "EC"),
                                 with("kty", "oct"),
                                 with("kty", nullptr),
                                 with("crv", nullptr),
                                 with("x", nullptr),
                                 with("x", x31),
                                 with("x", x33),
                                 with("x", "not base64!"),
                                 with("x", 5),
                                 with("kid", nullptr),
                                 with("kid", ""),
                                 with("kid", "has space"),
                                 with("kid", std::string(65, 'k')),
                                 with("kid", 12),
                                 with("alg", "HS256"),
                                 with("x", b64(std::string(32, '\0'))),
                                 std::string("not json"),
                                 std::string("[]"),
                                 std::string("\"OKP\""),
                                 std::string()}) {
    SCOPED_TRACE(bad);
    r = v.add_key(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << r.error().to_string();
  }
  EXPECT_EQ(v.key_count(), 1u);
  EXPECT_TRUE(v.add_key(base.dump()));
  EXPECT_TRUE(v.add_key(with("kid", std::string(64, 'k'))));
  EXPECT_EQ(v.key_count(), 3u);
}

TEST(Token, KeyFiles) {
  TempDir dir;
  auto key = SigningKey::generate("filed");
  ASSERT_TRUE(key);
  std::ofstream(dir.file("filed.key")) << key->secret_jwk() << "\n";
  std::ofstream(dir.file("filed.pub")) << key->public_jwk() << "\n";
  auto loaded = SigningKey::load(dir.file("filed.key"));
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  EXPECT_EQ(loaded->public_jwk(), key->public_jwk());
  TokenVerifier v;
  ASSERT_TRUE(v.add_key_file(dir.file("filed.pub")));
  EXPECT_TRUE(v.verify(*loaded->issue(claims_for("alice", kNow + 5)), kNow));
  auto missing = SigningKey::load(dir.file("nope.key"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StatusCode::not_found);
  auto missing_pub = v.add_key_file(dir.file("nope.pub"));
  ASSERT_FALSE(missing_pub);
  EXPECT_EQ(missing_pub.error().code, StatusCode::not_found);
  auto secret_as_public = v.add_key_file(dir.file("filed.key"));
  ASSERT_FALSE(secret_as_public);
  EXPECT_EQ(secret_as_public.error().code, StatusCode::invalid_argument);
  auto public_as_secret = SigningKey::load(dir.file("filed.pub"));
  ASSERT_FALSE(public_as_secret);
  EXPECT_EQ(public_as_secret.error().code, StatusCode::invalid_argument);
}

TEST(Token, SigningKeyGenerateAndKeyIds) {
  for (const std::string& good : {std::string("k"), std::string("A-z_0.9"), std::string(64, 'a'),
                                  std::string("2026-12-07")}) {
    auto k = SigningKey::generate(good);
    ASSERT_TRUE(k) << good;
    EXPECT_EQ(k->key_id(), good);
  }
  for (const std::string& bad :
       {std::string(), std::string(65, 'a'), std::string("a b"), std::string("k/1"),
        std::string("k\"1"), std::string("ключ"), std::string("k\n"), std::string("k:1")}) {
    auto k = SigningKey::generate(bad);
    ASSERT_FALSE(k) << bad;
    EXPECT_EQ(k.error().code, StatusCode::invalid_argument);
  }
  // Two generated keys differ.
  auto a = SigningKey::generate("a");
  auto b = SigningKey::generate("a");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->public_jwk(), b->public_jwk());
  // The JWKs' shapes.
  const json pub = json::parse(a->public_jwk());
  EXPECT_EQ(pub["kty"], "OKP");
  EXPECT_EQ(pub["crv"], "Ed25519");
  EXPECT_EQ(pub["kid"], "a");
  EXPECT_EQ(unb64(pub["x"].get<std::string>()).size(), 32u);
  EXPECT_FALSE(pub.contains("d"));
  const json sec = json::parse(a->secret_jwk());
  EXPECT_EQ(sec["x"], pub["x"]);
  EXPECT_EQ(unb64(sec["d"].get<std::string>()).size(), 32u);
}

TEST(Token, SigningKeyParse) {
  const FixedKey fixed("fixed");
  auto key = SigningKey::parse(fixed.secret_jwk());
  ASSERT_TRUE(key) << key.error().to_string();
  EXPECT_EQ(key->key_id(), "fixed");
  EXPECT_EQ(json::parse(key->public_jwk()), json::parse(fixed.public_jwk()));
  // Without x: derived from d.
  json no_x = json::parse(fixed.secret_jwk());
  no_x.erase("x");
  auto derived = SigningKey::parse(no_x.dump());
  ASSERT_TRUE(derived);
  EXPECT_EQ(json::parse(derived->public_jwk()), json::parse(fixed.public_jwk()));
  // secret_jwk -> parse gives a key whose tokens the public JWK verifies.
  auto generated = SigningKey::generate("gen");
  ASSERT_TRUE(generated);
  auto reparsed = SigningKey::parse(generated->secret_jwk());
  ASSERT_TRUE(reparsed);
  TokenVerifier v;
  ASSERT_TRUE(v.add_key(generated->public_jwk()));
  auto t = reparsed->issue(claims_for("alice", kNow + 60));
  ASSERT_TRUE(t);
  EXPECT_TRUE(v.verify(*t, kNow));
  // Refusals; no message quotes the secret.
  const json base = json::parse(fixed.secret_jwk());
  auto with = [&](const char* field, const json& value) {
    json j = base;
    if (value.is_null()) {
      j.erase(field);
    } else {
      j[field] = value;
    }
    return j.dump();
  };
  const FixedKey other("fixed", 1);
  for (const std::string& bad :
       {fixed.public_jwk(), with("d", nullptr), with("d", b64(std::string(31, 'd'))),
        with("d", b64(std::string(64, 'd'))), with("d", "!!"), with("d", 3), with("x", other.x()),
        with("x", b64("short")), with("crv", "Ed448"), with("kty", "RSA"), with("kid", "bad kid"),
        with("kid", nullptr), std::string("{\"d\":\"" + fixed.d() + "\""), std::string("null"),
        std::string()}) {
    SCOPED_TRACE(bad);
    auto r = SigningKey::parse(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
    EXPECT_EQ(r.error().message.find(fixed.d()), std::string::npos);
  }
}

TEST(Token, IssueRefusals) {
  auto key = SigningKey::generate("k");
  ASSERT_TRUE(key);
  auto expect_invalid = [&](const TokenClaims& c) {
    auto r = key->issue(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument);
  };
  expect_invalid(claims_for("", kNow + 60));
  TokenClaims c = claims_for("alice", kNow + 60);
  c.scopes = {"ok", "two words"};
  expect_invalid(c);
  c.scopes = {"tab\there"};
  expect_invalid(c);
  c.scopes = {"newline\n"};
  expect_invalid(c);
  c.scopes = {""};
  expect_invalid(c);
  c.scopes = {"fine"};
  EXPECT_TRUE(key->issue(c));
  c = claims_for("alice", kNow - 60);  // expires == issued_at
  expect_invalid(c);
  c = claims_for("alice", kNow - 61);  // before it
  expect_invalid(c);
  c = claims_for("alice", kNow - 59);  // a second after: fine (and already expired at kNow)
  EXPECT_TRUE(key->issue(c));
  c = claims_for("bad\xff utf-8", kNow + 60);
  expect_invalid(c);
}

TEST(Token, MovedFromSigningKeyIsEmpty) {
  auto key = SigningKey::generate("k");
  ASSERT_TRUE(key);
  const std::string pub = key->public_jwk();
  SigningKey moved = std::move(*key);
  EXPECT_EQ(moved.public_jwk(), pub);
  EXPECT_TRUE(key->key_id().empty());  // NOLINT(bugprone-use-after-move): checks the wipe
  EXPECT_FALSE(key->issue(claims_for("alice", kNow + 60)));
  // Its secret is zeros now: the public half it reports is no longer the key's.
  EXPECT_NE(key->public_jwk(), pub);
  auto other = SigningKey::generate("o");
  ASSERT_TRUE(other);
  *other = std::move(moved);
  EXPECT_EQ(other->public_jwk(), pub);
  EXPECT_TRUE(moved.key_id().empty());  // NOLINT(bugprone-use-after-move)
}

}  // namespace plexus::test::token
