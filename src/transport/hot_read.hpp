// The socket an idle I/O thread reads itself. A runtime with one I/O thread that polls before it
// sleeps (RuntimeOptions::idle_wait spin or adaptive) would otherwise poll through the reactor:
// an epoll_wait that finds the socket readable, then the recv, then, to re-arm the edge-
// triggered reactor, a recv that finds nothing, for every message. Polling the socket that
// delivered the last input with a non-blocking recv instead, as a hand-written busy-polling
// ping-pong does, leaves one system call per message; on this project's VMs that is a third
// of a Unix-socket round trip (docs/ARCHITECTURE.md section 6).
//
// One slot per runtime (its single I/O thread): the connection that read last takes it, the one
// it replaces goes back to the reactor, and the runtime sends the holder back too before it
// sleeps or once it has been busy with other work for a few µs, so a socket is never left
// unread. Not thread-safe: every method runs on that I/O thread.
#pragma once

#include <chrono>
#include <memory>
#include <utility>

namespace plexus::transport {

// What the slot holds: a connection that, while it holds the slot, has no read waiting in the
// reactor.
class HotReader {
 public:
  virtual ~HotReader() = default;
  // Reads the socket without waiting until input, its end or an error comes (each handled as
  // an asynchronous read's would be) or `until` passes. True when something came.
  virtual bool read_until(std::chrono::steady_clock::time_point until) = 0;
  // Leaves the slot's care: reading goes on through the reactor.
  virtual void park() = 0;
};

class HotReadSlot {
 public:
  using Clock = std::chrono::steady_clock;

  // `reader` has just read input: it is polled from now on instead of waiting in the reactor.
  // The previous holder is parked.
  void take(std::shared_ptr<HotReader> reader);
  // `reader` leaves without being parked (it closed, or stopped reading); no-op for others.
  void release(const HotReader* reader);
  bool occupied() const { return holder_ != nullptr; }

  // Reads the holder's socket for up to `window`; true when input came. Runs as a handler of
  // the runtime's io_context, so what the input causes runs where it always does.
  bool poll_for(Clock::duration window);
  // Sends the holder back to the reactor (before the thread sleeps, or while other work runs).
  void park();
  // Drops the holder without touching it (the I/O thread is ending).
  void clear() { holder_.reset(); }

  // How many times take() was called since the previous call of this: the work the runtime
  // just ran included input on that many sockets (or reads of one), the last of which the slot
  // now watches.
  unsigned takes_since_last_look() { return std::exchange(takes_, 0u); }

 private:
  std::shared_ptr<HotReader> holder_;
  unsigned takes_ = 0;
};

}  // namespace plexus::transport
