// Appending: checks, bounds, duplicate ids, and the group commit that lets appends waiting at
// the same time share one transaction and one fsync.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "durable/queue_name.hpp"
#include "durable/store.hpp"

namespace plexus::durable {

struct DurableStore::PendingAppend {
  const NewMessage* message = nullptr;
  Result<Appended> result = make_error(StatusCode::internal, "append not committed");
  bool done = false;  // guarded by group_mu_
};

Result<void> DurableStore::check_message(const NewMessage& m) const {
  if (auto ok = validate_name(m.queue, "queue name"); !ok) return ok;
  if (auto ok = validate_name(m.type, "type"); !ok) return ok;
  if (auto ok = validate_group(m.group); !ok) return ok;
  if (!m.id.empty())
    if (auto ok = validate_name(m.id, "message id"); !ok) return ok;
  if (m.payload.size() > options_.max_message_size)
    return make_error(
        StatusCode::message_too_large,
        "a message of " + std::to_string(m.payload.size()) + " bytes is over the limit of " +
            std::to_string(options_.max_message_size) + " bytes (max_message_size)",
        nlohmann::json{{"limit", options_.max_message_size}, {"size", m.payload.size()}}.dump());
  if (m.delay.count() < 0)
    return make_error(StatusCode::invalid_argument, "a message's delay cannot be negative");
  return {};
}

Result<bool> DurableStore::known_id(std::string_view id) {
  auto q = db_->use(
      "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)"
      " OR EXISTS (SELECT 1 FROM acked WHERE id = ?1)"
      " OR EXISTS (SELECT 1 FROM dead_letters WHERE id = ?1)");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, id);
  auto row = q->step("looking up a message id");
  if (!row) return tl::unexpected(std::move(row.error()));
  return *row && q->int64(0) != 0;
}

// Outer error: the database failed (the transaction is lost). Inner error: this message is
// refused (bounds), nothing written for it, the others of its group go on.
Result<Result<Appended>> DurableStore::insert_one(
    const NewMessage& m, std::int64_t now, std::map<std::string, QueueUsage, std::less<>>& usage) {
  if (!m.id.empty()) {
    auto known = known_id(m.id);
    if (!known) return tl::unexpected(std::move(known.error()));
    if (*known) return Result<Appended>(Appended{m.id, true});
  }
  const QueueOptions& limits = queue_options(m.queue);
  auto it = usage.find(m.queue);
  const QueueUsage current = it == usage.end() ? QueueUsage{} : it->second;
  auto full = [&](std::string_view bound, std::uint64_t max, std::uint64_t have,
                  std::uint64_t adding) -> Result<Appended> {
    return make_error(
        StatusCode::resource_exhausted,
        "queue " + m.queue + " is full: it holds " + std::to_string(have) +
            (bound == "max_messages" ? " messages" : " bytes") + ", adding " +
            std::to_string(adding) + " would pass its " + std::string(bound) + " of " +
            std::to_string(max),
        nlohmann::json{{"queue", m.queue}, {"limit", bound}, {"max", max}, {"current", have}}
            .dump());
  };
  if (current.messages + 1 > limits.max_messages)
    return full("max_messages", limits.max_messages, current.messages, 1);
  if (current.bytes + m.payload.size() > limits.max_bytes)
    return full("max_bytes", limits.max_bytes, current.bytes, m.payload.size());

  std::string id = m.id.empty() ? next_id() : m.id;
  auto q = db_->use(
      "INSERT INTO messages (id, queue, type, grp, priority, not_before, enqueued_at,"
      " max_retries, retry_delay_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, id).bind(2, m.queue).bind(3, m.type).bind(4, m.group).bind(5, m.priority);
  q->bind(6, now + m.delay.count()).bind(7, now);
  if (m.max_retries)
    q->bind(8, static_cast<std::int64_t>(*m.max_retries));
  else
    q->bind_null(8);
  if (m.retry_delay)
    q->bind(9, static_cast<std::int64_t>(m.retry_delay->count()));
  else
    q->bind_null(9);
  q->bind_blob(10, m.payload);
  if (auto done = q->run("appending to queue " + m.queue); !done)
    return tl::unexpected(std::move(done.error()));
  QueueUsage& u = usage[m.queue];
  u.messages += 1;
  u.bytes += m.payload.size();
  return Result<Appended>(Appended{std::move(id), false});
}

Result<void> DurableStore::commit_group(std::span<PendingAppend*> group, bool all_or_nothing) {
  const std::int64_t now = now_ms();
  auto fail_all = [&](const Error& e) {
    for (auto* p : group) p->result = tl::unexpected(e);
  };
  auto tx = Transaction::begin(*db_, "appending");
  if (!tx) {
    fail_all(tx.error());
    return tl::unexpected(tx.error());
  }
  // Bounds are checked against usage as this transaction leaves it; it becomes the store's
  // only once the commit is on disk.
  auto usage = usage_;
  std::uint64_t sent = 0;
  std::uint64_t duplicates = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    auto inserted = insert_one(*group[i]->message, now, usage);
    if (!inserted) {
      fail_all(inserted.error());
      return tl::unexpected(inserted.error());
    }
    if (!*inserted && all_or_nothing) {
      Error e = std::move(inserted->error());
      e.message += " (message " + std::to_string(i) + " of the batch; nothing was appended)";
      fail_all(e);
      return tl::unexpected(std::move(e));
    }
    if (*inserted) ((*inserted)->duplicate ? duplicates : sent) += 1;
    group[i]->result = std::move(*inserted);
  }
  if (auto committed = tx->commit("committing appends"); !committed) {
    fail_all(committed.error());
    return committed;
  }
  usage_ = std::move(usage);
  counters_.sent += sent;
  counters_.duplicates_dropped += duplicates;
  counters_.commits += 1;
  return {};
}

