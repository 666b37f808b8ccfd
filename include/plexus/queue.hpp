/// \file
/// Durable queues through a plexus server that keeps them (ServerOptions::durable, `plexus serve
/// --data-dir`): QueueClient sends messages that are on disk before send() returns and manages
/// dead letters; Consumer receives them and acknowledges each after its handler returns. The
/// server redelivers what is not acknowledged, retries failures and dead-letters what runs out
/// of retries (docs/PROTOCOL.md §22).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/caller.hpp"
#include "plexus/durable.hpp"
#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

class Client;

/// How QueueClient::send waits for the server and resends.
struct PLEXUS_EXPORT QueueSendOptions {
  /// How long one attempt waits for the server to say the message is stored (the ACK timeout).
  Millis timeout{30000};
  /// Resends after a failed attempt (no answer in time, the server unreachable), each with the
  /// message's id so that the server stores it once. Errors the server answered (queue full,
  /// bad name, too large) are not retried.
  std::uint32_t retries = 3;
  Millis retry_delay{5000};  ///< wait before each resend
};

/// Sends to durable queues and manages their dead letters, through any Caller (a Client, or a
/// Peer). Ownership: borrows the Caller, which must outlive it. Threading: every method is
/// thread-safe; the blocking ones must not run on an I/O thread (failed_precondition).
class PLEXUS_EXPORT QueueClient {
 public:
  /// Sends through `caller` with `options`.
  explicit QueueClient(Caller& caller, QueueSendOptions options = {});

  /// Appends `message` to its queue on the server and returns once the server has stored it as
  /// its Durability promises (ServerOptions::durable). A message without an id gets a random one
  /// here, so a resend is stored once; Appended::duplicate says the server had it already.
  /// Errors: the server's (invalid_argument for names, message_too_large, resource_exhausted for
  /// a full queue or disk, failed_precondition for a server without a data directory), or
  /// unavailable / deadline_exceeded after the last resend.
  Result<Appended> send(NewMessage message);
  /// One attempt of send(), answered through `done` on an I/O thread: for senders that keep many
  /// messages in flight. The message gets an id here when it has none; resend with the same id
  /// after an error that is not the server's answer.
  void send_async(NewMessage message, std::function<void(Result<Appended>)> done);

  /// The server's queues and counters (stats of the store: depth, in flight, ages).
  Result<DurableStats> stats();
  /// Dead letters of `queue` (of every queue when empty), oldest first, at most `limit`.
  Result<std::vector<DeadLetter>> dead_letters(std::string_view queue = {},
                                               std::size_t limit = 100);
  /// One dead letter; not_found when there is none with that id.
  Result<DeadLetter> dead_letter(std::string_view id);
  /// Puts a dead letter back on its queue (history kept, attempts reset); resource_exhausted
  /// when the queue is full, not_found for an unknown id.
  Result<void> replay(std::string_view id);
  /// Deletes one dead letter; not_found for an unknown id.
  Result<void> purge(std::string_view id);
  /// Deletes every dead letter of `queue` (of every queue when empty); returns how many.
  Result<std::size_t> purge_queue(std::string_view queue);

 private:
  Result<std::string> admin(std::string_view method, std::string payload);
  Caller& caller_;
  QueueSendOptions options_;
};

/// One message as a Consumer's handler receives it. Valid during the handler call.
struct PLEXUS_EXPORT Delivery {
  std::string id;             ///< unique; the consumer drops repeats of an id it handled
  std::string queue;          ///< the queue it came from
  std::string type;           ///< task, command, response, error, heartbeat or the app's name
  std::string group;          ///< the application's grouping (may be empty)
  std::int32_t priority = 0;  ///< higher was delivered first
  std::uint32_t attempt = 1;  ///< 1 for the first delivery, 2 for the first retry, …
  std::string payload;        ///< the bytes
};

/// Handles one delivery. Returning ok acknowledges it; an error (or an exception, reported as
/// internal) makes the server retry it after the queue's retry delay, and dead-letter it with
/// that status and message once its retries are used up.
using DeliveryHandler = std::function<Result<void>(const Delivery&)>;

/// Options of Consumer::create.
struct PLEXUS_EXPORT ConsumerOptions {
  std::string queue;  ///< the queue to consume (required)
  /// Messages the server hands this consumer before it acknowledges any: more keeps the
  /// consumer busy across the round trips, fewer spreads a queue over competing consumers.
  std::uint32_t prefetch = 16;
  /// Directory of the consumer's memory of handled ids (a SQLite database, consumer.db): a
  /// message redelivered after its acknowledgement was lost, also across restarts of this
  /// process, is dropped instead of handled again. Consumers of one queue that share the
  /// directory share that memory. Empty: kept in memory, for this Consumer's life.
  std::string state_dir;
  /// Handled ids remembered (the newest this many).
  std::uint64_t remembered_ids = 1'000'000;
};

/// Counters of one Consumer since it was created.
struct PLEXUS_EXPORT ConsumerStats {
  std::uint64_t handled = 0;             ///< handler returned ok; acknowledged
  std::uint64_t failed = 0;              ///< handler returned an error or threw
  std::uint64_t duplicates_dropped = 0;  ///< redeliveries of handled ids, acknowledged again
  std::uint64_t no_handler = 0;          ///< deliveries of a type without a handler (failed)
};

/// Receives one durable queue through a Client: the server hands it up to `prefetch` messages
/// at a time, each to one consumer of the queue at a time (competing consumers), and redelivers
/// a message whose consumer failed it, did not answer within the queue's ACK timeout, or went
/// away. Handlers run one at a time on a thread of the Consumer's own, in delivery order; a
/// handler may block. After a reconnect the Consumer registers again by itself.
/// Exactly once to the handler: an id that was handled and recorded is not handled again. The
/// one gap is a process that dies after a handler returned and before its id was recorded (a
/// few microseconds): that message is handled again by the next consumer.
/// Ownership: borrows the Client, which must outlive it. Threading: thread-safe.
class PLEXUS_EXPORT Consumer {
 public:
  /// Makes a consumer of options.queue on `client`. invalid_argument for a bad queue name or a
  /// prefetch of 0, failed_precondition when this client consumes that queue already,
  /// unavailable when the state directory cannot be used (the error names it).
  static Result<std::unique_ptr<Consumer>> create(Client& client, ConsumerOptions options);
  ~Consumer();  ///< stop()
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  /// Handles messages of `type` with `handler` (replacing an earlier one). Call before start().
  void on(std::string type, DeliveryHandler handler);
  /// Handles messages of every type without a handler of its own.
  void on_any(DeliveryHandler handler);

  /// Registers with the server and starts receiving. Blocks until the server agrees (up to the
  /// client's connect_timeout); while disconnected the registration waits for the connection.
  /// Errors: the server's (failed_precondition: the server keeps no queues), deadline_exceeded.
  /// Not on an I/O thread (failed_precondition).
  Result<void> start();
  /// Stops receiving: deliveries not yet handled are refused (the server gives them to another
  /// consumer), the handler under way finishes. Idempotent.
  void stop();

  ConsumerStats stats() const;  ///< counters since create()

  struct Impl;  ///< (internal)

 private:
  explicit Consumer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace plexus
