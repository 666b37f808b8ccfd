/// \file
/// Durable delivery's vocabulary (issue 24): how far a message is on disk when its append
/// returns, a queue's bounds and retry rules, the message record with its delivery history, dead
/// letters and the figures for metrics. Plain value types: no I/O, copy them freely. The store
/// that keeps them (SQLite, one database per server) is internal (src/durable/store.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/policy.hpp"
#include "plexus/status.hpp"

namespace plexus {

/// A point in wall-clock time at millisecond precision: what the store persists, so that a
/// delay or an age still means the same after a restart or a reboot.
using DurableTime = std::chrono::sys_time<std::chrono::milliseconds>;

/// How far an appended message is on disk when append returns. Every level survives `kill -9`
/// of any process (a committed transaction is in the operating system's hands); they differ in
/// what survives an operating-system crash or a power cut.
enum class Durability {
  /// No fsync per commit (SQLite WAL with synchronous=NORMAL): an OS crash or power cut may
  /// roll back the last commits (the database stays consistent); survives kill -9.
  none,
  /// fsync'd before append returns, as every_message, but appends waiting at the same time
  /// share one transaction and one fsync: append() calls from several threads join the commit
  /// under way (no timer: a lone append is not delayed), append_batch() commits its whole
  /// batch at once. Each caller returns only after the commit holding its message is synced.
  group_commit,
  /// Each message its own transaction, fsync'd (synchronous=FULL) before append returns, also
  /// within append_batch().
  every_message,
};

/// "none", "group_commit" or "every_message".
constexpr std::string_view to_string(Durability d) {
  switch (d) {
    case Durability::none:
      return "none";
    case Durability::group_commit:
      return "group_commit";
    case Durability::every_message:
      return "every_message";
  }
  return "none";
}

/// The bounds and retry rules of one named queue. A message counts against the bounds from its
/// append until it is acknowledged or dead-lettered (in flight included).
struct QueueOptions {
  std::uint64_t max_messages = 100000;           ///< past it, append fails with resource_exhausted
  std::uint64_t max_bytes = 256ull << 20;        ///< payload bytes; likewise
  std::chrono::milliseconds ack_timeout{30000};  ///< a lease not acknowledged by then expires
  /// Deliveries after the first before a failing message is dead-lettered (a message is
  /// delivered at most 1 + max_retries times); a message may carry its own.
  std::uint32_t max_retries = 3;
  /// Wait before a message that failed (timeout, handler error) is ready again; a message may
  /// carry its own. A message whose consumer went away is ready again at once.
  std::chrono::milliseconds retry_delay{5000};
};

/// A message to append. Names are 1..128 characters of [A-Za-z0-9._-] (the group may be empty).
struct NewMessage {
  std::string queue;                   ///< the queue's name
  std::string type = "task";           ///< task, command, response, error, heartbeat or any name
  std::string group;                   ///< an application's grouping; may be empty
  std::int32_t priority = 0;           ///< higher first; equal priorities in append order
  std::chrono::milliseconds delay{0};  ///< delayed delivery: not ready before now + delay
  std::string payload;                 ///< the bytes; at most the store's max_message_size
  /// The sender's id, for a sender that retries an append: an id the store has seen (queued,
  /// acknowledged within the retention, or dead-lettered) is dropped as a duplicate. Empty:
  /// the store makes one.
  std::string id;
  std::optional<std::uint32_t> max_retries;              ///< overrides the queue's
  std::optional<std::chrono::milliseconds> retry_delay;  ///< overrides the queue's
};

/// What append returns for one message.
struct Appended {
  std::string id;          ///< the message's id (the sender's or the store's)
  bool duplicate = false;  ///< the id was known: nothing was stored again
};

/// One event in a message's life, oldest first in DurableMessage::history (a JSON array of
/// {"at": ms since the epoch, "reason", "status": number, "message"} in the database).
struct DeliveryEvent {
  DurableTime at{};  ///< when it happened
  /// "timeout", "handler_error", "consumer_gone", "released_on_open" or "replayed".
  std::string reason;
  StatusCode status = StatusCode::ok;  ///< the failure's code (handler errors: the handler's)
  std::string message;                 ///< for people
};

/// A stored message: what a consumer receives and what a dead letter keeps.
struct DurableMessage {
  std::string id;                            ///< unique; receivers dedup on it
  std::string queue;                         ///< the queue it is on (or came from)
  std::string type;                          ///< as appended
  std::string group;                         ///< as appended
  std::int32_t priority = 0;                 ///< higher first
  DurableTime not_before{};                  ///< ready from then on (delay, retry backoff)
  DurableTime enqueued_at{};                 ///< when it was first appended
  std::string payload;                       ///< the bytes
  std::uint32_t attempts = 0;                ///< deliveries so far (this one included, in a lease)
  std::optional<std::uint32_t> max_retries;  ///< the message's own, if any
  std::optional<std::chrono::milliseconds> retry_delay;  ///< the message's own, if any
  std::vector<DeliveryEvent> history;                    ///< failures, releases, replays
};

/// A message handed to one consumer until it acknowledges it or the deadline passes.
struct Lease {
  DurableMessage message;  ///< the message (attempts counts this delivery)
  std::string consumer;    ///< who holds it
  DurableTime deadline{};  ///< no ack by then: expire() re-queues or dead-letters it
};

/// Why a message was dead-lettered.
enum class DeadLetterReason {
  timeout,        ///< its last delivery was not acknowledged in time
  handler_error,  ///< its last delivery failed in the handler (nack)
  consumer_gone,  ///< its last consumer went away holding it (release_consumer)
};

/// "timeout", "handler_error" or "consumer_gone" (also the reasons in DeliveryEvent).
constexpr std::string_view to_string(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::timeout:
      return "timeout";
    case DeadLetterReason::handler_error:
      return "handler_error";
    case DeadLetterReason::consumer_gone:
      return "consumer_gone";
  }
  return "timeout";
}

