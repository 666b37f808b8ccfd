#include "rpc/topic_pattern.hpp"

#include <string>

namespace plexus::rpc {
namespace {

// Splits off the segment before the next '.', leaving the rest (without the dot) in `text`.
std::string_view next_segment(std::string_view& text) {
  const auto dot = text.find('.');
  const auto segment = text.substr(0, dot);
  text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  return segment;
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
    const auto where = " at byte " + std::to_string(start) + " of \"" + std::string(text) + "\"";
    if (segment.empty()) {
      return make_error(StatusCode::invalid_argument,
                        std::string(what) + ": empty segment" + where);
    }
    const bool wild = segment == "*" || segment == ">";
    if (wild && !pattern) {
      return make_error(StatusCode::invalid_argument,
                        "topic: wildcard segment" + where + " (only patterns may use * and >)");
    }
    if (!wild && segment.find_first_of("*>") != std::string_view::npos) {
      return make_error(StatusCode::invalid_argument,
                        std::string(what) + ": * and > must be a whole segment" + where);
    }
    if (segment == ">" && dot != std::string_view::npos) {
      return make_error(StatusCode::invalid_argument,
                        "pattern: > must be the last segment" + where);
    }
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

}  // namespace

Result<void> validate_topic(std::string_view topic) {
  return validate(topic, false);
}

Result<void> validate_pattern(std::string_view pattern) {
  return validate(pattern, true);
}

bool topic_matches(std::string_view pattern, std::string_view topic) {
  while (!pattern.empty()) {
    if (topic.empty()) return false;  // the pattern has segments left, the topic none
    const auto p = next_segment(pattern);
    if (p == ">") return true;  // one or more remaining segments: the topic has at least one
    const auto t = next_segment(topic);
    if (p != "*" && p != t) return false;
  }
  return topic.empty();
}

}  // namespace plexus::rpc
