// Competing-consumer delivery: leases, acks, handler errors, expiry, consumers that go away,
// and the retry-or-dead-letter decision they share.
#include <algorithm>

#include "durable/queue_name.hpp"
#include "durable/records.hpp"
#include "durable/store.hpp"

namespace plexus::durable {

struct DurableStore::FailedDelivery {
  std::int64_t seq = 0;
  std::string id;
  std::string queue;
  std::uint32_t attempts = 0;
  std::optional<std::uint32_t> max_retries;
  std::optional<std::int64_t> retry_delay_ms;
  std::uint64_t bytes = 0;
  std::string owner;  // empty when the message is not leased
};

// What a transaction changed in the in-memory figures: applied only once it has committed.
struct DurableStore::Tally {
  std::uint64_t acked = 0;
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
  std::vector<std::pair<std::string, QueueUsage>> removed;
  std::vector<DeadLettered> dead;  // for StoreOptions::on_dead_letter
};

void DurableStore::apply(const Tally& tally) {
  counters_.retried += tally.retried;
  counters_.dead_lettered += tally.dead_lettered;
  for (const auto& [queue, gone] : tally.removed) {
    auto it = usage_.find(queue);
    if (it == usage_.end()) continue;
    it->second.messages -= std::min(it->second.messages, gone.messages);
    it->second.bytes -= std::min(it->second.bytes, gone.bytes);
    if (it->second.messages == 0) usage_.erase(it);
  }
  if (options_.on_dead_letter) {
    for (const auto& d : tally.dead) options_.on_dead_letter(d);
  }
}

// `sql` selects "seq, id, queue, attempts, max_retries, retry_delay_ms, length(payload),
// coalesce(lease_owner, '')" with ?1 a number and ?2 a text (either may go unused).
Result<std::vector<DurableStore::FailedDelivery>> DurableStore::leased_rows(
    const char* sql, std::string_view key, std::int64_t key_number) {
  auto q = db_->use(sql);
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, key_number);
  q->bind(2, key);
  std::vector<FailedDelivery> rows;
  for (;;) {
    auto row = q->step("reading leases");
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return rows;
    FailedDelivery f;
    f.seq = q->int64(0);
    f.id = q->text(1);
    f.queue = q->text(2);
    f.attempts = static_cast<std::uint32_t>(q->int64(3));
    if (!q->is_null(4)) f.max_retries = static_cast<std::uint32_t>(q->int64(4));
    if (!q->is_null(5)) f.retry_delay_ms = q->int64(5);
    f.bytes = static_cast<std::uint64_t>(q->int64(6));
    f.owner = q->text(7);
    rows.push_back(std::move(f));
  }
}

Result<void> DurableStore::fail_delivery(const FailedDelivery& row, DeadLetterReason reason,
                                         StatusCode status, std::string_view message,
                                         std::optional<std::int64_t> delay_ms, std::int64_t now,
                                         Tally& tally) {
  const QueueOptions& limits = queue_options(row.queue);
  const std::uint32_t max_retries = row.max_retries.value_or(limits.max_retries);
  const std::string event = history_event(now, to_string(reason), status, message);
  // attempts counts deliveries: the first plus the retries so far.
  if (row.attempts > max_retries) {
    auto move = db_->use(
        "INSERT INTO dead_letters (id, queue, type, grp, priority, enqueued_at, attempts,"
        " max_retries, retry_delay_ms, history, payload, reason, status, error, dead_at)"
        " SELECT id, queue, type, grp, priority, enqueued_at, attempts, max_retries,"
        " retry_delay_ms, json_insert(history, '$[#]', json(?2)), payload, ?3, ?4, ?5, ?6"
        " FROM messages WHERE seq = ?1");
    if (!move) return tl::unexpected(std::move(move.error()));
    move->bind(1, row.seq).bind(2, event).bind(3, to_string(reason));
    move->bind(4, static_cast<std::int64_t>(status)).bind(5, message).bind(6, now);
    if (auto done = move->run("dead-lettering a message"); !done) return done;
    auto erase = db_->use("DELETE FROM messages WHERE seq = ?1");
    if (!erase) return tl::unexpected(std::move(erase.error()));
    erase->bind(1, row.seq);
    if (auto done = erase->run("dead-lettering a message"); !done) return done;
    tally.dead_lettered += 1;
    if (options_.on_dead_letter) {
      tally.dead.push_back({row.id, row.queue, reason, status, std::string(message), row.attempts});
    }
    tally.removed.emplace_back(row.queue, QueueUsage{1, row.bytes});
    return {};
  }
  const std::int64_t delay = delay_ms.value_or(row.retry_delay_ms.value_or(
      std::chrono::duration_cast<std::chrono::milliseconds>(limits.retry_delay).count()));
  auto requeue = db_->use(
      "UPDATE messages SET lease_owner = NULL, lease_deadline = NULL, not_before = ?2,"
      " history = json_insert(history, '$[#]', json(?3)) WHERE seq = ?1");
  if (!requeue) return tl::unexpected(std::move(requeue.error()));
  requeue->bind(1, row.seq).bind(2, now + delay).bind(3, event);
  if (auto done = requeue->run("re-queueing a message"); !done) return done;
  tally.retried += 1;
  return {};
}

