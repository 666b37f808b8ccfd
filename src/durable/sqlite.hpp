// A tiny RAII layer over SQLite's C API: a connection that caches its prepared statements, a
// statement use that resets itself, and SQLite result codes mapped to plexus errors that name
// the database file. Not thread-safe: the store serialises every use of a connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "plexus/status.hpp"

namespace plexus::durable {

// An Error for SQLite's result `rc` while `doing` ("appending to queue jobs") on the database
// at `path`: disk full → resource_exhausted, read-only → permission_denied, not a database →
// failed_precondition, busy (another process) and I/O errors → unavailable, the rest internal.
// The message names the file and, where SQLite saw one, the system error.
Error sqlite_error(sqlite3* db, int rc, std::string_view doing, const std::string& path);

class Connection;

// One use of a cached statement: binds, steps, reads columns; reset and unbound on scope exit
// so the next use starts clean. Borrows the statement from its Connection.
class StatementUse {
 public:
  StatementUse(Connection& connection, sqlite3_stmt* stmt)
      : connection_(&connection), stmt_(stmt) {}
  StatementUse(StatementUse&& other) noexcept
      : connection_(other.connection_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  StatementUse& operator=(StatementUse&&) = delete;
  ~StatementUse();

  // Parameters are 1-based, as in SQLite. Text and blobs are copied (SQLITE_TRANSIENT), so
  // the caller's buffers need not outlive the use.
  StatementUse& bind(int index, std::int64_t value);
  StatementUse& bind(int index, std::string_view text);
  StatementUse& bind_blob(int index, std::string_view bytes);
  StatementUse& bind_null(int index);

  // Steps once: true with a row to read, false when done; an error names `doing`.
  Result<bool> step(std::string_view doing);
  // Steps to the end (statements without rows).
  Result<void> run(std::string_view doing);

  std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string text(int column) const;  // text and blob columns alike

 private:
  Connection* connection_;
  sqlite3_stmt* stmt_;  // null once moved from
};

// Owns one sqlite3 connection and its prepared statements (prepared once, on first use, and
// kept for the connection's life: the hot paths never parse SQL).
class Connection {
 public:
  // Opens (creating it if missing) the database at `path`, read-write. Fails with an error
  // naming the file; a file SQLite could open only read-only fails with permission_denied.
  static Result<std::unique_ptr<Connection>> open(const std::string& path);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL text with no parameters or rows (pragmas, schema, BEGIN/COMMIT).
  Result<void> exec(const char* sql, std::string_view doing);
  // The cached statement for `sql`, which must be a string literal: the cache keys on its
  // address. Fails only when the SQL does not compile (a bug), with internal.
  Result<StatementUse> use(const char* sql);

  // Number of rows the last statement changed; the last inserted rowid.
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t last_rowid() const { return sqlite3_last_insert_rowid(db_); }

  Error error(int rc, std::string_view doing) const { return sqlite_error(db_, rc, doing, path_); }
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

// A transaction: BEGIN IMMEDIATE on creation, ROLLBACK on destruction unless commit() ran.
class Transaction {
 public:
  static Result<Transaction> begin(Connection& connection, std::string_view doing);
  Transaction(Transaction&& other) noexcept
      : connection_(std::exchange(other.connection_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  // Commits (and, with synchronous=FULL, fsyncs the WAL) before returning.
  Result<void> commit(std::string_view doing);

 private:
  explicit Transaction(Connection& connection) : connection_(&connection) {}
  Connection* connection_;
};

// Lowers the connection to synchronous=NORMAL for its scope (no fsync at commit, the WAL still
// ordered), and back to FULL after; does nothing unless `active`. For writes that need not
// survive an OS crash on a connection that otherwise promises they do.
class RelaxedSync {
 public:
  RelaxedSync(Connection& connection, bool active);
  ~RelaxedSync();
  RelaxedSync(const RelaxedSync&) = delete;
  RelaxedSync& operator=(const RelaxedSync&) = delete;

 private:
  Connection* connection_;  // null when not active
};

}  // namespace plexus::durable
