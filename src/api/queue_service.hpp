// QueueService: a server's durable queues on the wire (docs/PROTOCOL.md §22).
//  - plexus.queue.send appends a message; the sends that arrive while a commit is under way share
//    the next one (one transaction, one fsync), and each is answered once its commit is on disk.
//  - plexus.queue.consume registers the calling session as a consumer of a queue; the service
//    leases it up to `prefetch` messages and delivers each by calling the consumer's deliver
//    method: the RESPONSE acknowledges it, an ERROR fails it (retried, then dead-lettered), no
//    answer within the queue's ack_timeout expires it. A consumer whose session is gone has its
//    leases released at once (ready for the others).
//  - plexus.queue.cancel ends a consumer; plexus.queue.stats and plexus.dlq.* serve QueueClient.
// The store's blocking work (SQLite, fsync) runs on the service's own thread, never on an I/O
// thread; handlers only decode and hand over.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "durable/store.hpp"
#include "plexus/caller.hpp"
#include "plexus/durable.hpp"
#include "plexus/handlers.hpp"

namespace plexus::detail {

class QueueService : public std::enable_shared_from_this<QueueService> {
 public:
  // Opens the store of options.data_dir; its errors are the store's (permission_denied,
  // failed_precondition, unavailable), each naming the file.
  static Result<std::shared_ptr<QueueService>> open(const DurableOptions& options,
                                                    std::uint32_t max_message_size);
  ~QueueService();
  QueueService(const QueueService&) = delete;
  QueueService& operator=(const QueueService&) = delete;

  // The plexus.queue.* and plexus.dlq.* methods on `registry` (the server's handler table).
  void register_methods(HandlerRegistry& registry);
  // For a server without a data directory: the same methods, each failing with
  // failed_precondition and a message that says how to turn queues on.
  static void register_unavailable(HandlerRegistry& registry);

  // Stops the thread (deliveries under way are left to the store: their leases are released
  // at the next open). Idempotent; ~QueueService calls it.
  void stop();

  // The store's figures (thread-safe; for metrics and the status page).
  Result<DurableStats> stats();

 private:
  struct PendingSend;
  struct ConsumerEntry {
    std::string name;  // the lease owner: unique per registration
    std::string queue;
    std::string deliver_method;  // the consumer's method that takes a delivery
    Peer peer;                   // its session
    std::uint32_t prefetch = 16;
    std::uint32_t in_flight = 0;
  };

  QueueService(DurableOptions options, std::unique_ptr<durable::DurableStore> store);

  void start();
  void on_send(std::string_view payload, Responder responder);
  void drain_sends();  // on thread_
  void on_consume(CallContext& ctx, std::string_view payload, Responder responder);
  void pump(const std::string& queue);                 // on thread_
  void deliver(ConsumerEntry& consumer, Lease lease);  // on thread_
  void delivered(const std::string& consumer, const std::string& id,
                 const Result<std::string>& answer);             // on thread_
  void drop_consumer(const std::string& name, const char* why);  // on thread_
  void flush_acks();                                             // on thread_
  void tick();                                                   // on thread_
  void arm_tick();
  const QueueOptions& queue_options(const std::string& queue) const;
  // Runs `work` on thread_ and answers `responder` with what it returns.
  void on_thread(Responder responder, std::function<Result<std::string>()> work);

  DurableOptions options_;
  std::unique_ptr<durable::DurableStore> store_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  asio::steady_timer tick_timer_;
  std::thread thread_;
  std::once_flag stopped_;

  std::mutex send_mu_;
  std::vector<PendingSend> pending_;  // guarded by send_mu_
  bool drain_posted_ = false;         // guarded by send_mu_

  // Touched on thread_ only.
  std::map<std::string, ConsumerEntry> consumers_;  // by name
  std::uint64_t next_consumer_ = 1;
  std::map<std::string, std::size_t> rotation_;  // per queue: where the next pump starts
  std::vector<std::string> acks_;                // answered deliveries not yet acknowledged
  bool acks_posted_ = false;
};

}  // namespace plexus::detail