Result<std::optional<Lease>> DurableStore::lease(std::string_view queue,
                                                 std::string_view consumer) {
  if (auto ok = validate_name(queue, "queue name"); !ok) return tl::unexpected(ok.error());
  if (consumer.empty())
    return make_error(StatusCode::invalid_argument, "a lease needs a consumer id");
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  // A lease need not reach the disk: every lease is released when the store is opened again,
  // so a lease lost with the machine changes nothing. Its commit skips the fsync.
  const RelaxedSync relaxed(*db_, options_.durability != Durability::none);
  auto tx = Transaction::begin(*db_, "leasing");
  if (!tx) return tl::unexpected(std::move(tx.error()));
  Lease lease;
  std::int64_t seq = 0;
  {
    auto q = db_->use(
        "SELECT id, queue, type, grp, priority, not_before, enqueued_at, attempts, max_retries,"
        " retry_delay_ms, history, payload, seq FROM messages INDEXED BY messages_waiting"
        " WHERE queue = ?1 AND lease_owner IS NULL AND not_before <= ?2"
        " ORDER BY priority DESC, seq LIMIT 1");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, queue).bind(2, now);
    auto row = q->step("leasing from queue " + std::string(queue));
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return std::optional<Lease>();
    lease.message = read_message(*q);
    seq = q->int64(kMessageColumns);
  }
  const auto timeout = queue_options(queue).ack_timeout;
  lease.consumer = std::string(consumer);
  lease.deadline = from_ms(now) + timeout;
  const bool redelivery = lease.message.attempts > 0;
  lease.message.attempts += 1;
  auto q = db_->use(
      "UPDATE messages SET attempts = attempts + 1, lease_owner = ?2, lease_deadline = ?3"
      " WHERE seq = ?1");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, seq).bind(2, consumer).bind(3, lease.deadline.time_since_epoch().count());
  if (auto done = q->run("leasing from queue " + std::string(queue)); !done)
    return tl::unexpected(std::move(done.error()));
  if (auto committed = tx->commit("leasing"); !committed)
    return tl::unexpected(std::move(committed.error()));
  if (redelivery) counters_.redelivered += 1;
  return std::optional<Lease>(std::move(lease));
}

// Why `id` is not among the messages: acked before (ok), dead-lettered, or unknown.
Result<void> DurableStore::explain_missing(std::string_view id, std::string_view doing) {
  auto q = db_->use(
      "SELECT 1, '' FROM acked WHERE id = ?1"
      " UNION ALL SELECT 2, reason FROM dead_letters WHERE id = ?1");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, id);
  auto row = q->step(doing);
  if (!row) return tl::unexpected(std::move(row.error()));
  if (!*row)
    return make_error(StatusCode::not_found,
                      "no message with id " + std::string(id) + " (" + std::string(doing) + ")");
  if (q->int64(0) == 1)
    return make_error(StatusCode::already_exists,
                      "message " + std::string(id) + " was acknowledged before");
  return make_error(
      StatusCode::failed_precondition,
      "message " + std::string(id) + " was dead-lettered (" + q->text(1) + "); replay or purge it");
}

