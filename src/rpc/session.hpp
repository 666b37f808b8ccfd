// A symmetric session over one Connection: either side serves handlers and calls the other.
// Owns the call table (outbound), the in-flight table (inbound), deadlines, cancel, heartbeats
// and the HELLO/WELCOME handshake. Knows nothing of which transport carries it.
//
// Threading: every method runs on the connection's serial executor unless it says
// otherwise. Errors never throw: calls complete with a Result, the session closes with a reason.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "observe/recent_errors.hpp"
#include "plexus/call.hpp"
#include "plexus/pubsub.hpp"
#include "rpc/access_gate.hpp"
#include "rpc/acked_ids.hpp"
#include "rpc/batcher.hpp"
#include "rpc/handler_table.hpp"
#include "rpc/heartbeat.hpp"
#include "rpc/inbound_calls.hpp"
#include "rpc/lane_tables.hpp"
#include "rpc/outbound_calls.hpp"
#include "rpc/outbox.hpp"
#include "rpc/stream_core.hpp"
#include "rpc/stream_table.hpp"
#include "rpc/time_source.hpp"
#include "transport/connection.hpp"
#include "wire/call_metadata.hpp"
#include "wire/handshake.hpp"

namespace plexus::rpc {

class WorkerPool;
struct AnswerLoan;

struct SessionOptions {
  enum class Role { dialer, acceptor };
  Role role = Role::dialer;
  std::string local_name;
  // A dialer's signed token, sent in its HELLO (empty: none).
  std::string token;
  std::uint32_t max_message_size = wire::kDefaultMaxMessageSize;  // what this side accepts
  Millis heartbeat_interval{5000};  // ping when nothing arrived for this long (0: never)
  Millis heartbeat_timeout{15000};  // peer is dead when nothing arrived for this long (0: never)
  Millis handshake_timeout{5000};
  // Where outbound call ids come from; a client shares one across reconnects so an id stays
  // unique for its lifetime. Null: the session keeps its own.
  std::shared_ptr<std::atomic<CallId>> call_ids;
  // Time/size-bounded BATCH frames for NOTIFY and PUBLISH (only if the peer advertises kBatch).
  BatchOptions batching;
  // Counts sessions this side closed because the peer fell silent; null: not counted.
  observe::Counter* heartbeat_failures = nullptr;
  // Counts every stream of this session with its owner's others (metrics); null: not counted.
  std::shared_ptr<StreamTotals> stream_totals;
  // One-way messages accepted and not yet handed to the connection (rpc/outbox.hpp), in bytes:
  // past it, senders on application threads wait for room and senders on the strand are told
  // resource_exhausted. On top of the connection's own write queue.
  std::size_t max_queued_send_bytes = 16u << 20;
  // Adds the one-way messages lost when this session closes (its owner's total); counted
  // before a waiting sender learns of the close. Null: not counted beyond unsent_on_close().
  std::shared_ptr<std::atomic<std::uint64_t>> unsent_total;
  // The ids of acknowledged messages handled (§22.1), shared by the owner's sessions: a
  // REQUEST carrying one of them is answered at once without running its handler. Null: every
  // acknowledged message runs its handler (no memory).
  std::shared_ptr<AckedIds> acked_ids;
  // Deadlines, heartbeats and batch waits read and wait on this; null: the steady clock.
  std::shared_ptr<const TimeSource> time;
  // Failed calls this side answered, for the status page; null: not kept.
  std::shared_ptr<observe::RecentErrors> recent_errors;
  // Where offloaded handlers run (rpc/offload.hpp); the runtime's, which outlives the session.
  // Null: they run on the session's executor like any other.
  WorkerPool* workers = nullptr;
};

struct SessionCallbacks {
  // An acceptor's peer sent its HELLO (its token, if any, is unverified in `hello`): the owner
  // authenticates it. An error is the GOAWAY the peer gets (unauthenticated, permission_denied)
  // before the session closes; an Admission, what the session adds to the peer's identity and
  // the gate it asks from then on. Unset: every peer is admitted with no gate.
  std::function<Result<Admission>(Session&, const wire::PeerHello&)> on_hello;
  // The handshake finished (ok) or failed (the error); called once, before on_closed.
  std::function<void(Session&, Result<void>)> on_ready;
  // The session is closed; every call on it has completed. Called once.
  std::function<void(Session&, const Error&)> on_closed;
  // The last in-flight inbound call finished (for graceful drain).
  std::function<void(Session&)> on_idle;
  // Pub/sub (all optional; on the strand). A SUBSCRIBE arrived: `options` is its payload
  // (JSON or empty); the result becomes the RESPONSE or ERROR. Unset: failed_precondition.
  std::function<Result<void>(Session&, SubscriptionId, std::string_view pattern,
                             std::string_view options)>
      on_subscribe;
  std::function<void(Session&, SubscriptionId)> on_unsubscribe;
  // A PUBLISH arrived (id 0 from a publisher, the subscription id from a router).
  std::function<void(Session&, SubscriptionId, std::string_view topic, std::string_view payload)>
      on_publish;
  // Everything queued on the connection has been written (see Session::write_backlog).
  std::function<void(Session&)> on_writable;
};

// Counters a session keeps; read from other threads for stats.
struct SessionCounters {
  std::atomic<std::uint64_t> calls_in{0};
  std::atomic<std::uint64_t> calls_out{0};
  std::atomic<std::uint64_t> errors_out{0};  // ERROR frames sent
  transport::StatCount notifies_in;  // NOTIFYs and lane messages; written on the strand only
  std::atomic<std::uint64_t> late_responses{0};  // answers to calls already finished
};

// Where a sender's lane (plexus::Lane) is open: the session it sent LANE_OPEN on and the id
// it gave the lane there. Kept by the lane's owner, read and written on the session's strand.
struct LaneBinding {
  std::string method;
  std::uint64_t session_serial = 0;  // Session::serial() of that session; 0: none yet
  std::uint64_t id = 0;              // 0: the peer has no lanes, messages go as NOTIFYs
  std::string trace;  // current where the lane was opened; LANE_OPEN carries it (rpc/trace.hpp)
};

class Session final : public transport::ConnectionDelegate,
                      public std::enable_shared_from_this<Session> {
 public:
  static std::shared_ptr<Session> create(std::shared_ptr<transport::Connection> connection,
                                         std::shared_ptr<HandlerTable> handlers,
                                         SessionOptions options, SessionCallbacks callbacks);
  ~Session() override;

  // Starts reading and the handshake. Any thread.
  void start();

  // The payload of a call made on the caller's thread (call_here, start_call_here): the string
  // the caller built, or a region of `size` bytes that `write` fills where the request is
  // written, in the ring itself (Caller::call_loaned). `write` runs only once the request is
  // certain to go this way; after it ran, the call goes nowhere else: if it used more than it
  // was given, `refused` says so and nothing is sent.
  struct HereBody {
    std::string* built = nullptr;
    std::size_t size = 0;
    const PayloadWriter* write = nullptr;
    std::optional<Error> refused;
    std::size_t bytes() const { return built ? built->size() : size; }
    static HereBody of(std::string& payload) {
      HereBody body;
      body.built = &payload;
      return body;
    }
    static HereBody loaned(std::size_t size, const PayloadWriter& write) {
      HereBody body;
      body.size = size;
      body.write = &write;
      return body;
    }
  };

  // Starts an outbound call; `done` is always invoked later, never inside this call.
  void call(CallId id, std::string_view method, std::string&& payload, const CallOptions& options,
            CallCallback&& done);
  void cancel(CallId id);
  // A blocking call made on the caller's own thread (any thread but the strand), on the
  // connection itself when it lends itself (Connection::borrow; shared memory): the request is
  // written and usually the answer read without a trip through the I/O thread; when the
  // caller cannot read it (another frame first, its spin ran out) the strand delivers it.
  // nullopt: the call cannot go this way (the connection was not lent within `patience`, the
  // outbox or batcher holds messages that must go first, a ResponseInfo to fill); nothing was
  // sent and `body` is intact: use call(). Otherwise the call's result, as call() would
  // complete it (a deadline sends CANCEL); a built body's buffer may then hold the answer.
  // With options.answer_view, the answer goes to it on this thread (where it lies in the ring
  // when this thread reads it, else the strand's copy) and the result is empty.
  std::optional<Result<std::string>> call_here(CallId id, std::string_view method, HereBody& body,
                                               const CallOptions& options,
                                               std::chrono::nanoseconds patience);
  // call_async's counterpart (any thread but the strand): the calling thread writes the request
  // itself when the connection is parked at this moment, and the strand reads the answer and
  // runs `done` (never inside this call). False: not sent, `payload` and `done` intact (calls
  // with a deadline, and whatever call_here refuses, go through call()).
  // With a loaned body whose writer used more than it was given, true with body.refused set:
  // nothing was sent, `done` is intact and the caller fails the call with that error.
  bool start_call_here(CallId id, std::string_view method, HereBody& body,
                       const CallOptions& options, CallCallback& done);
  // call_async's hand-over from an application thread when start_call_here did not write it:
  // queued in the outbox (behind the one-way messages sent before it), and started by the
  // strand's next drain, which takes every call queued meanwhile at once. False: not queued
  // (a deadline needs its timer from the start, or the session takes no calls), arguments
  // intact. A close before the drain fails `done` with the session's reason.
  bool call_from_app(CallId id, std::string_view method, std::string& payload, CallOptions& options,
                     CallCallback& done);
  // Sends a PING and reports the round-trip time when its PONG arrives (unavailable if the
  // session closes first).
  void ping(std::function<void(Result<std::chrono::nanoseconds>)> done);
  // One-way sends on the strand: written (or batched) now, or queued behind messages held back
  // while the connection's write queue is full; resource_exhausted when the outbox has no room.
  // An ok is delivered unless the session closes first (which reports its reason).
  // Both carry the trace current on the strand (rpc/trace.hpp): the handler's, when one sends.
  Result<void> notify(std::string_view method, std::string payload, bool immediate = false,
                      std::string_view trace = {});
  // PUBLISH `topic` with id `id` (0 from a publisher, the subscription id from a router).
  // Joins the current batch unless `immediate` or batching is off.
  // `trace`: a router's forward carries the publisher's; empty from a publisher: the current one.
  Result<void> publish(SubscriptionId id, std::string_view topic, std::string_view payload,
                       bool immediate = false, std::string_view trace = {});
  // Any thread but the strand: queues a one-way message for the strand, waiting up to `wait` for
  // room (rpc/outbox.hpp). Fails with resource_exhausted (no room in time), unavailable (the
  // session closed; also while waiting) or message_too_large (over the peer's limit).
  Result<void> send_from_app(OutboxItem&& item, std::chrono::milliseconds wait);
  // One-way messages (or batches of them) dropped because the session closed before they could
  // be written; the outbox's own counters. Any thread.
  std::uint64_t unsent_on_close() const { return unsent_on_close_.load(std::memory_order_relaxed); }
  const Outbox& outbox() const { return outbox_; }
  // SUBSCRIBE: `done` gets the peer's RESPONSE (ok) or ERROR; always later, never inside.
  void subscribe(SubscriptionId id, std::string_view pattern, std::string options_json,
                 CallCallback done);
  void unsubscribe(SubscriptionId id);
  // Sends the pending BATCH now (no-op when nothing is batched).
  void flush_batch();
  // Backpressure on this peer: stop / restart reading its frames (Connection::pause_reading).
  void pause_reading() { connection_->pause_reading(); }
  void resume_reading() { connection_->resume_reading(); }
  // Bytes queued on the connection and not yet written (batched messages not included).
  std::size_t write_backlog() const { return connection_->pending_write_bytes(); }
  // Graceful: GOAWAY to the peer; no new calls either way; in-flight calls finish.
  void goaway(const Error& reason);
  // After an access policy reload: if the session's gate no longer allows one of `patterns`
  // (its subscriptions), the session ends with GOAWAY permission_denied naming it (a client
  // that reconnects subscribes again and is told no); a stream the peer opened whose method it
  // no longer allows is cancelled with permission_denied. Any thread (runs on the strand).
  void recheck_access(std::vector<std::string> patterns);
  // Closes (with `flush`, after what is queued is written); in-flight calls fail with `reason`.
  void close(const Error& reason, bool flush = true);

  // Thread-safe reads.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Ready and the peer has not announced GOAWAY: new calls may start. On the strand.
  bool accepting_calls() const { return ready() && !peer_goaway_; }
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  std::size_t inbound_in_flight() const { return inbound_.size(); }
  // Streams the peer opened here whose handler has not finished.
  std::size_t streams_being_served() const { return streams_.accepted_count(); }
  // Calls or streams still being served: a graceful drain waits for both.
  bool serving() const { return inbound_in_flight() + streams_being_served() > 0; }
  std::uint32_t peer_max_message_size() const { return peer_max_.load(std::memory_order_acquire); }
  CallId next_call_id() { return call_ids_->fetch_add(1, std::memory_order_relaxed); }
  const PeerIdentity& identity() const { return identity_; }  // complete once ready()
  const SessionCounters& counters() const { return counters_; }
  const asio::any_io_executor& executor() const { return executor_; }
  const transport::Connection& connection() const { return *connection_; }

  // ConnectionDelegate (on the strand).
  void on_frame(const wire::FrameView& frame) override;
  void on_frame_too_large(const wire::FrameHeader& header, const Error& error,
                          bool skipping) override;
  void on_malformed(const Error& error) override;
  void on_closed(const Error& reason) override;
  void on_write_done() override;

  // Where an offloaded handler of the call `ctx` describes runs, and the session that must stay
  // alive while it does (null when the session is gone). Calls may run at once on any worker;
  // notifications and lane messages (id 0) run in arrival order, on a strand of the pool of
  // their own per session. Without a pool: the session's executor. On the strand.
  struct WorkerTarget {
    asio::any_io_executor executor;
    std::shared_ptr<Session> session;
  };
  static WorkerTarget worker_target(const CallContext& ctx);

  // From InboundCall::reply, on the strand.
  void finish_inbound(CallId id, Result<std::string> result, const ResponseInfo& info = {});

  // Streams (session_streams.cpp), on the strand. open_stream sends STREAM_OPEN for `core` or
  // ends it at once with the reason it cannot open (not connected, peer without streams).
  void open_stream(std::shared_ptr<StreamCore> core, std::string method, std::string payload,
                   std::string trace = {});
  // Forwarded to the connection (Connection::hold_writes): a stream producer's burst.
  void hold_writes() { connection_->hold_writes(); }
  void release_writes() { connection_->release_writes(); }
  Result<void> send_stream_frame(wire::FrameKind kind, std::uint64_t wire_id,
                                 const wire::Metadata& md, std::string payload);
  void forget_stream(std::uint64_t id, bool opened_here);

  // Lanes (session_lanes.cpp, docs/PROTOCOL.md §6.11), on the strand. Sends one message to
  // `method` on the lane `binding` describes, first opening it on this session (LANE_OPEN) if
  // it is not open here yet; to a peer without lanes, or past kMaxLanes, it sends a NOTIFY.
  Result<void> send_on_lane(const std::shared_ptr<LaneBinding>& lane, std::string_view payload) {
    // The steady state, inline: the lane is open here, nothing is batched or held back. (A
    // closed session's connection is closed too: its send reports unavailable.)
    if (lane->session_serial == serial_ && lane->id != 0 && batcher_.items() == 0 &&
        !outbox_.stalled()) {
      return connection_->send(
          transport::OutFrame::plain(wire::FrameKind::lane_data, lane->id, payload));
    }
    return send_on_lane_first(lane, payload);
  }
  // A number no other Session object of this process has: lanes tell sessions apart by it
  // (an address can be reused by a later session).
  std::uint64_t serial() const { return serial_; }
  // The peer's HELLO/WELCOME capability bits; thread-safe once ready().
  std::uint64_t peer_capabilities() const {
    return peer_capabilities_.load(std::memory_order_acquire);
  }

 private:
  Session(std::shared_ptr<transport::Connection> connection, std::shared_ptr<HandlerTable> handlers,
          SessionOptions options, SessionCallbacks callbacks);

  void on_handshake_frame(const wire::FrameView& frame, const wire::Metadata& md);
  // The frame's metadata, decoded and checked for its kind; on failure the session ends with a
  // protocol error and this is nullopt.
  std::optional<wire::Metadata> checked_metadata(const wire::FrameView& frame);
  void on_request(const wire::FrameView& frame, Clock::time_point arrived);
  void on_response(const wire::FrameView& frame);
  void become_ready(const wire::PeerHello& hello);
  void fail_handshake(const Error& error);
  // Arms the timer that ends the session, with GOAWAY unauthenticated, when its token expires.
  void end_at_token_expiry(std::chrono::system_clock::time_point expires);
  // `arrived`: when the request frame came in, the base of its deadline and of its latency.
  void handle_request(const wire::FrameView& frame, const wire::CallFields& md,
                      Clock::time_point arrived);
  void serve_with_policies(CallId id, const wire::FrameView& frame, const wire::CallFields& md,
                           Clock::time_point arrived,
                           const std::shared_ptr<CallInterceptor>& policies,
                           observe::MethodStats* stats);
  // Sets what every handler context carries: method, id (0 for a notify), peer, trace id, and
  // the way back to this session and its executor.
  void fill_context(CallContext& ctx, CallId id, std::string_view method, std::string_view trace_id,
                    std::string_view message_id = {});
  // The context synchronous handlers of calls share, one after the other (made on first use).
  CallContext& sync_context();
  // The handler for `method` in the current table, or null. Valid until the next frame.
  const HandlerEntry* find_handler(std::string_view method);
  void handle_notify(const wire::FrameView& frame, const wire::Metadata& md);
  // Runs `entry` for a NOTIFY (or a lane's message) to md.method; its answer goes nowhere.
  void run_notify(const HandlerEntry& entry, const wire::Metadata& md, std::string_view payload);
  // A notify's or lane message's handler failed: logged, nobody else is told.
  void notify_failed(std::string_view method, const Error& error) const;
  // send_on_lane's other cases: messages held back, opening the lane here, a peer without
  // lanes, a batch to flush. lane_send_now: the same past the outbox.
  Result<void> send_on_lane_first(const std::shared_ptr<LaneBinding>& lane,
                                  std::string_view payload);
  Result<void> lane_send_now(LaneBinding& binding, std::string_view payload);
  void handle_lane_open(const wire::FrameView& frame, const wire::Metadata& md);
  void handle_lane_data(const wire::FrameView& frame);
  // A frame the protocol forbids here: GOAWAY protocol_error, then close.
  void protocol_violation(Error error);
  void handle_subscribe(const wire::FrameView& frame, const wire::Metadata& md);
  void handle_batch(const wire::FrameView& frame);
  void dispatch_message(const wire::FrameView& frame, const wire::Metadata& md);
  // Sends a NOTIFY or PUBLISH through the batcher (see SessionOptions::batching).
  Result<void> send_batchable(wire::FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                              std::string_view payload, bool immediate);
  void complete_outbound(CallId id, Result<std::string> result);
  // A pending call's callbacks, out of outbound_; false (counted as a late answer) when the id
  // is not pending.
  bool take_outbound(CallId id, PendingCall& out);
  // Writes a call's REQUEST; `payload` is moved from only when it succeeds.
  Result<void> send_request(CallId id, const wire::CallFields& fields, std::string&& payload);
  // Drops an inbound call (cancel, deadline); `answer` is sent when the caller still waits
  // (a handler's own time limit passed first).
  void cancel_inbound(CallId id, std::optional<Error> answer = std::nullopt);
  void send_result(CallId id, Result<std::string> result, const ResponseInfo& info = {});
  // A synchronous handler's answer when it loaned a region (CallContext::loan_answer).
  void send_loaned(CallId id, AnswerLoan& loan, Result<std::string> result);
  void send_error(CallId id, const Error& error);
  void send_goaway(const Error& error);
  void log_error(CallId id, std::string_view method, std::string_view trace_id,
                 const Error& error) const;
  const HandlerTable::Map& handlers();
  // The handshake's time limit, then (ready) the heartbeat's ticks.
  void arm_handshake_limit();
  void arm_heartbeat();
  void on_heartbeat_tick();
  void post_completion(CallCallback done, Result<std::string> result);
  // A RESPONSE: its payload goes to the call's answer_view as a view, then the call completes
  // with an empty string; without one it becomes the result (moved when the frame owns it).
  void complete_answer(const wire::FrameView& frame);
  // An inbound call left inbound_: tells on_idle when nothing is being served any more.
  void after_inbound();
  void handle_stream_frame(const wire::FrameView& frame, const wire::Metadata& md);
  void accept_stream(const wire::FrameView& frame, const wire::Metadata& md);
  // The outbox (rpc/outbox.hpp): writes what it holds until the connection's write queue is
  // full, then waits for on_write_done. Held BATCH frames go first.
  void drain_outbox();
  void drain_once();
  void post_drain();
  Result<void> write_item(OutboxItem& item);
  // A strand send while messages are held back: it queues behind them.
  Result<void> queue_behind_held(OutboxItem&& item);
  // A frame that must not be lost to a full write queue (stream frames, credit, cancel,
  // pong…): sent now, or held in the outbox behind what waits there. Bounded elsewhere (by
  // credit or by the frames that cause them), so it may go past the outbox's bound. Fails only
  // when the connection is closed, or message_too_large.
  Result<void> send_or_hold(wire::FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                            std::string&& payload = {});
  // Session::close with flush, once the outbox and held batches are written.
  void close_if_drained();
  // The one-way send paths themselves, past the outbox.
  // `payload` is moved from only when the send succeeds (a refused item stays whole for later).
  Result<void> notify_now(std::string_view method, std::string&& payload, bool immediate,
                          std::string_view trace);
  Result<void> publish_now(SubscriptionId id, std::string_view topic, std::string_view payload,
                           bool immediate, std::string_view trace);

  std::shared_ptr<transport::Connection> connection_;
  asio::any_io_executor executor_;
  std::shared_ptr<HandlerTable> handler_table_;
  std::shared_ptr<const HandlerTable::Map> handler_snapshot_;
  std::uint64_t handler_version_ = ~0ull;
  // find_handler's memory: the last method found, its entry, and the table version it is from.
  std::string last_method_;
  const HandlerEntry* last_handler_ = nullptr;
  std::uint64_t last_handler_version_ = ~0ull;
  std::unique_ptr<CallContext> sync_context_;
  bool sync_context_busy_ = false;  // a synchronous handler is using sync_context_
  // Offloaded notifications and lane messages of this session, in order (worker_target()).
  asio::any_io_executor ordered_workers_;
  SessionOptions options_;
  SessionCallbacks callbacks_;
  PeerIdentity identity_;
  // Asked before serving each inbound call, message, subscription and stream (on_hello's).
  std::shared_ptr<AccessGate> gate_;

  std::shared_ptr<const TimeSource> time_;
  OutboundCalls outbound_;
  InboundCalls inbound_;
  std::shared_ptr<std::atomic<CallId>> call_ids_;
  std::atomic<std::uint32_t> peer_max_{0};
  std::atomic<bool> ready_{false};
  std::atomic<bool> closed_{false};
  bool handshake_done_ = false;
  bool going_away_ = false;           // we sent GOAWAY: refuse new inbound calls
  std::optional<Error> peer_goaway_;  // the peer sent GOAWAY: refuse new outbound calls
  // Liveness, told of every frame: from the coarse clock (a jiffy's resolution, a third of
  // the cost of the fine one) except for requests, which need the fine one anyway.
  Heartbeat heartbeat_;
  std::unique_ptr<Timer> token_timer_;       // end_at_token_expiry's
  std::unique_ptr<Timer> heartbeat_timer_;   // the handshake's limit, then the heartbeat's ticks
  std::uint64_t borrowed_answers_seen_ = 0;  // ConnectionStats::borrowed_answers at the last tick
  SessionCounters counters_;
  Batcher batcher_;
  StreamTable streams_;
  std::atomic<std::uint64_t> peer_capabilities_{0};
  Outbox outbox_;
  // The items drain_outbox() took from the outbox; those from draining_next_ on are not written
  // yet (the transport's queue was full or past the drain watermark) and go before the outbox's.
  std::vector<OutboxItem> draining_;
  std::size_t draining_next_ = 0;
  std::size_t in_hand() const { return draining_.size() - draining_next_; }
  // BATCH frames the connection refused (its write queue full): sent before anything else.
  std::vector<std::string> held_batches_;
  std::optional<Error> close_when_drained_;  // close(flush) waiting for the outbox
  bool in_drain_ = false;     // drain_outbox() is running (a write completing inside it)
  bool drain_again_ = false;  // ...and the connection asked for more meanwhile
  std::atomic<std::uint64_t> unsent_on_close_{0};

  InboundLanes lanes_in_;
  OutboundLanes lanes_out_;
  void resolve_lane(InboundLane& lane);  // against the current handler table
  void lane_not_open(std::uint64_t id);
  void run_lane_message(InboundLane& lane, std::string_view payload);  // not a sync handler
  const std::uint64_t serial_;

  // Calls made with call_here (session_call_here.cpp), each until its caller read the answer
  // itself or the strand delivered it (take_outbound looks here after outbound_).
  std::mutex lent_mu_;
  std::vector<std::pair<CallId, CallCallback>> lent_;  // guarded by lent_mu_
  bool lent_closed_ = false;                           // guarded by lent_mu_: on_closed ran
  std::atomic<std::size_t> lent_count_{0};             // lent_.size(), read without the lock
  std::atomic<bool> peer_goaway_seen_{false};          // peer_goaway_, for call_here
  // One-way messages from application threads accepted (send_from_app) and not yet handed to
  // the connection: a call written on the caller's thread must not pass them.
  std::atomic<std::uint64_t> app_sends_unwritten_{0};
  // call_here's first half: borrows the connection, lists the call with `done` (moved from only
  // on success) and writes its request. True: sent, the connection still borrowed.
  // False with body.refused set: the writer ran and used more than it was given.
  bool send_here(CallId id, std::string_view method, HereBody& body, const CallOptions& options,
                 std::chrono::nanoseconds patience, CallCallback& done);
  // send_here's part for a loaned body: the writer fills a region of the ring, which is then
  // published. False: not sent (the connection given back, the call unlisted, `done` intact),
  // with body.refused set when the writer ran.
  bool write_in_ring(CallId id, std::string_view metadata, HereBody& body, CallCallback& done);
  bool add_lent(CallId id, CallCallback done);
  // True: it was there (its callback moved to `out` if given), and nobody will complete it now.
  bool drop_lent(CallId id, CallCallback* out = nullptr);
  bool take_lent(CallId id, PendingCall& out);
  void fail_lent(const Error& error);
};

}  // namespace plexus::rpc
