// Little-endian load/store helpers. The wire format is little-endian whatever the host is.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace plexus::wire {

template <typename T>
inline T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
inline void store_le(char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

template <typename T>
inline void append_le(std::string& out, T v) {
  char tmp[sizeof v];
  store_le(tmp, v);
  out.append(tmp, sizeof v);
}

static_assert(std::endian::native == std::endian::little,
              "plexus targets little-endian hosts; add byte swapping before porting");

}  // namespace plexus::wire
