#include "transport/connection.hpp"

namespace plexus::transport {

Result<void> send_refusal(bool closed, std::size_t pending_bytes, std::size_t max_pending_bytes) {
  if (closed) return make_error(StatusCode::unavailable, "connection is closed");
  if (pending_bytes > max_pending_bytes) {
    return make_error(StatusCode::resource_exhausted,
                      "write queue full: the peer is not reading (" +
                          std::to_string(pending_bytes) + " bytes queued)");
  }
  return {};
}

}  // namespace plexus::transport
