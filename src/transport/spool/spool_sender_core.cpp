#include "transport/spool/spool_sender_core.hpp"

#include <algorithm>
#include <climits>

#include "platform/posix/files.hpp"
#include "transport/spool/spool_census.hpp"
#include "wire/frame.hpp"
#include "wire/metadata.hpp"

namespace plexus::transport::spool {

int wait_ms(std::optional<TimePoint> deadline, TimePoint now) {
  if (!deadline) return -1;
  if (*deadline <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
}
SenderCore::SenderCore(Layout layout, SenderRules rules)
    : layout_(std::move(layout)), rules_(rules) {}

void SenderCore::track(const std::string& id, Pending p) {
  auto [it, fresh] = pending_.insert_or_assign(id, p);
  (void)fresh;
  timers_.emplace(p.deadline, id);
}

void SenderCore::set_deadline(const std::string& id, Pending& p, TimePoint deadline) {
  timers_.erase({p.deadline, id});
  p.deadline = deadline;
  timers_.emplace(deadline, id);
}

Result<void> SenderCore::start(TimePoint now) {
  auto names = platform::list_directory(layout_.messages);
  if (!names) return tl::unexpected(names.error());
  std::sort(names->begin(), names->end());
  for (const auto& name : *names) {
    const bool waiting = name.starts_with(kWaitPrefix);
    const auto id =
        id_of(waiting ? std::string_view(name).substr(kWaitPrefix.size()) : name, kMessageSuffix);
    if (!id) continue;  // temporary files, junk (the receiver moves junk to errors/)
    if (waiting && platform::path_exists(layout_.message_path(*id))) {
      (void)platform::remove_file(layout_.wait_path(*id));  // the retry was written already
      continue;
    }
    auto bytes = platform::read_whole_file(layout_.messages + "/" + name,
                                           max_file_size(rules_.max_message_size));
    if (!bytes) continue;
    auto record = decode_message(*bytes, rules_.max_message_size);
    if (!record || record->id != *id) continue;  // corrupt or no ack asked: the receiver's
    Pending p;
    p.attempt = record->attempt;
    p.max_retries = record->max_retries.value_or(rules_.max_retries);
    p.retry_delay = record->retry_delay.value_or(rules_.retry_delay);
    p.waiting = waiting;
    p.deadline = now + (waiting ? p.retry_delay : rules_.ack_timeout);
    if (waiting) {
      p.last_reason = "handler_error";
      p.last_error = Error{StatusCode::unknown, "failed before the sender restarted", {}};
    }
    track(*id, p);
    ++counters_.adopted;
  }
  rescan_acks(now);
  return {};
}

Result<std::string> SenderCore::send(Record record, bool wants_ack, TimePoint now) {
  std::string id = record.id.empty() ? new_message_id() : record.id;
  if (auto ok = validate_id(id); !ok) return tl::unexpected(ok.error());
  if (wants_ack && pending_.contains(id)) {
    return make_error(StatusCode::already_exists, "message " + id + " is pending already");
  }
  record.id = wants_ack ? id : std::string();
  record.attempt = 1;
  Pending p;
  p.max_retries = record.max_retries.value_or(rules_.max_retries);
  p.retry_delay = record.retry_delay.value_or(rules_.retry_delay);
  // The rules travel in the file, so that a restarted sender applies the same ones.
  record.max_retries = p.max_retries;
  record.retry_delay = p.retry_delay;
  auto bytes = encode_message(record, rules_.max_message_size);
  if (!bytes) return tl::unexpected(bytes.error());
  if (auto written =
          platform::write_file_atomically(layout_.messages, layout_.temp_path(layout_.messages, id),
                                          layout_.message_path(id), *bytes, rules_.sync);
      !written) {
    return tl::unexpected(written.error());
  }
  ++counters_.sent;
  if (wants_ack) {
    p.deadline = now + rules_.ack_timeout;
    track(id, p);
  }
  return id;
}

void SenderCore::on_ack_file(const std::string& name, TimePoint now) {
  if (name.starts_with('.')) return;  // the receiver's temporary file
  const auto id = id_of(name, kAckSuffix);
  if (!id) return;  // not an ack: left alone
  const std::string ack_path = layout_.ack_path(*id);
  auto bytes = platform::read_whole_file(ack_path, max_file_size(0) + 64 * 1024);
  if (!bytes) return;  // removed already (a repeated event)
  auto ack = decode_ack(*bytes);
  if (!ack || ack->id != *id) {
    // A corrupt ack is kept for people to look at; the message times out and is resent.
    const Error e = ack ? Error{StatusCode::protocol_error, "message_id differs from the name", {}}
                        : ack.error().error;
    const std::string reason = ack ? "bad_metadata" : ack.error().reason;
    (void)platform::write_file_atomically(
        layout_.errors, layout_.temp_path(layout_.errors, name), layout_.reason_path(name),
        reason_json(reason, e, std::nullopt, wall_clock_ms()), rules_.sync, false);
    (void)platform::rename_file(ack_path, layout_.error_path(name));
    error_files_.push_back({name, reason, e});
    return;
  }
  const auto it = pending_.find(*id);
  if (it != pending_.end()) acks_.push_back(*ack);
  if (ack->ok) {
    if (it != pending_.end()) {
      timers_.erase({it->second.deadline, *id});
      pending_.erase(it);
      ++counters_.acked;
    } else if (platform::path_exists(layout_.error_path(std::string(*id) + ".msg"))) {
      // A late ack of a message dead-lettered meanwhile: it was handled after all.
      remove_messages_.push_back(layout_.reason_path(std::string(*id) + ".msg"));
      remove_messages_.push_back(layout_.error_path(std::string(*id) + ".msg"));
      errors_touched_ = true;
    }
    remove_messages_.push_back(layout_.message_path(*id));
    remove_messages_.push_back(layout_.wait_path(*id));
  } else if (it != pending_.end()) {
    if (it->second.waiting) {
      // The attempt timed out already and a retry is scheduled; keep the old file hidden.
      (void)platform::rename_file(layout_.message_path(*id), layout_.wait_path(*id));
    } else {
      fail(*id, "handler_error", ack->error, true, now);
    }
  } else {
    // An error ack of nothing pending: whoever sent it is not retrying. Keep the message as a
    // dead letter rather than drop it.
    const std::string msg = layout_.message_path(*id);
    if (platform::path_exists(msg)) {
      const std::string file = std::string(*id) + ".msg";
      (void)platform::write_file_atomically(
          layout_.errors, layout_.temp_path(layout_.errors, file), layout_.reason_path(file),
          reason_json("handler_error", ack->error, ack->attempt, wall_clock_ms()), rules_.sync,
          false);
      (void)platform::rename_file(msg, layout_.error_path(file));
      ++counters_.dead_lettered;
      error_files_.push_back({file, "handler_error", ack->error});
    }
  }
  remove_acks_.push_back(ack_path);
}

void SenderCore::flush() {
  if (remove_messages_.empty() && remove_acks_.empty()) return;
  for (const auto& path : remove_messages_) (void)platform::remove_file(path);
  // The messages' removal (and .wait renames) must be durable before the acks go: an ack that
  // is gone tells the receiver that the message file is gone too.
  if (rules_.sync) {
    (void)platform::sync_directory(layout_.messages);
    if (errors_touched_) (void)platform::sync_directory(layout_.errors);
  }
  errors_touched_ = false;
  for (const auto& path : remove_acks_) (void)platform::remove_file(path);
  remove_messages_.clear();
  remove_acks_.clear();
}

void SenderCore::rescan_acks(TimePoint now) {
  auto names = platform::list_directory(layout_.acks);
  if (!names) return;
  std::sort(names->begin(), names->end());
  for (const auto& name : *names) on_ack_file(name, now);
  flush();
}

void SenderCore::fail(const std::string& id, const std::string& reason, Error error, bool hide,
                      TimePoint now) {
  auto& p = pending_.at(id);
  p.last_reason = reason;
  p.last_error = std::move(error);
  if (hide) (void)platform::rename_file(layout_.message_path(id), layout_.wait_path(id));
  if (p.attempt >= 1 + p.max_retries) {
    const Pending copy = p;
    timers_.erase({p.deadline, id});
    pending_.erase(id);
    dead_letter(id, copy);
    return;
  }
  p.waiting = true;
  ++counters_.retried;
  set_deadline(id, p, now + p.retry_delay);
}

void SenderCore::dead_letter(const std::string& id, const Pending& p) {
  const std::string file = id + std::string(kMessageSuffix);
  std::string source = layout_.wait_path(id);
  if (!platform::path_exists(source)) source = layout_.message_path(id);
  DeadLetterNote note;
  note.id = id;
  note.reason = p.last_reason;
  note.error = p.last_error;
  note.attempts = p.attempt;
  if (auto bytes = platform::read_whole_file(source, max_file_size(rules_.max_message_size))) {
    if (auto record = decode_message(*bytes, rules_.max_message_size)) note.type = record->type;
  }
  (void)platform::write_file_atomically(
      layout_.errors, layout_.temp_path(layout_.errors, file), layout_.reason_path(file),
      reason_json(note.reason, note.error, note.attempts, wall_clock_ms()), rules_.sync, false);
  (void)platform::rename_file(source, layout_.error_path(file));
  if (rules_.sync) {
    (void)platform::sync_directory(layout_.errors);
    (void)platform::sync_directory(layout_.messages);
  }
  ++counters_.dead_lettered;
  dead_.push_back(std::move(note));
}

void SenderCore::resend(const std::string& id, TimePoint now) {
  auto& p = pending_.at(id);
  std::string source = layout_.wait_path(id);
  bool from_wait = platform::path_exists(source);
  if (!from_wait) source = layout_.message_path(id);
  auto bytes = platform::read_whole_file(source, max_file_size(rules_.max_message_size));
  auto record = bytes ? decode_message(*bytes, rules_.max_message_size)
                      : tl::expected<Record, Refusal>(tl::unexpected(Refusal{}));
  if (!record) {
    // Removed by someone else (or no longer readable): nothing left to resend.
    timers_.erase({p.deadline, id});
    pending_.erase(id);
    return;
  }
  record->attempt = p.attempt + 1;
  auto encoded = encode_message(*record, rules_.max_message_size);
  auto written = encoded ? platform::write_file_atomically(
                               layout_.messages, layout_.temp_path(layout_.messages, id),
                               layout_.message_path(id), *encoded, rules_.sync)
                         : Result<void>(tl::unexpected(encoded.error()));
  if (!written) {
    // limit: a file system that refuses the rewrite (full disk) gets another try one retry
    // delay later; the old file stays meanwhile.
    set_deadline(id, p, now + p.retry_delay);
    return;
  }
  if (from_wait) (void)platform::remove_file(layout_.wait_path(id));
  p.attempt += 1;
  p.waiting = false;
  set_deadline(id, p, now + rules_.ack_timeout);
}

void SenderCore::expire(TimePoint now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const std::string id = timers_.begin()->second;
    auto& p = pending_.at(id);
    if (p.waiting) {
      resend(id, now);
    } else {
      fail(id, "timeout",
           Error{StatusCode::deadline_exceeded,
                 "no ack within " + std::to_string(rules_.ack_timeout.count()) + " ms (attempt " +
                     std::to_string(p.attempt) + ")",
                 {}},
           false, now);
    }
  }
}

Result<void> SenderCore::replay(const std::string& id, TimePoint now) {
  if (auto ok = validate_id(id); !ok) return ok;
  const std::string file = id + std::string(kMessageSuffix);
  auto bytes =
      platform::read_whole_file(layout_.error_path(file), max_file_size(rules_.max_message_size));
  if (!bytes) return tl::unexpected(bytes.error());
  auto record = decode_message(*bytes, rules_.max_message_size);
  if (!record)
    return make_error(
        StatusCode::failed_precondition,
        "errors/" + file + " is not a valid message: " + record.error().error.message);
  if (record->id != id) {
    return make_error(StatusCode::failed_precondition, "errors/" + file + " asks for no ack");
  }
  record->attempt = 1;
  auto encoded = encode_message(*record, rules_.max_message_size);
  if (!encoded) return tl::unexpected(encoded.error());
  (void)platform::remove_file(layout_.ack_path(id));
  if (auto written =
          platform::write_file_atomically(layout_.messages, layout_.temp_path(layout_.messages, id),
                                          layout_.message_path(id), *encoded, rules_.sync);
      !written) {
    return written;
  }
  (void)platform::remove_file(layout_.error_path(file));
  (void)platform::remove_file(layout_.reason_path(file));
  Pending p;
  p.max_retries = record->max_retries.value_or(rules_.max_retries);
  p.retry_delay = record->retry_delay.value_or(rules_.retry_delay);
  p.deadline = now + rules_.ack_timeout;
  timers_.erase({pending_.contains(id) ? pending_[id].deadline : TimePoint{}, id});
  track(id, p);
  return {};
}

void SenderCore::remove_stale_temps(std::chrono::system_clock::time_point now) {
  counters_.stale_temps_removed += spool::remove_stale_temps(layout_, now);
}

std::optional<TimePoint> SenderCore::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

}  // namespace plexus::transport::spool
