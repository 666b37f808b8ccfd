#include "api/durable_json.hpp"

namespace plexus::detail {
namespace {

std::int64_t ms(DurableTime t) {
  return t.time_since_epoch().count();
}
DurableTime at(std::int64_t v) {
  return DurableTime(std::chrono::milliseconds(v));
}

}  // namespace

nlohmann::json to_json(const DurableMessage& m) {
  nlohmann::json history = nlohmann::json::array();
  for (const auto& e : m.history) {
    history.push_back({{"at_ms", ms(e.at)},
                       {"reason", e.reason},
                       {"status", static_cast<int>(e.status)},
                       {"status_name", std::string(to_string(e.status))},
                       {"message", e.message}});
  }
  nlohmann::json j{{"id", m.id},
                   {"queue", m.queue},
                   {"type", m.type},
                   {"group", m.group},
                   {"priority", m.priority},
                   {"not_before_ms", ms(m.not_before)},
                   {"enqueued_at_ms", ms(m.enqueued_at)},
                   {"attempts", m.attempts},
                   {"size", m.payload.size()},
                   {"payload", m.payload},
                   {"history", std::move(history)}};
  if (m.max_retries) j["max_retries"] = *m.max_retries;
  if (m.retry_delay) j["retry_delay_ms"] = m.retry_delay->count();
  return j;
}

nlohmann::json to_json(const DeadLetter& d) {
  return {{"message", to_json(d.message)},
          {"reason", std::string(to_string(d.reason))},
          {"status", static_cast<int>(d.status)},
          {"status_name", std::string(to_string(d.status))},
          {"error", d.error},
          {"dead_at_ms", ms(d.dead_at)},
          {"age_ms", d.age.count()}};
}

nlohmann::json to_json(const DurableStats& s) {
  nlohmann::json queues = nlohmann::json::array();
  for (const auto& q : s.queues) {
    queues.push_back({{"queue", q.queue},
                      {"ready", q.ready},
                      {"delayed", q.delayed},
                      {"in_flight", q.in_flight},
                      {"bytes", q.bytes},
                      {"oldest_ready_age_ms", q.oldest_ready_age.count()},
                      {"dead_letters", q.dead_letters},
                      {"oldest_dead_letter_age_ms", q.oldest_dead_letter_age.count()}});
  }
  const auto& c = s.counters;
  return {{"queues", std::move(queues)},
          {"counters",
           {{"sent", c.sent},
            {"acked", c.acked},
            {"retried", c.retried},
            {"dead_lettered", c.dead_lettered},
            {"redelivered", c.redelivered},
            {"duplicates_dropped", c.duplicates_dropped},
            {"commits", c.commits}}}};
}

Result<DeadLetter> dead_letter_from_json(const nlohmann::json& j) {
  try {
    DeadLetter d;
    const auto& m = j.at("message");
    d.message.id = m.at("id").get<std::string>();
    d.message.queue = m.at("queue").get<std::string>();
    d.message.type = m.at("type").get<std::string>();
    d.message.group = m.at("group").get<std::string>();
    d.message.priority = m.at("priority").get<std::int32_t>();
    d.message.not_before = at(m.at("not_before_ms").get<std::int64_t>());
    d.message.enqueued_at = at(m.at("enqueued_at_ms").get<std::int64_t>());
    d.message.attempts = m.at("attempts").get<std::uint32_t>();
    d.message.payload = m.at("payload").get<std::string>();
    if (m.contains("max_retries")) d.message.max_retries = m["max_retries"].get<std::uint32_t>();
    if (m.contains("retry_delay_ms"))
      d.message.retry_delay = std::chrono::milliseconds(m["retry_delay_ms"].get<std::int64_t>());
    for (const auto& e : m.at("history")) {
      DeliveryEvent ev;
      ev.at = at(e.at("at_ms").get<std::int64_t>());
      ev.reason = e.at("reason").get<std::string>();
      ev.status = status_code_from_wire(e.at("status").get<std::uint16_t>());
      ev.message = e.at("message").get<std::string>();
      d.message.history.push_back(std::move(ev));
    }
    const auto reason = j.at("reason").get<std::string>();
    d.reason = reason == "handler_error"   ? DeadLetterReason::handler_error
               : reason == "consumer_gone" ? DeadLetterReason::consumer_gone
                                           : DeadLetterReason::timeout;
    d.status = status_code_from_wire(j.at("status").get<std::uint16_t>());
    d.error = j.at("error").get<std::string>();
    d.dead_at = at(j.at("dead_at_ms").get<std::int64_t>());
    d.age = std::chrono::milliseconds(j.at("age_ms").get<std::int64_t>());
    return d;
  } catch (const std::exception& e) {
    return make_error(StatusCode::invalid_argument, std::string("bad dead letter: ") + e.what());
  }
}

Result<DurableStats> durable_stats_from_json(const nlohmann::json& j) {
  try {
    DurableStats s;
    for (const auto& q : j.at("queues")) {
      QueueStats r;
      r.queue = q.at("queue").get<std::string>();
      r.ready = q.at("ready").get<std::uint64_t>();
      r.delayed = q.at("delayed").get<std::uint64_t>();
      r.in_flight = q.at("in_flight").get<std::uint64_t>();
      r.bytes = q.at("bytes").get<std::uint64_t>();
      r.oldest_ready_age =
          std::chrono::milliseconds(q.at("oldest_ready_age_ms").get<std::int64_t>());
      r.dead_letters = q.at("dead_letters").get<std::uint64_t>();
      r.oldest_dead_letter_age =
          std::chrono::milliseconds(q.at("oldest_dead_letter_age_ms").get<std::int64_t>());
      s.queues.push_back(std::move(r));
    }
    const auto& c = j.at("counters");
    s.counters.sent = c.at("sent").get<std::uint64_t>();
    s.counters.acked = c.at("acked").get<std::uint64_t>();
    s.counters.retried = c.at("retried").get<std::uint64_t>();
    s.counters.dead_lettered = c.at("dead_lettered").get<std::uint64_t>();
    s.counters.redelivered = c.at("redelivered").get<std::uint64_t>();
    s.counters.duplicates_dropped = c.at("duplicates_dropped").get<std::uint64_t>();
    s.counters.commits = c.at("commits").get<std::uint64_t>();
    return s;
  } catch (const std::exception& e) {
    return make_error(StatusCode::invalid_argument, std::string("bad queue stats: ") + e.what());
  }
}

}  // namespace plexus::detail
