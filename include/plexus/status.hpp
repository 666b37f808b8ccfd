/// \file
/// Status codes, errors and Result<T>: the vocabulary every layer of plexus shares.
/// Pure and header-only (no I/O), so the wire layer may use it as well as the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

#include "plexus/export.hpp"

namespace plexus {

/// Stable, cross-language codes (docs/PROTOCOL.md §Status codes). The numbers travel on the wire
/// and never change; those shared with gRPC keep gRPC's numbers.
enum class StatusCode : std::uint16_t {
  ok = 0,                   ///< success; in GOAWAY: graceful shutdown
  cancelled = 1,            ///< the call was cancelled
  unknown = 2,              ///< unknown error; also what an unrecognised number maps to
  invalid_argument = 3,     ///< the request is invalid
  deadline_exceeded = 4,    ///< the deadline passed
  not_found = 5,            ///< no such method (or entity)
  already_exists = 6,       ///< the entity to be created exists already
  permission_denied = 7,    ///< the caller may not do this
  resource_exhausted = 8,   ///< out of some resource (connections, queue room, rate)
  failed_precondition = 9,  ///< the system is not in a state to do this
  internal = 13,            ///< internal error in the callee (a handler threw or dropped its call)
  unavailable = 14,         ///< the peer is shutting down or unreachable
  unauthenticated = 16,     ///< no valid credentials (a token missing, malformed, expired, …)
  message_too_large = 100,  ///< a payload exceeded a max_message_size
  protocol_error = 101,     ///< the byte stream violates the protocol
};

/// The code's name as written here ("ok", "invalid_argument", …).
constexpr std::string_view to_string(StatusCode code) {
  switch (code) {
    case StatusCode::ok:
      return "ok";
    case StatusCode::cancelled:
      return "cancelled";
    case StatusCode::unknown:
      return "unknown";
    case StatusCode::invalid_argument:
      return "invalid_argument";
    case StatusCode::deadline_exceeded:
      return "deadline_exceeded";
    case StatusCode::not_found:
      return "not_found";
    case StatusCode::already_exists:
      return "already_exists";
    case StatusCode::permission_denied:
      return "permission_denied";
    case StatusCode::resource_exhausted:
      return "resource_exhausted";
    case StatusCode::failed_precondition:
      return "failed_precondition";
    case StatusCode::internal:
      return "internal";
    case StatusCode::unavailable:
      return "unavailable";
    case StatusCode::unauthenticated:
      return "unauthenticated";
    case StatusCode::message_too_large:
      return "message_too_large";
    case StatusCode::protocol_error:
      return "protocol_error";
  }
  return "unknown";
}

/// Maps a number read from a peer to a code; numbers this version does not know become `unknown`
/// so that a newer peer's code never crashes an older one.
constexpr StatusCode status_code_from_wire(std::uint16_t value) {
  switch (value) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
    case 13:
    case 14:
    case 16:
    case 100:
    case 101:
      return static_cast<StatusCode>(value);
    default:
      return StatusCode::unknown;
  }
}

/// An error: a stable code, a message for people, and optional details for programs (JSON text
/// such as {"limit":8388608,"size":8388609}). Value type; cheap to move.
struct PLEXUS_EXPORT Error {
  StatusCode code = StatusCode::unknown;  ///< what went wrong, for programs
  std::string message;                    ///< for people; its wording may change, do not parse it
  std::string details;                    ///< JSON object text, or empty

  /// "code: message details", for logs (the parts that are empty are left out).
  std::string to_string() const {
    std::string s(plexus::to_string(code));
    if (!message.empty()) s += ": " + message;
    if (!details.empty()) s += " " + details;
    return s;
  }
};

/// A value or an Error: what every fallible plexus function returns.
template <typename T>
using Result = tl::expected<T, Error>;

/// An Error for a Result: `return make_error(StatusCode::not_found, "no such user");`.
inline tl::unexpected<Error> make_error(StatusCode code, std::string message,
                                        std::string details = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(details)});
}

}  // namespace plexus
