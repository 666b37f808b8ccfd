// plexus token keygen | issue | verify: Ed25519 signing keys as JWK files, signed tokens
// (JWTs) from a secret key, and a token's claims checked against public keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "plexus/security.hpp"

namespace plexus::cli {
namespace {

// "30s", "15m", "1h", "7d" (or bare seconds) as seconds; nullopt when it is none of these.
std::optional<std::int64_t> parse_duration(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's':
      digits.pop_back();
      break;
    case 'm':
      unit = 60;
      digits.pop_back();
      break;
    case 'h':
      unit = 3600;
      digits.pop_back();
      break;
    case 'd':
      unit = 86400;
      digits.pop_back();
      break;
    default:
      break;
  }
  if (digits.empty()) return std::nullopt;
  std::int64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n * unit;
}

const CLI::Validator kDuration(
    [](std::string& text) {
      return parse_duration(text) ? std::string() : "not a duration (e.g. 30s, 15m, 1h, 7d)";
    },
    "DURATION");

Error errno_error(int err, const std::string& what) {
  StatusCode code = StatusCode::failed_precondition;
  if (err == ENOENT || err == ENOTDIR) code = StatusCode::not_found;
  if (err == EACCES || err == EPERM) code = StatusCode::permission_denied;
  if (err == EEXIST) code = StatusCode::already_exists;
  return Error{code, what + ": " + std::strerror(err), {}};
}

// Writes `text` to a file created for the purpose with `mode` (O_EXCL: never through an
// existing file or link); with `replace`, an existing file is removed first.
Result<void> write_new_file(const std::string& path, const std::string& text, mode_t mode,
                            bool replace) {
  if (replace && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return tl::unexpected(errno_error(errno, "cannot replace " + path));
  }
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return make_error(StatusCode::already_exists, path + " exists already (--force replaces it)");
    }
    return tl::unexpected(errno_error(err, "cannot create " + path));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return tl::unexpected(errno_error(err, "cannot write " + path));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return tl::unexpected(errno_error(err, "cannot write " + path));
  }
  return {};
}

void wipe(std::string& s) {
  if (!s.empty()) ::explicit_bzero(s.data(), s.size());
  s.clear();
}

struct KeygenArgs {
  std::string kid;
  std::string dir = ".";
  bool force = false;
};

int keygen(const KeygenArgs& a) {
  auto key = SigningKey::generate(a.kid);
  if (!key) return fail(key.error());
  const std::string key_path = a.dir + "/" + a.kid + ".key";
  const std::string pub_path = a.dir + "/" + a.kid + ".pub";
  if (!a.force) {
    // Refuse before writing either file, so that a refusal leaves nothing half done.
    for (const auto& path : {key_path, pub_path}) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0) {
        return fail(
            Error{StatusCode::already_exists, path + " exists already (--force replaces it)", {}});
      }
    }
  }
  std::string secret = key->secret_jwk() + "\n";
  auto written = write_new_file(key_path, secret, 0600, a.force);
  wipe(secret);
  if (!written) return fail(written.error());
  written = write_new_file(pub_path, key->public_jwk() + "\n", 0644, a.force);
  if (!written) return fail(written.error());
  std::printf("secret key: %s\npublic key: %s\n", key_path.c_str(), pub_path.c_str());
  std::printf(
      "Sign tokens with `plexus token issue --key %s --subject NAME`; give servers %s only, "
      "never the .key.\n",
      key_path.c_str(), pub_path.c_str());
  return 0;
}

struct IssueArgs {
  std::string key;
  std::string subject;
  std::vector<std::string> scopes;
  std::string ttl = "1h";
  std::int64_t not_before = 0;
  std::string not_before_in;
  std::string issuer;
  std::int64_t expires = 0;
  CLI::Option* not_before_opt = nullptr;
  CLI::Option* not_before_in_opt = nullptr;
  CLI::Option* expires_opt = nullptr;
};

int issue(const IssueArgs& a) {
  auto key = SigningKey::load(a.key);
  if (!key) return fail(key.error());
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  TokenClaims claims;
  claims.subject = a.subject;
  claims.scopes = a.scopes;
  claims.issuer = a.issuer;
  claims.issued_at = now;
  claims.expires = a.expires_opt->count() > 0 ? a.expires : now + *parse_duration(a.ttl);
  // An expiry already past (to test how servers refuse it) is issued a second before it.
  if (claims.expires <= now) claims.issued_at = claims.expires - 1;
  if (a.not_before_opt->count() > 0) claims.not_before = a.not_before;
  if (a.not_before_in_opt->count() > 0) claims.not_before = now + *parse_duration(a.not_before_in);
  auto token = key->issue(claims);
  if (!token) return fail(token.error());
  std::printf("%s\n", token->c_str());
  return 0;
}

