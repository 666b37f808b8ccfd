#include "wire/traceparent.hpp"

namespace plexus::wire {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in a traceparent
}

// Reads 2*N lower-case hex digits into `out`; false on any other character.
template <std::size_t N>
bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  for (auto b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

template <std::size_t N>
void append_hex(std::string& out, const std::array<std::uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (auto b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view text) {
  if (text.size() < kTraceParentLength) return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!read_hex(text.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 ? text.size() != kTraceParentLength
                      : text.size() > kTraceParentLength && text[kTraceParentLength] != '-') {
    return std::nullopt;
  }
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  TraceParent tp;
  std::array<std::uint8_t, 1> flags{};
  if (!read_hex(text.substr(3, 32), tp.trace_id) || !read_hex(text.substr(36, 16), tp.parent_id) ||
      !read_hex(text.substr(53, 2), flags)) {
    return std::nullopt;
  }
  if (all_zero(tp.trace_id) || all_zero(tp.parent_id)) return std::nullopt;
  tp.flags = flags[0];
  return tp;
}

std::string format_traceparent(const TraceParent& tp) {
  std::string out;
  out.reserve(kTraceParentLength);
  out += "00-";
  append_hex(out, tp.trace_id);
  out.push_back('-');
  append_hex(out, tp.parent_id);
  out.push_back('-');
  append_hex(out, std::array<std::uint8_t, 1>{tp.flags});
  return out;
}

std::string_view trace_id_of(std::string_view text) {
  return parse_traceparent(text) ? text.substr(3, 32) : text;
}

}  // namespace plexus::wire
