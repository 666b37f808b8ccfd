#include "wire/call_metadata.hpp"

#include <cstring>

#include "wire/bytes.hpp"

namespace plexus::wire {
namespace {

char* put_entry(char* p, MetaKey key, const void* value, std::size_t size) {
  store_le<std::uint16_t>(p, static_cast<std::uint16_t>(key));
  store_le<std::uint16_t>(p + 2, static_cast<std::uint16_t>(size));
  std::memcpy(p + kMetaEntryHead, value, size);
  return p + kMetaEntryHead + size;
}

// The next entry if it has key `key` and fits the block: its value, and `pos` moved past it.
std::optional<std::string_view> take(std::string_view block, std::size_t& pos, MetaKey key) {
  if (block.size() - pos < kMetaEntryHead) return std::nullopt;
  if (load_le<std::uint16_t>(block.data() + pos) != static_cast<std::uint16_t>(key)) {
    return std::nullopt;
  }
  const std::size_t len = load_le<std::uint16_t>(block.data() + pos + 2);
  if (block.size() - pos - kMetaEntryHead < len) return std::nullopt;
  const std::string_view value = block.substr(pos + kMetaEntryHead, len);
  pos += kMetaEntryHead + len;
  return value;
}

}  // namespace

std::size_t encode_call_metadata(const CallFields& fields, char* out) {
  char* p = put_entry(out, MetaKey::method, fields.method.data(), fields.method.size());
  if (fields.timeout_us) {
    char value[sizeof(std::uint64_t)];
    store_le<std::uint64_t>(value, *fields.timeout_us);
    p = put_entry(p, MetaKey::timeout_us, value, sizeof value);
  }
  if (!fields.trace_id.empty()) {
    p = put_entry(p, MetaKey::trace_id, fields.trace_id.data(), fields.trace_id.size());
  }
  return static_cast<std::size_t>(p - out);
}

std::optional<CallFields> decode_call_metadata(std::string_view block) {
  CallFields fields;
  std::size_t pos = 0;
  const auto method = take(block, pos, MetaKey::method);
  if (!method || method->empty() || method->size() > kMaxNameLength) return std::nullopt;
  fields.method = *method;
  if (pos == block.size()) return fields;
  if (const auto timeout = take(block, pos, MetaKey::timeout_us)) {
    if (timeout->size() != sizeof(std::uint64_t)) return std::nullopt;
    fields.timeout_us = load_le<std::uint64_t>(timeout->data());
    if (pos == block.size()) return fields;
  }
  const auto trace = take(block, pos, MetaKey::trace_id);
  if (!trace || trace->empty() || trace->size() > kMaxTraceIdLength) return std::nullopt;
  fields.trace_id = *trace;
  if (pos != block.size()) return std::nullopt;
  return fields;
}

}  // namespace plexus::wire
