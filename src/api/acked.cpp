// send_acked: an acknowledged message as a call that carries the message's id (CallOptions::
// message_id), resent with the same id until acknowledged or out of retries.
#include "plexus/acked.hpp"

#include <cmath>
#include <random>
#include <thread>

#include "api/message_id.hpp"
#include "observe/log.hpp"
#include "rpc/acked_ids.hpp"
#include "wire/envelope.hpp"
#include "wire/topic_pattern.hpp"

namespace plexus {
namespace {

DeadLetterReason reason_of(StatusCode code) {
  switch (code) {
    case StatusCode::deadline_exceeded:
      return DeadLetterReason::timeout;
    case StatusCode::unavailable:
    case StatusCode::cancelled:
      return DeadLetterReason::consumer_gone;
    default:
      return DeadLetterReason::handler_error;
  }
}

}  // namespace

DeadLetterBox::DeadLetterBox(std::function<void(const DeadLetter&)> on_add)
    : on_add_(std::move(on_add)) {}

void DeadLetterBox::add(DeadLetter letter) {
  {
    std::lock_guard lock(mu_);
    letters_.push_back(letter);
  }
  if (on_add_) on_add_(letter);
}

std::vector<DeadLetter> DeadLetterBox::list() const {
  std::lock_guard lock(mu_);
  return letters_;
}

std::optional<DeadLetter> DeadLetterBox::take(std::string_view id) {
  std::lock_guard lock(mu_);
  for (auto it = letters_.begin(); it != letters_.end(); ++it) {
    if (it->message.id == id) {
      DeadLetter d = std::move(*it);
      letters_.erase(it);
      return d;
    }
  }
  return std::nullopt;
}

std::size_t DeadLetterBox::size() const {
  std::lock_guard lock(mu_);
  return letters_.size();
}

std::size_t DeadLetterBox::clear() {
  std::lock_guard lock(mu_);
  const auto n = letters_.size();
  letters_.clear();
  return n;
}

Result<void> send_acked(Caller& caller, std::string_view method, std::string payload,
                        AckOptions options) {
  if (options.message_id.empty()) options.message_id = detail::random_message_id();
  if (options.message_id.size() > 128) {
    return make_error(StatusCode::invalid_argument, "message id is limited to 128 bytes");
  }
  CallOptions co;
  co.timeout = options.ack_timeout;
  co.message_id = options.message_id;
  const auto first_try = std::chrono::system_clock::now();
  DurableMessage record;
  record.id = options.message_id;
  record.queue = std::string(method);
  record.type = "notify";
  record.enqueued_at = std::chrono::time_point_cast<std::chrono::milliseconds>(first_try);
  Error last{StatusCode::internal, "not sent", {}};
  double delay_ms = static_cast<double>(options.retry_delay.count());
  for (std::uint32_t attempt = 0; attempt <= options.max_retries; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(Millis{static_cast<std::int64_t>(delay_ms)});
      delay_ms *= options.backoff;
    }
    auto r = caller.call(method, payload, co);
    if (r) return {};
    last = r.error();
    if (last.code == StatusCode::failed_precondition &&
        last.message.find("I/O thread") != std::string::npos) {
      return tl::unexpected(last);  // a blocking call on an I/O thread: nothing was sent
    }
    record.attempts = attempt + 1;
    record.history.push_back(DeliveryEvent{
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()),
        std::string(to_string(reason_of(last.code))), last.code, last.message});
  }
  observe::logger().warn(
      "plexus: acknowledged message {} to \"{}\" dead-lettered after {} "
      "attempt(s): {}",
      options.message_id, method, record.attempts, last.to_string());
  if (options.dead_letters) {
    DeadLetter d;
    d.reason = reason_of(last.code);
    d.status = last.code;
    d.error = last.message;
    d.dead_at =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    record.payload = std::move(payload);
    d.message = std::move(record);
    options.dead_letters->add(std::move(d));
  }
  return tl::unexpected(last);
}

Result<void> publish_acked(Caller& caller, std::string_view topic, std::string payload,
                           AckOptions options) {
  if (auto ok = wire::validate_topic(topic); !ok) return ok;
  wire::Metadata fields;
  fields.method = topic;
  std::string envelope;
  if (auto ok = wire::encode_envelope(fields, payload, envelope); !ok) return ok;
  return send_acked(caller, rpc::kAckedPublishMethod, std::move(envelope), std::move(options));
}

}  // namespace plexus
