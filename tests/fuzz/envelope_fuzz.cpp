// libFuzzer target: an arbitrary durable-queue envelope (a call's payload, docs/PROTOCOL.md §22).
// What decodes must re-encode, with the canonical metadata block, to an envelope that decodes
// to the same fields and payload; what does not decode fails with protocol_error and a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "wire/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus::wire;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto env = decode_envelope(bytes);
  if (!env) {
    FUZZ_CHECK(env.error().code == plexus::StatusCode::protocol_error);
    FUZZ_CHECK(env.error().message.starts_with("envelope"));
    return 0;
  }
  plexus::fuzz::check_decoded_invariants(env->fields);
  FUZZ_CHECK(env->payload.data() + env->payload.size() == bytes.data() + bytes.size());
  std::string again;
  FUZZ_CHECK(encode_envelope(env->fields, env->payload, again).has_value());
  FUZZ_CHECK(again.size() <= bytes.size());
  auto back = decode_envelope(again);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(plexus::fuzz::same_metadata(back->fields, env->fields));
  FUZZ_CHECK(back->payload == env->payload);
  return 0;
}
