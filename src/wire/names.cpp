#include "wire/names.hpp"

#include <string>

namespace plexus::wire {
namespace {

bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Why `name` breaks the rule (nullptr when it does not), as the end of "<what> \"name\" …".
const char* problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxQueueNameLength) return "is too long";
  if (name == ".") return "is not allowed";
  if (name.find("..") != std::string_view::npos) return "contains \"..\"";
  for (char c : name) {
    if (c == '/') return "contains '/'";
    if (!allowed(c)) return "contains a character that is not allowed";
  }
  return nullptr;
}

// The name quoted for a message: cut short and with bytes that would garble a log escaped.
std::string quoted(std::string_view name) {
  std::string out = "\"";
  for (char c : name.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  if (name.size() > 64) out += "...";
  return out + "\"";
}

// `text` as a JSON string: quotes, backslashes and control bytes escaped; other bytes kept
// (wire stays free of a JSON library).
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      // Outside printable ASCII: \u00XX, so that the details are valid JSON (and UTF-8) whatever
      // bytes the name held.
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

bool valid_name(std::string_view name) {
  return problem(name) == nullptr;
}

Result<void> validate_name(std::string_view name, std::string_view what) {
  const char* why = problem(name);
  if (!why) return {};
  const std::string rule = " (1 to " + std::to_string(kMaxQueueNameLength) +
                           " characters of A-Z a-z 0-9 . _ -, not \".\", no \"..\")";
  // `what` is a plain literal of the caller's; quotes and backslashes are dropped all the same
  // so that the details stay JSON.
  std::string field;
  for (char c : what) {
    if (c != '"' && c != '\\') field += c;
  }
  const std::string details = "{\"field\":\"" + field + "\"}";
  std::string message = std::string(what);
  if (name.empty()) {
    message += " is empty";
  } else if (name.size() > kMaxQueueNameLength) {
    message += " " + quoted(name) + " is " + std::to_string(name.size()) + " characters long";
  } else {
    message += " " + quoted(name) + " " + why;
  }
  return make_error(StatusCode::invalid_argument, message + rule, details);
}

Result<void> validate_service_name(std::string_view name) {
  static constexpr std::string_view kRule =
      "two or more segments separated by '.', each of A-Z a-z 0-9 _ -, 1 to 128 characters in "
      "all, not under the reserved \"plexus.\" prefix (e.g. \"com.example.search\")";
  const auto refuse = [&](const std::string& why) -> Result<void> {
    const std::string details =
        "{\"field\":\"service name\",\"name\":" + json_string(name.substr(0, kMaxQueueNameLength)) +
        ",\"rule\":" + json_string(kRule) + "}";
    return make_error(StatusCode::invalid_argument,
                      "service name " + quoted(name) + " " + why + " (" + std::string(kRule) + ")",
                      details);
  };
  if (const char* why = problem(name)) return refuse(why);
  if (name.find('.') == std::string_view::npos) return refuse("has one segment");
  if (name.front() == '.' || name.back() == '.') return refuse("has an empty segment");
  if (name.starts_with("plexus.")) return refuse("is under the reserved prefix \"plexus.\"");
  return {};
}

}  // namespace plexus::wire
