// DurableStore: named queues, competing-consumer leases, acknowledged ids and dead letters in one
// SQLite database per server (DIR/plexus.db). A pure store and delivery-state machine: no
// sockets, no threads of its own. The rules (bounds, retries, what survives what) are on each
// function below and on the types in plexus/durable.hpp.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "durable/sqlite.hpp"
#include "plexus/durable.hpp"
#include "plexus/policy.hpp"
#include "wire/frame.hpp"

namespace plexus::durable {

// A message the store has just dead-lettered (StoreOptions::on_dead_letter).
struct DeadLettered {
  std::string id;
  std::string queue;
  DeadLetterReason reason = DeadLetterReason::timeout;
  StatusCode status = StatusCode::unknown;
  std::string error;
  std::uint32_t attempts = 0;  // deliveries it had
};

struct StoreOptions {
  // The server's data directory, created when missing; the database is DIR/plexus.db.
  std::string dir;
  Durability durability = Durability::group_commit;
  // Largest payload accepted (message_too_large past it, the limit in the message).
  std::uint32_t max_message_size = wire::kDefaultMaxMessageSize;
  // Bounds and retry rules of a queue configure_queue() has not named.
  QueueOptions queue_defaults;
  // Acknowledged ids kept for seen() and duplicate appends: the newest this many. An id
  // acknowledged longer ago than that is forgotten, and a repeat of it counts as new.
  std::uint64_t acked_ids_kept = 1'000'000;
  // Group commit: appends per transaction at most (the rest join the next one).
  std::size_t max_group = 4096;
  // Called on the committing thread before each group commit with the number of appends it
  // carries (group_commit and none only). For tests, which hold it to line a group up.
  std::function<void(std::size_t)> on_group_commit;
  // Called once per message dead-lettered, after the transaction that moved it committed, on
  // the thread that made the store do it, with the store's lock held: it must not call the
  // store. For the owner's log (the store itself logs nothing).
  std::function<void(const DeadLettered&)> on_dead_letter;
  // Time (lease deadlines, backoff, ages). Null: Clock::steady(). The store reads the wall
  // clock once at open and advances it by this clock, so a ManualClock makes tests exact.
  std::shared_ptr<const Clock> clock;
};

// Thread-safe: every function may be called from any thread; one mutex serialises the
// database, and group-commit appends wait for the commit holding theirs. Never throws; every
// failure is a Result with a code and a message naming the database file where it concerns it.
// Callbacks: on_group_commit and on_dead_letter only. Not fork-safe: a child process must open its
// own.
class DurableStore {
 public:
  // Opens DIR/plexus.db, creating directory and database when missing, and releases every
  // lease found in it: leases belong to the consumers of the process that last had the store
  // open, whose connections ended with that process. Those messages are ready again at once,
  // their attempts unchanged, with a "released_on_open" event in their history.
  // Errors: permission_denied (read-only file or directory), failed_precondition (not a SQLite
  // database, a newer schema), unavailable (another process has it open, I/O error).
  static Result<std::unique_ptr<DurableStore>> open(StoreOptions options);
  ~DurableStore();
  DurableStore(const DurableStore&) = delete;
  DurableStore& operator=(const DurableStore&) = delete;

  // Sets the bounds and retry rules of `queue` for this process's life (they are not stored:
  // the server's configuration names them at each start). invalid_argument for a bad name.
  Result<void> configure_queue(std::string_view queue, const QueueOptions& options);

  // Appends one message. Returns once it is on disk as the Durability promises. Errors:
  // invalid_argument (names), message_too_large (payload over max_message_size, the limit in
  // the message), resource_exhausted (queue over its bounds, disk full), unavailable (I/O). A
  // failed append stored nothing. An id the store knows is not stored again: duplicate=true.
  Result<Appended> append(const NewMessage& message);
  // Appends several, each on its own: one result per message, in order. group_commit and none:
  // one transaction and one fsync for all of them (a message refused for its bounds or names
  // fails alone); every_message: one transaction each. For a server that gathers the appends of
  // many senders into one commit. A database failure fails them all.
  std::vector<Result<Appended>> append_each(std::span<const NewMessage> messages);
  // Appends several. group_commit and none: one transaction, all or nothing. every_message:
  // one transaction each, in order; on an error the messages before it are stored, and the
  // error's details say how many ({"index": i, "committed": i}).
  Result<std::vector<Appended>> append_batch(std::span<const NewMessage> messages);