Result<void> DurableStore::ack(std::string_view id) {
  const std::string one(id);
  auto results = ack_many(std::span<const std::string>(&one, 1));
  return std::move(results.front());
}

// One acknowledgement inside the caller's transaction. Outer error: the database failed.
// Inner error: this id is refused (unknown, dead-lettered); nothing written for it.
Result<Result<void>> DurableStore::ack_one(std::string_view id, std::int64_t now, Tally& tally) {
  if (auto ok = validate_name(id, "message id"); !ok) return Result<void>(ok);
  std::string queue;
  std::uint64_t bytes = 0;
  {
    auto q = db_->use("DELETE FROM messages WHERE id = ?1 RETURNING queue, length(payload)");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, id);
    auto row = q->step("acknowledging");
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) {
      auto why = explain_missing(id, "acknowledging");
      // A repeated ack is what an at-least-once consumer sends: it succeeds.
      if (!why && why.error().code == StatusCode::already_exists) return Result<void>();
      return Result<void>(why);
    }
    queue = q->text(0);
    bytes = static_cast<std::uint64_t>(q->int64(1));
    if (auto rest = q->run("acknowledging"); !rest) return tl::unexpected(rest.error());
  }
  {
    auto q = db_->use("INSERT INTO acked (id, at) VALUES (?1, ?2)");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, id).bind(2, now);
    if (auto done = q->run("recording an acknowledged id"); !done)
      return tl::unexpected(done.error());
  }
  {
    // Retention by count: the ids are rows in insertion order, so the oldest go in one range
    // delete, usually of a single row.
    const auto kept = static_cast<std::int64_t>(options_.acked_ids_kept);
    auto q = db_->use("DELETE FROM acked WHERE seq <= ?1");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, db_->last_rowid() - kept);
    if (auto done = q->run("forgetting old acknowledged ids"); !done)
      return tl::unexpected(done.error());
  }
  tally.removed.emplace_back(std::move(queue), QueueUsage{1, bytes});
  tally.acked += 1;
  return Result<void>();
}

std::vector<Result<void>> DurableStore::ack_many(std::span<const std::string> ids) {
  std::vector<Result<void>> out;
  out.reserve(ids.size());
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  auto fail_all = [&](const Error& e) {
    out.assign(ids.size(), Result<void>(tl::unexpected(e)));
    return out;
  };
  auto tx = Transaction::begin(*db_, "acknowledging");
  if (!tx) return fail_all(tx.error());
  Tally tally;
  for (const auto& id : ids) {
    auto one = ack_one(id, now, tally);
    if (!one) return fail_all(one.error());
    out.push_back(std::move(*one));
  }
  if (auto committed = tx->commit("acknowledging"); !committed) return fail_all(committed.error());
  apply(tally);
  counters_.acked += tally.acked;
  return out;
}

Result<void> DurableStore::nack(std::string_view id, StatusCode status, std::string_view message) {
  if (auto ok = validate_name(id, "message id"); !ok) return ok;
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  auto tx = Transaction::begin(*db_, "recording a handler error");
  if (!tx) return tl::unexpected(std::move(tx.error()));
  auto rows = leased_rows(
      "SELECT seq, id, queue, attempts, max_retries, retry_delay_ms, length(payload),"
      " coalesce(lease_owner, '') FROM messages WHERE id = ?2",
      id, 0);
  if (!rows) return tl::unexpected(std::move(rows.error()));
  if (rows->empty()) return explain_missing(id, "recording a handler error");
  const FailedDelivery& row = rows->front();
  if (row.owner.empty())
    return make_error(StatusCode::failed_precondition,
                      "message " + std::string(id) +
                          " is not leased (its lease expired or was "
                          "released); nothing to fail");
  Tally tally;
  if (auto done = fail_delivery(row, DeadLetterReason::handler_error, status, message, std::nullopt,
                                now, tally);
      !done)
    return done;
  if (auto committed = tx->commit("recording a handler error"); !committed) return committed;
  apply(tally);
  return {};
}

