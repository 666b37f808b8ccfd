// Service files for bus activation (docs/PROTOCOL.md, "Activation"): one TOML file per bus
// name, saying how to start the process that provides it. Pure parsing plus a directory scan;
// the activator (bus_activator.hpp) starts what they say.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::bus {

// What one service file says.
struct ServiceFile {
  std::string name;               // the bus name the started process registers
  std::string exec;               // absolute path of the program
  std::vector<std::string> args;  // its arguments after argv[0]
  std::vector<std::string> env;   // "K=V", added to (or replacing in) the daemon's environment
  std::chrono::milliseconds start_timeout{10000};  // to register the name, from the start
  std::string path;                                // the file it was read from
};

// Parses one file's text; `origin` names it in errors ("FILE:LINE:COLUMN: …", details
// {"line","column"}). invalid_argument for a syntax error, an unknown key, a missing or
// mistyped value, a name that is not a valid bus name, a relative exec path, or a
// start_timeout_ms outside 1..600000. Does not look at the executable (the activator does, and
// reports a missing one to the caller that needed it).
Result<ServiceFile> parse_service_file(std::string_view text, std::string_view origin);

// The service files of some directories.
struct ServiceCatalog {
  std::map<std::string, ServiceFile, std::less<>> services;  // by bus name
  // Files that could not be used, each an error naming the file (for the log and `plexus ls`).
  std::vector<Error> problems;
  // Names whose file exists but is broken: a call to one gets this error rather than not_found.
  std::map<std::string, Error, std::less<>> broken;
};

// Reads every `*.toml` file of `dirs`, in order: a name given again in a later directory is
// ignored (the first, the user's own, wins), and so is a second file for a name in one
// directory (a problem). A directory that does not exist is skipped. Never fails: what cannot
// be used is listed in `problems`.
ServiceCatalog load_service_catalog(const std::vector<std::string>& dirs);

// The directories searched when none are given: $XDG_CONFIG_HOME/plexus/services (else
// ~/.config/plexus/services), then /usr/share/plexus/services.
std::vector<std::string> default_service_dirs();

}  // namespace plexus::bus
