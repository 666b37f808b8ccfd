// SeenIds: a consumer's memory of the message ids it handled (plexus/queue.hpp, Consumer), so
// that a redelivery of a handled message is dropped instead of handled again. In memory, or in
// DIR/consumer.db (SQLite, WAL) which several consumer processes may share: each remember() is
// committed before it returns, so it survives kill -9 of the process.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "durable/sqlite.hpp"
#include "plexus/status.hpp"

namespace plexus::durable {

// Thread-safe (one mutex). Never throws.
class SeenIds {
 public:
  // `dir` empty: in memory. Otherwise DIR/consumer.db, creating the directory and database;
  // errors name the file (permission_denied, failed_precondition for a file that is not SQLite).
  // Keeps the newest `keep` ids.
  static Result<std::unique_ptr<SeenIds>> open(const std::string& dir, std::uint64_t keep);

  Result<bool> contains(std::string_view id);
  Result<void> remember(std::string_view id);

 private:
  SeenIds(std::unique_ptr<Connection> db, std::uint64_t keep) : db_(std::move(db)), keep_(keep) {}

  std::mutex mu_;
  std::unique_ptr<Connection> db_;  // null: in memory; guarded by mu_
  std::uint64_t keep_;
  std::unordered_set<std::string> memory_;  // in memory: the ids; guarded by mu_
  std::deque<std::string> order_;           // in memory: oldest first; guarded by mu_
  std::uint64_t since_trim_ = 0;            // guarded by mu_
};

}  // namespace plexus::durable
