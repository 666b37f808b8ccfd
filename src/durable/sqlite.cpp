#include "durable/sqlite.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

namespace plexus::durable {
namespace {

bool is_errno(int value, std::errc e) {
  return value == static_cast<int>(e);
}

// The code a person acting on the error needs: whether to free disk, fix permissions, move a
// foreign file away or wait for another process.
StatusCode code_for(int rc, int sys) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return StatusCode::resource_exhausted;
    case SQLITE_IOERR:
      // A write past RLIMIT_FSIZE (EFBIG) or on a full disk (ENOSPC) that SQLite reports as an
      // I/O error: the remedy is the same as for SQLITE_FULL.
      if (is_errno(sys, std::errc::file_too_large) || is_errno(sys, std::errc::no_space_on_device))
        return StatusCode::resource_exhausted;
      return StatusCode::unavailable;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return StatusCode::permission_denied;
    case SQLITE_CANTOPEN:
      if (is_errno(sys, std::errc::permission_denied) ||
          is_errno(sys, std::errc::operation_not_permitted) ||
          is_errno(sys, std::errc::read_only_file_system))
        return StatusCode::permission_denied;
      return StatusCode::unavailable;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return StatusCode::failed_precondition;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::unavailable;
    case SQLITE_TOOBIG:
      return StatusCode::message_too_large;
    default:
      return StatusCode::internal;
  }
}

// The errno behind an I/O error. sqlite3_system_errno() reads the global errno after SQLite's
// own clean-up, which has often reset it by then; the failing file keeps its own (the database
// or, in WAL mode, the WAL, which is where commits write).
int system_errno(sqlite3* db, int rc) {
  if (!db) return 0;
  if (int sys = sqlite3_system_errno(db); sys != 0) return sys;
  if ((rc & 0xff) != SQLITE_IOERR) return 0;
  int sys = 0;
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK && wal &&
      wal->pMethods &&
      wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &sys) == SQLITE_OK && sys != 0)
    return sys;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &sys) == SQLITE_OK) return sys;
  return 0;
}

}  // namespace

Error sqlite_error(sqlite3* db, int rc, std::string_view doing, const std::string& path) {
  const int sys = system_errno(db, rc);
  std::string what = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = path + ": " + std::string(doing) + ": ";
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      message += "not a SQLite database (" + what + "); move it away or choose another directory";
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      message += "in use by another process (" + what + ")";
      break;
    case SQLITE_READONLY:
      message += "read-only (" + what + ")";
      break;
    default:
      message += what;
  }
  if (sys != 0) message += " (errno " + std::to_string(sys) + ": " + std::strerror(sys) + ")";
  nlohmann::json details = {{"path", path}, {"sqlite_code", rc}};
  if (sys != 0) details["errno"] = sys;
  return Error{code_for(rc, sys), std::move(message),
               details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

StatementUse::~StatementUse() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

StatementUse& StatementUse::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

StatementUse& StatementUse::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

StatementUse& StatementUse::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob from a null pointer would bind NULL: bind an empty blob explicitly.
  if (bytes.empty())
    sqlite3_bind_zeroblob(stmt_, index, 0);
  else
    sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}

StatementUse& StatementUse::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> StatementUse::step(std::string_view doing) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return tl::unexpected(connection_->error(rc, doing));
}

Result<void> StatementUse::run(std::string_view doing) {
  for (;;) {
    auto row = step(doing);
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return {};
  }
}

std::string StatementUse::text(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db, rc, "opening the database", path);
    sqlite3_close_v2(db);
    // A database that does not exist in a directory this process may not write: SQLite's last
    // try (read-only) leaves ENOENT behind, which hides the reason. Creating the file says it.
    if ((rc & 0xff) == SQLITE_CANTOPEN && !std::filesystem::exists(path)) {
      errno = 0;
      if (std::FILE* f = std::fopen(path.c_str(), "wx")) {
        std::fclose(f);
        std::remove(path.c_str());
      } else if (errno == EACCES || errno == EPERM || errno == EROFS) {
        const int sys = errno;
        return make_error(StatusCode::permission_denied,
                          path + ": cannot create the database: its directory is not writable (" +
                              std::strerror(sys) + ")",
                          nlohmann::json{{"path", path}, {"errno", sys}}.dump(
                              -1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
    return tl::unexpected(std::move(e));
  }
  // SQLite falls back to read-only when the file is not writable, and would fail only at the
  // first write; refuse at once, with the reason.
  if (sqlite3_db_readonly(db, "main") == 1) {
    sqlite3_close_v2(db);
    return make_error(StatusCode::permission_denied,
                      path + ": the database file is read-only; the store needs to write it",
                      nlohmann::json{{"path", path}}.dump(
                          -1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<Connection>(new Connection(db, path));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<void> Connection::exec(const char* sql, std::string_view doing) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return tl::unexpected(error(rc, doing));
  return {};
}

Result<StatementUse> Connection::use(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      Error e = error(rc, "preparing a statement");
      // A statement that does not compile is a bug here unless the file is not a database.
      if (e.code == StatusCode::internal) e.message += " in: " + std::string(sql);
      return tl::unexpected(std::move(e));
    }
    it = statements_.emplace(sql, stmt).first;
  }
  return StatementUse(*this, it->second);
}

Result<Transaction> Transaction::begin(Connection& connection, std::string_view doing) {
  auto begun = connection.exec("BEGIN IMMEDIATE", doing);
  if (!begun) return tl::unexpected(std::move(begun.error()));
  return Transaction(connection);
}

Transaction::~Transaction() {
  // After a failed statement SQLite may have rolled back already; ROLLBACK then fails
  // harmlessly ("no transaction is active").
  if (connection_) (void)connection_->exec("ROLLBACK", "rolling back");
}

Result<void> Transaction::commit(std::string_view doing) {
  auto done = connection_->exec("COMMIT", doing);
  if (!done) return done;  // the destructor rolls back
  connection_ = nullptr;
  return {};
}

RelaxedSync::RelaxedSync(Connection& connection, bool active)
    : connection_(active ? &connection : nullptr) {
  if (connection_ && !connection_->exec("PRAGMA synchronous=NORMAL", "relaxing the sync level"))
    connection_ = nullptr;
}

RelaxedSync::~RelaxedSync() {
  if (connection_) (void)connection_->exec("PRAGMA synchronous=FULL", "restoring the sync level");
}

}  // namespace plexus::durable
