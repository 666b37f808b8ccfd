// NATS JetStream as the peer of plexus's durable queues in plexus_bench_durable: a nats-server
// (Debian: nats-server) started for the run with JetStream on, one file-storage stream, and the
// NATS C client (Debian: libnats-dev) publishing to it. Compiled only when both are installed
// (bench/CMakeLists.txt defines PLEXUS_BENCH_NATS then).
#pragma once

#include <cstddef>
#include <string>

namespace plexus_bench {

// Publishes `messages` messages of `payload` bytes to a file-storage stream of a nats-server
// started in a fresh directory under `dir` (port chosen free, its log beside it), and returns
// the seconds from the first publish until the last PubAck arrived. `window` > 0: js_PublishAsync
// with at most `window` unacknowledged (then js_PublishAsyncComplete); 0: js_Publish, one at a
// time, each waiting for its PubAck. Checks that the stream holds every message afterwards.
// Adds the CPU time nats-server used (all its threads, start-up included) to `server_cpu_s`.
// Throws std::runtime_error on failure.
double run_jetstream(const std::string& dir, std::size_t messages, std::size_t payload,
                     std::size_t window, double& server_cpu_s);

}  // namespace plexus_bench
