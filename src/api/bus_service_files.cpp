#include "api/bus_service_files.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "wire/names.hpp"

namespace plexus::bus {
namespace {

constexpr std::int64_t kMaxStartTimeoutMs = 600000;

class FileParser {
 public:
  explicit FileParser(std::string_view origin) : origin_(origin) {}

  Result<ServiceFile> parse(std::string_view text) {
    toml::table table;
    try {
      table = toml::parse(text, std::string_view(origin_));
    } catch (const toml::parse_error& e) {
      return error_at(e.source().begin, std::string(e.description()));
    } catch (const std::exception& e) {
      return make_error(StatusCode::invalid_argument, origin_ + ": " + e.what());
    }
    ServiceFile file;
    file.path = origin_;
    bool has_name = false, has_exec = false;
    for (const auto& [key, node] : table) {
      const std::string_view k = key.str();
      if (k == "name") {
        auto s = string_of(k, node);
        if (!s) return tl::unexpected(s.error());
        if (auto ok = wire::validate_name(*s, "service name"); !ok) {
          return error_at(node, ok.error().message);
        }
        file.name = std::move(*s);
        has_name = true;
      } else if (k == "exec") {
        auto s = string_of(k, node);
        if (!s) return tl::unexpected(s.error());
        if (s->empty() || (*s)[0] != '/') {
          return error_at(node, "\"exec\" must be an absolute path, not \"" + *s + "\"");
        }
        file.exec = std::move(*s);
        has_exec = true;
      } else if (k == "args") {
        const auto* array = node.as_array();
        if (!array) return error_at(node, "\"args\" must be an array of strings");
        for (const auto& element : *array) {
          auto s = string_of(k, element);
          if (!s) return tl::unexpected(s.error());
          file.args.push_back(std::move(*s));
        }
      } else if (k == "env") {
        const auto* env = node.as_table();
        if (!env) return error_at(node, "\"env\" must be a table of strings (env = { K = \"V\" })");
        for (const auto& [variable, value] : *env) {
          auto s = string_of(variable.str(), value);
          if (!s) return tl::unexpected(s.error());
          if (variable.str().empty() || variable.str().find('=') != std::string_view::npos) {
            return error_at(
                value, "bad environment variable name \"" + std::string(variable.str()) + "\"");
          }
          file.env.push_back(std::string(variable.str()) + "=" + *s);
        }
      } else if (k == "start_timeout_ms") {
        const auto ms = node.value<std::int64_t>();
        if (!node.is_integer() || !ms || *ms < 1 || *ms > kMaxStartTimeoutMs) {
          return error_at(node, "\"start_timeout_ms\" must be an integer from 1 to " +
                                    std::to_string(kMaxStartTimeoutMs));
        }
        file.start_timeout = std::chrono::milliseconds{*ms};
      } else {
        return error_at(key.source().begin,
                        "unknown key \"" + std::string(k) +
                            "\" (a service file has name, exec, args, env and start_timeout_ms)");
      }
    }
    if (!has_name) return error_at({1, 1}, "no \"name\" (the bus name the program registers)");
    if (!has_exec)
      return error_at({1, 1}, "no \"exec\" (the program that provides " + file.name + ")");
    return file;
  }

 private:
  tl::unexpected<Error> error_at(const toml::source_position& where, const std::string& what) {
    const auto line = std::to_string(where.line);
    const auto column = std::to_string(where.column);
    return make_error(StatusCode::invalid_argument,
                      origin_ + ":" + line + ":" + column + ": " + what,
                      "{\"line\":" + line + ",\"column\":" + column + "}");
  }
  tl::unexpected<Error> error_at(const toml::node& node, const std::string& what) {
    return error_at(node.source().begin, what);
  }
  Result<std::string> string_of(std::string_view key, const toml::node& node) {
    if (const auto s = node.value<std::string>(); s && node.is_string()) return *s;
    return error_at(node, "\"" + std::string(key) + "\" must be a string");
  }

  std::string origin_;
};

// The "name" of a file that did not parse as a whole, when that much can be read: the error
// then answers calls to it.
std::string readable_name(std::string_view text) {
  try {
    const auto table = toml::parse(text);
    if (const auto name = table["name"].value<std::string>(); name && wire::valid_name(*name)) {
      return *name;
    }
  } catch (const std::exception&) {
  }
  return {};
}

}  // namespace

Result<ServiceFile> parse_service_file(std::string_view text, std::string_view origin) {
  return FileParser(origin).parse(text);
}

ServiceCatalog load_service_catalog(const std::vector<std::string>& dirs) {
  namespace fs = std::filesystem;
  ServiceCatalog catalog;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".toml" && entry.is_regular_file(ec)) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());                 // the same order on every machine
    std::map<std::string, std::string, std::less<>> here;  // name → file, in this directory
    for (const auto& path : files) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        catalog.problems.push_back(
            Error{StatusCode::invalid_argument, path.string() + ": cannot be read", {}});
        continue;
      }
      auto file = parse_service_file(text.str(), path.string());
      if (!file) {
        catalog.problems.push_back(file.error());
        const auto name = readable_name(text.str());
        if (!name.empty() && !catalog.services.contains(name)) {
          catalog.broken.emplace(name, file.error());
        }
        continue;
      }
      if (auto twice = here.find(file->name); twice != here.end()) {
        catalog.problems.push_back(Error{StatusCode::invalid_argument,
                                         path.string() + ": " + file->name + " is provided by " +
                                             twice->second + " already; this file is ignored",
                                         {}});
        continue;
      }
      here.emplace(file->name, path.string());
      if (catalog.services.contains(file->name) || catalog.broken.contains(file->name)) {
        continue;  // an earlier directory's file wins
      }
      catalog.services.emplace(file->name, std::move(*file));
    }
  }
  return catalog;
}

std::vector<std::string> default_service_dirs() {
  std::vector<std::string> dirs;
  if (const char* config = std::getenv("XDG_CONFIG_HOME"); config && *config == '/') {
    dirs.push_back(std::string(config) + "/plexus/services");
  } else if (const char* home = std::getenv("HOME"); home && *home == '/') {
    dirs.push_back(std::string(home) + "/.config/plexus/services");
  }
  dirs.push_back("/usr/share/plexus/services");
  return dirs;
}

}  // namespace plexus::bus
