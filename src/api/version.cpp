// The linked library's version, compiled from the generated header.
#include "plexus/version.hpp"

#include "wire/handshake.hpp"

namespace plexus {

std::string_view version() noexcept {
  return PLEXUS_VERSION_STRING;
}

std::uint16_t protocol_version() noexcept {
  return wire::kProtocolVersion;
}

}  // namespace plexus
