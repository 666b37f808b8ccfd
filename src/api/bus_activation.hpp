// Activation of bus providers (docs/PROTOCOL.md §24.6): service files say how to start the
// provider of a name; the first call to a name with no owner starts it (BusService holds the
// call until the provider registers). Here: reading the files, and watching a started
// provider (its exit, its output into the log).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "plexus/status.hpp"

namespace plexus::transport::exec {
class HelperProcess;
}  // namespace plexus::transport::exec

namespace plexus::detail {

// One service file (TOML):
//   name = "com.example.search"            # required: the service name it provides
//   exec = "/usr/libexec/search-provider"  # required: absolute path of an executable file
//   args = ["--verbose"]                   # optional: arguments after argv[0]
//   env = { SEARCH_INDEX = "/var/idx" }    # optional: added to the daemon's environment
//   start_timeout_ms = 10000               # optional: 1 .. 600000
struct ServiceFile {
  std::string file;  // the path it was read from
  std::string name;  // empty when the file did not say (or did not parse)
  std::string exec;
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::chrono::milliseconds start_timeout{10000};
  // Why the file cannot be used ("FILE:LINE:COL: unknown key …", "executable … not found"); the
  // name, when known, then answers its calls with this error.
  std::optional<Error> error;
};

// Every *.toml file of `dirs`, in name order per directory; a name that an earlier directory
// provides already is skipped (the first directory wins). Missing directories are skipped.
std::vector<ServiceFile> load_service_files(const std::vector<std::string>& dirs);
// One file's text, as load_service_files reads it (`path`: its name in errors; the executable's
// existence is checked too).
ServiceFile parse_service_file(const std::string& path, std::string_view text);

// A provider started from a service file: spawned with the platform's child-process code and
// watched as exec: watches its helpers (transport/exec/helper_process.hpp): its stdout and
// stderr logged line by line ("provider NAME[PID]: …"), its exit reported once.
class ProviderProcess {
 public:
  // `on_exit` runs once on `executor` with the exit as an unavailable Error, "exited with status
  // N" with details {"exit_status": N}, or "killed by signal N (SIGKILL)" with {"signal": N,
  // "signal_name": "SIGKILL"}.
  static Result<std::shared_ptr<ProviderProcess>> start(asio::any_io_executor executor,
                                                        const ServiceFile& file,
                                                        std::vector<std::string> extra_env,
                                                        std::function<void(Error)> on_exit);
  ~ProviderProcess();
  std::int32_t pid() const;
  // SIGTERM, then SIGKILL if it has not exited within exec::kStopGrace; nothing once it has
  // exited (its exit is reported as any other). Any thread.
  void terminate();

 private:
  explicit ProviderProcess(std::shared_ptr<transport::exec::HelperProcess> process)
      : process_(std::move(process)) {}
  std::shared_ptr<transport::exec::HelperProcess> process_;
};

}  // namespace plexus::detail
