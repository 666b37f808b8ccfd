#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct DescribeArgs {
  std::string address;
  int connect_timeout_ms = 3000;
};

int describe(const DescribeArgs& a) {
  Runtime runtime;
  auto client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-cli");
  if (!client) {
    return fail(client.error());
  }
  auto result = (*client)->call("plexus.describe", "");
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
      "describe", "List the methods a peer serves, with their JSON Schemas and policies");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  return [cmd, args] { return cmd->parsed() ? describe(*args) : -1; };
}

}  // namespace plexus::cli
