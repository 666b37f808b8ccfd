#include "durable/seen_ids.hpp"

#include <filesystem>
#include <system_error>

namespace plexus::durable {

Result<std::unique_ptr<SeenIds>> SeenIds::open(const std::string& dir, std::uint64_t keep) {
  if (keep == 0) keep = 1;
  if (dir.empty()) return std::unique_ptr<SeenIds>(new SeenIds(nullptr, keep));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(StatusCode::unavailable,
                      "cannot create the consumer's state directory " + dir + ": " + ec.message());
  }
  auto db = Connection::open(dir + "/consumer.db");
  if (!db) return tl::unexpected(db.error());
  // Shared by consumer processes: wait for a writer instead of failing at once.
  sqlite3_busy_timeout((*db)->handle(), 10000);
  if (auto r = (*db)->exec("PRAGMA journal_mode=WAL", "setting the journal mode"); !r)
    return tl::unexpected(r.error());
  // A committed id survives kill -9 of the process; an OS crash may lose the last few, which
  // are then handled again (at least once, as the queue promises).
  if (auto r = (*db)->exec("PRAGMA synchronous=NORMAL", "setting the synchronous level"); !r)
    return tl::unexpected(r.error());
  if (auto r = (*db)->exec(
          "CREATE TABLE IF NOT EXISTS handled (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE)",
          "creating the handled-ids table");
      !r)
    return tl::unexpected(r.error());
  return std::unique_ptr<SeenIds>(new SeenIds(std::move(*db), keep));
}

Result<bool> SeenIds::contains(std::string_view id) {
  std::lock_guard lock(mu_);
  if (!db_) return memory_.count(std::string(id)) != 0;
  auto q = db_->use("SELECT 1 FROM handled WHERE id = ?1");
  if (!q) return tl::unexpected(q.error());
  q->bind(1, id);
  auto row = q->step("looking up a handled id");
  if (!row) return tl::unexpected(row.error());
  return *row;
}

Result<void> SeenIds::remember(std::string_view id) {
  std::lock_guard lock(mu_);
  if (!db_) {
    if (memory_.insert(std::string(id)).second) {
      order_.emplace_back(id);
      if (order_.size() > keep_) {
        memory_.erase(order_.front());
        order_.pop_front();
      }
    }
    return {};
  }
  {
    auto q = db_->use("INSERT OR IGNORE INTO handled (id) VALUES (?1)");
    if (!q) return tl::unexpected(q.error());
    q->bind(1, id);
    if (auto r = q->run("remembering a handled id"); !r) return r;
  }
  // Trimming costs a scan of the index: once per thousand ids is enough to stay near `keep`.
  if (++since_trim_ >= 1000) {
    since_trim_ = 0;
    auto q = db_->use("DELETE FROM handled WHERE seq <= (SELECT max(seq) FROM handled) - ?1");
    if (!q) return tl::unexpected(q.error());
    q->bind(1, static_cast<std::int64_t>(keep_));
    if (auto r = q->run("forgetting the oldest handled ids"); !r) return r;
  }
  return {};
}

}  // namespace plexus::durable
