#include "serve_config.hpp"

#include <sstream>

#include <toml++/toml.h>

namespace plexus::cli {
namespace {

Error at(const std::string& path, const toml::source_region& where, const std::string& what) {
  return Error{StatusCode::invalid_argument,
               path + ":" + std::to_string(where.begin.line) + ": " + what,
               {}};
}

// A scalar as the text CLI11 would get on the command line.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  if (node.is_integer()) return std::to_string(*node.value<std::int64_t>());
  if (node.is_floating_point()) return std::to_string(*node.value<double>());
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  return std::nullopt;
}

// The file as a TOML table; its syntax errors with their line.
Result<toml::table> load(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return tl::unexpected(at(path, e.source(), std::string(e.description())));
  } catch (const std::exception& e) {
    return make_error(StatusCode::invalid_argument, path + ": " + e.what());
  }
}

struct Entry {
  std::string name;  // the option's, without dashes
  std::vector<std::string> values;
  toml::source_region where;
};

Result<std::vector<Entry>> parse(const CLI::App& serve, const std::string& path,
                                 ConfigValues& values) {
  auto table = load(path);
  if (!table) return tl::unexpected(table.error());
  std::vector<Entry> entries;
  for (const auto& [key, node] : *table) {
    const std::string name(key.str());
    if (name == "queues" || name == "queue-defaults" || (name == "nats" && node.is_table())) {
      // [nats] is read by read_nats_bridge_config; `nats = "nats://…"` is the --nats option.
      // Tables of their own (read_queue_config); kept as text for SIGHUP's comparison.
      if (!node.is_table()) {
        return tl::unexpected(at(path, node.source(),
                                 "\"" + name + "\" must be a table ([" + name +
                                     (name == "queues" ? ".NAME" : "") + "])"));
      }
      std::ostringstream text;
      text << *node.as_table();
      values[name] = text.str();
      continue;
    }
    auto* option =
        name == "config" || name == "help" ? nullptr : serve.get_option_no_throw("--" + name);
    if (!option) {
      return tl::unexpected(at(path, key.source(),
                               "unknown key \"" + name +
                                   "\" (the keys are serve's options: "
                                   "plexus serve --help)"));
    }
    Entry entry{name, {}, node.source()};
    if (const auto* array = node.as_array()) {
      for (const auto& element : *array) {
        auto text = scalar_text(element);
        if (!text)
          return tl::unexpected(at(path, element.source(), "\"" + name + "\": not a value"));
        entry.values.push_back(*text);
      }
    } else if (auto text = scalar_text(node)) {
      entry.values.push_back(*text);
    } else {
      return tl::unexpected(at(path, node.source(), "\"" + name + "\": not a value or an array"));
    }
    if (entry.values.size() > 1 && option->get_expected_max() == 1) {
      return tl::unexpected(at(path, node.source(), "\"" + name + "\" takes one value"));
    }
    std::string joined;
    for (const auto& v : entry.values) joined += (joined.empty() ? "" : ",") + v;
    values[name] = joined;
    entries.push_back(std::move(entry));
  }
  return entries;
}

// Sets the keys of `table` on `q`.
Result<void> queue_settings(const std::string& path, const std::string& where,
                            const toml::table& table, QueueOptions& q) {
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    const auto number = node.value<std::int64_t>();
    if (!node.is_integer() || !number || *number < 0) {
      return tl::unexpected(
          at(path, node.source(), where + "." + name + ": not a non-negative integer"));
    }
    const auto n = static_cast<std::uint64_t>(*number);
    if (name == "max-messages") {
      q.max_messages = n;
    } else if (name == "max-bytes") {
      q.max_bytes = n;
    } else if (name == "ack-timeout-ms") {
      q.ack_timeout = std::chrono::milliseconds(n);
    } else if (name == "max-retries") {
      if (n > 0xFFFFFFFFull)
        return tl::unexpected(at(path, node.source(), "max-retries: too large"));
      q.max_retries = static_cast<std::uint32_t>(n);
    } else if (name == "retry-delay-ms") {
      q.retry_delay = std::chrono::milliseconds(n);
    } else {
      return tl::unexpected(at(path, key.source(),
                               "unknown key \"" + name + "\" in [" + where +
                                   "] (the keys are max-messages, max-bytes, ack-timeout-ms, "
                                   "max-retries, retry-delay-ms)"));
    }
  }
  return {};
}

}  // namespace

Result<QueueConfig> read_queue_config(const std::string& path) {
  auto table = load(path);
  if (!table) return tl::unexpected(table.error());
  QueueConfig config;
  if (const auto* defaults = (*table)["queue-defaults"].as_table()) {
    if (auto ok = queue_settings(path, "queue-defaults", *defaults, config.defaults); !ok)
      return tl::unexpected(ok.error());
  }
  if (const auto* queues = (*table)["queues"].as_table()) {
    for (const auto& [key, node] : *queues) {
      const std::string name(key.str());
      const auto* settings = node.as_table();
      if (!settings) {
        return tl::unexpected(
            at(path, node.source(), "queues." + name + " must be a table ([queues." + name + "])"));
      }
      QueueOptions q = config.defaults;
      if (auto ok = queue_settings(path, "queues." + name, *settings, q); !ok)
        return tl::unexpected(ok.error());
      config.queues[name] = q;
    }
  }
  return config;
}

Result<ConfigValues> read_serve_config(const CLI::App& serve, const std::string& path) {
  ConfigValues values;
  auto entries = parse(serve, path, values);
  if (!entries) return tl::unexpected(entries.error());
  return values;
}

Result<ConfigValues> apply_serve_config(CLI::App& serve, const std::string& path) {
  ConfigValues values;
  auto entries = parse(serve, path, values);
  if (!entries) return tl::unexpected(entries.error());
  for (auto& e : *entries) {
    auto* option = serve.get_option("--" + e.name);
    if (option->count() > 0) continue;  // given on the command line: it wins
    try {
      for (const auto& v : e.values) option->add_result(v);
      option->run_callback();
    } catch (const CLI::Error& error) {
      return tl::unexpected(at(path, e.where, error.what()));
    }
  }
  return values;
}

}  // namespace plexus::cli
