// The store's database layout and connection settings. One function, run once per open, before
// any other statement.
#pragma once

#include "durable/sqlite.hpp"
#include "plexus/durable.hpp"

namespace plexus::durable {

// The schema version this code writes (PRAGMA user_version). A database of a newer version is
// refused with failed_precondition rather than misread.
inline constexpr int kSchemaVersion = 1;

// Sets WAL mode with an exclusive lock (a second process opening the same database fails with
// unavailable instead of releasing the first one's leases), the synchronous level of
// `durability`, and creates the tables when missing. Errors name the file.
Result<void> prepare_database(Connection& db, Durability durability);

}  // namespace plexus::durable
