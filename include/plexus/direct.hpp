/// \file
/// Direct channels: two shared-memory rings between two threads of two processes on this
/// machine, written and read by the application's own threads. No I/O thread, framing, session
/// or handler table lies on the path, so a message costs what the rings cost: the transport for
/// a latency-critical pair of threads (the raw shared-memory ping-pong is its limit; see
/// docs/ARCHITECTURE.md §16). Opened once over an ordinary plexus connection (Unix socket, or
/// shm), which then plays no further part.
///
/// The serving side's handler gets the channel and hands it to a thread of its own, which here
/// echoes every message (the application keeps the thread, and joins it when it is done); the
/// opening side (a client, or a server reaching a connected peer) sends and receives:
///
/// ```
/// plexus::handle_direct(server, "prices", [&](plexus::CallContext&, plexus::DirectChannel ch) {
///   echoes.serve(std::move(ch));  // to a thread of its own: the I/O thread must not block
/// });
///
/// while (auto m = ch.receive()) ch.send(*m);  // until either side closes
///
/// auto ch = plexus::open_direct(client, "prices");  // Result<DirectChannel>
///
/// auto sent = ch->send("EUR/USD 1.0842", 5s);
/// auto reply = ch->receive(5s);  // Result<std::string_view>
/// ```
///
/// The opener makes a sealed memfd of two rings; the acceptor opens it through
/// `/proc/PID/fd/FD` of the opener's kernel-verified pid (docs/PROTOCOL.md §20). Messages are
/// copied into the ring once by the sender (or built there: loan/commit) and read in place by
/// the receiver.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "plexus/export.hpp"
#include "plexus/status.hpp"
#include "plexus/wait_strategy.hpp"

namespace plexus {

class CallContext;
class Client;
class HandlerRegistry;
class Peer;
namespace transport::shm {
class DirectEndpoint;
}

/// Options of a direct channel (open_direct, handle_direct).
struct PLEXUS_EXPORT DirectOptions {
  /// Ring size, each direction; a power of two from 4 KiB to 256 MiB. The opener's choice is used.
  std::uint64_t ring_bytes = 1u << 20;
  /// How receive() (and a send() that finds the ring full) waits: spin never sleeps; adaptive
  /// spins for an adaptive time within [min_spin, max_spin], then sleeps on a futex; block sleeps
  /// at once. The writer wakes a sleeper only when it announced it sleeps.
  WaitStrategy wait = WaitStrategy::adaptive;
  std::chrono::microseconds min_spin{5};    ///< adaptive: the shortest spin
  std::chrono::microseconds max_spin{200};  ///< adaptive: the longest spin
  /// How often a waiting side checks that the peer's process still lives (1 ms to 1 day).
  std::chrono::milliseconds liveness_interval{100};
  /// The opening call's deadline.
  std::chrono::milliseconds open_timeout{10000};
};

/// One end of a direct channel.
/// Ownership: DirectChannel is a cheap copyable handle; the rings are unmapped when the last
/// copy goes. Threading: one thread sends and one thread receives at a time (they may differ);
/// close() from any thread. Errors: message_too_large (over max_message_size()),
/// deadline_exceeded (the timeout passed), unavailable (closed by either side, or the peer's
/// process exited: learnt within DirectOptions::liveness_interval while waiting, or at a call
/// with timeout 0), protocol_error (the peer wrote nonsense into the ring: that direction keeps
/// reporting it and the channel closes), failed_precondition (an empty handle).
/// The opener's memfd is reached through `/proc/PID/fd`, which the kernel allows to the same user
/// (for a dumpable process) or root: permission_denied otherwise.
class PLEXUS_EXPORT DirectChannel {
 public:
  /// The default timeout: wait as long as it takes.
  static constexpr std::chrono::nanoseconds kForever = std::chrono::nanoseconds::max();

  /// An empty handle: every operation fails with failed_precondition.
  DirectChannel() = default;

  /// Copies `payload` into the ring, waiting up to `timeout` for room (0: only if it fits now).
  Result<void> send(std::string_view payload, std::chrono::nanoseconds timeout = kForever);
  /// The same, but the message stays invisible to the peer until flush(), the next send(), or
  /// an eighth of the ring staged: the burst appears to the reader at once, and the sender
  /// makes one sequentially consistent store and one look at the reader's sleep flag for it.
  /// Messages still staged at close() are not delivered.
  Result<void> stage(std::string_view payload, std::chrono::nanoseconds timeout = kForever);
  /// Makes the staged messages visible to the peer (stage()).
  void flush();
  /// The next message, a view into shared memory valid until the next receive() on this channel
  /// (or its end). Waits up to `timeout` (0: only what is there now).
  Result<std::string_view> receive(std::chrono::nanoseconds timeout = kForever);
  /// Zero-copy sending: a region of `size` bytes in the ring to build the next message in, then
  /// commit(used) sends its first `used` bytes. One loan at a time (send() and loan() fail with
  /// failed_precondition until it is committed). Waits and fails as send().
  Result<std::span<char>> loan(std::size_t size, std::chrono::nanoseconds timeout = kForever);
  /// Sends the first `used` bytes of the loaned region (loan()). failed_precondition without a
  /// loan, invalid_argument for more bytes than were loaned, unavailable when either side closed.
  Result<void> commit(std::size_t used);
  /// Ends this side: the peer reads what was sent, then gets unavailable. Idempotent.
  void close();

  std::uint64_t max_message_size() const;  ///< 0 for an empty handle
  std::size_t mapped_bytes() const;        ///< the shared segment's size (both rings)
  /// False for an empty handle.
  bool valid() const { return end_ != nullptr; }

  /// Used by open_direct and handle_direct.
  explicit DirectChannel(std::shared_ptr<transport::shm::DirectEndpoint> end)
      : end_(std::move(end)) {}

 private:
  std::shared_ptr<transport::shm::DirectEndpoint> end_;
};

/// Opens a direct channel with the peer's `name` (registered there with handle_direct). Blocks
/// until the peer accepted it (not on an I/O thread: failed_precondition). Fails with the
/// peer's answer (not_found: no such channel), failed_precondition (the connection is not a Unix
/// socket: no peer pid), permission_denied (the peer runs as another user), unavailable.
/// failed_precondition also when `name` answers but is not a direct channel; invalid_argument
/// for a ring_bytes out of range.
PLEXUS_EXPORT Result<DirectChannel> open_direct(Client& client, std::string_view name,
                                                DirectOptions options = {});
/// The same over a Peer (a server opening a channel with a connected client).
PLEXUS_EXPORT Result<DirectChannel> open_direct(Peer& peer, std::string_view name,
                                                DirectOptions options = {});

/// Receives each direct channel a peer opens (handle_direct), on the I/O thread.
using DirectHandler = std::function<void(CallContext&, DirectChannel)>;
/// Accepts direct channels named `name`: `on_open` runs on the I/O thread once per channel a
/// peer opens and must not block it (hand the channel to a thread). `options` set this side's
/// waiting (its ring_bytes is not used). If `on_open` throws, the opener gets internal and the
/// channel is closed. Registered as an ordinary method `name` (HandlerRegistry::handle).
PLEXUS_EXPORT void handle_direct(HandlerRegistry& registry, std::string name, DirectHandler on_open,
                                 DirectOptions options = {});

}  // namespace plexus
