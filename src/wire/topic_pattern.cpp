#include "wire/topic_pattern.hpp"

#include <algorithm>
#include <string>

namespace plexus::wire {
namespace {

// Index of the '.' ending the segment that starts at `from`, or text.size() for the last one.
std::size_t segment_end(std::string_view text, std::size_t from) {
  while (from < text.size() && text[from] != '.') ++from;
  return from;
}

Result<void> validate(std::string_view text, bool pattern) {
  const char* what = pattern ? "pattern" : "topic";
  if (text.empty())
    return make_error(StatusCode::invalid_argument, std::string(what) + " is empty");
  if (text.size() > kMaxTopicLength) {
    return make_error(StatusCode::invalid_argument,
                      std::string(what) + " is longer than 255 bytes");
  }
  std::size_t start = 0;
  while (true) {
    const auto dot = text.find('.', start);
    const auto end = dot == std::string_view::npos ? text.size() : dot;
    const auto segment = text.substr(start, end - start);
    // Built only for an error: this runs on every publish.
    const auto where = [&] {
      return " at byte " + std::to_string(start) + " of \"" + std::string(text) + "\"";
    };
    if (segment.empty()) {
      return make_error(StatusCode::invalid_argument,
                        std::string(what) + ": empty segment" + where());
    }
    const bool wild = segment == "*" || segment == ">";
    if (wild && !pattern) {
      return make_error(StatusCode::invalid_argument,
                        "topic: wildcard segment" + where() + " (only patterns may use * and >)");
    }
    if (!wild && segment.find_first_of("*>") != std::string_view::npos) {
      return make_error(StatusCode::invalid_argument,
                        std::string(what) + ": * and > must be a whole segment" + where());
    }
    if (segment == ">" && dot != std::string_view::npos) {
      return make_error(StatusCode::invalid_argument,
                        "pattern: > must be the last segment" + where());
    }
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

}  // namespace

Result<void> validate_topic(std::string_view topic) {
  // Every publish comes here: one pass over the bytes accepts a good topic; only a bad one
  // goes through validate(), which words the error.
  if (!topic.empty() && topic.size() <= kMaxTopicLength && topic.front() != '.' &&
      topic.back() != '.') {
    char previous = 0;
    bool good = true;
    for (const char c : topic) {
      if (c == '*' || c == '>' || (c == '.' && previous == '.')) {
        good = false;
        break;
      }
      previous = c;
    }
    if (good) return {};
  }
  return validate(topic, false);
}

Result<void> validate_pattern(std::string_view pattern) {
  return validate(pattern, true);
}

bool topic_matches(std::string_view pattern, std::string_view topic) {
  // Runs for every subscription on every publish: one pass over both, no searches.
  std::size_t p = 0;
  std::size_t t = 0;
  while (p < pattern.size()) {
    if (t >= topic.size()) return false;  // the pattern has segments left, the topic none
    const std::size_t p_end = segment_end(pattern, p);
    const std::string_view segment = pattern.substr(p, p_end - p);
    if (segment == ">") return true;  // one or more remaining segments: the topic has one
    const std::size_t t_end = segment_end(topic, t);
    if (segment != "*" && segment != topic.substr(t, t_end - t)) return false;
    p = std::min(p_end + 1, pattern.size());  // past the dot, or at the end
    t = std::min(t_end + 1, topic.size());
  }
  return t >= topic.size();
}

bool pattern_covers(std::string_view outer, std::string_view inner) {
  // Segment by segment: `>` in outer takes whatever inner has left (at least one segment, as
  // both are here); `*` in outer takes one segment of inner, literal or `*`; a literal only
  // the same literal. A `>` in inner (more than one segment) is covered only by a `>`.
  std::size_t o = 0;
  std::size_t i = 0;
  while (o < outer.size()) {
    if (i >= inner.size()) return false;  // outer needs more segments than inner's topics have
    const std::size_t o_end = segment_end(outer, o);
    const std::string_view o_segment = outer.substr(o, o_end - o);
    if (o_segment == ">") return true;
    const std::size_t i_end = segment_end(inner, i);
    const std::string_view i_segment = inner.substr(i, i_end - i);
    if (i_segment == ">") return false;
    if (o_segment != "*" && (i_segment == "*" || i_segment != o_segment)) return false;
    o = std::min(o_end + 1, outer.size());
    i = std::min(i_end + 1, inner.size());
  }
  return i >= inner.size();
}

}  // namespace plexus::wire
