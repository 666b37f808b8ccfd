// The receiving side of a spool directory, without threads or handlers: which file in
// messages/ is a message to hand over, what is a repeat, what goes to errors/, and the ack that
// records a handled message. Not thread-safe: one caller (the receiver's watcher thread).
//
// Exactly once to the handler: acks/ID.ack is the memory of handled ids. A message whose ack
// exists is never handed over again (a repeat: a resend that crossed the ack, or a restart's
// scan). The sender removes a message's file before its ack (spool_sender_core.hpp), so an ack
// that is gone means the message file is gone too: take() checks the ack, then that the file
// is still there, and only then hands it over.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plexus/status.hpp"
#include "transport/spool/spool_codec.hpp"
#include "transport/spool/spool_layout.hpp"

namespace plexus::transport::spool {

struct ReceiverCounters {
  std::uint64_t delivered = 0;            // handed to take()'s caller
  std::uint64_t redelivered = 0;          // of those, with an attempt after the first
  std::uint64_t duplicates_dropped = 0;   // a message file whose ack exists
  std::uint64_t corrupt = 0;              // moved to errors/
  std::uint64_t acked = 0;                // acks written (ok)
  std::uint64_t failed = 0;               // acks written (error)
  std::uint64_t stale_temps_removed = 0;  // by remove_stale_temps()
};

class ReceiverCore {
 public:
  ReceiverCore(Layout layout, std::uint32_t max_message_size, bool sync);

  // The names in messages/ that may be messages, sorted (ids sort by creation time): the
  // initial scan, and the rescan after an inotify overflow.
  Result<std::vector<std::string>> scan() const;

  // Looks at messages/NAME: a message to hand over, or nullopt (a temporary or retry file, a
  // repeat, a file gone meanwhile, or a corrupt one, which is moved to errors/ with its reason).
  std::optional<Record> take(const std::string& name);

  // Records the handler's outcome: acks/ID.ack (RESPONSE when `outcome` is ok, ERROR with it
  // otherwise), written atomically. A message that asked for no ack (no id) is removed
  // instead. Fails when the file cannot be written (the message stays, and a restart hands it
  // over again).
  Result<void> finish(const Record& record, const std::string& name, const Result<void>& outcome);

  // Moves messages/NAME to errors/NAME with errors/NAME.reason (written first).
  void quarantine(const std::string& name, const std::string& reason, const Error& error);

  // Removes the temporary files a crashed writer left (spool_census.hpp's rule), counted.
  void remove_stale_temps(std::chrono::system_clock::time_point now);

  const ReceiverCounters& counters() const { return counters_; }
  // The files moved to errors/ since the last call, for the owner's log.
  std::vector<ErrorFile> take_error_files() { return std::exchange(error_files_, {}); }
  const Layout& layout() const { return layout_; }

 private:
  Layout layout_;
  std::uint32_t max_message_size_;
  bool sync_;
  ReceiverCounters counters_;
  std::vector<ErrorFile> error_files_;
};

}  // namespace plexus::transport::spool
