// Topic names and subscription patterns: pure functions, no allocation.
//
// A topic is 1..255 bytes of segments separated by '.'; no segment is empty and none contains
// '*' or '>'. A pattern has the same shape, except that a segment may be exactly `*` (matches
// exactly one segment) or, as the last segment only, exactly `>` (matches one or more trailing
// segments). So "db.*" matches "db.users" but not "db" or "db.users.x"; "db.>" matches
// "db.users" and "db.users.x" but not "db"; ">" matches every topic.
#pragma once

#include <string_view>

#include "plexus/status.hpp"

namespace plexus::wire {

inline constexpr std::size_t kMaxTopicLength = 255;

// invalid_argument with the reason ("empty segment at byte 3", …) when `topic` is not a topic.
Result<void> validate_topic(std::string_view topic);
// invalid_argument when `pattern` is not a pattern.
Result<void> validate_pattern(std::string_view pattern);
// Whether a valid `pattern` matches a valid `topic`.
bool topic_matches(std::string_view pattern, std::string_view topic);
// Whether valid pattern `outer` matches every topic valid pattern `inner` matches: "news.>"
// covers "news.*.x" and "news.>"; "news.*" covers "news.a" and "news.*" but not "news.>"; ">"
// covers every pattern. What access policies decide a SUBSCRIBE by.
bool pattern_covers(std::string_view outer, std::string_view inner);

}  // namespace plexus::wire
