/// \file
/// Lanes: a one-way path to one method of the peer, bound once, for messages at high rates.
/// A lane's message is a NOTIFY to the lane's method in everything the receiver sees (the same
/// handler runs, in order with the sender's other NOTIFYs, with the same delivery guarantee:
/// the connection's), but it does not carry the method's name. The peer resolves the method
/// when the lane opens (LANE_OPEN, docs/PROTOCOL.md §6.11), not per message; over shared memory
/// a message is a 16-byte header and the payload written straight into the ring. To a peer that
/// does not speak lanes the messages go as NOTIFYs.
///
/// The peer serves the method with an ordinary handler (HandlerRegistry::handle, as for a
/// NOTIFY); this side binds the lane once and sends on it:
///
/// ```
/// auto ticks = client.open_lane("market.tick");  // Result<Lane>
///
/// auto sent = ticks->send(std::to_string(i));  // any thread; on the I/O thread: no post, no copy
/// ```
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "plexus/export.hpp"
#include "plexus/pubsub.hpp"
#include "plexus/status.hpp"

namespace plexus {

class Caller;
namespace detail {
struct LaneState;
}

/// A one-way path to one method of the peer (Caller::open_lane).
/// Ownership: a cheap copyable handle. A lane opened on a Client refers to it: the Client must
/// outlive the lane. A lane opened on a Peer keeps a copy of that Peer. Threading: send() from any
/// thread. On the connection's I/O thread (a handler, or a callback or coroutine of the client's
/// runtime) it writes at once; elsewhere it copies the payload into the connection's send queue,
/// which the I/O thread empties in batches, as notify does. An ok is written unless the
/// connection closes first (which reports why). Errors: unavailable (not connected),
/// message_too_large (over the peer's limit), resource_exhausted (the peer reads slower than this
/// side sends: the send queue stayed full for SendOptions::wait_for_room, or at once on an I/O
/// thread), failed_precondition (an empty handle).
class PLEXUS_EXPORT Lane {
 public:
  /// An empty handle: send() fails with failed_precondition.
  Lane() = default;

  /// Sends one message to the lane's method, with default SendOptions.
  Result<void> send(std::string_view payload) { return send(payload, SendOptions{}); }
  /// As above, with `options`.
  /// SendOptions::wait_for_room: how long a send from an application thread waits while the
  /// connection's send queue is full (`immediate` does not apply: a lane is never batched).
  Result<void> send(std::string_view payload, const SendOptions& options);
  /// The method the lane is bound to; empty for an empty handle.
  std::string_view method() const;
  /// False for an empty handle.
  bool valid() const { return state_ != nullptr; }

 private:
  friend class Caller;
  Lane(Caller* caller, std::shared_ptr<detail::LaneState> state)
      : caller_(caller), state_(std::move(state)) {}

  Caller* caller_ = nullptr;
  std::shared_ptr<detail::LaneState> state_;
};

}  // namespace plexus
