// Status codes, errors and Result<T>: the vocabulary every layer of plexus shares.
// Pure and header-only (no I/O), so the wire layer may use it as well as the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace plexus {

// Stable, cross-language codes (docs/PROTOCOL.md §Status codes). The numbers travel on the wire
// and never change; those shared with gRPC keep gRPC's numbers.
enum class StatusCode : std::uint16_t {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  internal = 13,
  unavailable = 14,
  message_too_large = 100,
  protocol_error = 101,
};

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
    case StatusCode::message_too_large:
      return "message_too_large";
    case StatusCode::protocol_error:
      return "protocol_error";
  }
  return "unknown";
}

// Maps a number read from a peer to a code; numbers this version does not know become `unknown`
// so that a newer peer's code never crashes an older one.
constexpr StatusCode status_code_from_wire(std::uint16_t value) {
  switch (value) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 7:
    case 8:
    case 9:
    case 13:
    case 14:
    case 100:
    case 101:
      return static_cast<StatusCode>(value);
    default:
      return StatusCode::unknown;
  }
}

// An error: a stable code, a message for people, and optional details for programs (JSON text,
// e.g. {"limit":8388608,"size":8388609}). Value type; cheap to move.
struct Error {
  StatusCode code = StatusCode::unknown;
  std::string message;
  std::string details;  // JSON object text, or empty

  std::string to_string() const {
    std::string s(plexus::to_string(code));
    if (!message.empty()) s += ": " + message;
    if (!details.empty()) s += " " + details;
    return s;
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(StatusCode code, std::string message,
                                        std::string details = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(details)});
}

}  // namespace plexus
