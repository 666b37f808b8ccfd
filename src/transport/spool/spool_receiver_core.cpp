#include "transport/spool/spool_receiver_core.hpp"

#include <algorithm>
#include <chrono>

#include "platform/posix/files.hpp"
#include "transport/spool/spool_census.hpp"
#include "wire/frame.hpp"
#include "wire/metadata.hpp"

namespace plexus::transport::spool {
namespace {

bool hidden(const std::string& name) {
  return !name.empty() && name.front() == '.';
}

}  // namespace

ReceiverCore::ReceiverCore(Layout layout, std::uint32_t max_message_size, bool sync)
    : layout_(std::move(layout)), max_message_size_(max_message_size), sync_(sync) {}

Result<std::vector<std::string>> ReceiverCore::scan() const {
  auto names = platform::list_directory(layout_.messages);
  if (!names) return names;
  std::erase_if(*names, hidden);
  std::sort(names->begin(), names->end());
  return names;
}

void ReceiverCore::quarantine(const std::string& name, const std::string& reason,
                              const Error& error) {
  ++counters_.corrupt;
  // The reason first: a crash in between leaves the file in messages/, where the next scan
  // finds it corrupt again and writes the same reason.
  const std::string text = reason_json(reason, error, std::nullopt, wall_clock_ms());
  (void)platform::write_file_atomically(layout_.errors, layout_.temp_path(layout_.errors, name),
                                        layout_.reason_path(name), text, sync_, false);
  (void)platform::rename_file(layout_.messages + "/" + name, layout_.error_path(name));
  error_files_.push_back({name, reason, error});
  if (sync_) {
    (void)platform::sync_directory(layout_.errors);
    (void)platform::sync_directory(layout_.messages);
  }
}

std::optional<Record> ReceiverCore::take(const std::string& name) {
  if (hidden(name)) return std::nullopt;  // a writer's temporary file, or a waiting retry
  const auto id = id_of(name, kMessageSuffix);
  if (!id) {
    quarantine(
        name, "bad_name",
        Error{StatusCode::invalid_argument,
              "a message file is named ID.msg, ID 1..128 characters of [A-Za-z0-9._-], no \"..\"",
              {}});
    return std::nullopt;
  }
  const std::string path = layout_.message_path(*id);
  auto bytes = platform::read_whole_file(path, max_file_size(max_message_size_));
  if (!bytes) {
    if (bytes.error().code == StatusCode::not_found) return std::nullopt;  // handled and removed
    if (bytes.error().code == StatusCode::resource_exhausted) {
      Error e = bytes.error();
      e.code = StatusCode::message_too_large;
      quarantine(name, "too_large", e);
    } else {
      quarantine(name, "unreadable", bytes.error());
    }
    return std::nullopt;
  }
  auto record = decode_message(*bytes, max_message_size_);
  if (!record) {
    quarantine(name, record.error().reason, record.error().error);
    return std::nullopt;
  }
  if (!record->id.empty() && record->id != *id) {
    quarantine(name, "bad_metadata",
               Error{StatusCode::protocol_error,
                     "the frame's message_id \"" + record->id + "\" is not the file's name",
                     {}});
    return std::nullopt;
  }
  if (!record->id.empty()) {
    if (platform::path_exists(layout_.ack_path(*id))) {
      ++counters_.duplicates_dropped;  // handled already; the sender removes the file
      return std::nullopt;
    }
    // The ack was absent; if it was there and is gone, the sender removed the message first.
    if (!platform::path_exists(path)) return std::nullopt;
  }
  ++counters_.delivered;
  if (record->attempt > 1) ++counters_.redelivered;
  return std::move(*record);
}

Result<void> ReceiverCore::finish(const Record& record, const std::string& name,
                                  const Result<void>& outcome) {
  if (record.id.empty()) {
    // Nobody retries a message that asked for no ack: a failed one is kept in errors/.
    if (!outcome) {
      quarantine(name, "handler_error", outcome.error());
      --counters_.corrupt;
      ++counters_.failed;
      return {};
    }
    return platform::remove_file(layout_.messages + "/" + name);
  }
  Ack ack;
  ack.id = record.id;
  ack.attempt = record.attempt;
  ack.ok = outcome.has_value();
  if (!ack.ok) ack.error = outcome.error();
  auto written =
      platform::write_file_atomically(layout_.acks, layout_.temp_path(layout_.acks, record.id),
                                      layout_.ack_path(record.id), encode_ack(ack), sync_);
  if (written) ++(ack.ok ? counters_.acked : counters_.failed);
  return written;
}

void ReceiverCore::remove_stale_temps(std::chrono::system_clock::time_point now) {
  counters_.stale_temps_removed += spool::remove_stale_temps(layout_, now);
}

}  // namespace plexus::transport::spool
