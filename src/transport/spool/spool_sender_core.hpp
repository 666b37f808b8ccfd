// The sending side of a spool directory, without threads: it writes message files, keeps the
// ack deadline and the retries of each message that asked for an ack, reads the acks and
// cleans up, and dead-letters into errors/. Time comes in as an argument (a steady clock's
// now), so the retry rules are exact under a test's manual clock. Not thread-safe: the owner
// serialises every call.
//
// Clean-up order (what makes "exactly once to the handler" hold with the receiver's check,
// spool_receiver_core.hpp): for a handled message, the sender removes messages/ID.msg, fsyncs
// messages/, and only then removes acks/ID.ack. A failed delivery (ERROR ack) is renamed to
// messages/.wait-ID.msg (hidden from the receiver) before its ack is removed, and comes back as
// ID.msg with attempt + 1 once its retry delay has passed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plexus/status.hpp"
#include "transport/spool/spool_codec.hpp"
#include "transport/spool/spool_layout.hpp"

namespace plexus::transport::spool {

using TimePoint = std::chrono::steady_clock::time_point;

// Milliseconds from `now` to `deadline` for a poll()-style wait (-1: none), rounded up so that
// a wake-up is never early.
int wait_ms(std::optional<TimePoint> deadline, TimePoint now);

struct SenderRules {
  std::chrono::milliseconds ack_timeout{30000};
  std::uint32_t max_retries = 3;
  std::chrono::milliseconds retry_delay{5000};
  std::uint32_t max_message_size = 8u << 20;
  bool sync = true;  // fsync each file and the directory it is renamed in
};

struct SenderCounters {
  std::uint64_t sent = 0;                 // messages written by send()
  std::uint64_t acked = 0;                // acks (ok) read for pending messages
  std::uint64_t retried = 0;              // failed deliveries scheduled again
  std::uint64_t dead_lettered = 0;        // moved to errors/ with their reason
  std::uint64_t adopted = 0;              // pending messages found on disk by start()
  std::uint64_t stale_temps_removed = 0;  // by remove_stale_temps()
};

// A message that ran out of retries (now errors/ID.msg and errors/ID.msg.reason).
struct DeadLetterNote {
  std::string id;
  std::string type;
  std::string reason;  // "timeout" or "handler_error"
  Error error;         // the last failure
  std::uint32_t attempts = 0;
};

class SenderCore {
 public:
  SenderCore(Layout layout, SenderRules rules);

  // Adopts what a previous sender left: every ID.msg that asks for an ack is pending again with
  // a full ack timeout from `now`, every .wait-ID.msg waits one retry delay, and the acks
  // already in acks/ are read. Call once, before anything else.
  Result<void> start(TimePoint now);

  // Writes messages/ID.msg (record.id empty: a new id) and, when `wants_ack`, starts its ack
  // deadline. Returns the id. invalid_argument / message_too_large for a bad record, the file
  // system's error when it cannot be written (nothing is then pending).
  Result<std::string> send(Record record, bool wants_ack, TimePoint now);

  // Reads acks/NAME (from inotify or a scan) and acts on it; the files are removed in batches by
  // flush().
  void on_ack_file(const std::string& name, TimePoint now);
  // Removes the message and ack files of the acks read since the last flush, in the order above.
  void flush();
  // Rereads every file in acks/ (after an inotify overflow), then flushes.
  void rescan_acks(TimePoint now);

  // Runs the deadlines that are due at `now`: a missing ack fails the attempt (a retry after the
  // retry delay, or a dead letter after the last one), a due retry rewrites the message.
  void expire(TimePoint now);

  // Puts errors/ID.msg back as messages/ID.msg with attempt 1, pending; removes its reason file
  // and any old ack. not_found when there is no such dead letter.
  Result<void> replay(const std::string& id, TimePoint now);

  // The earliest deadline, if any message is pending.
  std::optional<TimePoint> next_deadline() const;
  std::size_t pending() const { return pending_.size(); }
  const SenderCounters& counters() const { return counters_; }
  // Removes the temporary files a crashed writer left (spool_census.hpp's rule), counted.
  void remove_stale_temps(std::chrono::system_clock::time_point now);
  // The dead letters since the last call (for the owner's callbacks).
  std::vector<DeadLetterNote> take_dead_letters() { return std::exchange(dead_, {}); }
  // The acks of pending messages read since the last call, in order.
  std::vector<Ack> take_acks() { return std::exchange(acks_, {}); }
  // The other files moved to errors/ since the last call (corrupt acks, and messages whose ERROR
  // ack came with nobody retrying them), for the owner's log.
  std::vector<ErrorFile> take_error_files() { return std::exchange(error_files_, {}); }
  const Layout& layout() const { return layout_; }

 private:
  struct Pending {
    std::uint32_t attempt = 1;  // the attempt last written
    std::uint32_t max_retries = 3;
    std::chrono::milliseconds retry_delay{5000};
    TimePoint deadline{};
    bool waiting = false;  // a retry is due at `deadline` (else: an ack is due by then)
    std::string last_reason;
    Error last_error;
  };

  void track(const std::string& id, Pending p);
  void set_deadline(const std::string& id, Pending& p, TimePoint deadline);
  // The attempt failed (`reason`, `error`): schedule a retry or dead-letter. `hide` renames
  // ID.msg to .wait-ID.msg first (an ERROR ack, whose removal would otherwise show the old
  // attempt to a rescanning receiver as new).
  void fail(const std::string& id, const std::string& reason, Error error, bool hide,
            TimePoint now);
  void resend(const std::string& id, TimePoint now);
  void dead_letter(const std::string& id, const Pending& p);

  Layout layout_;
  SenderRules rules_;
  std::map<std::string, Pending> pending_;
  std::set<std::pair<TimePoint, std::string>> timers_;  // (deadline, id) of every pending one
  std::vector<std::string> remove_messages_;            // paths, removed by flush() first
  std::vector<std::string> remove_acks_;                // paths, removed by flush() after
  std::vector<DeadLetterNote> dead_;
  std::vector<Ack> acks_;
  std::vector<ErrorFile> error_files_;
  bool errors_touched_ = false;  // flush() fsyncs errors/ only when it removed something there
  SenderCounters counters_;
};

}  // namespace plexus::transport::spool
