// plexus: the CLI and daemon. Thin: every command is a few calls on the public API.
#include <cstdlib>
#include <string>

#include "commands.hpp"

int main(int argc, char** argv) {
  // Quiet by default for one-shot commands; `serve` raises it to info; PLEXUS_LOG overrides.
  if (!std::getenv("PLEXUS_LOG")) plexus::set_log_level(plexus::LogLevel::warn);
  CLI::App app{"plexus — fast, safe, observable IPC between local processes"};
  // The CLI's version (compiled in), then the library's it runs on and the protocol it speaks.
  std::string version_text = "plexus " PLEXUS_VERSION_STRING "\nlibrary ";
  version_text.append(plexus::version());
  version_text += ", protocol " + std::to_string(plexus::protocol_version());
  app.set_version_flag("-V,--version", version_text);
  app.require_subcommand(1);
  const plexus::cli::Run commands[] = {plexus::cli::add_serve(app), plexus::cli::add_call(app),
                                       plexus::cli::add_ping(app),  plexus::cli::add_pub(app),
                                       plexus::cli::add_sub(app),   plexus::cli::add_stream(app),
                                       plexus::cli::add_stats(app), plexus::cli::add_describe(app)};
  CLI11_PARSE(app, argc, argv);
  for (const auto& run : commands) {
    if (const int rc = run(); rc >= 0) return rc;
  }
  return 2;
}
