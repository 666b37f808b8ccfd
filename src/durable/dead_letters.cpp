// Dead letters: list, show, replay onto their queue, purge.
#include <algorithm>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "durable/queue_name.hpp"
#include "durable/records.hpp"
#include "durable/store.hpp"

namespace plexus::durable {
namespace {

// Reads a dead_letters row selected as the message columns (records.hpp), then "reason,
// status, error, dead_at".
DeadLetter read_dead_letter(const StatementUse& row, std::int64_t now) {
  DeadLetter d;
  d.message = read_message(row);
  const std::string reason = row.text(kMessageColumns);
  d.reason = reason == "handler_error"   ? DeadLetterReason::handler_error
             : reason == "consumer_gone" ? DeadLetterReason::consumer_gone
                                         : DeadLetterReason::timeout;
  d.status = status_code_from_wire(static_cast<std::uint16_t>(row.int64(kMessageColumns + 1)));
  d.error = row.text(kMessageColumns + 2);
  const std::int64_t dead_at = row.int64(kMessageColumns + 3);
  d.dead_at = from_ms(dead_at);
  d.age = std::chrono::milliseconds(now - dead_at);
  return d;
}

}  // namespace

Result<std::vector<DeadLetter>> DurableStore::dead_letters(std::string_view queue,
                                                           std::size_t limit) {
  if (!queue.empty())
    if (auto ok = validate_name(queue, "queue name"); !ok) return tl::unexpected(ok.error());
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  auto q = db_->use(
      "SELECT id, queue, type, grp, priority, dead_at, enqueued_at, attempts, max_retries,"
      " retry_delay_ms, history, payload, reason, status, error, dead_at FROM dead_letters"
      " WHERE ?1 = '' OR queue = ?1 ORDER BY seq LIMIT ?2");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, queue).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<DeadLetter> out;
  for (;;) {
    auto row = q->step("listing dead letters");
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return out;
    out.push_back(read_dead_letter(*q, now));
  }
}

Result<DeadLetter> DurableStore::dead_letter(std::string_view id) {
  if (auto ok = validate_name(id, "message id"); !ok) return tl::unexpected(ok.error());
  std::lock_guard lock(db_mu_);
  auto q = db_->use(
      "SELECT id, queue, type, grp, priority, dead_at, enqueued_at, attempts, max_retries,"
      " retry_delay_ms, history, payload, reason, status, error, dead_at FROM dead_letters"
      " WHERE id = ?1");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, id);
  auto row = q->step("reading a dead letter");
  if (!row) return tl::unexpected(std::move(row.error()));
  if (!*row) return make_error(StatusCode::not_found, "no dead letter with id " + std::string(id));
  return read_dead_letter(*q, now_ms());
}

Result<void> DurableStore::replay(std::string_view id) {
  if (auto ok = validate_name(id, "message id"); !ok) return ok;
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  auto tx = Transaction::begin(*db_, "replaying a dead letter");
  if (!tx) return tl::unexpected(std::move(tx.error()));
  std::string queue;
  std::uint64_t bytes = 0;
  {
    auto q = db_->use("SELECT queue, length(payload) FROM dead_letters WHERE id = ?1");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, id);
    auto row = q->step("replaying a dead letter");
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row)
      return make_error(StatusCode::not_found, "no dead letter with id " + std::string(id));
    queue = q->text(0);
    bytes = static_cast<std::uint64_t>(q->int64(1));
  }
  // A replay is an append: the queue's bounds hold for it too.
  const QueueOptions& limits = queue_options(queue);
  const QueueUsage current = usage_.count(queue) ? usage_.find(queue)->second : QueueUsage{};
  if (current.messages + 1 > limits.max_messages || current.bytes + bytes > limits.max_bytes)
    return make_error(StatusCode::resource_exhausted,
                      "queue " + queue + " is full (" + std::to_string(current.messages) +
                          " messages, " + std::to_string(current.bytes) + " bytes); dead letter " +
                          std::string(id) + " stays where it is",
                      nlohmann::json{{"queue", queue},
                                     {"max_messages", limits.max_messages},
                                     {"max_bytes", limits.max_bytes}}
                          .dump());
  {
    auto q = db_->use(
        "INSERT INTO messages (id, queue, type, grp, priority, not_before, enqueued_at,"
        " attempts, max_retries, retry_delay_ms, history, payload)"
        " SELECT id, queue, type, grp, priority, ?2, enqueued_at, 0, max_retries,"
        " retry_delay_ms, json_insert(history, '$[#]', json(?3)), payload"
        " FROM dead_letters WHERE id = ?1");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, id).bind(2, now).bind(
        3, history_event(now, "replayed", StatusCode::ok, "replayed from the dead letters"));
    if (auto done = q->run("replaying a dead letter"); !done) return done;
  }
  {
    auto q = db_->use("DELETE FROM dead_letters WHERE id = ?1");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, id);
    if (auto done = q->run("replaying a dead letter"); !done) return done;
  }
  if (auto committed = tx->commit("replaying a dead letter"); !committed) return committed;
  QueueUsage& u = usage_[queue];
  u.messages += 1;
  u.bytes += bytes;
  return {};
}

Result<void> DurableStore::purge(std::string_view id) {
  if (auto ok = validate_name(id, "message id"); !ok) return ok;
  std::lock_guard lock(db_mu_);
  auto q = db_->use("DELETE FROM dead_letters WHERE id = ?1");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, id);
  if (auto done = q->run("purging a dead letter"); !done) return done;
  if (db_->changes() == 0)
    return make_error(StatusCode::not_found, "no dead letter with id " + std::string(id));
  return {};
}

Result<std::size_t> DurableStore::purge_queue(std::string_view queue) {
  if (!queue.empty())
    if (auto ok = validate_name(queue, "queue name"); !ok) return tl::unexpected(ok.error());
  std::lock_guard lock(db_mu_);
  auto q = db_->use("DELETE FROM dead_letters WHERE ?1 = '' OR queue = ?1");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, queue);
  if (auto done = q->run("purging dead letters"); !done) return tl::unexpected(done.error());
  return static_cast<std::size_t>(db_->changes());
}

}  // namespace plexus::durable
