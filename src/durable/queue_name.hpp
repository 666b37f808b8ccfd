// Names the store accepts: queue names, message ids, types and groups. They end up in file
// names of the spool transport and in metric labels, so they are plain: 1..128 characters of
// [A-Za-z0-9._-], never ".", no ".." anywhere and no "/". Pure functions.
#pragma once

#include <string_view>

#include "plexus/status.hpp"

namespace plexus::durable {

inline constexpr std::size_t kMaxNameLength = 128;

// Checks `name` as a `what` ("queue name", "message id", "type"): invalid_argument with a
// message that quotes it and says what is allowed, details {"field": what}.
Result<void> validate_name(std::string_view name, std::string_view what);

// A group may also be empty (no group).
inline Result<void> validate_group(std::string_view group) {
  if (group.empty()) return {};
  return validate_name(group, "group");
}

}  // namespace plexus::durable
