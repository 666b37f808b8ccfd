// read_nats_bridge_config: the [nats] table of a TOML file (plexus serve --config).
#include <toml++/toml.h>

#include "api/nats_subjects.hpp"
#include "plexus/nats_bridge.hpp"

namespace plexus {
namespace nats_config {

Error at(const std::string& path, const toml::source_region& where, const std::string& what) {
  return Error{StatusCode::invalid_argument,
               path + ":" + std::to_string(where.begin.line) + ": " + what,
               {}};
}

constexpr const char* kKeys =
    "url, prefix, name, export-methods, import-methods, export-topics, import-topics, "
    "connect-timeout-ms, reconnect-wait-ms, default-timeout-ms, queue-group, send-asap";

Result<std::string> text(const std::string& path, const std::string& key, const toml::node& node) {
  if (!node.is_string())
    return tl::unexpected(at(path, node.source(), "nats." + key + ": not a string"));
  return *node.value<std::string>();
}

Result<std::vector<std::string>> texts(const std::string& path, const std::string& key,
                                       const toml::node& node) {
  const auto* array = node.as_array();
  if (!array) {
    return tl::unexpected(at(path, node.source(), "nats." + key + ": not an array of strings"));
  }
  std::vector<std::string> out;
  for (const auto& element : *array) {
    if (!element.is_string()) {
      return tl::unexpected(at(path, element.source(), "nats." + key + ": not a string"));
    }
    out.push_back(*element.value<std::string>());
  }
  return out;
}

Result<Millis> millis(const std::string& path, const std::string& key, const toml::node& node) {
  const auto n = node.value<std::int64_t>();
  if (!node.is_integer() || !n || *n < 0 || *n > 86'400'000) {
    return tl::unexpected(
        at(path, node.source(), "nats." + key + ": not a number of milliseconds (0..86400000)"));
  }
  return Millis{*n};
}

}  // namespace nats_config

Result<NatsBridgeOptions> read_nats_bridge_config(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return tl::unexpected(nats_config::at(path, e.source(), std::string(e.description())));
  } catch (const std::exception& e) {
    return make_error(StatusCode::invalid_argument, path + ": " + e.what());
  }
  NatsBridgeOptions options;
  const auto* node = table.get("nats");
  if (!node) return options;
  if (node->is_string()) {  // `nats = "nats://…"`: the --nats option, a URL alone
    options.url = *node->value<std::string>();
    return options;
  }
  const auto* nats = node->as_table();
  if (!nats) {
    return tl::unexpected(nats_config::at(
        path, node->source(), "\"nats\" must be a table ([nats]) or a URL (nats = \"nats://…\")"));
  }
  for (const auto& [key, value] : *nats) {
    const std::string name(key.str());
    Result<void> done;
    auto set_text = [&](std::string& field) -> Result<void> {
      auto t = nats_config::text(path, name, value);
      if (!t) return tl::unexpected(t.error());
      field = std::move(*t);
      return {};
    };
    auto set_texts = [&](std::vector<std::string>& field) -> Result<void> {
      auto t = nats_config::texts(path, name, value);
      if (!t) return tl::unexpected(t.error());
      field = std::move(*t);
      return {};
    };
    auto set_millis = [&](Millis& field) -> Result<void> {
      auto m = nats_config::millis(path, name, value);
      if (!m) return tl::unexpected(m.error());
      field = *m;
      return {};
    };
    if (name == "url") {
      done = set_text(options.url);
    } else if (name == "prefix") {
      done = set_text(options.prefix);
    } else if (name == "name") {
      done = set_text(options.name);
    } else if (name == "queue-group") {
      done = set_text(options.queue_group);
    } else if (name == "export-methods") {
      done = set_texts(options.export_methods);
    } else if (name == "export-topics") {
      done = set_texts(options.export_topics);
    } else if (name == "import-topics") {
      done = set_texts(options.import_topics);
    } else if (name == "import-methods") {
      std::vector<std::string> specs;
      done = set_texts(specs);
      for (std::size_t i = 0; done && i < specs.size(); ++i) {
        auto import = detail::nats::parse_import(specs[i]);
        if (!import) {
          done = tl::unexpected(nats_config::at(path, value.source(), import.error().message));
        } else {
          options.import_methods.push_back(std::move(*import));
        }
      }
    } else if (name == "send-asap") {
      if (!value.is_boolean()) {
        return tl::unexpected(
            nats_config::at(path, value.source(), "nats.send-asap: not true or false"));
      }
      options.send_asap = *value.value<bool>();
    } else if (name == "connect-timeout-ms") {
      done = set_millis(options.connect_timeout);
    } else if (name == "reconnect-wait-ms") {
      done = set_millis(options.reconnect_wait);
    } else if (name == "default-timeout-ms") {
      done = set_millis(options.default_timeout);
    } else {
      return tl::unexpected(nats_config::at(
          path, key.source(),
          "unknown key \"" + name + "\" in [nats] (the keys are " + nats_config::kKeys + ")"));
    }
    if (!done) return tl::unexpected(done.error());
  }
  return options;
}

}  // namespace plexus
