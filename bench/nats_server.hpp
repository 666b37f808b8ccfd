// A nats-server (Debian: nats-server) for the benchmarks that measure NATS beside plexus
// (plexus_bench_durable's JetStream rows, plexus_bench_nats): a free loopback port, and the wait
// until the server listens on it.
#pragma once

#include <string>

#include "exec_child.hpp"

namespace plexus_bench {

// A loopback TCP port that was free a moment ago (nats-server binds it right after).
int free_port();

// Returns once `port` accepts connections; throws std::runtime_error (with the tail of
// `log_path`) when `server` exits first or 10 s pass.
void wait_accepting(ExecChild& server, int port, const std::string& log_path);

}  // namespace plexus_bench
