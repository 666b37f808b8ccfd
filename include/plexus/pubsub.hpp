/// \file
/// Publish/subscribe and message batching vocabulary, shared by Server and Client.
///
/// Topics are dot-separated segments ("db.users.insert"); a pattern may use `*` for exactly one
/// segment and `>` (last segment only) for one or more trailing segments (docs/PROTOCOL.md
/// §Publish/subscribe has the full grammar). Every subscription has its own bounded queue and a
/// policy for when it is full; the counters below say what each policy did.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

/// Identifies one subscription (subscribe() returns it, unsubscribe() takes it).
using SubscriptionId = std::uint64_t;

/// Called once per message, in publish order, on an I/O thread. The views are valid only
/// during the call. A handler must not block (it holds up its I/O thread).
using MessageHandler = std::function<void(std::string_view topic, std::string_view payload)>;

/// What happens when a subscriber's queue is full (it reads more slowly than publishers write).
enum class SlowPolicy : std::uint8_t {
  drop_oldest,  ///< the oldest queued message is discarded to make room (the default)
  drop_newest,  ///< the new message is discarded for this subscriber
  block,        ///< the publisher waits for room: a remote publisher's connection is not read
                ///< until then; Server::publish blocks (on an I/O thread: resource_exhausted)
  disconnect,   ///< the subscriber's connection is closed (GOAWAY resource_exhausted)
};
/// "drop_oldest", "drop_newest", "block" or "disconnect".
PLEXUS_EXPORT std::string_view to_string(SlowPolicy policy);
/// Parses "drop_oldest" / "drop_newest" / "block" / "disconnect"; invalid_argument otherwise.
PLEXUS_EXPORT Result<SlowPolicy> parse_slow_policy(std::string_view text);

/// Options of one subscription (Server::subscribe, Client::subscribe).
struct PLEXUS_EXPORT SubscribeOptions {
  std::size_t queue_limit = 1024;               ///< messages held for this subscriber, 1..1,000,000
  SlowPolicy policy = SlowPolicy::drop_oldest;  ///< what happens when the queue is full
};

/// Time/size-bounded coalescing of NOTIFY and PUBLISH frames bound for one peer into BATCH
/// frames; the receiver unpacks them in order. Only used when the peer advertises it.
struct PLEXUS_EXPORT BatchOptions {
  bool enabled = false;        ///< off by default: the transport already coalesces under load
  std::size_t max_items = 50;  ///< a BATCH goes out once it holds this many frames
  std::chrono::milliseconds max_wait{100};  ///< or once this long has passed since its first frame
};

/// A one-way send (notify, publish, a lane's message).
struct PLEXUS_EXPORT SendOptions {
  /// Skip the batch: flush what is batched for the peer, then send this message at once.
  bool immediate = false;
  /// From an application thread, when the connection's send queue is full (the peer reads slower
  /// than this side sends): how long to wait for room before failing with resource_exhausted;
  /// 0 fails at once. On an I/O thread a send never waits (it would stall the reader it waits
  /// for): a full queue fails at once there. Nothing that returned ok is dropped: it is written,
  /// or the connection closes and reports why.
  std::chrono::milliseconds wait_for_room{30000};
};
/// Options of one publish (Server::publish, Client::publish).
using PublishOptions = SendOptions;
/// Options of one notify (Caller::notify).
using NotifyOptions = SendOptions;

/// Server-wide pub/sub counters (a snapshot; every field but `subscriptions` only grows).
struct PLEXUS_EXPORT PubSubStats {
  std::uint64_t published = 0;       ///< publishes routed (from any peer or the server itself)
  std::uint64_t delivered = 0;       ///< messages handed to a subscriber (callback or connection)
  std::uint64_t dropped_oldest = 0;  ///< discarded by drop_oldest
  std::uint64_t dropped_newest = 0;  ///< discarded by drop_newest
  /// Not sent to a subscriber whose max_message_size the payload exceeds (its subscription's
  /// drop, whatever its policy).
  std::uint64_t dropped_too_large = 0;
  std::uint64_t blocked = 0;        ///< times a publisher had to wait (block)
  std::uint64_t block_refused = 0;  ///< Server::publish on an I/O thread that could not wait
  std::uint64_t disconnected = 0;   ///< slow subscribers disconnected (disconnect)
  std::uint64_t subscriptions = 0;  ///< open now
};

}  // namespace plexus
