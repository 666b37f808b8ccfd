/// \file
/// Spool directories (`dir:///path/group`, docs/PROTOCOL.md "Spool directories"): processes
/// that share only a directory exchange messages as files. A SpoolSender writes each message
/// atomically into `messages/`, waits for its ack in `acks/`, resends it when none comes and
/// moves it to `errors/` (a dead letter, with a reason file) when its retries run out. A
/// SpoolReceiver notices new files with inotify, hands each message to the handler of its type
/// exactly once, and writes the ack. Either may start first or restart at any time: everything
/// they need is in the directory.
///
/// One sender process and one receiver process per directory (use two groups for the way
/// back); `plexus spool send|recv|ack DIR` lets a shell script take either part.
///
/// Observability: with SpoolOptions::runtime, a sender or receiver shows in the metrics of that
/// runtime (the plexus_spool_* families of /metrics, the "spools" section of plexus.stats and
/// the status page); spool_directory_stats() and `plexus spool stats DIR` read any spool
/// directory from outside. Dead letters and files moved to errors/ are logged at warn.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/durable.hpp"
#include "plexus/export.hpp"
#include "plexus/policy.hpp"
#include "plexus/status.hpp"

namespace plexus {

class Runtime;

/// The rules both sides use; the defaults are seed 002's (30 s ack timeout, 3 retries 5 s apart).
struct SpoolOptions {
  /// No ack this long after a message was written: the attempt failed.
  std::chrono::milliseconds ack_timeout{30000};
  /// Deliveries after the first before a failing message is dead-lettered (a message is written
  /// at most 1 + max_retries times). A message may carry its own (SpoolSend::max_retries).
  std::uint32_t max_retries = 3;
  /// Wait after a failed attempt (timeout or handler error) before the message is written again.
  std::chrono::milliseconds retry_delay{5000};
  /// The largest payload, in bytes: send() refuses a larger one with message_too_large and the
  /// receiver moves a larger file to errors/.
  std::uint32_t max_message_size = 8u << 20;
  /// fsync every file before its rename and the directory after it (off: survives kill -9 of
  /// either process but not an operating-system crash).
  bool sync = true;
  /// Make the directory and its messages/, acks/ and errors/ when missing.
  bool create = true;
  /// SpoolSender only: take over what a previous sender left (pending messages, waiting
  /// retries, acks) when created, and read acks. Off for a sender that only writes and goes
  /// away, such as `plexus spool send`: it reads no file, neither at start nor later, so its
  /// messages are never acknowledged to it (wait_idle() does not return true for them); the
  /// directory's sender (one that takes over) acts on their acks.
  bool take_over = true;
  /// The sender's timers read this clock (null: Clock::steady()). With a ManualClock the timers
  /// run only when SpoolSender::run_due_timers() is called.
  std::shared_ptr<const Clock> clock;
  /// The runtime whose metrics record this sender or receiver (null: none): its counters
  /// (plexus_spool_messages_total by outcome) and the directory's gauges (pending, oldest age,
  /// errors, temporary files) appear in /metrics, plexus.stats and the status page of every
  /// Server on that runtime, from create() until the sender or receiver is destroyed. The
  /// runtime must outlive it. Not read by spool_pending() and spool_ack().
  Runtime* runtime = nullptr;
};

/// A message to send.
struct SpoolSend {
  std::string type = "task";  ///< task, command, response, error, heartbeat or any name
  std::string payload;        ///< the bytes, at most SpoolOptions::max_message_size
  bool json = false;          ///< the payload is JSON (content_type 1)
  /// Wait for an ack, resend and dead-letter (seed 002's requiresAck). Without it the receiver
  /// removes the file once handled (a failed one goes to errors/) and nobody resends it.
  bool requires_ack = true;
  std::string id;     ///< empty: a new unique id; else 1..128 of [A-Za-z0-9._-], no leading '.'
  std::string group;  ///< empty: the directory's group (its last path component)
  std::optional<std::uint32_t> max_retries;              ///< overrides SpoolOptions'
  std::optional<std::chrono::milliseconds> retry_delay;  ///< overrides SpoolOptions'
};

/// A message as the receiver's handler sees it.
struct SpoolMessage {
  std::string id;             ///< its id (also its file name, ID.msg)
  std::string type;           ///< picks the handler
  std::string group;          ///< as sent
  std::string payload;        ///< the bytes
  bool json = false;          ///< content_type 1
  std::uint32_t attempt = 1;  ///< which delivery this is, from 1
  bool requires_ack = true;   ///< false: nobody resends it
};

/// A message that ran out of retries: errors/ID.msg, with errors/ID.msg.reason.
struct SpoolDeadLetter {
  std::string id;                                       ///< its id
  std::string type;                                     ///< its type
  DeadLetterReason reason = DeadLetterReason::timeout;  ///< timeout or handler_error
  Error error;                 ///< the last failure (a handler error's own status and message)
  std::uint32_t attempts = 0;  ///< deliveries made
};

/// Counters since create().
struct SpoolSenderStats {
  std::uint64_t sent = 0;           ///< messages written by send()
  std::uint64_t acked = 0;          ///< acknowledged
  std::uint64_t retried = 0;        ///< failed attempts scheduled again
  std::uint64_t dead_lettered = 0;  ///< moved to errors/
  std::uint64_t adopted = 0;        ///< pending messages a previous sender left, taken over
  std::uint64_t pending = 0;        ///< waiting for an ack or a retry now
  /// Temporary files a crashed writer left, removed when the sender started (see
  /// spool_directory_stats()).
  std::uint64_t stale_temp_files_removed = 0;
};

/// Writes messages into a spool directory and sees them acknowledged, retried or dead-lettered.
/// Owns a watcher thread (inotify on acks/, and the timers); pending messages stay on disk when
/// it is destroyed, and the next sender on the directory takes them over. Thread-safe.
class PLEXUS_EXPORT SpoolSender {
 public:
  /// Opens `dir` (`dir:///path/group` or `/path/group`), takes over what a previous sender left
  /// pending (each gets a full ack timeout from now; unless options.take_over is off), reads the
  /// acks already there and starts the watcher. Taking over, it first removes the temporary
  /// files a crashed writer left (SpoolDirectoryStats::stale_temporary). invalid_argument for a bad
  /// path (relative, `..`), not_found when the directory is missing and options.create is false,
  /// the file system's error otherwise.
  static Result<std::unique_ptr<SpoolSender>> create(std::string_view dir,
                                                     SpoolOptions options = {});
  /// Stops the watcher thread (callbacks have returned when it returns).
  ~SpoolSender();
  SpoolSender(const SpoolSender&) = delete;             ///< not copyable
  SpoolSender& operator=(const SpoolSender&) = delete;  ///< not copyable

