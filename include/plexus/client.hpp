// Client: one session to a server, with connect timeout, heartbeats and automatic reconnect
// (exponential backoff with jitter). Also a HandlerRegistry: the server may call the client.
// Ownership: created by Client::connect, owned by the caller; the Runtime must outlive it.
// Threading: every method is thread-safe. Completions run on the runtime's I/O thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "plexus/caller.hpp"
#include "plexus/handlers.hpp"
#include "plexus/policy.hpp"
#include "plexus/pubsub.hpp"
#include "plexus/runtime.hpp"

namespace plexus {

struct ReconnectOptions {
  bool enabled = true;
  Millis initial_delay{100};
  Millis max_delay{5000};
  double multiplier = 2.0;
  double jitter = 0.2;   // each delay is drawn from [d*(1-jitter), d]
  int max_attempts = 0;  // consecutive failed attempts before giving up; 0: never give up
};

struct ClientOptions {
  std::string address;  // empty: the default Unix socket (see ServerOptions::listen)
  std::string name = "plexus-client";
  Millis connect_timeout{5000};
  ReconnectOptions reconnect;
  // Default for CallOptions::wait_for_ready: while disconnected, wait for the connection up to
  // the call's deadline instead of failing at once with unavailable.
  bool wait_for_ready = false;
  std::size_t max_waiting_calls = 10000;  // queued while disconnected; past it: resource_exhausted
  std::uint32_t max_message_size = 8u << 20;
  Millis heartbeat_interval{5000};
  Millis heartbeat_timeout{15000};
  // Coalescing of NOTIFY/PUBLISH frames to the server (off unless enabled; see BatchOptions).
  BatchOptions batching;
  // One-way messages (notify, publish, lanes) accepted and not yet handed to the connection, in
  // bytes, on top of its 64 MiB write queue: past it a send from an application thread waits
  // (SendOptions::wait_for_room) and one on the I/O thread fails with resource_exhausted.
  std::size_t max_queued_send_bytes = 16u << 20;
  // Bytes the connection queues for writing while the server does not read, before it refuses
  // more (after which one-way messages wait in the queue above and calls fail with
  // resource_exhausted).
  std::size_t max_write_queue_bytes = 64u << 20;
  // Client-side circuit breaker, one per method on this client's target (the defaults in
  // BreakerOptions). An open breaker fails calls at once with unavailable, details
  // {"breaker":"open","retry_after_ms":N}, without sending them. Unset: no breaker.
  std::optional<BreakerOptions> breaker;
  std::shared_ptr<const Clock> clock;  // for the breaker; null: Clock::steady()
};

enum class ConnectionState { connecting, connected, reconnecting, closed };
std::string_view to_string(ConnectionState state);

struct ClientStats {
  std::uint64_t reconnects = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t write_batches = 0;
  std::uint64_t shm_mapped_bytes = 0;  // > 0 when the connection upgraded to shared memory
  std::uint64_t in_place_bytes = 0;    // payload bytes read where they lay in shared memory
  // Socket reads made by the idle I/O thread polling this connection itself rather than
  // through the reactor (RuntimeOptions::idle_wait; docs/ARCHITECTURE.md section 6).
  std::uint64_t hot_reads = 0;
  // One-way sends from application threads (ClientOptions::max_queued_send_bytes) on the current
  // connection: those that found the send queue full and waited, those that failed with
  // resource_exhausted, the senders waiting now, and messages dropped because a connection
  // closed before they were written (the close reported why).
  std::uint64_t send_waits = 0;
  std::uint64_t send_refusals = 0;
  std::uint64_t senders_waiting = 0;
  std::uint64_t unsent_on_close = 0;
};

class Client final : public Caller, public HandlerRegistry {
 public:
  // Connects and completes the handshake, blocking up to connect_timeout. Fails with
  // unavailable (nobody listening), deadline_exceeded (timeout), resource_exhausted (server
  // full) or protocol_error (handshake refused). Must not be called on an I/O thread.
  static Result<std::unique_ptr<Client>> connect(Runtime& runtime, ClientOptions options);
  ~Client() override;  // close()

  ConnectionState state() const;
  // Blocks until connected or `timeout` passes; true when connected. For startup ordering and
  // tests: waits on the state change, never polls.
  bool wait_connected(Millis timeout);
  // Called on the I/O thread at every state change.
  void on_state_change(std::function<void(ConnectionState)> callback);
  // Transport counters of the current connection (read on its executor; blocks briefly) and the
  // reconnect count. On an I/O thread only `reconnects` is filled in.
  ClientStats stats() const;
  // Decisions of the client-side breakers, summed over methods (zeros without a breaker).
  PolicyStats breaker_stats() const;
  std::uint32_t peer_max_message_size() const override;
  // Round trip of a protocol PING (no handler runs). Blocking; not on an I/O thread.
  Result<std::chrono::nanoseconds> ping(Millis timeout = Millis{5000});
  // The session as a Peer (identity of the server, disconnect()).
  Peer peer() const;
  // Publish/subscribe through the server (docs/PROTOCOL.md §Publish/subscribe).
  // subscribe: `handler` runs on the I/O thread for each matching publish, in order, including
  // this client's own publishes. Blocks until the server acknowledges (up to connect_timeout);
  // while disconnected the subscription is only recorded. Every subscription is re-sent after a
  // reconnect, before the state turns `connected`. Fails with invalid_argument (bad pattern or
  // options), failed_precondition on an I/O thread, or the server's error.
  Result<SubscriptionId> subscribe(std::string_view pattern, MessageHandler handler,
                                   SubscribeOptions options = {});
  void unsubscribe(SubscriptionId id);
  // Fire and forget, like notify: fails at once with invalid_argument (bad topic), unavailable
  // (not connected) or message_too_large.
  Result<void> publish(std::string_view topic, std::string payload, PublishOptions options = {});
  // Sends what the batcher holds now (ClientOptions::batching).
  void flush();

  // Stops reconnecting, fails queued calls with unavailable, closes the connection. Idempotent.
  void close();

 protected:
  // The call path (Caller::call -> next_call_id, start_call) reaches these through Caller's
  // virtual functions, so their bodies live in client.cpp at the cost of one load of impl_.
  CallId next_call_id() override;
  void start_call(CallId id, std::string_view method, std::string&& payload, CallOptions&& options,
                  CallCallback&& done) override;
  void cancel_call(CallId id) override;
  Result<void> start_notify(std::string method, std::string payload,
                            const SendOptions& options) override;
  bool on_io_thread() const override;
  Stream start_stream(std::string method, std::string payload, StreamOptions options) override;
  Result<void> send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                            std::string_view payload, const SendOptions& options) override;

 private:
  // The session, reconnect state, waiting calls, subscriptions, breakers and metrics (src/api/
  // client.cpp). Owned alone: ~Client closes the session and waits until the client's serial
  // executor has run everything that refers to it before it goes.
  struct Impl;
  Client(Runtime& runtime, ClientOptions options);

  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus
