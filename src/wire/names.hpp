// The one rule for the names plexus keeps in files and metric labels: durable queue names,
// message ids, types and groups (of durable queues and of spool directories). 1..128
// characters of [A-Za-z0-9._-], never ".", no ".." anywhere (so never a path component that
// climbs) and no "/". Pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/metadata.hpp"

namespace plexus::wire {

// The longest name: kMaxQueueNameLength (128), as long as a message_id may be.
static_assert(kMaxQueueNameLength == kMaxMessageIdLength);

// True when `name` follows the rule above.
bool valid_name(std::string_view name);

// Checks `name` as a `what` ("queue name", "message id", "type"; a plain literal): ok, or
// invalid_argument with a message that quotes it and says what is allowed, details
// {"field": what}.
Result<void> validate_name(std::string_view name, std::string_view what);

// A bus service name (docs/PROTOCOL.md §Bus): a name by the rule above that is also a dotted
// name of two segments or more ("com.example.search"), no segment empty, not under the
// reserved "plexus." prefix. invalid_argument otherwise, with details {"field": "service
// name", "name": the name (cut short), "rule": the rule}.
Result<void> validate_service_name(std::string_view name);

}  // namespace plexus::wire
