// Shared by the fuzz targets: a check that traps (so libFuzzer records a crash with the input)
// and field-by-field comparison of decoded metadata.
#pragma once

#include "wire/metadata.hpp"

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace plexus::fuzz {

inline bool same_metadata(const wire::Metadata& a, const wire::Metadata& b) {
  return a.method == b.method && a.timeout_us == b.timeout_us && a.trace_id == b.trace_id &&
         a.content_type == b.content_type && a.status == b.status &&
         a.error_message == b.error_message && a.error_details == b.error_details &&
         a.magic == b.magic && a.version == b.version && a.peer_name == b.peer_name &&
         a.capabilities == b.capabilities && a.max_message_size == b.max_message_size &&
         a.heartbeat_interval_ms == b.heartbeat_interval_ms && a.token == b.token &&
         a.credit_items == b.credit_items && a.credit_bytes == b.credit_bytes &&
         a.progress_done == b.progress_done && a.progress_total == b.progress_total &&
         a.cache_status == b.cache_status && a.cache_age_us == b.cache_age_us &&
         a.handler_time_us == b.handler_time_us && a.message_id == b.message_id &&
         a.message_type == b.message_type && a.message_group == b.message_group &&
         a.attempt == b.attempt && a.queue == b.queue && a.priority == b.priority &&
         a.delay_ms == b.delay_ms && a.max_retries == b.max_retries &&
         a.retry_delay_ms == b.retry_delay_ms;
}

// What a successfully decoded block must satisfy whatever the input was.
inline void check_decoded_invariants(const wire::Metadata& md) {
  FUZZ_CHECK(md.method.size() <= wire::kMaxNameLength);
  FUZZ_CHECK(md.trace_id.size() <= wire::kMaxTraceIdLength);
  FUZZ_CHECK(md.peer_name.size() <= wire::kMaxNameLength);
  FUZZ_CHECK(md.token.size() <= wire::kMaxTokenLength);
  FUZZ_CHECK(md.magic.size() <= 4);
  FUZZ_CHECK(md.message_id.size() <= wire::kMaxMessageIdLength);
  FUZZ_CHECK(md.message_type.size() <= wire::kMaxQueueNameLength);
  FUZZ_CHECK(md.message_group.size() <= wire::kMaxQueueNameLength);
  FUZZ_CHECK(md.queue.size() <= wire::kMaxQueueNameLength);
  FUZZ_CHECK(!md.content_type || static_cast<unsigned>(*md.content_type) <= 1);
}

// Re-encodes a decoded block and checks that the canonical form is a fixed point: it decodes to
// the same fields, re-encodes to the same bytes, and is no longer than the original (unknown
// keys are dropped, each known key appears once with the same value).
inline std::string check_metadata_round_trip(std::string_view original, const wire::Metadata& md) {
  std::string canonical;
  wire::encode_metadata(md, canonical);
  FUZZ_CHECK(canonical.size() == wire::encoded_size(md));
  FUZZ_CHECK(canonical.size() <= original.size());
  auto again = wire::decode_metadata(canonical);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(same_metadata(*again, md));
  std::string twice;
  wire::encode_metadata(*again, twice);
  FUZZ_CHECK(twice == canonical);
  return canonical;
}

}  // namespace plexus::fuzz
