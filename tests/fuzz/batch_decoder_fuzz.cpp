// libFuzzer target: an arbitrary byte string taken as the payload of a BATCH frame. check_batch
// either refuses it with protocol_error/message_too_large, or every inner frame it accepted is
// delivered by for_each_in_batch, in order, each an allowed kind with valid metadata, exactly
// covering the input; re-encoding the items and checking the result again gives the same items.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "wire/batch.hpp"
#include "wire/metadata.hpp"

namespace {

using namespace plexus::wire;
using plexus::StatusCode;

constexpr std::uint32_t kFuzzMaxMessage = 1024;  // as frame_decoder_fuzz.cpp; see make_corpus.py

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Limits limits{kFuzzMaxMessage};
  auto n = check_batch(in, limits);
  if (!n) {
    FUZZ_CHECK(n.error().code == StatusCode::protocol_error ||
               n.error().code == StatusCode::message_too_large);
    return 0;
  }
  FUZZ_CHECK(*n >= 1);
  std::size_t seen = 0;
  std::size_t covered = 0;
  std::string again;
  for_each_in_batch(in, limits, [&](const FrameView& f) {
    ++seen;
    FUZZ_CHECK(allowed_in_batch(f.header.kind));
    FUZZ_CHECK(f.header.flags == 0);
    FUZZ_CHECK(f.payload.size() <= kFuzzMaxMessage);
    FUZZ_CHECK(f.metadata.data() == in.data() + covered + kHeaderSize);
    covered += kHeaderSize + f.header.body_length;
    auto md = decode_metadata(f.metadata);
    FUZZ_CHECK(md.has_value());
    plexus::fuzz::check_decoded_invariants(*md);
    FUZZ_CHECK(validate_frame_fields(f.header.kind, *md).has_value());
    FUZZ_CHECK(encode_frame(f.header.kind, f.header.id, *md, f.payload, kFuzzMaxMessage, again)
                   .has_value());
  });
  FUZZ_CHECK(seen == *n);
  FUZZ_CHECK(covered == in.size());
  auto n2 = check_batch(again, limits);
  FUZZ_CHECK(n2.has_value() && *n2 == *n);
  return 0;
}