  /// Writes the message (temporary file, fsync, rename, fsync of messages/) and returns its id
  /// once it is in messages/. invalid_argument for a bad id, type or group, already_exists for
  /// the id of a pending message, message_too_large past max_message_size, resource_exhausted on
  /// a full disk; nothing is written then.
  Result<std::string> send(SpoolSend message);
  /// send() of a message of `type` with `payload`, asking for an ack.
  Result<std::string> send(std::string_view type, std::string payload);

  /// Called for each dead letter, on the watcher thread or in run_due_timers()'s caller,
  /// without the sender's lock (it may call send()). Set it before sending.
  void on_dead_letter(std::function<void(const SpoolDeadLetter&)> callback);

  /// Called for each ack of a pending message as it is read: `outcome` ok (handled) or the
  /// handler's error (a retry or a dead letter follows). Same thread and lock rules as
  /// on_dead_letter(); the ack comes before the dead letter it causes.
  void on_ack(std::function<void(const std::string& id, const Result<void>& outcome)> callback);

  /// Runs the retries and timeouts due at the clock's now. The watcher runs them by itself on
  /// a steady clock; with a ManualClock, call this after advancing it.
  void run_due_timers();

  /// Puts dead letter ID (errors/ID.msg) back into messages/ with attempt 1 and its reason file
  /// removed, pending again. not_found when there is none.
  Result<void> replay(std::string_view id);

  /// Blocks until no message is pending (all acknowledged or dead-lettered) or `timeout`
  /// passes (real time); true when none is.
  bool wait_idle(std::chrono::milliseconds timeout);

  /// The counters now.
  SpoolSenderStats stats() const;
  /// The directory (`/path/group`).
  const std::string& directory() const;

  struct Impl;  ///< internal

 private:
  explicit SpoolSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Counters since start().
struct SpoolReceiverStats {
  std::uint64_t delivered = 0;           ///< messages handed to a handler
  std::uint64_t redelivered = 0;         ///< of those, with an attempt after the first
  std::uint64_t acked = 0;               ///< handled without error (ack written)
  std::uint64_t failed = 0;              ///< handler errors (error ack written)
  std::uint64_t duplicates_dropped = 0;  ///< files of messages handled already
  std::uint64_t corrupt = 0;             ///< files moved to errors/ as corrupt
  /// Temporary files a crashed writer left, removed by start() (see spool_directory_stats()).
  std::uint64_t stale_temp_files_removed = 0;
};

/// Hands each message in a spool directory to the handler of its type, once. Owns a watcher
/// thread (inotify on messages/, plus a scan when it starts and after an inotify overflow);
/// handlers run on it, one at a time. Register handlers, then start(). Thread-safe.
class PLEXUS_EXPORT SpoolReceiver {
 public:
  /// A handler: ok acknowledges the message; an error is written into its ack, and the sender
  /// resends it or dead-letters it (handler_error with this status and message). A handler that
  /// throws fails its message with `internal`.
  using Handler = std::function<Result<void>(const SpoolMessage&)>;

