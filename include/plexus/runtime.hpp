/// \file
/// Runtime and RuntimeOptions: the io_context and I/O threads every plexus object runs on.
#pragma once

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "plexus/export.hpp"
#include "plexus/wait_strategy.hpp"

namespace plexus {

namespace detail {
struct RuntimeAccess;  // src/api/runtime_internals.hpp
}  // namespace detail

/// Options of a Runtime: how many I/O threads, and how they wait when idle.
struct PLEXUS_EXPORT RuntimeOptions {
  int io_threads = 1;  ///< handlers run on these threads; one is enough for most uses
  /// Threads of the worker pool that offloaded handlers run on (HandlerOptions::offload,
  /// StreamHandlerOptions::offload): how many of them may block at once. Started on the first
  /// offloaded call, so a process that offloads nothing has none.
  int worker_threads = 4;
  /// What an I/O thread does when it runs out of work. adaptive (the default) keeps polling its
  /// sockets for a while (between min_spin and max_spin, learnt from whether polling caught the
  /// next message) before it sleeps: a peer that answers quickly is read without a wake-up,
  /// which costs more than the whole exchange (docs/ARCHITECTURE.md section 6). block sleeps at
  /// once (no CPU spent idle); spin never sleeps (burns a core per I/O thread). Under adaptive, a
  /// steady stream with less than max_spin between messages keeps the thread polling (a busy core).
  /// adaptive applies to a runtime with one I/O thread; several sleep at once (block), since one
  /// asleep in the reactor would keep the others' polls from seeing any socket.
  WaitStrategy idle_wait = WaitStrategy::adaptive;
  std::chrono::microseconds min_spin{20};   ///< adaptive: the shortest polling time
  std::chrono::microseconds max_spin{200};  ///< adaptive: the longest polling time
};

/// Owns the io_context and the I/O threads every plexus object runs on.
/// Ownership: create one, pass it by reference to servers and clients; it must outlive them.
/// Threading: all methods are thread-safe. Errors: none (construction cannot fail).
/// Every server and client on a runtime records into the runtime's one metrics registry, which
/// Server::metrics(), Server::metrics_text() and /metrics read.
class PLEXUS_EXPORT Runtime {
 public:
  /// Starts `options.io_threads` I/O threads (at least one). Logs go to stderr: the first
  /// Runtime of a process makes spdlog's default logger write there. The environment variable
  /// PLEXUS_LOG (trace, debug, info, warn, error, off) sets the log level when present.
  explicit Runtime(RuntimeOptions options = {});
  /// Waits for offloaded handlers still running to return (those not started never run), then
  /// stops the I/O threads and joins them.
  ~Runtime();
  Runtime(const Runtime&) = delete;             ///< not copyable
  Runtime& operator=(const Runtime&) = delete;  ///< not copyable

  /// The io_context the I/O threads run: post timers and work of your own to it.
  asio::io_context& io() { return io_; }
  /// The io_context's executor (for asio::co_spawn, asio::post, timers).
  asio::io_context::executor_type executor() { return io_.get_executor(); }
  /// True on one of this runtime's I/O threads (where blocking calls would deadlock).
  bool on_io_thread() const;
  /// The serial executor for one connection (or client): with one I/O thread, the io_context
  /// itself, since its handlers never run concurrently and a strand would only add locking;
  /// with several, a new strand.
  asio::any_io_executor serial_executor();
  /// True when the calling thread is running handlers of `executor` (one from serial_executor).
  static bool running_in(const asio::any_io_executor& executor);

 private:
  // The state that names internal types: the metrics registry and the slot for the socket the
  // idle I/O thread polls itself. Defined in src/api/runtime_internals.hpp, where the library's
  // own code reaches it through detail::RuntimeAccess; applications never see it.
  struct Internals;
  friend struct detail::RuntimeAccess;

  void run_io_thread();  // io_.run(), spinning before it sleeps as options_.idle_wait says

  RuntimeOptions options_;
  // Declared before io_, so the registry outlives the handlers io_ destroys (they may hold
  // counters); ~Runtime empties the hot-read slot before io_ goes.
  std::unique_ptr<Internals> internals_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> thread_ids_;
};

}  // namespace plexus
