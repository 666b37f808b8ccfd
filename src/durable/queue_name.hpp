// Names the store accepts: queue names, message ids, types and groups. They end up in file
// names of the spool transport and in metric labels, so they follow the one name rule of
// wire/names.hpp (1..128 characters of [A-Za-z0-9._-], never ".", no ".." anywhere, no "/").
#pragma once

#include <string_view>

#include "plexus/status.hpp"
#include "wire/names.hpp"

namespace plexus::durable {

using wire::validate_name;

// A group may also be empty (no group).
inline Result<void> validate_group(std::string_view group) {
  if (group.empty()) return {};
  return validate_name(group, "group");
}

}  // namespace plexus::durable
