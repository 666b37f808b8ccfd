// What a spool file holds (docs/PROTOCOL.md, "Spool directories"): a message file is one NOTIFY
// frame, an ack file one RESPONSE (handled) or ERROR (the handler failed) frame, each exactly
// one plexus frame and nothing after it. Pure functions over bytes, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "plexus/status.hpp"

namespace plexus::transport::spool {

// A message as it is in its file.
struct Record {
  std::string id;                            // message_id; empty when no ack is asked for
  std::string type = "task";                 // message_type, also the frame's method
  std::string group;                         // message_group
  std::uint32_t attempt = 1;                 // which delivery this is, from 1
  std::optional<std::uint32_t> max_retries;  // the sender's rule for it
  std::optional<std::chrono::milliseconds> retry_delay;  // likewise
  bool json = false;                                     // content_type 1
  std::string payload;
};

// The frame for `record`; message_too_large past `max_message_size`, invalid_argument for a
// type or group that is not a valid_name or an id that is not a valid_id.
Result<std::string> encode_message(const Record& record, std::uint32_t max_message_size);

// Why a file is refused, for its reason file: "truncated", "malformed", "too_large",
// "unexpected_kind", "bad_metadata".
struct Refusal {
  std::string reason;
  Error error;
};

// A file moved to errors/ (errors/NAME, with NAME.reason), for its owner's log: a refused file,
// a failed message that asked for no ack, or a sender's dead letter of a message it did not send.
struct ErrorFile {
  std::string name;
  std::string reason;  // as in the reason file
  Error error;
};

// The message in `bytes`, which must be exactly one NOTIFY frame with a method, a message_type
// equal to it, and a payload within `max_message_size`.
tl::expected<Record, Refusal> decode_message(std::string_view bytes,
                                             std::uint32_t max_message_size);

// An ack: `ok` (RESPONSE) or the handler's error (ERROR frame: status, error_message,
// error_details).
struct Ack {
  std::string id;
  std::uint32_t attempt = 1;
  bool ok = true;
  Error error;  // when !ok
};

std::string encode_ack(const Ack& ack);
tl::expected<Ack, Refusal> decode_ack(std::string_view bytes);

// The JSON object of a reason file: {"reason":…,"status":…,"code":…,"message":…,
// "attempts":…,"at_ms":…} ("status" the code's name, "code" its number, "attempts" only when
// known).
std::string reason_json(std::string_view reason, const Error& error,
                        std::optional<std::uint32_t> attempts, std::int64_t at_ms);

// Milliseconds since the Unix epoch, for reason files (informative only).
std::int64_t wall_clock_ms();

// The largest valid spool file for payloads of at most `max_message_size`: the header, the
// largest metadata block and the payload. Readers refuse larger files without reading them.
std::size_t max_file_size(std::uint32_t max_message_size);

}  // namespace plexus::transport::spool
