#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct DescribeArgs {
  std::string address;
  std::string service;  // a bus service: its methods, as its provider describes them
  int connect_timeout_ms = 3000;
};

int describe(const DescribeArgs& a) {
  Runtime runtime;
  auto client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-cli");
  if (!client) {
    return fail(client.error());
  }
  auto result = a.service.empty() ? (*client)->call("plexus.describe", "")
                                  : (*client)->call("plexus.bus.describe",
                                                    nlohmann::json{{"name", a.service}}.dump());
  if (!result) {
    return fail(result.error());
  }
  const auto doc = nlohmann::json::parse(*result, nullptr, false);
  const std::string text = doc.is_discarded() ? *result : doc.dump(2);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace

Run add_describe(CLI::App& app) {
  auto args = std::make_shared<DescribeArgs>();
  auto* cmd = app.add_subcommand(
      "describe",
      "List the methods a peer serves, with their JSON Schemas and policies; with "
      "SERVICE, those of a service on the peer's bus (asked of its provider)");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("service", args->service,
                  "A service name on the bus (com.example.search): its methods only");
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  return [cmd, args] { return cmd->parsed() ? describe(*args) : -1; };
}

}  // namespace plexus::cli
