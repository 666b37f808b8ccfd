#include "durable/records.hpp"

#include <nlohmann/json.hpp>

namespace plexus::durable {
namespace {

std::vector<DeliveryEvent> parse_history(const std::string& text) {
  std::vector<DeliveryEvent> events;
  // The store writes every history itself; a text that does not parse (edited by hand) reads
  // as no history rather than failing the delivery of its message.
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return events;
  for (const auto& e : json) {
    if (!e.is_object()) continue;
    DeliveryEvent event;
    event.at = from_ms(e.value("at", std::int64_t{0}));
    event.reason = e.value("reason", std::string());
    event.status = status_code_from_wire(e.value("status", std::uint16_t{2}));
    event.message = e.value("message", std::string());
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace

DurableMessage read_message(const StatementUse& row) {
  DurableMessage m;
  m.id = row.text(0);
  m.queue = row.text(1);
  m.type = row.text(2);
  m.group = row.text(3);
  m.priority = static_cast<std::int32_t>(row.int64(4));
  m.not_before = from_ms(row.int64(5));
  m.enqueued_at = from_ms(row.int64(6));
  m.attempts = static_cast<std::uint32_t>(row.int64(7));
  if (!row.is_null(8)) m.max_retries = static_cast<std::uint32_t>(row.int64(8));
  if (!row.is_null(9)) m.retry_delay = std::chrono::milliseconds(row.int64(9));
  m.history = parse_history(row.text(10));
  m.payload = row.text(11);
  return m;
}

std::string history_event(std::int64_t at_ms, std::string_view reason, StatusCode status,
                          std::string_view message) {
  return nlohmann::json{{"at", at_ms},
                        {"reason", reason},
                        {"status", static_cast<std::uint16_t>(status)},
                        {"message", message}}
      // A handler's message may hold any bytes: replace invalid UTF-8 rather than throw.
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace plexus::durable
