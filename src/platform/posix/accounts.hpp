// Users and groups by name, and a process's supplementary groups: what access policies name
// peers by (security/access_policy.cpp) and what a session learns of a Unix-socket peer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace plexus::platform {

// The user id of the user called `name` (the passwd database); nullopt when there is none.
std::optional<std::uint32_t> uid_of_user(const std::string& name);
// The group id of the group called `name` (the group database); nullopt when there is none.
std::optional<std::uint32_t> gid_of_group(const std::string& name);
// The supplementary groups of process `pid` ("Groups:" in /proc/PID/status); empty when it is
// gone or has none. Read at connect time, like SO_PEERCRED: a later setgroups() is not seen.
std::vector<std::uint32_t> supplementary_groups_of(std::int32_t pid);

}  // namespace plexus::platform