/// A message that ran out of retries, with the last failure.
struct DeadLetter {
  DurableMessage message;                               ///< as it was, history included
  DeadLetterReason reason = DeadLetterReason::timeout;  ///< the last failure's kind
  StatusCode status = StatusCode::unknown;              ///< the last failure's code
  std::string error;                                    ///< the last failure's message
  DurableTime dead_at{};                                ///< when it was dead-lettered
  std::chrono::milliseconds age{0};                     ///< how long ago (at the time it was read)
};

/// One queue's figures, for metrics and `plexus stats`.
struct QueueStats {
  std::string queue;            ///< its name
  std::uint64_t ready = 0;      ///< waiting and deliverable now
  std::uint64_t delayed = 0;    ///< waiting for not_before (delay or retry backoff)
  std::uint64_t in_flight = 0;  ///< leased, not yet acknowledged
  std::uint64_t bytes = 0;      ///< payload bytes of all three
  /// How long the ready message that became ready first has waited since (0 when none).
  std::chrono::milliseconds oldest_ready_age{0};
  std::uint64_t dead_letters = 0;                       ///< dead letters that came from this queue
  std::chrono::milliseconds oldest_dead_letter_age{0};  ///< the oldest one's age (0: none)
};

/// Counters since the store was opened (monotonic; Prometheus counters).
struct DurableCounters {
  std::uint64_t sent = 0;                ///< messages appended (duplicates not counted)
  std::uint64_t acked = 0;               ///< acknowledged
  std::uint64_t retried = 0;             ///< failed deliveries put back on their queue
  std::uint64_t dead_lettered = 0;       ///< moved to the dead letters
  std::uint64_t redelivered = 0;         ///< leases of a message delivered before
  std::uint64_t duplicates_dropped = 0;  ///< appends of an id the store had seen
  std::uint64_t commits = 0;             ///< append transactions committed (group commit: < sent)
};

/// Everything stats() reports.
struct DurableStats {
  std::vector<QueueStats> queues;  ///< one per queue holding messages or dead letters, by name
  DurableCounters counters;        ///< since the store was opened
};

/// The durable queues a server keeps (ServerOptions::durable; `plexus serve --data-dir`).
struct DurableOptions {
  /// The data directory (created when missing; the database is DIR/plexus.db, opened by one
  /// server at a time). Empty (the default): the server keeps no queues, and sends to one fail
  /// with failed_precondition.
  std::string data_dir;
  Durability durability = Durability::group_commit;  ///< what a stored message survives
  QueueOptions queue_defaults;                       ///< bounds and retry rules of every queue
  std::map<std::string, QueueOptions> queues;        ///< those of named queues
  /// Time of leases, retries and ages. Null: Clock::steady(). Tests pass a ManualClock.
  std::shared_ptr<const Clock> clock;
};

}  // namespace plexus
