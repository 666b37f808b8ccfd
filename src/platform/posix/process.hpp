// The only place that includes Linux/POSIX headers directly (STYLE.md): small wrappers the
// transports and tools use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "plexus/status.hpp"

namespace plexus::platform {

std::uint32_t current_uid();
std::int32_t current_pid();

struct PeerCredentials {
  std::int32_t pid = -1;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

// SO_PEERCRED of a connected Unix socket; nullopt for other sockets.
std::optional<PeerCredentials> peer_credentials(int fd);

// The executable of process `pid` (/proc/PID/exe); empty when it cannot be read (the process
// is gone, it belongs to another user and this one may not look, or lives in another pid
// namespace).
std::string executable_of(std::int32_t pid);

// Hands the allocator's free memory back to the system (glibc's malloc_trim): after many
// connections closed, their freed buffers would otherwise stay in the process's RSS.
void release_free_memory();

// The process's open-file limit (the soft RLIMIT_NOFILE); 0 when it cannot be read or is
// unlimited.
std::uint64_t open_file_limit();

// Creates `dir` and its missing parents, the last one with `mode` (0700 for socket dirs).
Result<void> make_private_dir(const std::string& dir, unsigned mode);

// What lives at a Unix socket path before we bind it.
enum class SocketFileState { absent, stale, live, not_a_socket };
SocketFileState probe_socket_file(const std::string& path);

Result<void> remove_file(const std::string& path);
Result<void> set_file_mode(const std::string& path, unsigned mode);
unsigned file_mode(const std::string& path);  // permission bits, 0 if missing

// A listening stream socket handed to this process (systemd socket activation passes them as
// fds 3, 4, …): what it is bound to. The fd is marked close-on-exec.
struct ListeningSocket {
  enum class Family { unix_path, unix_abstract, ip };
  Family family = Family::unix_path;
  std::string name;  // unix_path: the path; unix_abstract: the name without '@'; ip: the address
  std::uint16_t port = 0;  // ip only
};
// invalid_argument when `fd` is not open, not a stream socket, not listening, or neither Unix
// nor IP.
Result<ListeningSocket> inspect_listening_socket(int fd);

// SO_REUSEADDR on a listening TCP socket before bind: a restarted server binds its port while
// the old connections linger in TIME_WAIT. Never SO_REUSEPORT, which would let a second
// server share the port and take a random share of its connections.
void allow_address_reuse(int fd);

// Resident set size of this process in bytes (/proc/self/statm); 0 if unreadable.
std::uint64_t resident_memory_bytes();

}  // namespace plexus::platform