struct VerifyArgs {
  std::vector<std::string> public_keys;
  std::string token = "-";
};

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

int verify(const VerifyArgs& a) {
  TokenVerifier verifier;
  for (const auto& path : a.public_keys) {
    if (auto added = verifier.add_key_file(path); !added) return fail(added.error());
  }
  std::string token = a.token;
  if (token.empty() || token == "-") {
    token.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const auto claims =
      verifier.verify(trimmed(token), static_cast<std::int64_t>(std::time(nullptr)));
  if (!claims) return fail(claims.error());
  nlohmann::ordered_json out;
  out["subject"] = claims->subject;
  out["scopes"] = claims->scopes;
  out["issuer"] =
      claims->issuer.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(claims->issuer);
  out["issued_at"] = claims->issued_at;
  out["not_before"] = claims->not_before ? nlohmann::ordered_json(*claims->not_before) : nullptr;
  out["expires"] = claims->expires;
  out["key_id"] = claims->key_id;
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

Run add_token(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "token", "Signing keys and signed tokens (Ed25519 JWTs) that servers verify");
  cmd->require_subcommand(1);

  auto keygen_args = std::make_shared<KeygenArgs>();
  auto* keygen_cmd = cmd->add_subcommand(
      "keygen", "Write a new key pair: DIR/KID.key (secret, mode 0600) and DIR/KID.pub (public)");
  keygen_cmd
      ->add_option("--kid", keygen_args->kid,
                   "Key id: 1 to 64 letters, digits, '.', '_' or '-' (e.g. 2026-12)")
      ->required();
  keygen_cmd->add_option("--dir", keygen_args->dir, "Directory to write to")->capture_default_str();
  keygen_cmd->add_flag("--force", keygen_args->force, "Replace existing files");

  auto issue_args = std::make_shared<IssueArgs>();
  auto* issue_cmd =
      cmd->add_subcommand("issue", "Print a token signed with a secret key (KID.key)");
  issue_cmd->add_option("--key", issue_args->key, "Secret key file (plexus token keygen)")
      ->required();
  issue_cmd->add_option("--subject", issue_args->subject, "Who the bearer is (\"sub\")")
      ->required();
  issue_cmd->add_option("--scope", issue_args->scopes, "A scope granted (repeatable)")
      ->allow_extra_args(false);
  auto* ttl =
      issue_cmd
          ->add_option("--ttl", issue_args->ttl, "How long the token is valid: 30s, 15m, 1h, 7d")
          ->check(kDuration)
          ->capture_default_str();
  issue_args->not_before_opt = issue_cmd->add_option("--not-before", issue_args->not_before,
                                                     "Not valid before this time (Unix seconds)");
  issue_args->not_before_in_opt = issue_cmd
                                      ->add_option("--not-before-in", issue_args->not_before_in,
                                                   "Not valid until this long from now (e.g. 5m)")
                                      ->check(kDuration)
                                      ->excludes(issue_args->not_before_opt);
  issue_cmd->add_option("--issuer", issue_args->issuer, "Who issues it (\"iss\")");
  issue_args->expires_opt =
      issue_cmd
          ->add_option("--expires", issue_args->expires,
                       "Expiry as Unix seconds, instead of --ttl (may be in the past, for tests)")
          ->excludes(ttl);

  auto verify_args = std::make_shared<VerifyArgs>();
  auto* verify_cmd = cmd->add_subcommand(
      "verify", "Check a token against public keys and print its claims as JSON");
  verify_cmd
      ->add_option("--public-key", verify_args->public_keys,
                   "Public key file (KID.pub; repeatable, e.g. old and new during a rotation)")
      ->required()
      ->allow_extra_args(false);
  verify_cmd->add_option("token", verify_args->token, "The token; '-' or none: read stdin");

  return [keygen_cmd, issue_cmd, verify_cmd, keygen_args, issue_args, verify_args] {
    if (keygen_cmd->parsed()) return keygen(*keygen_args);
    if (issue_cmd->parsed()) return issue(*issue_args);
    if (verify_cmd->parsed()) return verify(*verify_args);
    return -1;
  };
}

}  // namespace plexus::cli
