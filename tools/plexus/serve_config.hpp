// `plexus serve --config FILE`: the serve options from a TOML file (toml++). Each key is a long
// option of `plexus serve` without its dashes (`listen = ["unix:///run/x.sock"]`,
// `max-connections = 4096`, `demo = true`); the command line wins over the file. A key that is
// no option, or a value the option refuses, is an error naming the file and line. The [nats]
// table is the NATS bridge's (read_nats_bridge_config, plexus/nats_bridge.hpp).
#pragma once

#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "plexus/durable.hpp"
#include "plexus/status.hpp"

namespace plexus::cli {

// Each option's values as the file gives them, as text (what SIGHUP compares).
using ConfigValues = std::map<std::string, std::string>;

// Reads `path` and checks every key against `serve`'s options. invalid_argument with
// "FILE:LINE: …" for a syntax error, an unknown key or a value of the wrong shape.
Result<ConfigValues> read_serve_config(const CLI::App& serve, const std::string& path);

// Reads `path` and sets the options of `serve` that the command line did not give; a value the
// option refuses is invalid_argument with the file and line. Returns what it read.
Result<ConfigValues> apply_serve_config(CLI::App& serve, const std::string& path);

// The durable queues' settings of a config file: `[queue-defaults]` (every queue) and
// `[queues.NAME]` (one queue, starting from the defaults), each with the keys max-messages,
// max-bytes, ack-timeout-ms, max-retries and retry-delay-ms. Unset keys keep QueueOptions'
// defaults. invalid_argument with "FILE:LINE: …" for an unknown key or a bad value.
struct QueueConfig {
  QueueOptions defaults;
  std::map<std::string, QueueOptions> queues;
};
Result<QueueConfig> read_queue_config(const std::string& path);

}  // namespace plexus::cli
