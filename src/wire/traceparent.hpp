// W3C Trace Context `traceparent` values (https://www.w3.org/TR/trace-context/#traceparent-header):
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lower-case hex. plexus carries them
// in the trace_id metadata key (docs/PROTOCOL.md §4) and derives a child for every call, notify,
// publish, stream or lane a handler starts. Pure: parsing and formatting only (ids are drawn
// by the caller).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::wire {

inline constexpr std::size_t kTraceParentLength = 55;

struct TraceParent {
  std::array<std::uint8_t, 16> trace_id{};  // never all zero
  std::array<std::uint8_t, 8> parent_id{};  // never all zero
  std::uint8_t flags = 0;                   // bit 0: sampled
};

// A valid traceparent: version 00 exactly 55 characters; a later version (not ff) at least 55
// with a '-' after them, of which the first four fields are read (as the spec asks of a reader).
// Upper-case hex, all-zero ids and version ff are invalid. Anything else: nullopt.
std::optional<TraceParent> parse_traceparent(std::string_view text);

// Version 00, lower-case: always kTraceParentLength characters.
std::string format_traceparent(const TraceParent& tp);

// The trace id part of a valid traceparent (32 hex characters); the whole text otherwise (an
// opaque id some other tracer set), so logs can always show it.
std::string_view trace_id_of(std::string_view text);

}  // namespace plexus::wire
