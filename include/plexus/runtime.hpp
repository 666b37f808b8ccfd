// Runtime: owns the io_context and the I/O threads every plexus object runs on.
// Ownership: create one, pass it by reference to servers and clients; it must outlive them.
// Threading: all methods are thread-safe. Errors: none (construction cannot fail).
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace plexus {

namespace observe {
class Registry;
}

struct RuntimeOptions {
  int io_threads = 1;  // handlers run on these threads; one is enough for most uses
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();  // stops the I/O threads and joins them
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  asio::io_context& io() { return io_; }
  asio::io_context::executor_type executor() { return io_.get_executor(); }
  // True on one of this runtime's I/O threads (where blocking calls would deadlock).
  bool on_io_thread() const;
  // The serial executor for one connection (or client): with one I/O thread, the io_context
  // itself, since its handlers never run concurrently and a strand would only add locking;
  // with several, a new strand.
  asio::any_io_executor serial_executor();
  // True when the calling thread is running handlers of `executor` (one from serial_executor).
  static bool running_in(const asio::any_io_executor& executor);
  // The metrics registry every server, client and module on this runtime records into
  // (src/observe/metrics.hpp); Server::metrics() and /metrics read it. Lives as long as this.
  observe::Registry& metrics() { return *metrics_; }

 private:
  RuntimeOptions options_;
  std::unique_ptr<observe::Registry> metrics_;  // outlives the I/O threads (declared before)
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> thread_ids_;
};

}  // namespace plexus
