#include "api/bus_activator.hpp"

#include <asio/dispatch.hpp>
#include <nlohmann/json.hpp>

#include "observe/log.hpp"
#include "platform/posix/child_process.hpp"
#include "transport/exec/helper_process.hpp"

namespace plexus::bus {

struct Activator::Start {
  explicit Start(asio::any_io_executor strand) : timer(strand) {}
  std::shared_ptr<transport::exec::HelperProcess> process;
  asio::steady_timer timer;  // the file's start_timeout
  std::vector<Ready> waiters;
};

Activator::Activator(asio::any_io_executor strand, ServiceCatalog catalog,
                     std::string daemon_address)
    : strand_(std::move(strand)),
      catalog_(std::move(catalog)),
      daemon_address_(std::move(daemon_address)) {}

Activator::~Activator() = default;  // each process not yet reaped is ended (HelperProcess)

bool Activator::knows(std::string_view name) const {
  return catalog_.services.find(name) != catalog_.services.end() ||
         catalog_.broken.find(name) != catalog_.broken.end();
}

ActivationCounts Activator::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

Error Activator::error_for(const ServiceFile& file, StatusCode code, const std::string& what,
                           const std::string& extra_details) const {
  auto details = nlohmann::json::object();
  if (!extra_details.empty()) {
    details = nlohmann::json::parse(extra_details, nullptr, false);
    if (!details.is_object()) details = nlohmann::json::object();
  }
  details["service"] = file.name;
  details["service_file"] = file.path;
  return Error{code, what, details.dump()};
}

void Activator::activate(const std::string& name, Ready ready) {
  asio::dispatch(strand_, [self = shared_from_this(), name, ready = std::move(ready)]() mutable {
    if (auto broken = self->catalog_.broken.find(name); broken != self->catalog_.broken.end()) {
      ready(tl::unexpected(
          Error{StatusCode::failed_precondition,
                "service " + name +
                    " cannot be started: its service file is invalid: " + broken->second.message,
                nlohmann::json{{"service", name}, {"service_file_error", broken->second.message}}
                    .dump()}));
      return;
    }
    const auto found = self->catalog_.services.find(name);
    if (found == self->catalog_.services.end()) {
      ready(tl::unexpected(Error{StatusCode::not_found, "no service file for " + name,
                                 nlohmann::json{{"service", name}}.dump()}));
      return;
    }
    if (auto s = self->starting_.find(name); s != self->starting_.end()) {
      s->second->waiters.push_back(std::move(ready));
      return;
    }
    const ServiceFile& file = found->second;
    {
      std::lock_guard lock(self->mu_);
      if (self->stopped_) {
        ready(tl::unexpected(self->error_for(
            file, StatusCode::unavailable, "the bus is shutting down: " + name + " not started")));
        return;
      }
    }
    auto env = file.env;
    env.push_back("PLEXUS_ADDRESS=" + self->daemon_address_);
    env.push_back("PLEXUS_SERVICE_NAME=" + name);
    auto spawned = platform::spawn_helper(file.exec, file.args, env, /*socket_pair=*/false);
    if (!spawned) {
      {
        std::lock_guard lock(self->mu_);
        ++self->counts_.failed;
      }
      observe::logger().warn("plexus: bus: cannot start service {} ({}): {}", name, file.path,
                             spawned.error().message);
      ready(tl::unexpected(
          self->error_for(file, StatusCode::unavailable,
                          "service " + name + " cannot be started: " + spawned.error().message)));
      return;
    }
    auto process = std::make_shared<transport::exec::HelperProcess>(
        self->strand_, *spawned, "service " + name, "service " + name);
    observe::logger().info("plexus: bus: starting service {}: {} (pid {}, {})", name, file.exec,
                           spawned->pid, file.path);
    auto start = std::make_shared<Start>(self->strand_);
    start->process = process;
    start->waiters.push_back(std::move(ready));
    self->starting_.emplace(name, start);
    {
      std::lock_guard lock(self->mu_);
      ++self->counts_.started;
      std::erase_if(self->processes_, [](const auto& p) { return p->exit().has_value(); });
      self->processes_.push_back(process);
    }
    process->on_exit([weak = self->weak_from_this(), name, raw = process.get()] {
      auto me = weak.lock();
      if (!me) return;
      const auto& exit = *raw->exit();
      auto s = me->starting_.find(name);
      if (s == me->starting_.end() || s->second->process.get() != raw) {
        observe::logger().info("plexus: bus: {}", exit.message);
        return;
      }
      const ServiceFile& f = me->catalog_.services.find(name)->second;
      me->fail(name,
               me->error_for(f, StatusCode::unavailable,
                             exit.message + " before it registered on the bus", exit.details));
    });
    process->start();
    start->timer.expires_after(file.start_timeout);
    start->timer.async_wait([weak = self->weak_from_this(), name, start,
                             timeout = file.start_timeout](std::error_code ec) {
      auto me = weak.lock();
      if (ec || !me) return;
      auto s = me->starting_.find(name);
      if (s == me->starting_.end() || s->second != start) return;
      start->process->stop();  // it had its chance; a late registration would find no caller
      const ServiceFile& f = me->catalog_.services.find(name)->second;
      me->fail(name, me->error_for(f, StatusCode::deadline_exceeded,
                                   "service " + name + " did not register within " +
                                       std::to_string(timeout.count()) + " ms of its start"));
    });
  });
}

void Activator::registered(const std::string& name) {
  asio::dispatch(strand_, [self = shared_from_this(), name] {
    if (!self->starting_.contains(name)) return;
    {
      std::lock_guard lock(self->mu_);
      ++self->counts_.registered;
    }
    observe::logger().info("plexus: bus: service {} registered; calls waiting for it go on", name);
    self->finish(name, Result<void>{});
  });
}

void Activator::fail(const std::string& name, const Error& error) {
  {
    std::lock_guard lock(mu_);
    ++counts_.failed;
  }
  observe::logger().warn("plexus: bus: {}", error.message);
  finish(name, tl::unexpected(error));
}

void Activator::finish(const std::string& name, const Result<void>& outcome) {
  auto s = starting_.find(name);
  if (s == starting_.end()) return;
  auto start = std::move(s->second);
  starting_.erase(s);
  start->timer.cancel();
  for (auto& waiter : start->waiters) waiter(outcome);
}

void Activator::stop_all() {
  std::vector<std::shared_ptr<transport::exec::HelperProcess>> processes;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    processes = processes_;
  }
  for (auto& p : processes) p->stop();
  asio::dispatch(strand_, [self = shared_from_this()] {
    std::vector<std::string> names;
    for (const auto& [name, start] : self->starting_) names.push_back(name);
    for (const auto& name : names) {
      self->finish(name, tl::unexpected(Error{StatusCode::unavailable,
                                              "the bus is shutting down: " + name + " not started",
                                              nlohmann::json{{"service", name}}.dump()}));
    }
  });
}

}  // namespace plexus::bus
