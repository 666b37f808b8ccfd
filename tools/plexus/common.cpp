#include <cstdio>

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

int fail(const Error& error) {
  print_error(error);
  return exit_code(error);
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
  return Client::connect(runtime, options);
}

}  // namespace plexus::cli
