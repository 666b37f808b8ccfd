// The plexus CLI's subcommands. Each registers itself on the CLI11 app and returns the exit
// status it decided: 0 on success, else the StatusCode number of the error it reports.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "plexus/plexus.hpp"

namespace plexus::cli {

using Run = std::function<int()>;

Run add_serve(CLI::App& app);
Run add_call(CLI::App& app);
Run add_ping(CLI::App& app);
Run add_pub(CLI::App& app);
Run add_sub(CLI::App& app);
Run add_stream(CLI::App& app);
Run add_stats(CLI::App& app);
Run add_describe(CLI::App& app);
Run add_ls(CLI::App& app);
Run add_acl(CLI::App& app);
Run add_token(CLI::App& app);
Run add_queue(CLI::App& app);
Run add_dlq(CLI::App& app);
Run add_spool(CLI::App& app);

// The token connect_client presents: `token`, else the contents of `token_file` (trimmed);
// neither: none. not_found / permission_denied when the file cannot be read.
Result<void> set_client_token(const std::string& token, const std::string& token_file);

// The TLS settings connect_client uses for tls:// addresses (--tls-ca, --tls-cert, --tls-key).
void set_client_tls(const TlsOptions& tls);
const TlsOptions& client_tls();

// "default" (or empty) names the default Unix socket; anything else must be an address.
std::string resolve_address(const std::string& text);
int exit_code(const Error& error);
void print_error(const Error& error);
// An age for people: "850 ms", "12.3 s", "4.2 min", "3.1 h", "2.0 d".
std::string age_text(std::chrono::milliseconds age);
// Prints `error` to stderr and returns its exit status: how every failed command ends.
int fail(const Error& error);
// The client of one command, named `name`; it reconnects only when asked (`plexus sub`), and
// waits for a server that is not up yet only for `wait_for_server` (ClientOptions).
Result<std::unique_ptr<Client>> connect_client(Runtime& runtime, const std::string& address,
                                               int connect_timeout_ms, const std::string& name,
                                               bool reconnect = false,
                                               Millis wait_for_server = Millis{0});

}  // namespace plexus::cli
