#include "api/nats_subjects.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

namespace plexus::detail::nats {
namespace {

bool valid_token(std::string_view token, bool wildcards, bool last) {
  if (token.empty()) return false;
  if (token == "*") return wildcards;
  if (token == ">") return wildcards && last;
  for (const unsigned char c : token) {
    if (c <= ' ' || c == 0x7f || c == '*' || c == '>') return false;
  }
  return true;
}

std::optional<std::string_view> after(std::string_view prefix, std::string_view kind,
                                      std::string_view subject) {
  if (!subject.starts_with(prefix)) return std::nullopt;
  subject.remove_prefix(prefix.size());
  if (subject.size() < kind.size() + 3 || subject[0] != '.' ||
      subject.substr(1, kind.size()) != kind || subject[kind.size() + 1] != '.') {
    return std::nullopt;
  }
  return subject.substr(kind.size() + 2);
}

}  // namespace

bool valid_subject(std::string_view subject, bool wildcards) {
  if (subject.empty()) return false;
  for (std::size_t start = 0;;) {
    const auto dot = subject.find('.', start);
    const bool last = dot == std::string_view::npos;
    const auto token = subject.substr(start, last ? std::string_view::npos : dot - start);
    if (!valid_token(token, wildcards, last)) return false;
    if (last) return true;
    start = dot + 1;
  }
}

std::string call_subject(std::string_view prefix, std::string_view method) {
  std::string s(prefix);
  s += ".call.";
  s += method;
  return s;
}

std::string topic_subject(std::string_view prefix, std::string_view topic) {
  std::string s(prefix);
  s += ".topic.";
  s += topic;
  return s;
}

std::optional<std::string_view> method_of(std::string_view prefix, std::string_view subject) {
  return after(prefix, "call", subject);
}

std::optional<std::string_view> topic_of(std::string_view prefix, std::string_view subject) {
  return after(prefix, "topic", subject);
}

Result<NatsImport> parse_import(std::string_view spec) {
  const auto eq = spec.find('=');
  NatsImport import;
  import.local = std::string(spec.substr(0, eq));
  import.remote = eq == std::string_view::npos ? import.local : std::string(spec.substr(eq + 1));
  for (const auto* name : {&import.local, &import.remote}) {
    if (!valid_subject(*name, false)) {
      return make_error(StatusCode::invalid_argument,
                        "imported method \"" + std::string(spec) + "\": \"" + *name +
                            "\" is no method name a NATS subject can carry (dot-separated "
                            "non-empty parts, no spaces, no wildcards)");
    }
  }
  return import;
}

Result<void> check_options(const NatsBridgeOptions& o) {
  auto bad = [](const std::string& what, const std::string& name) {
    return make_error(StatusCode::invalid_argument,
                      what + " \"" + name +
                          "\" is no NATS subject (dot-separated non-empty parts, no spaces; * "
                          "for one whole part, > for the whole last part)");
  };
  if (o.url.empty()) return make_error(StatusCode::invalid_argument, "no NATS url");
  if (o.default_timeout.count() <= 0 || o.connect_timeout.count() <= 0) {
    return make_error(StatusCode::invalid_argument,
                      "the NATS bridge's default timeout and connect timeout must be at least "
                      "1 ms");
  }
  if (!valid_subject(o.prefix, false)) return bad("prefix", o.prefix);
  for (const auto& m : o.export_methods) {
    if (!valid_subject(m, true)) return bad("exported method", m);
  }
  for (const auto& i : o.import_methods) {
    if (!valid_subject(i.local, false)) return bad("imported method (local name)", i.local);
    if (!valid_subject(i.remote, false)) return bad("imported method (remote name)", i.remote);
  }
  for (const auto& t : o.export_topics) {
    if (!valid_subject(t, true)) return bad("exported topic", t);
  }
  for (const auto& t : o.import_topics) {
    if (!valid_subject(t, true)) return bad("imported topic", t);
  }
  if (o.queue_group.empty() || !valid_subject(o.queue_group, false))
    return bad("queue group", o.queue_group);
  return {};
}

std::string error_body(const Error& error) {
  nlohmann::json body = {{"message", error.message}};
  if (!error.details.empty()) {
    auto details = nlohmann::json::parse(error.details, nullptr, /*allow_exceptions=*/false);
    body["details"] = details.is_discarded() ? nlohmann::json(error.details) : details;
  }
  return body.dump();
}

std::optional<Error> error_of(std::string_view status, std::string_view body) {
  if (status.empty() || status == "0") return std::nullopt;
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(status.data(), status.data() + status.size(), number);
  Error error;
  error.code = ec == std::errc{} && end == status.data() + status.size() && number <= 0xFFFF
                   ? status_code_from_wire(static_cast<std::uint16_t>(number))
                   : StatusCode::unknown;
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object()) {
    if (json.contains("message") && json["message"].is_string()) error.message = json["message"];
    if (json.contains("details") && !json["details"].is_null()) {
      error.details =
          json["details"].is_string() ? json["details"].get<std::string>() : json["details"].dump();
    }
  } else {
    error.message = std::string(body);
  }
  return error;
}

}  // namespace plexus::detail::nats
