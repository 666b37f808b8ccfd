// The NATS bridge's pure parts: how methods and topics map to NATS subjects, how an error
// travels in a reply, and the checks on names (docs/PROTOCOL.md §25). No I/O; unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "plexus/nats_bridge.hpp"
#include "plexus/status.hpp"

namespace plexus::detail::nats {

// Headers the bridge reads and writes (NATS headers, HPUB).
inline constexpr const char* kStatusHeader =
    "Plexus-Status";  // status code number; 0 or absent: ok
inline constexpr const char* kTimeoutHeader = "Plexus-Timeout-Ms";  // the caller's remaining time
inline constexpr const char* kTraceHeader = "Plexus-Trace";    // the plexus trace (traceparent)
inline constexpr const char* kOriginHeader = "Plexus-Origin";  // the publishing bridge's id

// What the local trace of an imported publish starts with: the bridge does not export again a
// message it imported (that is how two bridged daemons keep from looping).
inline constexpr std::string_view kImportedTracePrefix = "nats:";

// True when `subject` is a NATS subject of dot-separated, non-empty tokens without whitespace
// or control characters; `*` (a whole token) and `>` (the whole last token) only when
// `wildcards`, never inside a token.
bool valid_subject(std::string_view subject, bool wildcards);

std::string call_subject(std::string_view prefix, std::string_view method);  // PREFIX.call.M
std::string topic_subject(std::string_view prefix, std::string_view topic);  // PREFIX.topic.T
// The method or topic a subject of that shape names; nullopt for any other subject.
std::optional<std::string_view> method_of(std::string_view prefix, std::string_view subject);
std::optional<std::string_view> topic_of(std::string_view prefix, std::string_view subject);

// "NAME" (the same name on both sides) or "LOCAL=REMOTE". invalid_argument for an empty side,
// wildcards or a name that is no subject.
Result<NatsImport> parse_import(std::string_view spec);

// Checks every name and pattern of `options` (invalid_argument naming the bad one).
Result<void> check_options(const NatsBridgeOptions& options);

// An error reply's body: {"message":…,"details":<the details' JSON, or their text>}.
std::string error_body(const Error& error);
// The error a reply with status header `status` (a number) and `body` carries; nullopt when
// the status says ok (empty or 0). A body that is no JSON object becomes the message.
std::optional<Error> error_of(std::string_view status, std::string_view body);

}  // namespace plexus::detail::nats
