#include "rpc/topic_pattern.hpp"

#include <algorithm>
#include <string>

namespace plexus::rpc {
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

}  // namespace plexus::rpc
