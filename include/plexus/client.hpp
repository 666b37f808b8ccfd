/// \file
/// Client: one reconnecting session to a server; ClientOptions, ClientStats, ConnectionState.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "plexus/caller.hpp"
#include "plexus/export.hpp"
#include "plexus/handlers.hpp"
#include "plexus/policy.hpp"
#include "plexus/pubsub.hpp"
#include "plexus/runtime.hpp"
#include "plexus/tls.hpp"

namespace plexus {

namespace detail {
class ClientHooks;
}  // namespace detail

/// How a Client reconnects after losing its server: exponential backoff with jitter. The first
/// connect is not retried: Client::connect reports its failure.
struct PLEXUS_EXPORT ReconnectOptions {
  bool enabled = true;        ///< false: a lost connection closes the client (state `closed`)
  Millis initial_delay{100};  ///< the delay before the first attempt
  Millis max_delay{5000};     ///< the delay never grows past this
  double multiplier = 2.0;    ///< each failed attempt multiplies the delay by this
  double jitter = 0.2;        ///< each delay is drawn from [d*(1-jitter), d]
  int max_attempts = 0;       ///< consecutive failed attempts before giving up; 0: never give up
};

/// Options of Client::connect. A plain value, copied into the client.
struct PLEXUS_EXPORT ClientOptions {
  /// Empty: $PLEXUS_ADDRESS when it is set (a `plexus serve` that starts a bus provider sets it
  /// to its own address), else the default Unix socket (see ServerOptions::listen).
  std::string address;
  std::string name = "plexus-client";  ///< sent in the HELLO: the server's PeerIdentity::name
  /// A signed token (SigningKey::issue, `plexus token issue`) sent in the HELLO, for servers
  /// that verify tokens (ServerOptions::tokens). Empty: none. A server that refuses it fails
  /// connect() with unauthenticated and the reason (expired, unknown key, …).
  std::string token;
  /// For a tls:// address: the CA that verifies the server (empty: the system's trust store),
  /// the name it must carry, and a client certificate for servers that require mutual TLS.
  /// Connect fails with invalid_argument naming a file that cannot be used.
  TlsOptions tls;
  /// Limit for each connection attempt, handshake included; also how long subscribe() waits for
  /// the server's answer.
  Millis connect_timeout{5000};
  ReconnectOptions reconnect;  ///< what happens after the connection is lost
  /// How long connect() keeps trying while no server answers (nobody listening, or each
  /// attempt timing out), with the reconnect backoff between attempts: for a client started
  /// before its server. 0 (default): the first failure is returned at once. Millis::max():
  /// until a server answers. Any other refusal (a full server, a failed handshake) is returned
  /// at once.
  Millis wait_for_server{0};
  /// Default for CallOptions::wait_for_ready: while disconnected, wait for the connection up to
  /// the call's deadline instead of failing at once with unavailable.
  bool wait_for_ready = false;
  /// Calls queued while disconnected (wait_for_ready); past it: resource_exhausted.
  std::size_t max_waiting_calls = 10000;
  std::uint32_t max_message_size = 8u << 20;  ///< payload bytes this client accepts per frame
  Millis heartbeat_interval{5000};  ///< PING the server after this much silence (0: never)
  Millis heartbeat_timeout{15000};  ///< close when the server is silent this long (0: never)
  /// Coalescing of NOTIFY/PUBLISH frames to the server (off unless enabled; see BatchOptions).
  BatchOptions batching;
  /// One-way messages (notify, publish, lanes) accepted and not yet handed to the connection, in
  /// bytes, on top of its 64 MiB write queue: past it a send from an application thread waits
  /// (SendOptions::wait_for_room) and one on the I/O thread fails with resource_exhausted.
  std::size_t max_queued_send_bytes = 16u << 20;
  /// Bytes the connection queues for writing while the server does not read, before it refuses
  /// more (after which one-way messages wait in the queue above and calls fail with
  /// resource_exhausted).
  std::size_t max_write_queue_bytes = 64u << 20;
  /// Client-side circuit breaker, one per method on this client's target (the defaults in
  /// BreakerOptions). An open breaker fails calls at once with unavailable, details
  /// {"breaker":"open","retry_after_ms":N}, without sending them. Unset: no breaker.
  std::optional<BreakerOptions> breaker;
  std::shared_ptr<const Clock> clock;  ///< for the breaker; null: Clock::steady()
};

/// Where a Client's connection stands (Client::state, Client::on_state_change).
enum class ConnectionState {
  connecting,    ///< the first connect is under way (Client::connect)
  connected,     ///< the session is up; calls go out at once
  reconnecting,  ///< the connection was lost (or an attempt failed) and a retry is scheduled
  closed         ///< closed by close(), or reconnecting gave up (ReconnectOptions)
};
/// "connecting", "connected", "reconnecting" or "closed".
PLEXUS_EXPORT std::string_view to_string(ConnectionState state);

/// A snapshot of one Client's counters (Client::stats).
struct PLEXUS_EXPORT ClientStats {
  std::uint64_t reconnects = 0;        ///< times the client connected again after losing its server
  std::uint64_t frames_in = 0;         ///< frames received on the current connection
  std::uint64_t frames_out = 0;        ///< frames sent on the current connection
  std::uint64_t write_batches = 0;     ///< writes issued (frames_out / write_batches: batching)
  std::uint64_t shm_mapped_bytes = 0;  ///< nonzero when the connection upgraded to shared memory
  std::uint64_t in_place_bytes = 0;    ///< payload bytes read where they lay in shared memory
  /// Socket reads made by the idle I/O thread polling this connection itself rather than
  /// through the reactor (RuntimeOptions::idle_wait; docs/ARCHITECTURE.md section 6).
  std::uint64_t hot_reads = 0;
  /// Calls from application threads whose request the calling thread wrote itself, on the
  /// current connection: into the shared-memory ring (Caller::call, call_async), or with one
  /// write on a Unix or TCP socket while nothing else waited to be written (Caller::call); the
  /// others went through the I/O thread. Over shared memory a blocking caller also reads its
  /// answer itself (answers_on_caller_thread).
  std::uint64_t calls_on_caller_thread = 0;
  std::uint64_t answers_on_caller_thread = 0;  ///< see calls_on_caller_thread
  /// Of calls_on_caller_thread, the loaned ones (Caller::call_loaned, call_async_loaned) whose
  /// payload was written in the ring itself; the other loaned calls used a buffer.
  std::uint64_t requests_written_in_place = 0;
  /// \name One-way sends from application threads
  /// One-way sends from application threads (ClientOptions::max_queued_send_bytes) on the current
  /// connection: those that found the send queue full and waited, those that failed with
  /// resource_exhausted, the senders waiting now, and messages dropped because a connection
  /// closed before they were written (the close reported why).
  /// @{
  std::uint64_t send_waits = 0;       ///< sends that found the send queue full and waited
  std::uint64_t send_refusals = 0;    ///< sends that failed with resource_exhausted
  std::uint64_t senders_waiting = 0;  ///< senders waiting for room now
  std::uint64_t unsent_on_close = 0;  ///< messages dropped because a connection closed first
  /// @}
};

/// One session to a server, with connect timeout, heartbeats and automatic reconnect
/// (exponential backoff with jitter). Also a HandlerRegistry: the server may call the client.
/// Ownership: created by Client::connect, owned by the caller; the Runtime must outlive it.
/// Threading: every method is thread-safe. Completions run on the runtime's I/O thread.
class PLEXUS_EXPORT Client final : public Caller, public HandlerRegistry {
 public:
  /// Connects and completes the handshake, blocking up to connect_timeout (and up to
  /// ClientOptions::wait_for_server more while no server answers). Fails with unavailable
  /// (nobody listening), deadline_exceeded (timeout), resource_exhausted (server full) or
  /// protocol_error (handshake refused). Must not be called on an I/O thread
  /// (failed_precondition). invalid_argument for an address that does not parse.
  static Result<std::unique_ptr<Client>> connect(Runtime& runtime, ClientOptions options);
  ~Client() override;  ///< close()