Result<Appended> DurableStore::append(const NewMessage& message) {
  if (auto ok = check_message(message); !ok) return tl::unexpected(ok.error());
  if (options_.durability == Durability::every_message) {
    PendingAppend me{&message};
    PendingAppend* group[] = {&me};
    std::lock_guard lock(db_mu_);
    (void)commit_group(group, true);
    return std::move(me.result);
  }
  return append_group_commit(message);
}

Result<Appended> DurableStore::append_group_commit(const NewMessage& message) {
  // Leader and followers: an append joins the waiting list; whoever finds no commit under way
  // takes the list (up to max_group) and commits it for everyone, then wakes them. An append
  // that arrives during a commit waits for the next one, which carries all that arrived
  // meanwhile: under load one fsync serves many appends, and a lone append commits at once.
  PendingAppend me{&message};
  std::unique_lock lock(group_mu_);
  waiting_.push_back(&me);
  for (;;) {
    if (me.done) return std::move(me.result);
    if (committing_) {
      group_cv_.wait(lock);
      continue;
    }
    committing_ = true;
    const auto n = static_cast<std::ptrdiff_t>(std::min(waiting_.size(), options_.max_group));
    std::vector<PendingAppend*> group(waiting_.begin(), waiting_.begin() + n);
    waiting_.erase(waiting_.begin(), waiting_.begin() + n);
    lock.unlock();
    if (options_.on_group_commit) options_.on_group_commit(group.size());
    {
      std::lock_guard db_lock(db_mu_);
      (void)commit_group(group, false);
    }
    lock.lock();
    for (auto* p : group) p->done = true;
    committing_ = false;
    group_cv_.notify_all();
  }
}

std::vector<Result<Appended>> DurableStore::append_each(std::span<const NewMessage> messages) {
  std::vector<PendingAppend> entries(messages.size());
  std::vector<PendingAppend*> group;
  group.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    entries[i].message = &messages[i];
    if (auto ok = check_message(messages[i]); !ok) {
      entries[i].result = tl::unexpected(ok.error());
      continue;
    }
    group.push_back(&entries[i]);
  }
  {
    std::lock_guard lock(db_mu_);
    if (options_.durability != Durability::every_message) {
      if (!group.empty()) {
        if (options_.on_group_commit) options_.on_group_commit(group.size());
        (void)commit_group(group, false);
      }
    } else {
      for (std::size_t i = 0; i < group.size(); ++i) {
        (void)commit_group(std::span(group).subspan(i, 1), false);
      }
    }
  }
  std::vector<Result<Appended>> out;
  out.reserve(entries.size());
  for (auto& e : entries) out.push_back(std::move(e.result));
  return out;
}

Result<std::vector<Appended>> DurableStore::append_batch(std::span<const NewMessage> messages) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (auto ok = check_message(messages[i]); !ok) {
      Error e = ok.error();
      e.message += " (message " + std::to_string(i) + " of the batch; nothing was appended)";
      return tl::unexpected(std::move(e));
    }
  }
  std::vector<PendingAppend> entries(messages.size());
  std::vector<PendingAppend*> group;
  group.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    entries[i].message = &messages[i];
    group.push_back(&entries[i]);
  }
  std::vector<Appended> out;
  out.reserve(messages.size());
  std::lock_guard lock(db_mu_);
  if (options_.durability != Durability::every_message) {
    if (auto done = commit_group(group, true); !done) return tl::unexpected(done.error());
    for (auto& e : entries) out.push_back(std::move(*e.result));
    return out;
  }
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (auto done = commit_group(std::span(group).subspan(i, 1), true); !done) {
      Error e = done.error();
      e.message += " (message " + std::to_string(i) + " of the batch; the " + std::to_string(i) +
                   " before it were appended)";
      auto details = nlohmann::json::parse(e.details, nullptr, /*allow_exceptions=*/false);
      if (!details.is_object()) details = nlohmann::json::object();
      details["index"] = i;
      details["committed"] = i;
      e.details = details.dump();
      return tl::unexpected(std::move(e));
    }
    out.push_back(std::move(*entries[i].result));
  }
  return out;
}

}  // namespace plexus::durable
