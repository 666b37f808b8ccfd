// plexus: the CLI and daemon. Thin: every command is a few calls on the public API.
//
// Exit statuses: 0 success; a failed call or command exits with its status code number (0–16,
// 100, 101; commands.hpp); a usage error exits 64 and a failure of the CLI itself 70 (sysexits'
// EX_USAGE and EX_SOFTWARE), numbers that are never a status code.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "commands.hpp"

namespace {

constexpr int kUsageError = 64;     // EX_USAGE
constexpr int kInternalError = 70;  // EX_SOFTWARE

// The first word that is not an option, when it names no command: CLI11 would let `--help`
// after it print the main help and exit 0, as if the command existed.
const char* unknown_command(int argc, char** argv, const CLI::App& app) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    // The main options that take a value in the next word (--token TOKEN): not a command.
    if (word == "--token" || word == "--token-file" || word == "--tls-ca" || word == "--tls-cert" ||
        word == "--tls-key") {
      ++i;
      continue;
    }
    if (word.starts_with("-")) continue;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->check_name(std::string(word))) return nullptr;
    }
    return argv[i];
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  // Quiet by default for one-shot commands; `serve` raises it to info; PLEXUS_LOG overrides.
  if (!std::getenv("PLEXUS_LOG")) plexus::set_log_level(plexus::LogLevel::warn);
  CLI::App app{"plexus — fast, safe, observable IPC between local processes"};
  // The CLI's version (compiled in), then the library's it runs on and the protocol it speaks.
  std::string version_text = "plexus " PLEXUS_VERSION_STRING "\nlibrary ";
  version_text.append(plexus::version());
  version_text += ", protocol " + std::to_string(plexus::protocol_version());
  app.set_version_flag("-V,--version", version_text);
  app.require_subcommand(1);
  // The token every client command presents (servers that verify tokens: plexus serve
  // --token-key). Accepted before or after the command's name.
  std::string token;
  std::string token_file;
  app.add_option("--token", token,
                 "Signed token to present to the server (plexus token issue); other users can "
                 "read a command line: prefer --token-file or PLEXUS_TOKEN")
      ->envname("PLEXUS_TOKEN");
  app.add_option("--token-file", token_file, "File holding the token to present")
      ->envname("PLEXUS_TOKEN_FILE");
  // TLS for tls:// addresses: the CA that verifies the server, and a client certificate for
  // servers that require mutual TLS (plexus serve --tls-client-ca).
  plexus::TlsOptions tls;
  app.add_option("--tls-ca", tls.ca_file,
                 "CA certificate (PEM) that verifies a tls:// server (default: the system's)");
  app.add_option("--tls-cert", tls.certificate_file,
                 "Client certificate (PEM) for servers that require mutual TLS");
  app.add_option("--tls-key", tls.private_key_file, "Private key (PEM) of --tls-cert");
  app.fallthrough();
  app.footer(
      "Exit status: 0 on success; a failed call its status code number; 64 a usage error; 70 a "
      "failure of the CLI itself.");
  const plexus::cli::Run commands[] = {
      plexus::cli::add_serve(app), plexus::cli::add_call(app),     plexus::cli::add_ping(app),
      plexus::cli::add_pub(app),   plexus::cli::add_sub(app),      plexus::cli::add_stream(app),
      plexus::cli::add_stats(app), plexus::cli::add_describe(app), plexus::cli::add_acl(app),
      plexus::cli::add_token(app), plexus::cli::add_queue(app),    plexus::cli::add_dlq(app),
      plexus::cli::add_spool(app), plexus::cli::add_ls(app)};
  if (const char* word = unknown_command(argc, argv, app)) {
    std::fprintf(stderr, "plexus: unknown command \"%s\" (plexus --help lists them)\n", word);
    return kUsageError;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int printed = app.exit(e);  // help and version print and are a success
    return printed == 0 ? 0 : kUsageError;
  }
  if (auto set = plexus::cli::set_client_token(token, token_file); !set) {
    return plexus::cli::fail(set.error());
  }
  plexus::cli::set_client_tls(tls);
  try {
    for (const auto& run : commands) {
      if (const int rc = run(); rc >= 0) return rc;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus: internal error: %s\n", e.what());
    return kInternalError;
  }
  std::fprintf(stderr, "plexus: no command given (plexus --help lists them)\n");
  return kUsageError;
}