  /// The connection's state now.
  ConnectionState state() const;
  /// Blocks until connected or `timeout` passes; true when connected (false at once once the
  /// client is closed). For startup ordering and tests: waits on the state change, never polls.
  bool wait_connected(Millis timeout);
  /// Called on the I/O thread at every state change. Replaces the previous callback.
  void on_state_change(std::function<void(ConnectionState)> callback);
  /// Transport counters of the current connection (read on its executor; blocks briefly) and the
  /// reconnect count. On an I/O thread only `reconnects` is filled in.
  ClientStats stats() const;
  /// Decisions of the client-side breakers, summed over methods (zeros without a breaker).
  PolicyStats breaker_stats() const;
  /// The largest payload the server accepts; 0 when not connected.
  std::uint32_t peer_max_message_size() const override;
  /// Round trip of a protocol PING (no handler runs). Blocking; not on an I/O thread
  /// (failed_precondition). Fails with unavailable (not connected) or deadline_exceeded.
  Result<std::chrono::nanoseconds> ping(Millis timeout = Millis{5000});
  /// The session as a Peer (identity of the server, disconnect()).
  Peer peer() const;
  /// Subscribes to `pattern` through the server (docs/PROTOCOL.md §Publish/subscribe).
  /// `handler` runs on the I/O thread for each matching publish, in order, including
  /// this client's own publishes. Blocks until the server acknowledges (up to connect_timeout);
  /// while disconnected the subscription is only recorded. Every subscription is re-sent after a
  /// reconnect, before the state turns `connected`. Fails with invalid_argument (bad pattern or
  /// options, no handler), failed_precondition on an I/O thread, deadline_exceeded (no answer
  /// within connect_timeout), or the server's error.
  Result<SubscriptionId> subscribe(std::string_view pattern, MessageHandler handler,
                                   SubscribeOptions options = {});
  /// Ends a subscription (also at the server when connected). Unknown ids are ignored.
  void unsubscribe(SubscriptionId id);
  /// Publishes `payload` on `topic` through the server.
  /// Fire and forget, like notify: fails at once with invalid_argument (bad topic), unavailable
  /// (not connected) or message_too_large; and with resource_exhausted as notify does.
  Result<void> publish(std::string_view topic, std::string payload, PublishOptions options = {});
  /// Sends what the batcher holds now (ClientOptions::batching).
  void flush();

  /// Stops reconnecting, fails queued calls with unavailable, closes the connection. Idempotent.
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
  std::optional<Result<std::string>> call_on_this_thread(std::string_view method,
                                                         std::string& payload,
                                                         CallOptions& options) override;
  std::optional<Result<std::string>> call_loaned_on_this_thread(std::string_view method,
                                                                std::size_t size,
                                                                const PayloadWriter& write,
                                                                CallOptions& options) override;
  bool start_call_loaned_here(CallId id, std::string_view method, std::size_t size,
                              const PayloadWriter& write, CallOptions& options,
                              CallCallback& done) override;
  void fail_later(CallCallback&& done, Error error) override;
  Stream start_stream(std::string method, std::string payload, StreamOptions options) override;
  Result<void> send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                            std::string_view payload, const SendOptions& options) override;

 private:
  friend class detail::ClientHooks;  // what Consumer needs of the session
                                     // (src/api/client_hooks.hpp)
  // The session, reconnect state, waiting calls, subscriptions, breakers and metrics (src/api/
  // client.cpp). Owned alone: ~Client closes the session and waits until the client's serial
  // executor has run everything that refers to it before it goes.
  struct Impl;
  Client(Runtime& runtime, ClientOptions options);

  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus
