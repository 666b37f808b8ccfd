#include "soak_options.hpp"

#include <CLI/CLI.hpp>

namespace plexus::soak {

ParsedOptions parse_options(int argc, char** argv) {
  ParsedOptions parsed;
  Options& o = parsed.options;
  o.plexus = PLEXUS_CLI_PATH;
  CLI::App app(
      "Soak test: a mixed load (calls, pub/sub, streams, reconnects, client processes killed at "
      "random) against one `plexus serve --demo`, sampling its RSS and open descriptors; fails "
      "when either keeps growing or when the server answers wrong.");
  app.add_option("--seconds", o.seconds, "How long the load runs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--interval", o.interval, "Seconds between samples")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup,
                 "Seconds of samples left out of the trend (default: 30 or a fifth of the run, "
                 "whichever is longer)");
  app.add_option("--json", o.json_path, "Write the samples and the summary to this file");
  app.add_option("--plexus", o.plexus, "The plexus CLI whose `serve --demo` is soaked")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the random choices (0: a new one, printed)");
  app.add_option("--callers", o.callers, "Threads making blocking calls")->capture_default_str();
  app.add_option("--streamers", o.streamers, "Threads reading streams")->capture_default_str();
  app.add_option("--reconnectors", o.reconnectors, "Threads connecting and closing in a loop")
      ->capture_default_str();
  app.add_option("--children", o.children.max_alive, "Client processes alive at once")
      ->capture_default_str();
  app.add_option("--max-children", o.children.max_total, "Client processes started in all")
      ->capture_default_str();
  // How the soak starts its client processes; not for people.
  app.add_option("--child", o.child_mode)->group("");
  app.add_option("--address", o.address)->group("");
  app.add_option("--child-index", o.child_index)->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    parsed.exit_now = app.exit(e);
  }
  return parsed;
}

}  // namespace plexus::soak
