#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "commands.hpp"

namespace plexus::cli {

std::string resolve_address(const std::string& text) {
  if (text.empty() || text == "default") return default_address();
  return text;
}

int exit_code(const Error& error) {
  const int code = static_cast<int>(error.code);
  return code == 0 ? 1 : code;  // an Error is never success, even with a peer's odd code
}

void print_error(const Error& error) {
  std::fprintf(stderr, "error: %s (%d): %s\n", std::string(to_string(error.code)).c_str(),
               static_cast<int>(error.code), error.message.c_str());
  if (!error.details.empty()) std::fprintf(stderr, "details: %s\n", error.details.c_str());
}

// "850 ms", "12.3 s", "4.2 min", "3.1 h", "2.0 d".
std::string age_text(std::chrono::milliseconds age) {
  const double ms = static_cast<double>(age.count());
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  } else if (ms < 60e3) {
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1e3);
  } else if (ms < 3600e3) {
    std::snprintf(buf, sizeof buf, "%.1f min", ms / 60e3);
  } else if (ms < 86400e3) {
    std::snprintf(buf, sizeof buf, "%.1f h", ms / 3600e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f d", ms / 86400e3);
  }
  return buf;
}

int fail(const Error& error) {
  print_error(error);
  return exit_code(error);
}

namespace {

std::string& client_token() {
  static std::string token;
  return token;
}

}  // namespace

Result<void> set_client_token(const std::string& token, const std::string& token_file) {
  if (!token.empty() || token_file.empty()) {
    client_token() = token;
    return {};
  }
  std::ifstream in(token_file);
  if (!in) {
    const bool missing = errno == ENOENT;
    return make_error(missing ? StatusCode::not_found : StatusCode::permission_denied,
                      "--token-file " + token_file + ": " + std::strerror(errno));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  client_token() = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  return {};
}

namespace {
TlsOptions& stored_client_tls() {
  static TlsOptions tls;
  return tls;
}
}  // namespace

void set_client_tls(const TlsOptions& tls) {
  stored_client_tls() = tls;
}

const TlsOptions& client_tls() {
  return stored_client_tls();
}

Result<std::unique_ptr<Client>> connect_client(Runtime& runtime, const std::string& address,
                                               int connect_timeout_ms, const std::string& name,
                                               bool reconnect, Millis wait_for_server) {
  ClientOptions options;
  options.address = resolve_address(address);
  options.name = name;
  options.connect_timeout = Millis{connect_timeout_ms};
  options.reconnect.enabled = reconnect;
  options.wait_for_server = wait_for_server;
  options.token = client_token();
  options.tls = client_tls();
  return Client::connect(runtime, options);
}

}  // namespace plexus::cli
