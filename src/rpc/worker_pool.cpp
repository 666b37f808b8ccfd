#include "rpc/worker_pool.hpp"

namespace plexus::rpc {

asio::any_io_executor WorkerPool::executor() {
  std::lock_guard lock(mu_);
  if (!pool_) {
    pool_ = std::make_unique<asio::thread_pool>(static_cast<std::size_t>(threads_));
    // A stopped runtime's pool runs nothing: what is posted to it is destroyed with it.
    if (stopped_) pool_->stop();
  }
  return pool_->get_executor();
}

void WorkerPool::stop() {
  asio::thread_pool* pool = nullptr;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    pool = pool_.get();
  }
  if (!pool) return;
  pool->stop();
  // Outside the lock: a handler still running may ask for the executor. The pool itself stays
  // until the destructor, since strands and executors made on it may still be held.
  pool->join();
}

}  // namespace plexus::rpc
