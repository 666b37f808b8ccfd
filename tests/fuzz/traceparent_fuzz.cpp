// libFuzzer target: arbitrary text as a traceparent. What parses must format back to the same
// version-00 text for version 00 (and to a version-00 value that parses to the same fields for
// a later version); trace_id_of never reads past the text; nothing else is accepted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "wire/traceparent.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus::wire;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto id = trace_id_of(text);
  FUZZ_CHECK(id.data() >= text.data() && id.data() + id.size() <= text.data() + text.size());
  const auto tp = parse_traceparent(text);
  if (!tp) {
    FUZZ_CHECK(id == text);
    return 0;
  }
  FUZZ_CHECK(id.size() == 32);
  const std::string formatted = format_traceparent(*tp);
  FUZZ_CHECK(formatted.size() == kTraceParentLength);
  if (text.substr(0, 2) == "00") FUZZ_CHECK(formatted == text);
  const auto again = parse_traceparent(formatted);
  FUZZ_CHECK(again && again->trace_id == tp->trace_id && again->parent_id == tp->parent_id &&
             again->flags == tp->flags);
  return 0;
}
