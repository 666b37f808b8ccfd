// QueueClient: sends to a server's durable queues (plexus.queue.send with the message in an
// envelope, docs/PROTOCOL.md §22) and calls its dead-letter methods.
#include <nlohmann/json.hpp>
#include <thread>

#include "api/durable_json.hpp"
#include "api/message_id.hpp"
#include "plexus/queue.hpp"
#include "wire/envelope.hpp"

namespace plexus {
namespace {

Result<std::string> envelope_of(const NewMessage& m) {
  if (m.delay.count() < 0) {
    return make_error(StatusCode::invalid_argument, "a message's delay cannot be negative");
  }
  for (const auto& [what, value] : {std::pair<const char*, const std::string*>{"queue", &m.queue},
                                    {"type", &m.type},
                                    {"group", &m.group},
                                    {"message id", &m.id}}) {
    if (value->size() > wire::kMaxQueueNameLength) {
      return make_error(StatusCode::invalid_argument,
                        std::string(what) + " is longer than 128 characters");
    }
  }
  wire::Metadata f;
  f.queue = m.queue;
  f.message_type = m.type;
  f.message_group = m.group;
  f.message_id = m.id;
  if (m.priority != 0) f.priority = static_cast<std::uint32_t>(m.priority);
  if (m.delay.count() > 0) f.delay_ms = static_cast<std::uint64_t>(m.delay.count());
  if (m.max_retries) f.max_retries = *m.max_retries;
  if (m.retry_delay) f.retry_delay_ms = static_cast<std::uint64_t>(m.retry_delay->count());
  std::string out;
  if (auto ok = wire::encode_envelope(f, m.payload, out); !ok) return tl::unexpected(ok.error());
  return out;
}

Result<Appended> appended_from(const Result<std::string>& answer) {
  if (!answer) return tl::unexpected(answer.error());
  auto j = nlohmann::json::parse(*answer, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("id")) {
    return make_error(StatusCode::internal,
                      "the server's answer to plexus.queue.send is not "
                      "{\"id\", \"duplicate\"}");
  }
  return Appended{j["id"].get<std::string>(), j.value("duplicate", false)};
}

// What a resend may cure: the server unreachable or silent. What it answered stays answered.
bool worth_resending(StatusCode code) {
  return code == StatusCode::unavailable || code == StatusCode::deadline_exceeded;
}

}  // namespace

QueueClient::QueueClient(Caller& caller, QueueSendOptions options)
    : caller_(caller), options_(options) {}

Result<Appended> QueueClient::send(NewMessage message) {
  if (message.id.empty()) message.id = detail::random_message_id();
  auto envelope = envelope_of(message);
  if (!envelope) return tl::unexpected(envelope.error());
  CallOptions co;
  co.timeout = options_.timeout;
  Result<Appended> last = make_error(StatusCode::internal, "not sent");
  for (std::uint32_t attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(options_.retry_delay);
    last = appended_from(caller_.call("plexus.queue.send", *envelope, co));
    if (last || !worth_resending(last.error().code)) return last;
  }
  return last;
}

void QueueClient::send_async(NewMessage message, std::function<void(Result<Appended>)> done) {
  if (message.id.empty()) message.id = detail::random_message_id();
  auto envelope = envelope_of(message);
  CallOptions co;
  co.timeout = options_.timeout;
  if (!envelope) {
    // Through the call path, so that `done` runs on an I/O thread like every other answer.
    caller_.call_async("plexus.queue.send", std::string(), co,
                       [done = std::move(done), e = envelope.error()](Result<std::string>) {
                         done(tl::unexpected(e));
                       });
    return;
  }
  caller_.call_async("plexus.queue.send", std::move(*envelope), co,
                     [done = std::move(done)](Result<std::string> r) { done(appended_from(r)); });
}

Result<std::string> QueueClient::admin(std::string_view method, std::string payload) {
  CallOptions co;
  co.timeout = options_.timeout;
  return caller_.call(method, std::move(payload), co);
}

Result<DurableStats> QueueClient::stats() {
  auto r = admin("plexus.queue.stats", "{}");
  if (!r) return tl::unexpected(r.error());
  auto j = nlohmann::json::parse(*r, nullptr, false);
  return detail::durable_stats_from_json(j);
}

Result<std::vector<DeadLetter>> QueueClient::dead_letters(std::string_view queue,
                                                          std::size_t limit) {
  auto r = admin("plexus.dlq.list", nlohmann::json{{"queue", queue}, {"limit", limit}}.dump());
  if (!r) return tl::unexpected(r.error());
  auto j = nlohmann::json::parse(*r, nullptr, false);
  if (!j.is_array()) return make_error(StatusCode::internal, "plexus.dlq.list: not an array");
  std::vector<DeadLetter> out;
  for (const auto& d : j) {
    auto one = detail::dead_letter_from_json(d);
    if (!one) return tl::unexpected(one.error());
    out.push_back(std::move(*one));
  }
  return out;
}

Result<DeadLetter> QueueClient::dead_letter(std::string_view id) {
  auto r = admin("plexus.dlq.show", nlohmann::json{{"id", id}}.dump());
  if (!r) return tl::unexpected(r.error());
  return detail::dead_letter_from_json(nlohmann::json::parse(*r, nullptr, false));
}

Result<void> QueueClient::replay(std::string_view id) {
  auto r = admin("plexus.dlq.replay", nlohmann::json{{"id", id}}.dump());
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<void> QueueClient::purge(std::string_view id) {
  auto r = admin("plexus.dlq.purge", nlohmann::json{{"id", id}}.dump());
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<std::size_t> QueueClient::purge_queue(std::string_view queue) {
  auto r = admin("plexus.dlq.purge", nlohmann::json{{"queue", queue}}.dump());
  if (!r) return tl::unexpected(r.error());
  auto j = nlohmann::json::parse(*r, nullptr, false);
  return j.is_object() ? j.value("purged", std::size_t{0}) : std::size_t{0};
}

}  // namespace plexus