  // Hands the next ready message of `queue` (highest priority first, then append order;
  // not_before passed) to `consumer` until now + the queue's ack_timeout. nullopt when none is
  // ready. Each message is leased to one consumer at a time.
  Result<std::optional<Lease>> lease(std::string_view queue, std::string_view consumer);
  // The message was handled: deletes it and remembers its id (seen()). Also accepted from a
  // consumer whose lease expired meanwhile (its handler did finish). Acking an id acked before
  // is ok (a repeat); not_found for an id the store does not know, failed_precondition for a
  // dead-lettered one (replay or purge it).
  Result<void> ack(std::string_view id);
  // Acknowledges several in one transaction (one fsync): one result per id, in order, each as
  // ack() would give it. A database failure fails them all (none is acknowledged).
  std::vector<Result<void>> ack_many(std::span<const std::string> ids);
  // The handler failed with `status` and `message`: the message is ready again after its
  // retry_delay, or dead-lettered (handler_error) when it has had its retries.
  // failed_precondition when the message is not leased.
  Result<void> nack(std::string_view id, StatusCode status, std::string_view message);
  // Leases whose deadline has passed: re-queued after their retry_delay, or dead-lettered
  // (timeout). Returns how many expired.
  Result<std::size_t> expire();
  // `consumer` went away: its leases are ready again at once (or dead-lettered, consumer_gone,
  // when they have had their retries). Returns how many it held.
  Result<std::size_t> release_consumer(std::string_view consumer);
  // Whether `id` was acknowledged (within the retention of acked_ids_kept).
  Result<bool> seen(std::string_view id);
  // The earliest lease deadline, for a caller that schedules expire(); nullopt without leases.
  Result<std::optional<DurableTime>> next_deadline();
  // When the next waiting message of `queue` becomes ready (now or earlier: ready already);
  // nullopt when none waits. For a caller that schedules deliveries of delayed messages.
  Result<std::optional<DurableTime>> next_ready(std::string_view queue);
  // The store's clock now (the wall clock read at open, advanced by StoreOptions::clock).
  DurableTime now() const;

  // Dead letters of `queue` (all queues when empty), oldest first, at most `limit`.
  Result<std::vector<DeadLetter>> dead_letters(std::string_view queue, std::size_t limit = 100);
  // One dead letter; not_found when there is none with that id.
  Result<DeadLetter> dead_letter(std::string_view id);
  // Puts a dead letter back on its queue, ready at once, attempts reset, its history kept with
  // a "replayed" event. resource_exhausted when the queue is at its bounds (it stays a dead
  // letter), not_found when there is none with that id.
  Result<void> replay(std::string_view id);
  // Deletes one dead letter; not_found when there is none with that id.
  Result<void> purge(std::string_view id);
  // Deletes all dead letters of `queue` (of every queue when empty); returns how many.
  Result<std::size_t> purge_queue(std::string_view queue);

  // Per-queue figures and the counters since open.
  Result<DurableStats> stats();

  const std::string& path() const { return db_->path(); }
  Durability durability() const { return options_.durability; }
  // Appends waiting for a group commit (tests use it to line up a group).
  std::size_t waiting_appends() const;

 private:
  struct QueueUsage {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
  };
  struct PendingAppend;
  // The row of a message being moved on after a failed delivery.
  struct FailedDelivery;

  DurableStore(StoreOptions options, std::unique_ptr<Connection> db);

  std::int64_t now_ms() const;
  const QueueOptions& queue_options(std::string_view queue) const;  // caller holds db_mu_
  Result<void> check_message(const NewMessage& message) const;
  Result<void> load_usage();
  Result<std::size_t> release_all_leases();
  // Writes `group` in one transaction, setting each entry's result. A message refused (queue
  // full) fails alone, or, with `all_or_nothing`, fails the group. Caller holds db_mu_.
  Result<void> commit_group(std::span<PendingAppend*> group, bool all_or_nothing);
  Result<Result<Appended>> insert_one(const NewMessage& message, std::int64_t now,
                                      std::map<std::string, QueueUsage, std::less<>>& usage);
  Result<bool> known_id(std::string_view id);
  std::string next_id();
  Result<Appended> append_group_commit(const NewMessage& message);
  struct Tally;
  // After a failed delivery: re-queue after `delay_ms` (nullopt: the message's or queue's
  // retry_delay) or dead-letter when its retries are used up. Caller holds db_mu_ and an open
  // transaction; `tally` collects what to apply() once it commits.
  Result<void> fail_delivery(const FailedDelivery& row, DeadLetterReason reason, StatusCode status,
                             std::string_view message, std::optional<std::int64_t> delay_ms,
                             std::int64_t now, Tally& tally);
  void apply(const Tally& tally);
  Result<Result<void>> ack_one(std::string_view id, std::int64_t now, Tally& tally);
  Result<std::vector<FailedDelivery>> leased_rows(const char* sql, std::string_view key,
                                                  std::int64_t key_number);
  // expire() and release_consumer(): fails every lease `sql` selects, in one transaction.
  Result<std::size_t> fail_leases(const char* sql, std::string_view key, std::int64_t key_number,
                                  DeadLetterReason reason, std::string_view doing);
  // Why `id` is not among the messages: already_exists (acknowledged before),
  // failed_precondition (dead-lettered) or not_found.
  Result<void> explain_missing(std::string_view id, std::string_view doing);

  StoreOptions options_;
  std::shared_ptr<const Clock> clock_;
  Clock::time_point steady_anchor_;
  std::int64_t wall_anchor_ms_ = 0;
  std::uint64_t id_prefix_ = 0;  // random per open: ids stay unique across servers and restarts

  mutable std::mutex db_mu_;
  std::unique_ptr<Connection> db_;                                  // guarded by db_mu_
  std::map<std::string, QueueOptions, std::less<>> queue_options_;  // guarded by db_mu_
  std::map<std::string, QueueUsage, std::less<>> usage_;            // guarded by db_mu_
  DurableCounters counters_;                                        // guarded by db_mu_
  std::uint64_t id_counter_ = 0;                                    // guarded by db_mu_

  // Group commit: appends wait here while one of them (the leader) commits for all.
  mutable std::mutex group_mu_;
  std::condition_variable group_cv_;
  std::vector<PendingAppend*> waiting_;  // guarded by group_mu_
  bool committing_ = false;              // guarded by group_mu_
};

}  // namespace plexus::durable
