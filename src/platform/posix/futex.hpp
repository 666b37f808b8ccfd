// Waiting on a 32-bit word in shared memory, and on another process's life: what a thread that
// polls a shared-memory ring itself (a direct channel) sleeps on when there is nothing to read.
// Futexes here are the shared kind (not FUTEX_PRIVATE), so two processes that map the same
// file wake each other through it. Threading: any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "platform/posix/shm.hpp"
#include "plexus/status.hpp"

namespace plexus::platform {

// Sleeps while `*word == expected`, at most `timeout`; returns at once if it differs. Spurious
// returns are possible: the caller looks again.
void futex_wait(const std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout);
// Wakes every thread (of any process) sleeping on `word`.
void futex_wake_all(const std::atomic<std::uint32_t>* word);

// A pidfd for `pid` (pidfd_open): readable once that process has exited. unavailable when the
// process does not exist (any more).
Result<Fd> open_pidfd(std::int32_t pid);
// Whether the process behind `pidfd` has exited (a poll with no wait).
bool process_exited(int pidfd);

}  // namespace plexus::platform
