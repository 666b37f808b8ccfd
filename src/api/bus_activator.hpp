// Bus activation (docs/PROTOCOL.md, "Activation"): the first call to a bus name that has no
// owner starts the process its service file names, and the call waits until that process
// registers the name, the file's start timeout passes, or the process exits first. The bus
// asks (activate) and tells (registered); this class starts, watches and reports.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "api/bus_service_files.hpp"
#include "plexus/status.hpp"

namespace plexus::transport::exec {
class HelperProcess;
}  // namespace plexus::transport::exec

namespace plexus::bus {

// Counts of activations by how they ended, for the metrics.
struct ActivationCounts {
  std::uint64_t started = 0;     // processes started
  std::uint64_t registered = 0;  // of those, registered their name in time
  std::uint64_t failed = 0;      // could not start, exited first, or timed out
};

// Owns the processes it started until they exit; stop_all() ends them (the daemon's shutdown).
// Threading: every method from any thread; callbacks run on `strand`.
class Activator : public std::enable_shared_from_this<Activator> {
 public:
  using Ready = std::function<void(Result<void>)>;

  // `daemon_address`: what a started process dials (it gets it as PLEXUS_ADDRESS, which
  // Client::connect uses for an empty address; PLEXUS_SERVICE_NAME names what it should register).
  Activator(asio::any_io_executor strand, ServiceCatalog catalog, std::string daemon_address);
  ~Activator();
  Activator(const Activator&) = delete;
  Activator& operator=(const Activator&) = delete;

  // True when `name` has a service file, usable or broken: a call to it is the activator's.
  bool knows(std::string_view name) const;
  const ServiceCatalog& catalog() const { return catalog_; }

  // Starts the provider of `name` unless one is starting already, and runs `ready` once, on the
  // strand: ok once registered(name) is told, else unavailable — the file is broken
  // (failed_precondition then, with the file's error), the program cannot be executed, it
  // exited or was killed before registering (details exit_status / signal), or start_timeout
  // passed (deadline_exceeded); details carry "service" and "service_file".
  void activate(const std::string& name, Ready ready);
  // The bus saw `name` get an owner: every call waiting for it goes on.
  void registered(const std::string& name);
  // SIGTERM to every process started (SIGKILL after exec::kStopGrace); waiters fail unavailable.
  void stop_all();

  ActivationCounts counts() const;

 private:
  struct Start;  // one name being started: its process, timer and waiters

  void fail(const std::string& name, const Error& error);
  void finish(const std::string& name, const Result<void>& outcome);
  Error error_for(const ServiceFile& file, StatusCode code, const std::string& what,
                  const std::string& extra_details = {}) const;

  asio::any_io_executor strand_;
  const ServiceCatalog catalog_;
  const std::string daemon_address_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Start>, std::less<>> starting_;     // on the strand
  std::vector<std::shared_ptr<transport::exec::HelperProcess>> processes_;  // guarded by mu_
  ActivationCounts counts_;                                                 // guarded by mu_
  bool stopped_ = false;                                                    // guarded by mu_
};

}  // namespace plexus::bus
