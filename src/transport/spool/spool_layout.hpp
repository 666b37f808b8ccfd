// The spool directory's layout (docs/PROTOCOL.md, "Spool directories"): `dir:///path/group`
// names the directory /path/group, which holds messages/, acks/ and errors/. File names,
// name checks and message ids; no I/O but creating the directories.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/names.hpp"

namespace plexus::transport::spool {

inline constexpr std::string_view kScheme = "dir";
inline constexpr std::string_view kMessageSuffix = ".msg";    // messages/ID.msg, errors/ID.msg
inline constexpr std::string_view kAckSuffix = ".ack";        // acks/ID.ack
inline constexpr std::string_view kReasonSuffix = ".reason";  // errors/NAME.reason
inline constexpr std::string_view kTempPrefix = ".tmp-";      // a writer's file before rename
inline constexpr std::string_view kWaitPrefix = ".wait-";     // messages/.wait-ID.msg: a retry

// The paths of one spool directory. Plain strings; copy freely.
struct Layout {
  std::string root;                    // /path/group
  std::string group;                   // the last component of root: the default message_group
  std::string messages, acks, errors;  // root + "/messages" …

  std::string message_path(std::string_view id) const;   // messages/ID.msg
  std::string wait_path(std::string_view id) const;      // messages/.wait-ID.msg
  std::string ack_path(std::string_view id) const;       // acks/ID.ack
  std::string error_path(std::string_view name) const;   // errors/NAME
  std::string reason_path(std::string_view name) const;  // errors/NAME.reason
  // A fresh temporary name in `dir` (messages, acks or errors): dir/.tmp-ID-PID-N.
  std::string temp_path(const std::string& dir, std::string_view id) const;
};

// Types and groups follow the one name rule, wire::valid_name (wire/names.hpp): 1..128
// characters of [A-Za-z0-9._-], not ".", no "..".
using wire::valid_name;
// Message ids follow it too and do not start with '.' (a name starting with '.' is a writer's
// private file).
bool valid_id(std::string_view id);
// valid_id with the reason: invalid_argument naming what is wrong.
Result<void> validate_id(std::string_view id);

// The directory of `dir:///path/group` (or a plain absolute path): invalid_argument for a
// relative path, an empty one, a `..` or `.` component, or a last component that is not a
// valid_name (the group).
Result<std::string> spool_root(std::string_view address_or_path);

// The layout of `root` (spool_root's result); with `create`, makes the directories that are
// missing. failed_precondition / permission_denied when they cannot be made.
Result<Layout> open_layout(const std::string& root, bool create);

// ID for "ID.msg" when ID is a valid_id; nullopt for any other name.
std::optional<std::string> id_of(std::string_view file_name, std::string_view suffix);

// A new message id, unique across processes and hosts sharing a directory and sortable by
// creation time: 13 decimal digits of Unix milliseconds, '-', 8 hex digits of the process id,
// '-', 8 hex digits of a per-process counter, '-', 8 random hex digits.
std::string new_message_id();

}  // namespace plexus::transport::spool
