#include "durable/schema.hpp"

#include <string>

namespace plexus::durable {
namespace {

// Times are milliseconds since the Unix epoch (wall clock: they outlive the process and the
// boot). `seq` is the append order; a message keeps its id across retries and dead-lettering.
// A lease is lease_owner + lease_deadline, both NULL when the message waits. history is a JSON
// array of {at, reason, status, message}.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  type TEXT NOT NULL,
  grp TEXT NOT NULL,
  priority INTEGER NOT NULL,
  not_before INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_retries INTEGER,
  retry_delay_ms INTEGER,
  history TEXT NOT NULL DEFAULT '[]',
  payload BLOB NOT NULL,
  lease_owner TEXT,
  lease_deadline INTEGER
);
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (queue, priority DESC, seq)
  WHERE lease_owner IS NULL;
CREATE INDEX IF NOT EXISTS messages_leased ON messages (lease_deadline)
  WHERE lease_owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_owner ON messages (lease_owner)
  WHERE lease_owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS acked (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  type TEXT NOT NULL,
  grp TEXT NOT NULL,
  priority INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  max_retries INTEGER,
  retry_delay_ms INTEGER,
  history TEXT NOT NULL,
  payload BLOB NOT NULL,
  reason TEXT NOT NULL,
  status INTEGER NOT NULL,
  error TEXT NOT NULL,
  dead_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_queue ON dead_letters (queue, seq);
)sql";

Result<int> user_version(Connection& db) {
  auto q = db.use("PRAGMA user_version");
  if (!q) return tl::unexpected(std::move(q.error()));
  auto row = q->step("reading the schema version");
  if (!row) return tl::unexpected(std::move(row.error()));
  return *row ? static_cast<int>(q->int64(0)) : 0;
}

}  // namespace

Result<void> prepare_database(Connection& db, Durability durability) {
  // Exclusive locking before WAL: SQLite then keeps the WAL index in process memory (no -shm
  // file) and holds the lock from the first write until close, so one server owns the file.
  if (auto r = db.exec("PRAGMA locking_mode=EXCLUSIVE", "setting the locking mode"); !r) return r;
  {
    // journal_mode answers with the mode it ended in; anything but "wal" (a read-only
    // directory, a file system without the locks WAL needs) is refused.
    auto q = db.use("PRAGMA journal_mode=WAL");
    if (!q) return tl::unexpected(std::move(q.error()));
    auto row = q->step("switching to WAL mode");
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row || q->text(0) != "wal")
      return make_error(StatusCode::failed_precondition,
                        db.path() + ": could not switch the database to WAL mode (it stayed in " +
                            (*row ? q->text(0) : std::string("?")) + " mode)");
  }
  // WAL + FULL syncs the WAL at every commit; WAL + NORMAL only at checkpoints, which keeps the
  // database consistent but may lose the last commits to an OS crash (Durability::none).
  const char* sync =
      durability == Durability::none ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL";
  if (auto r = db.exec(sync, "setting the synchronous level"); !r) return r;
  auto version = user_version(db);
  if (!version) return tl::unexpected(std::move(version.error()));
  if (*version > kSchemaVersion)
    return make_error(StatusCode::failed_precondition,
                      db.path() + ": schema version " + std::to_string(*version) +
                          " is newer than this plexus understands (" +
                          std::to_string(kSchemaVersion) + ")");
  auto tx = Transaction::begin(db, "creating the tables");
  if (!tx) return tl::unexpected(std::move(tx.error()));
  if (auto r = db.exec(kSchema, "creating the tables"); !r) return r;
  if (auto r = db.exec("PRAGMA user_version=1", "writing the schema version"); !r) return r;
  return tx->commit("creating the tables");
}

}  // namespace plexus::durable
