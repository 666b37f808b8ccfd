// `plexus ls [ADDRESS]`: the services registered on a daemon's bus (plexus.bus.list), with their
// owners and methods.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct LsArgs {
  std::string address = "default";
  bool json = false;
  int connect_timeout_ms = 3000;
};

std::string owner_text(const nlohmann::json& owner) {
  std::string text = "\"" + owner.value("name", std::string()) + "\"";
  if (owner.contains("pid") && owner["pid"].is_number()) {
    text += " pid " + std::to_string(owner["pid"].get<std::int64_t>());
  }
  if (owner.contains("uid") && owner["uid"].is_number()) {
    text += " uid " + std::to_string(owner["uid"].get<std::int64_t>());
  }
  return text;
}

int ls(const LsArgs& a) {
  Runtime runtime;
  auto client =
      connect_client(runtime, resolve_address(a.address), a.connect_timeout_ms, "plexus-cli");
  if (!client) return fail(client.error());
  auto result = (*client)->call("plexus.bus.list", "{}");
  if (!result) return fail(result.error());
  const auto doc = nlohmann::json::parse(*result, nullptr, false);
  if (a.json || doc.is_discarded()) {
    const std::string text = doc.is_discarded() ? *result : doc.dump(2);
    std::printf("%s\n", text.c_str());
    return 0;
  }
  const auto& services = doc.value("services", nlohmann::json::array());
  const auto& activatable = doc.value("activatable", nlohmann::json::array());
  if (services.empty() && activatable.empty()) {
    std::printf("no services on the bus\n");
    return 0;
  }
  for (const auto& s : services) {
    std::printf("%s  owner %s  queued %zu  forwarded %llu\n",
                s.value("name", std::string()).c_str(),
                owner_text(s.value("owner", nlohmann::json::object())).c_str(),
                s.value("queued", std::size_t{0}),
                static_cast<unsigned long long>(s.value("forwarded", std::uint64_t{0})));
    for (const auto& m : s.value("methods", nlohmann::json::array())) {
      std::printf("  %s%s\n", m.value("name", std::string()).c_str(),
                  m.value("stream", false) ? "  (stream)" : "");
    }
  }
  // Names a service file can start, while no one owns them, and files that cannot be used.
  for (const auto& a : activatable) {
    const auto state = a.value("state", std::string());
    const auto name = a.value("name", std::string());
    const auto file = a.value("file", std::string());
    if (state == "broken") {
      std::printf("%s  cannot be started: %s\n", name.c_str(),
                  a.value("error", std::string()).c_str());
    } else if (state == "not_running") {
      std::printf("%s  not running: started by its first call (%s)\n", name.c_str(), file.c_str());
    } else if (state == "starting") {
      std::printf("%s  starting (%s)\n", name.c_str(), file.c_str());
    }
  }
  return 0;
}

}  // namespace

Run add_ls(CLI::App& app) {
  auto args = std::make_shared<LsArgs>();
  auto* cmd = app.add_subcommand(
      "ls", "List the services on a daemon's bus: names, owners, methods (plexus.bus.list)");
  cmd->add_option("address", args->address, "Server address, or 'default'")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the daemon's answer as JSON");
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  return [cmd, args] { return cmd->parsed() ? ls(*args) : -1; };
}

}  // namespace plexus::cli
