#include <cstdio>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct CallArgs {
  std::string address;
  std::string method;
  std::string payload = "{}";
  int timeout_ms = 30000;  // a call that nobody answers must not hang a script
  int connect_timeout_ms = 3000;
  int wait_ms = 0;  // for a server that is not up yet
};

int call(const CallArgs& a) {
  Runtime runtime;
  auto client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-cli",
                               /*reconnect=*/false, Millis{a.wait_ms});
  if (!client) {
    return fail(client.error());
  }
  CallOptions call_options;
  if (a.timeout_ms > 0) call_options.timeout = Millis{a.timeout_ms};
  auto result = (*client)->call(a.method, a.payload, call_options);
  if (!result) {
    return fail(result.error());
  }
  std::fwrite(result->data(), 1, result->size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace

Run add_call(CLI::App& app) {
  auto args = std::make_shared<CallArgs>();
  auto* cmd = app.add_subcommand(
      "call", "Call METHOD with a JSON payload; prints the answer, or the error and its code");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("method", args->method, "Method name")->required();
  cmd->add_option("payload", args->payload, "Request payload (JSON text)");
  cmd->add_option("-t,--timeout-ms", args->timeout_ms, "Call deadline in ms (0: none)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  cmd->add_option("-w,--wait", args->wait_ms,
                  "Wait up to this many ms for a server that is not up yet (0: fail at once)");
  cmd->footer(
      "Exit status: 0 on success, else the status code number (e.g. 5 not_found, "
      "14 unavailable, 4 deadline_exceeded).");
  return [cmd, args] { return cmd->parsed() ? call(*args) : -1; };
}

}  // namespace plexus::cli
