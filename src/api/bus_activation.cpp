#include "api/bus_activation.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "observe/log.hpp"
#include "platform/posix/child_process.hpp"
#include "platform/posix/files.hpp"
#include "transport/exec/helper_process.hpp"
#include "wire/names.hpp"

namespace plexus::detail {
namespace {

constexpr std::int64_t kMaxStartTimeoutMs = 600000;

Error file_error(const std::string& file, const std::string& what,
                 std::optional<toml::source_position> where = std::nullopt) {
  nlohmann::json details{{"file", file}, {"error", what}};
  std::string message = file;
  if (where) {
    details["line"] = where->line;
    details["column"] = where->column;
    message += ":" + std::to_string(where->line) + ":" + std::to_string(where->column);
  }
  return Error{StatusCode::failed_precondition, message + ": " + what,
               details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace

ServiceFile parse_service_file(const std::string& path, std::string_view text) {
  ServiceFile out;
  out.file = path;
  toml::table table;
  try {
    table = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    out.error = file_error(path, std::string(e.description()), e.source().begin);
    return out;
  }
  // The name first, so that a file with another mistake still answers its name's calls.
  if (const auto* name = table.get("name"); name && name->is_string()) {
    out.name = *name->value<std::string>();
  }
  const auto fail = [&](const std::string& what, const toml::node* at) {
    if (!out.error) {
      out.error = file_error(path, what, at ? std::optional(at->source().begin) : std::nullopt);
    }
  };
  for (const auto& [key, node] : table) {
    const auto k = key.str();
    if (k == "name") {
      if (!node.is_string()) fail("\"name\" must be a string", &node);
    } else if (k == "exec") {
      if (!node.is_string()) {
        fail("\"exec\" must be a string (an absolute path)", &node);
      } else {
        out.exec = *node.value<std::string>();
      }
    } else if (k == "args") {
      const auto* array = node.as_array();
      if (!array) {
        fail("\"args\" must be an array of strings", &node);
        continue;
      }
      for (const auto& a : *array) {
        if (!a.is_string()) {
          fail("\"args\" must be an array of strings", &a);
          break;
        }
        out.args.push_back(*a.value<std::string>());
      }
    } else if (k == "env") {
      const auto* env = node.as_table();
      if (!env) {
        fail("\"env\" must be a table of strings (env = { KEY = \"value\" })", &node);
        continue;
      }
      for (const auto& [var, value] : *env) {
        if (!value.is_string() || var.str().empty() ||
            var.str().find('=') != std::string_view::npos) {
          fail("\"env\": each entry is NAME = \"value\"", &value);
          break;
        }
        out.env.push_back(std::string(var.str()) + "=" + *value.value<std::string>());
      }
    } else if (k == "start_timeout_ms") {
      const auto v = node.value<std::int64_t>();
      if (!node.is_integer() || !v || *v < 1 || *v > kMaxStartTimeoutMs) {
        fail("\"start_timeout_ms\" must be an integer from 1 to " +
                 std::to_string(kMaxStartTimeoutMs),
             &node);
      } else {
        out.start_timeout = std::chrono::milliseconds(*v);
      }
    } else {
      if (!out.error) {
        out.error = file_error(path,
                               "unknown key \"" + std::string(k) +
                                   "\" (the keys are name, exec, args, env, start_timeout_ms)",
                               key.source().begin);
      }
    }
  }
  if (out.name.empty()) {
    fail("\"name\" is missing: the service name the provider registers", nullptr);
  } else if (auto ok = wire::validate_service_name(out.name); !ok) {
    fail(ok.error().message, table.get("name"));
  }
  if (out.exec.empty()) {
    fail("\"exec\" is missing: the provider's executable (an absolute path)", nullptr);
  } else if (out.exec.front() != '/') {
    fail("\"exec\" must be an absolute path: " + out.exec, table.get("exec"));
  } else if (!platform::is_executable_file(out.exec)) {
    fail("executable " + out.exec + " is missing or not executable", table.get("exec"));
  }
  return out;
}

std::vector<ServiceFile> load_service_files(const std::vector<std::string>& dirs) {
  std::vector<ServiceFile> out;
  std::set<std::string> names;
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".toml") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      ServiceFile file;
      if (!in) {
        file.file = path.string();
        file.error = file_error(file.file, "cannot be read");
      } else {
        file = parse_service_file(path.string(), text.str());
      }
      if (file.error) {
        observe::logger().error("plexus: bus service file {}", file.error->message);
      }
      if (!file.name.empty() && !names.insert(file.name).second) {
        observe::logger().info(
            "plexus: bus service file {} skipped: {} is provided by an "
            "earlier directory",
            file.file, file.name);
        continue;
      }
      out.push_back(std::move(file));
    }
  }
  return out;
}

Result<std::shared_ptr<ProviderProcess>> ProviderProcess::start(
    asio::any_io_executor executor, const ServiceFile& file, std::vector<std::string> extra_env,
    std::function<void(Error)> on_exit) {
  auto env = file.env;
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  // The provider connects to the daemon by its address: no socket pair, as exec: has.
  auto spawned = platform::spawn_helper(file.exec, file.args, env, /*socket_pair=*/false);
  if (!spawned) return tl::unexpected(spawned.error());
  auto process = std::make_shared<transport::exec::HelperProcess>(
      executor, *spawned, "provider " + file.name, /*who=*/std::string());
  process->on_exit([raw = process.get(), on_exit = std::move(on_exit)] {
    if (on_exit) on_exit(*raw->exit());
  });
  process->start();
  observe::logger().info("plexus: started provider of {} (pid {}) from {}", file.name, spawned->pid,
                         file.file);
  return std::shared_ptr<ProviderProcess>(new ProviderProcess(std::move(process)));
}

ProviderProcess::~ProviderProcess() = default;  // the process lives on until it exits

void ProviderProcess::terminate() {
  process_->stop();
}

std::int32_t ProviderProcess::pid() const {
  return process_->pid();
}

}  // namespace plexus::detail