  /// Opens `dir` like SpoolSender::create(); does not look at any message before start().
  static Result<std::unique_ptr<SpoolReceiver>> create(std::string_view dir,
                                                       SpoolOptions options = {});
  /// Stops the watcher thread; a handler running then finishes first.
  ~SpoolReceiver();
  SpoolReceiver(const SpoolReceiver&) = delete;             ///< not copyable
  SpoolReceiver& operator=(const SpoolReceiver&) = delete;  ///< not copyable

  /// The handler of messages of `type` (replaces an earlier one). failed_precondition after
  /// start(), invalid_argument for a bad type name.
  Result<void> on(std::string_view type, Handler handler);
  /// The handler of every type without one of its own. Without it such a message fails with
  /// not_found ("no handler for type …"). failed_precondition after start().
  Result<void> on_any(Handler handler);

  /// Removes the temporary files a crashed writer left (SpoolDirectoryStats::stale_temporary),
  /// scans messages/ (what arrived before, oldest id first), then follows inotify. Fails when the
  /// watch cannot be set up; failed_precondition when started already.
  Result<void> start();

  /// The counters now.
  SpoolReceiverStats stats() const;
  /// The directory (`/path/group`).
  const std::string& directory() const;

  struct Impl;  ///< internal

 private:
  explicit SpoolReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// For a script's part (`plexus spool recv`): the messages in `dir`'s messages/ that are not
/// acknowledged yet, oldest id first, without handling them. Waits with inotify until there are
/// at least `at_least` of them or `timeout` passes (then returns those there are). Corrupt files
/// are moved to errors/ with their reason, as a receiver would. One caller at a time per
/// directory, and not beside a running SpoolReceiver.
PLEXUS_EXPORT Result<std::vector<SpoolMessage>> spool_pending(
    std::string_view dir, std::size_t at_least = 0,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(0), SpoolOptions options = {});

/// For a script's part (`plexus spool ack`): records the outcome of message `id` as a
/// SpoolReceiver does: `error` empty writes an ok ack, else an error ack carrying it (the sender
/// resends or dead-letters). A message that asked for no ack is removed instead (moved to
/// errors/ on error). not_found when messages/ID.msg is not there, already_exists when it is
/// acknowledged already.
PLEXUS_EXPORT Result<void> spool_ack(std::string_view dir, std::string_view id,
                                     std::optional<Error> error = std::nullopt,
                                     SpoolOptions options = {});

/// Files of one kind in a spool directory.
struct SpoolFileCount {
  std::uint64_t count = 0;  ///< how many
  /// How long ago the oldest of them was last written (its modification time; a rename keeps
  /// it); 0 when there is none.
  std::chrono::milliseconds oldest_age{0};
};

/// What a spool directory holds now (spool_directory_stats()).
struct SpoolDirectoryStats {
  std::string directory;  ///< `/path/group`
  /// messages/ID.msg: messages to handle, or handled and not yet cleaned up by the sender.
  SpoolFileCount ready;
  SpoolFileCount waiting;  ///< messages/.wait-ID.msg: failed, waiting for their retry
  SpoolFileCount acks;     ///< acks/ID.ack: answers the sender has not cleaned up yet
  SpoolFileCount errors;   ///< errors/: dead letters and refused files (not the .reason files)
  /// `.tmp-…` files in messages/, acks/ and errors/: writes under way, or left by a writer that
  /// crashed before its rename.
  SpoolFileCount temporary;
  /// Of those, the ones last written more than ten minutes ago: a live writer holds its
  /// temporary file for one write and one fsync, so these are a crashed writer's. A SpoolSender
  /// that takes over and a SpoolReceiver remove them when they start.
  std::uint64_t stale_temporary = 0;
};

/// For an operator (`plexus spool stats`, a textfile exporter): counts `dir`'s files from its
/// listings, without reading, moving or removing any. Safe beside a running sender and
/// receiver. invalid_argument for a bad path, not_found when it is not a spool directory.
PLEXUS_EXPORT Result<SpoolDirectoryStats> spool_directory_stats(std::string_view dir);

}  // namespace plexus
