#include "durable/queue_name.hpp"

#include <string>

#include <nlohmann/json.hpp>

namespace plexus::durable {
namespace {

bool allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
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

}  // namespace

Result<void> validate_name(std::string_view name, std::string_view what) {
  const std::string rule = " (1 to " + std::to_string(kMaxNameLength) +
                           " characters of A-Z a-z 0-9 . _ -, not \".\", no \"..\")";
  const std::string details = nlohmann::json{{"field", what}}.dump();
  const std::string subject = std::string(what) + " " + quoted(name);
  if (name.empty())
    return make_error(StatusCode::invalid_argument, std::string(what) + " is empty" + rule,
                      details);
  if (name.size() > kMaxNameLength)
    return make_error(StatusCode::invalid_argument,
                      subject + " is " + std::to_string(name.size()) + " characters long" + rule,
                      details);
  if (name == ".")
    return make_error(StatusCode::invalid_argument, subject + " is not allowed" + rule, details);
  if (name.find("..") != std::string_view::npos)
    return make_error(StatusCode::invalid_argument, subject + " contains \"..\"" + rule, details);
  for (char c : name) {
    if (c == '/')
      return make_error(StatusCode::invalid_argument, subject + " contains '/'" + rule, details);
    if (!allowed(c))
      return make_error(StatusCode::invalid_argument,
                        subject + " contains a character that is not allowed" + rule, details);
  }
  return {};
}

}  // namespace plexus::durable
