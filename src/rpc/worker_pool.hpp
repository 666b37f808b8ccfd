// The threads offloaded handlers run on (HandlerOptions::offload): a handler that blocks on a
// disk, a database or a lock stalls one of these, not the I/O thread every connection of the
// runtime shares. One pool per Runtime, its threads started on first use, so a process that
// offloads nothing starts none.
//
// Threading: executor() from any thread; stop() once, from the runtime's destructor.
#pragma once

#include <memory>
#include <mutex>

#include <asio/any_io_executor.hpp>
#include <asio/thread_pool.hpp>

namespace plexus::rpc {

class WorkerPool {
 public:
  explicit WorkerPool(int threads) : threads_(threads < 1 ? 1 : threads) {}
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() { stop(); }

  // The pool's executor (work on it may run on any of its threads at once); starts the threads
  // the first time.
  asio::any_io_executor executor();
  // Waits for the handlers still running to return; work not yet started never runs (it is
  // destroyed with the pool, and an offloaded call's Responder then answers internal). The
  // executor stays valid and runs nothing.
  void stop();
  int threads() const { return threads_; }

 private:
  const int threads_;
  std::mutex mu_;
  std::unique_ptr<asio::thread_pool> pool_;  // guarded by mu_; null until first use
  bool stopped_ = false;                     // guarded by mu_
};

}  // namespace plexus::rpc
