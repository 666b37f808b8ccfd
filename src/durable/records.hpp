// Rows to records: a message row (messages or dead_letters) read into a DurableMessage, and
// delivery events written as the JSON objects of a history. Pure apart from reading the row.
#pragma once

#include <string>
#include <string_view>

#include "durable/sqlite.hpp"
#include "plexus/durable.hpp"

namespace plexus::durable {

// Reads the columns "id, queue, type, grp, priority, not_before, enqueued_at, attempts,
// max_retries, retry_delay_ms, history, payload" starting at column 0 of the current row.
inline constexpr int kMessageColumns = 12;
DurableMessage read_message(const StatementUse& row);

// One history entry as JSON text: {"at":ms,"reason":…,"status":number,"message":…}.
std::string history_event(std::int64_t at_ms, std::string_view reason, StatusCode status,
                          std::string_view message);

inline DurableTime from_ms(std::int64_t ms) {
  return DurableTime(std::chrono::milliseconds(ms));
}

}  // namespace plexus::durable
