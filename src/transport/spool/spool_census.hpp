// What a spool directory holds now, counted from its listings and the files' modification
// times (docs/PROTOCOL.md §23.1): for `plexus spool stats`, a SpoolSender's or SpoolReceiver's
// gauges, and the removal of temporary files a crashed writer left behind. Reads the directory
// only; safe beside a live sender and receiver (a file that goes between the listing and its
// stat is left out).
#pragma once

#include <chrono>
#include <cstdint>

#include "plexus/status.hpp"
#include "transport/spool/spool_layout.hpp"

namespace plexus::transport::spool {

using WallTime = std::chrono::system_clock::time_point;

// A `.tmp-…` file last written longer ago than this belongs to a writer that is gone: a live
// one holds its temporary file for one write and one fsync. Removing a live writer's file all
// the same only fails that write (its rename finds nothing), it never makes a final name hold
// an incomplete file.
inline constexpr std::chrono::minutes kStaleTempAge{10};

// Files of one kind: how many, and how long ago the oldest was last written (0 when none, or
// when its time is ahead of `now`).
struct FileCount {
  std::uint64_t count = 0;
  std::chrono::milliseconds oldest_age{0};

  void add(WallTime modified, WallTime now);
};

struct Census {
  FileCount ready;      // messages/ID.msg (any name not starting with '.'): to be handled, or
                        // handled and not yet cleaned up by the sender
  FileCount waiting;    // messages/.wait-ID.msg: failed, waiting for their retry
  FileCount acks;       // acks/ID.ack: answers the sender has not cleaned up yet
  FileCount errors;     // errors/: dead letters and refused files (not their .reason files)
  FileCount temporary;  // .tmp-… in messages/, acks/ and errors/
  std::uint64_t stale_temporary = 0;  // of those, last written more than kStaleTempAge ago
};

// The census of `layout` at `now`; the file system's error when a directory cannot be listed.
Result<Census> take_census(const Layout& layout, WallTime now);

// Removes the `.tmp-…` files of messages/, acks/ and errors/ last written more than
// kStaleTempAge before `now`; returns how many it removed.
std::uint64_t remove_stale_temps(const Layout& layout, WallTime now);

}  // namespace plexus::transport::spool
