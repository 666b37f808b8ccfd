// A request whose payload a PayloadWriter writes (Caller::call_loaned): the writer's one rule,
// and the buffer it writes into where no ring region is to be had.
#pragma once

#include <cstddef>
#include <string>

#include "plexus/call.hpp"
#include "plexus/status.hpp"

namespace plexus::rpc {

// A writer that says it used more of its region than it was given: nothing is sent.
inline Error writer_overran(std::size_t used, std::size_t size) {
  return Error{StatusCode::invalid_argument,
               "the payload writer used " + std::to_string(used) + " bytes of a region of " +
                   std::to_string(size),
               {}};
}

// The payload written into a buffer of `size` bytes, cut to what the writer used.
inline Result<std::string> write_into_buffer(std::size_t size, const PayloadWriter& write) {
  std::string payload(size, '\0');
  const std::size_t used = write({payload.data(), size});
  if (used > size) return tl::unexpected(writer_overran(used, size));
  payload.resize(used);
  return payload;
}

}  // namespace plexus::rpc