Result<std::size_t> DurableStore::fail_leases(const char* sql, std::string_view key,
                                              std::int64_t key_number, DeadLetterReason reason,
                                              std::string_view doing) {
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  auto tx = Transaction::begin(*db_, doing);
  if (!tx) return tl::unexpected(std::move(tx.error()));
  auto rows = leased_rows(sql, key, key_number);
  if (!rows) return tl::unexpected(std::move(rows.error()));
  Tally tally;
  for (const auto& row : *rows) {
    Result<void> done;
    if (reason == DeadLetterReason::timeout) {
      const auto timeout = queue_options(row.queue).ack_timeout;
      done = fail_delivery(row, reason, StatusCode::deadline_exceeded,
                           "consumer " + row.owner + " did not acknowledge within " +
                               std::to_string(timeout.count()) + " ms",
                           std::nullopt, now, tally);
    } else {
      // The consumer is gone, not the message's fault: no backoff.
      done = fail_delivery(row, reason, StatusCode::unavailable,
                           "consumer " + row.owner + " went away holding it", 0, now, tally);
    }
    if (!done) return tl::unexpected(std::move(done.error()));
  }
  if (auto committed = tx->commit(doing); !committed)
    return tl::unexpected(std::move(committed.error()));
  apply(tally);
  return rows->size();
}

Result<std::size_t> DurableStore::expire() {
  return fail_leases(
      "SELECT seq, id, queue, attempts, max_retries, retry_delay_ms,"
      " length(payload), coalesce(lease_owner, '')"
      " FROM messages INDEXED BY messages_leased"
      " WHERE lease_owner IS NOT NULL AND lease_deadline <= ?1 ORDER BY seq",
      {}, now_ms(), DeadLetterReason::timeout, "expiring leases");
}

Result<std::size_t> DurableStore::release_consumer(std::string_view consumer) {
  if (consumer.empty()) return std::size_t{0};
  return fail_leases(
      "SELECT seq, id, queue, attempts, max_retries, retry_delay_ms,"
      " length(payload), coalesce(lease_owner, '')"
      " FROM messages INDEXED BY messages_owner"
      " WHERE lease_owner = ?2 ORDER BY seq",
      consumer, 0, DeadLetterReason::consumer_gone, "releasing a consumer");
}

Result<bool> DurableStore::seen(std::string_view id) {
  std::lock_guard lock(db_mu_);
  auto q = db_->use("SELECT EXISTS (SELECT 1 FROM acked WHERE id = ?1)");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, id);
  auto row = q->step("looking up an acknowledged id");
  if (!row) return tl::unexpected(std::move(row.error()));
  return *row && q->int64(0) != 0;
}

Result<std::optional<DurableTime>> DurableStore::next_deadline() {
  std::lock_guard lock(db_mu_);
  auto q = db_->use("SELECT min(lease_deadline) FROM messages WHERE lease_owner IS NOT NULL");
  if (!q) return tl::unexpected(std::move(q.error()));
  auto row = q->step("reading the next lease deadline");
  if (!row) return tl::unexpected(std::move(row.error()));
  if (!*row || q->is_null(0)) return std::optional<DurableTime>();
  return std::optional<DurableTime>(from_ms(q->int64(0)));
}

Result<std::optional<DurableTime>> DurableStore::next_ready(std::string_view queue) {
  std::lock_guard lock(db_mu_);
  auto q =
      db_->use("SELECT min(not_before) FROM messages WHERE queue = ?1 AND lease_owner IS NULL");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, queue);
  auto row = q->step("reading when the next message is ready");
  if (!row) return tl::unexpected(std::move(row.error()));
  if (!*row || q->is_null(0)) return std::optional<DurableTime>();
  return std::optional<DurableTime>(from_ms(q->int64(0)));
}

DurableTime DurableStore::now() const {
  return from_ms(now_ms());
}

}  // namespace plexus::durable
