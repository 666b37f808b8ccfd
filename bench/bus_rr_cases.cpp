// Bus rows: a call through the `plexus serve` daemon by service name against a direct call
// between the same two processes, in the same run.
//   plexus-bus-direct   the caller's client connected straight to the provider's own server
//                       (Unix socket), calling "echo"
//   plexus-bus          the caller's client connected to the daemon, calling
//                       "bench.echo/echo", which the daemon forwards to the provider's client
//                       (registered with register_service): caller → daemon → provider and back
// One provider process serves both: its Server listens for the direct client, its Client is
// connected to the daemon and owns the name. The two rows differ by the daemon's hop, which the
// VM's noise would blur if they ran one after the other: round trips and pipelined calls run in
// slices that take turns (direct, bus, direct, …). Each completion starts the next call on the
// caller's I/O thread (plexus_drivers.hpp), as in the other plexus rows.
#include <algorithm>
#include <future>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "exec_child.hpp"
#include "plexus_drivers.hpp"
#include "rr_case.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

#ifndef PLEXUS_BENCH_CLI
#error "PLEXUS_BENCH_CLI (the path of the plexus CLI, whose serve is the daemon) must be defined"
#endif

namespace plexus_bench {
namespace bus_rows {

constexpr const char* kService = "bench.echo";
constexpr const char* kBusMethod = "bench.echo/echo";
constexpr std::uint64_t kSlices = 10;

plexus::Result<std::string> echo(plexus::CallContext&, std::string_view payload) {
  return std::string(payload);
}

// The provider: a server for the direct client and a client that owns kService on the daemon.
void provide(const std::string& daemon, const std::string& direct,
             const std::function<void()>& ready) {
  plexus::Runtime runtime;
  std::promise<void> bye;
  auto bye_said = bye.get_future();
  plexus::ServerOptions server_options;
  server_options.listen = {direct};
  server_options.name = "bench-bus-provider";
  auto server = unwrap(plexus::Server::create(runtime, server_options), "Server::create");
  server->handle("echo", echo);
  server->handle("bye", [&bye, said = false](plexus::CallContext&, std::string_view) mutable {
    if (!std::exchange(said, true)) bye.set_value();
    return plexus::Result<std::string>(std::string());
  });
  check(server->start(), "Server::start");

  plexus::ClientOptions client_options;
  client_options.address = daemon;
  client_options.name = "bench-bus-provider";
  client_options.reconnect.enabled = false;
  client_options.wait_for_server = plexus::Millis{10000};  // the daemon may still be starting
  auto client = unwrap(plexus::Client::connect(runtime, client_options), "connect to the daemon");
  client->handle(kBusMethod, echo);
  auto name = unwrap(plexus::register_service(*client, kService), "register_service");
  ready();
  bye_said.wait();
  name.reset();
  client->close();
  server->shutdown(plexus::Millis{1000});
}

plexus::ClientOptions caller_options(const std::string& address) {
  plexus::ClientOptions options;
  options.address = address;
  options.name = "bench-bus-caller";
  options.reconnect.enabled = false;
  return options;
}

RrResult run_bus(const RrParams& params) {
  if (!std::getenv("PLEXUS_LOG")) plexus::set_log_level(plexus::LogLevel::warn);
  const std::string daemon_path = params.scratch_dir + "/bus-daemon.sock";
  const std::string direct_path = params.scratch_dir + "/bus-direct.sock";
  const std::string daemon = "unix://" + daemon_path;
  const std::string direct = "unix://" + direct_path;
  const SocketFileGuard daemon_guard(daemon_path), direct_guard(direct_path);
  ExecChild daemon_process(
      {PLEXUS_BENCH_CLI, "serve", "--listen", daemon, "--no-http", "--drain-ms", "1000"},
      params.scratch_dir + "/bus-daemon.log");
  ServerProcess provider(
      [&](const std::function<void()>& ready) { provide(daemon, direct, ready); });

  RrResult direct_row, bus_row;
  direct_row.pipeline_mode = bus_row.pipeline_mode = PipelineMode::windowed;
  {
    // Drivers before the clients: their close() completes calls still in flight.
    RoundTripper direct_rt, bus_rt;
    Pipeliner direct_pipe, bus_pipe;
    plexus::Runtime runtime;  // one I/O thread for both clients, as one caller process has
    auto direct_client =
        unwrap(plexus::Client::connect(runtime, caller_options(direct)), "connect direct");
    auto bus_client =
        unwrap(plexus::Client::connect(runtime, caller_options(daemon)), "connect to the daemon");
    const std::string payload(params.payload_size, 'x');

    RrParams slice = params;
    slice.rt_count = std::max<std::uint64_t>(params.rt_count / kSlices, 1);
    for (std::uint64_t s = 0; s < kSlices; ++s) {
      if (s > 0) slice.warmup_count = 0;
      auto d = direct_rt.run(runtime, *direct_client, slice, {"echo"}, payload);
      auto b = bus_rt.run(runtime, *bus_client, slice, {kBusMethod}, payload);
      direct_row.rt_us.insert(direct_row.rt_us.end(), d[0].begin(), d[0].end());
      bus_row.rt_us.insert(bus_row.rt_us.end(), b[0].begin(), b[0].end());
    }
    const std::uint64_t n = std::max<std::uint64_t>(params.pipelined_count / kSlices, 1);
    for (std::uint64_t s = 0; s < kSlices; ++s) {
      direct_row.pipelined_seconds +=
          direct_pipe.run(runtime, *direct_client, "echo", payload, n, params.window);
      direct_row.pipelined_calls += n;
      bus_row.pipelined_seconds +=
          bus_pipe.run(runtime, *bus_client, kBusMethod, payload, n, params.window);
      bus_row.pipelined_calls += n;
    }
    unwrap(direct_client->call("bye", ""), "bye");
    direct_client->close();
    bus_client->close();
  }
  if (!provider.join(5000)) throw std::runtime_error("the bus provider did not exit cleanly");
  if (!daemon_process.stop(5000)) throw std::runtime_error("plexus serve did not exit cleanly");
  direct_row.companions = {std::move(bus_row)};
  return direct_row;
}

const RrRegistrar bus_case{RrCase{"plexus-bus-direct", run_bus, {"plexus-bus"}}};

}  // namespace bus_rows
}  // namespace plexus_bench
