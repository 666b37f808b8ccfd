// The JSON of the durable-queue methods (docs/PROTOCOL.md §22): dead letters and store figures
// as the server writes them and QueueClient reads them back. Shared by both sides so that they
// cannot drift apart.
#pragma once

#include <nlohmann/json.hpp>

#include "plexus/durable.hpp"
#include "plexus/status.hpp"

namespace plexus::detail {

nlohmann::json to_json(const DurableMessage& m);
nlohmann::json to_json(const DeadLetter& d);
nlohmann::json to_json(const DurableStats& s);

// invalid_argument ("bad dead letter: …") when `j` is not what to_json wrote.
Result<DeadLetter> dead_letter_from_json(const nlohmann::json& j);
Result<DurableStats> durable_stats_from_json(const nlohmann::json& j);

}  // namespace plexus::detail
