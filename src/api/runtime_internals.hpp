// What src/api (and the tests that read internals) reach of a Runtime beyond its public API:
// the metrics registry and the hot-read slot, whose types are internal (observe/, transport/).
#pragma once

#include <memory>

#include "observe/metrics.hpp"
#include "plexus/runtime.hpp"
#include "rpc/worker_pool.hpp"
#include "transport/hot_read.hpp"
#include "transport/idle_hint.hpp"

namespace plexus {

struct Runtime::Internals {
  // Every server, client and module on the runtime records into it; Server::metrics() and
  // /metrics read it. Lives as long as the runtime.
  observe::Registry metrics;
  // The socket the idle I/O thread polls itself (transport/hot_read.hpp); null when it never
  // polls (idle_wait block, or several I/O threads). Emptied by ~Runtime before the io_context
  // goes, since a connection it still held must not outlive its io_context.
  std::unique_ptr<transport::HotReadSlot> hot_read;
  // Read by that same idle loop; null unless it is adaptive (block never spins, spin never
  // sleeps).
  std::unique_ptr<transport::IdleHint> idle_hint;
  // Where offloaded handlers run (RuntimeOptions::worker_threads); stopped by ~Runtime while
  // the I/O threads still run, since a handler may be waiting on one of them, and destroyed
  // before io_, since a job it never ran may hold the last reference to a session (whose
  // timers belong to io_). A closed session lets go of its strand on the pool (Session::
  // on_closed), so the sessions io_'s own handlers still hold do not need the pool.
  std::unique_ptr<rpc::WorkerPool> workers;
};

namespace detail {

struct RuntimeAccess {
  static Runtime::Internals& of(Runtime& runtime) { return *runtime.internals_; }
};

inline observe::Registry& runtime_metrics(Runtime& runtime) {
  return RuntimeAccess::of(runtime).metrics;
}

// For the library's socket transports (ConnectionOptions::hot_read).
inline transport::HotReadSlot* hot_read_slot(Runtime& runtime) {
  return RuntimeAccess::of(runtime).hot_read.get();
}

// For sessions' offloaded handlers (rpc::SessionOptions::workers).
inline rpc::WorkerPool* worker_pool(Runtime& runtime) {
  return RuntimeAccess::of(runtime).workers.get();
}

}  // namespace detail
}  // namespace plexus
