/// \file
/// Acknowledged messages (docs/PROTOCOL.md §22.1): a one-way message the receiver acknowledges
/// once its handler returned without error, resent with the same id when no acknowledgement
/// comes, and dead-lettered with the reason once its retries are used up. The receiver (any
/// plexus Server or Client) remembers the ids it handled and acknowledges a resend without
/// running the handler again: at least once on the wire, once to the handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/caller.hpp"
#include "plexus/durable.hpp"
#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

/// Dead letters of acknowledged messages, kept in memory for the application to inspect,
/// resend or drop. Thread-safe; share it between senders with a shared_ptr.
class PLEXUS_EXPORT DeadLetterBox {
 public:
  /// Called (on the sending thread, outside the box's lock) for each message added.
  explicit DeadLetterBox(std::function<void(const DeadLetter&)> on_add = {});
  void add(DeadLetter letter);                          ///< keeps `letter`
  std::vector<DeadLetter> list() const;                 ///< every letter, oldest first
  std::optional<DeadLetter> take(std::string_view id);  ///< removes and returns one by id
  std::size_t size() const;                             ///< how many it holds
  std::size_t clear();                                  ///< drops all; returns how many

 private:
  std::function<void(const DeadLetter&)> on_add_;
  mutable std::mutex mu_;
  std::vector<DeadLetter> letters_;  // guarded by mu_
};

/// How an acknowledged message is sent and resent. The defaults are the seeds': 30 s for the
/// acknowledgement, 3 retries 5 s apart.
struct PLEXUS_EXPORT AckOptions {
  Millis ack_timeout{30000};      ///< how long each attempt waits for the acknowledgement
  std::uint32_t max_retries = 3;  ///< resends after the first attempt
  Millis retry_delay{5000};       ///< wait before the first resend
  double backoff = 1.0;  ///< each later resend waits this many times longer than the one before
  /// The message's id (at most 128 bytes). Empty: a random one is drawn.
  std::string message_id;
  /// Where the message goes once its retries are used up (with the reason). Null: only the
  /// returned error says so.
  std::shared_ptr<DeadLetterBox> dead_letters;
};

/// Sends `payload` to `method` of `caller`'s peer as an acknowledged message and blocks until
/// the peer acknowledged it (its handler returned without error), resending on no answer, on
/// a handler error and on a lost connection. After the last attempt the message goes to
/// options.dead_letters with the reason (timeout, handler_error with the handler's status and
/// message, or consumer_gone: the receiver unreachable) and the last error is returned.
/// Not on an I/O thread (failed_precondition). Any handler serves it (a notify handler too);
/// CallContext::message_id() tells the handler the id.
PLEXUS_EXPORT Result<void> send_acked(Caller& caller, std::string_view method, std::string payload,
                                      AckOptions options = {});

/// Publishes `payload` on `topic` through `caller`'s server (a Client's) as an acknowledged
/// message: acknowledged once the server has routed it into the queue of every subscription
/// matching then, resent as send_acked resends, and routed once however often it is resent.
/// An access policy checks it as a publish on `topic` (permission_denied otherwise).
/// invalid_argument for a bad topic. Blocks as send_acked does.
PLEXUS_EXPORT Result<void> publish_acked(Caller& caller, std::string_view topic,
                                         std::string payload, AckOptions options = {});

}  // namespace plexus
