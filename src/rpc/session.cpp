#include "rpc/session.hpp"
#include "wire/envelope.hpp"

#include <algorithm>
#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <nlohmann/json.hpp>
#include "observe/log.hpp"
#include "platform/posix/accounts.hpp"
#include "platform/posix/process.hpp"

#include "rpc/answer_loan.hpp"
#include "rpc/deadline.hpp"
#include "rpc/handler_runner.hpp"
#include "rpc/trace.hpp"
#include "rpc/worker_pool.hpp"
#include "wire/batch.hpp"

namespace plexus::rpc {
namespace {

using wire::FrameKind;

// A received payload as a string of its own: moved out when the transport read it into one
// (a large payload), else copied from the read buffer.
std::string take_payload(const wire::FrameView& frame) {
  return frame.owned_payload ? std::move(*frame.owned_payload) : std::string(frame.payload);
}

// Deadlines further out than this are treated as this far: it keeps time_point arithmetic far
// from overflow, and no real caller waits longer.
constexpr std::uint64_t kMaxTimeoutUs = 30ull * 24 * 3600 * 1000 * 1000;  // 30 days

std::chrono::microseconds clamp_timeout(std::uint64_t timeout_us) {
  return std::chrono::microseconds(std::min(timeout_us, kMaxTimeoutUs));
}

// JSON object text {"key":"value"}; bytes that are not UTF-8 (a peer's method name may be
// anything) are replaced rather than thrown on.
std::string json_string_field(std::string_view key, std::string_view value) {
  return nlohmann::json{{std::string(key), std::string(value)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string limit_details(std::uint64_t limit, std::uint64_t size) {
  return "{\"limit\":" + std::to_string(limit) + ",\"size\":" + std::to_string(size) + "}";
}

}  // namespace

}  // namespace plexus::rpc

namespace plexus::rpc {

// ---- lifecycle -----------------------------------------------------------------------------

namespace {
std::uint64_t next_session_serial() {
  static std::atomic<std::uint64_t> serial{1};
  return serial.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

std::shared_ptr<Session> Session::create(std::shared_ptr<transport::Connection> connection,
                                         std::shared_ptr<HandlerTable> handlers,
                                         SessionOptions options, SessionCallbacks callbacks) {
  std::shared_ptr<Session> s(new Session(std::move(connection), std::move(handlers),
                                         std::move(options), std::move(callbacks)));
  s->batcher_.on_wait_over([weak = std::weak_ptr<Session>(s)] {
    if (auto self = weak.lock()) self->flush_batch();
  });
  return s;
}

Session::Session(std::shared_ptr<transport::Connection> connection,
                 std::shared_ptr<HandlerTable> handlers, SessionOptions options,
                 SessionCallbacks callbacks)
    : connection_(std::move(connection)),
      executor_(connection_->executor()),
      handler_table_(std::move(handlers)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      time_(options_.time ? options_.time : TimeSource::steady()),
      heartbeat_(options_.heartbeat_interval, options_.heartbeat_timeout),
      heartbeat_timer_(time_->make_timer(executor_)),
      batcher_(options_.batching, time_->make_timer(executor_)),
      outbox_(options_.max_queued_send_bytes),
      serial_(next_session_serial()) {
  call_ids_ = options_.call_ids ? options_.call_ids : std::make_shared<std::atomic<CallId>>(1);
  identity_.address = connection_->describe();
  if (auto cred = connection_->credentials()) {
    identity_.pid = cred->pid;
    identity_.uid = cred->uid;
    identity_.gid = cred->gid;
    identity_.executable = platform::executable_of(cred->pid);
    identity_.groups = platform::supplementary_groups_of(cred->pid);
  }
  identity_.host = connection_->remote_host();
  identity_.certificate = connection_->peer_certificate_subject();
}

Session::~Session() = default;

void Session::start() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    self->connection_->start(self);
    if (self->options_.role == SessionOptions::Role::dialer) {
      wire::PeerHello hello;
      hello.peer_name = self->options_.local_name;
      hello.token = self->options_.token;
      hello.max_message_size = self->options_.max_message_size;
      hello.heartbeat_interval_ms =
          static_cast<std::uint32_t>(self->options_.heartbeat_interval.count());
      (void)self->connection_->send(FrameKind::hello, 0, wire::hello_metadata(hello), {});
    }
    self->arm_handshake_limit();
  });
}

void Session::arm_handshake_limit() {
  // Whoever has not finished the handshake in time is dropped.
  heartbeat_.alive(time_->coarse_now());
  heartbeat_timer_->wait(options_.handshake_timeout, [weak = weak_from_this()] {
    auto s = weak.lock();
    if (!s || s->handshake_done_ || s->closed()) return;
    s->fail_handshake(Error{StatusCode::deadline_exceeded,
                            "handshake not completed within " +
                                std::to_string(s->options_.handshake_timeout.count()) + " ms",
                            {}});
  });
}

void Session::end_at_token_expiry(std::chrono::system_clock::time_point expires) {
  // The token's "exp" is wall-clock time; the timer runs on the steady clock from now.
  const auto left = std::max<std::chrono::system_clock::duration>(
      expires - std::chrono::system_clock::now(), std::chrono::system_clock::duration::zero());
  token_timer_ = time_->make_timer(executor_);
  token_timer_->wait(std::chrono::duration_cast<Clock::duration>(left), [weak = weak_from_this()] {
    auto s = weak.lock();
    if (!s || s->closed()) return;
    const Error expired{StatusCode::unauthenticated,
                        "the token has expired: connect again with a fresh one",
                        R"({"reason":"expired"})"};
    observe::logger().info("plexus: session with \"{}\" ({}) ends: its token expired",
                           s->identity_.name, s->identity_.address);
    s->send_goaway(expired);
    s->close(expired, /*flush=*/true);
  });
}

void Session::fail_handshake(const Error& error) {
  observe::logger().warn("plexus: handshake with {} failed: {}", identity_.address,
                         error.to_string());
  send_goaway(error);
  connection_->close(error, /*flush=*/true);
}

void Session::become_ready(const wire::PeerHello& hello) {
  handshake_done_ = true;
  identity_.name = hello.peer_name;
  peer_max_.store(hello.max_message_size, std::memory_order_release);
  peer_capabilities_.store(hello.capabilities, std::memory_order_release);
  connection_->set_peer_max_message_size(hello.max_message_size);
  ready_.store(true, std::memory_order_release);
  heartbeat_.alive(time_->coarse_now());
  heartbeat_timer_->cancel();
  arm_heartbeat();
  // The name is what the peer claims; what follows the address, what this side verified.
  const std::string verified = identity_.verified_key();
  observe::logger().info("plexus: session with \"{}\" ({}{}{}{}) ready", identity_.name,
                         identity_.address, verified.empty() ? "" : ", ", verified,
                         identity_.pid ? ", pid:" + std::to_string(*identity_.pid) : std::string());
  if (callbacks_.on_ready) callbacks_.on_ready(*this, {});
}

void Session::on_handshake_frame(const wire::FrameView& frame, const wire::Metadata& md) {
  const auto kind = frame.header.kind;
  const bool acceptor = options_.role == SessionOptions::Role::acceptor;
  if (!acceptor && kind == FrameKind::goaway) {
    // Refused before the handshake (too many connections, bad version, …).
    const Error e = wire::carried_error(md);
    peer_goaway_ = e;
    peer_goaway_seen_.store(true, std::memory_order_release);
    connection_->close(e, /*flush=*/false);
    return;
  }
  const FrameKind expected = acceptor ? FrameKind::hello : FrameKind::welcome;
  if (kind != expected) {
    fail_handshake(Error{StatusCode::protocol_error,
                         "expected " + std::string(wire::to_string(expected)) + ", got " +
                             std::string(wire::to_string(kind)),
                         {}});
    return;
  }
  auto hello = wire::decode_hello(md);
  if (!hello) {
    fail_handshake(hello.error());
    return;
  }
  if (acceptor && callbacks_.on_hello) {
    auto admission = callbacks_.on_hello(*this, *hello);
    if (!admission) {
      fail_handshake(admission.error());
      return;
    }
    identity_.subject = std::move(admission->subject);
    identity_.scopes = std::move(admission->scopes);
    gate_ = std::move(admission->gate);
    if (admission->expires) end_at_token_expiry(*admission->expires);
  }
  if (acceptor) {
    wire::PeerHello welcome;
    welcome.peer_name = options_.local_name;
    welcome.max_message_size = options_.max_message_size;
    welcome.heartbeat_interval_ms = static_cast<std::uint32_t>(options_.heartbeat_interval.count());
    (void)connection_->send(FrameKind::welcome, 0, wire::hello_metadata(welcome), {});
  }
  become_ready(*hello);
}

// ---- receive path --------------------------------------------------------------------------

void Session::on_frame(const wire::FrameView& frame) {
  // Every frame proves the peer alive. A request needs the fine clock anyway (its deadline and
  // latency start here); for the others the coarse one is enough.
  const bool request = frame.header.kind == FrameKind::request;
  const Clock::time_point now = request ? time_->now() : time_->coarse_now();
  heartbeat_.alive(now);
  if (!handshake_done_) {
    if (auto md = checked_metadata(frame)) on_handshake_frame(frame, *md);
    return;
  }
  // The one dispatch over frame kinds. The call path and lanes decode metadata their own
  // (cheaper) way inside their cases; every other kind is checked by the general decoder.
  switch (frame.header.kind) {
    case FrameKind::request:
      on_request(frame, now);
      break;
    case FrameKind::response:
      on_response(frame);
      break;
    case FrameKind::lane_data:
      // A lane's message without metadata (all that plexus sends) has nothing to decode.
      if (frame.metadata.empty() || checked_metadata(frame)) handle_lane_data(frame);
      break;
    case FrameKind::error:
      if (auto md = checked_metadata(frame)) {
        complete_outbound(frame.header.id, tl::unexpected(wire::carried_error(*md)));
      }
      break;
    case FrameKind::notify:
      if (auto md = checked_metadata(frame)) handle_notify(frame, *md);
      break;
    case FrameKind::lane_open:
      if (auto md = checked_metadata(frame)) handle_lane_open(frame, *md);
      break;
    case FrameKind::publish:
      if (auto md = checked_metadata(frame); md && callbacks_.on_publish) {
        if (gate_ && gate_->check(PeerAction::publish, md->method)) break;
        // The publisher's trace is current while the message is handled: the router copies it
        // onward, and what a subscriber's handler sends continues it.
        const trace::Scope scope(md->trace_id);
        callbacks_.on_publish(*this, frame.header.id, md->method, frame.payload);
      }
      break;
    case FrameKind::subscribe:
      if (auto md = checked_metadata(frame)) handle_subscribe(frame, *md);
      break;
    case FrameKind::unsubscribe:
      if (checked_metadata(frame) && callbacks_.on_unsubscribe) {
        callbacks_.on_unsubscribe(*this, frame.header.id);
      }
      break;
    case FrameKind::batch:
      if (checked_metadata(frame)) handle_batch(frame);
      break;
    case FrameKind::cancel:
      if (checked_metadata(frame)) cancel_inbound(frame.header.id);
      break;
    case FrameKind::ping:
      if (checked_metadata(frame)) (void)send_or_hold(FrameKind::pong, frame.header.id, {});
      break;
    case FrameKind::pong:
      if (checked_metadata(frame)) heartbeat_.pong(frame.header.id, time_->now());
      break;
    case FrameKind::goaway:
      if (auto md = checked_metadata(frame)) {
        peer_goaway_ = wire::carried_error(*md);
        peer_goaway_seen_.store(true, std::memory_order_release);
        observe::logger().info("plexus: \"{}\" sent GOAWAY: {}", identity_.name,
                               peer_goaway_->to_string());
        if (peer_goaway_->code != StatusCode::ok) connection_->close(*peer_goaway_, false);
      }
      break;
    case FrameKind::stream_open:
    case FrameKind::stream_data:
    case FrameKind::stream_end:
    case FrameKind::stream_credit:
    case FrameKind::stream_cancel:
      if (auto md = checked_metadata(frame)) handle_stream_frame(frame, *md);
      break;
    case FrameKind::hello:
    case FrameKind::welcome:
      protocol_violation({StatusCode::protocol_error, "handshake frame after the handshake", {}});
      break;
  }
}

std::optional<wire::Metadata> Session::checked_metadata(const wire::FrameView& frame) {
  auto md = wire::decode_metadata(frame.metadata);
  if (md) {
    if (auto ok = wire::validate_frame_fields(frame.header.kind, *md); !ok) {
      md = tl::unexpected(ok.error());
    }
  }
  if (!md) {
    protocol_violation(md.error());
    return std::nullopt;
  }
  return std::move(*md);
}

void Session::on_request(const wire::FrameView& frame, Clock::time_point arrived) {
  // A request whose block holds only its method, timeout and trace id skips the general
  // decoder.
  if (const auto fields = wire::decode_call_metadata(frame.metadata)) {
    handle_request(frame, *fields, arrived);
  } else if (auto md = checked_metadata(frame)) {
    handle_request(frame, {md->method, md->timeout_us, md->trace_id, md->message_id}, arrived);
  }
}

void Session::on_response(const wire::FrameView& frame) {
  if (frame.metadata.empty()) {  // the usual answer
    complete_answer(frame);
    return;
  }
  auto md = checked_metadata(frame);
  if (!md) return;
  if (md->cache_status || md->handler_time_us) {
    if (ResponseInfo* info = outbound_.response_info(frame.header.id)) {
      if (md->cache_status == 1) info->cache = ResponseInfo::Cache::miss;
      if (md->cache_status == 2) info->cache = ResponseInfo::Cache::hit;
      if (md->cache_age_us) info->cache_age = std::chrono::microseconds(*md->cache_age_us);
      if (md->handler_time_us) {
        info->handler_time = std::chrono::microseconds(*md->handler_time_us);
      }
    }
  }
  complete_answer(frame);
}

const HandlerTable::Map& Session::handlers() {
  const auto v = handler_table_->version();
  if (v != handler_version_) {
    handler_snapshot_ = handler_table_->snapshot();
    handler_version_ = v;
  }
  return *handler_snapshot_;
}

void Session::handle_request(const wire::FrameView& frame, const wire::CallFields& fields,
                             Clock::time_point arrived) {
  // A call without a trace gets one drawn when something needs it (CallContext::trace_id());
  // with debug logging on, the log line below needs it at once.
  std::string drawn_trace;
  wire::CallFields md = fields;
  if (md.trace_id.empty() && observe::logger().should_log(spdlog::level::debug)) {
    drawn_trace = trace::generate();
    md.trace_id = drawn_trace;
  }
  const CallId id = frame.header.id;
  counters_.calls_in.fetch_add(1, std::memory_order_relaxed);
  if (going_away_) {
    send_error(id, Error{StatusCode::unavailable, "server is shutting down", {}});
    return;
  }
  if (inbound_.contains(id)) {
    // An answer to it could not be told from the answer to the first call: the peer is broken.
    const Error e{StatusCode::protocol_error,
                  "call id " + std::to_string(id) + " reused while still in flight",
                  "{\"id\":" + std::to_string(id) + "}"};
    protocol_violation(e);
    return;
  }
  if (gate_) {
    // Before the handler lookup: a peer that may not call learns nothing of what exists. An
    // acknowledged publish is checked as a publish on its topic (a malformed one is refused
    // by the handler).
    std::optional<Error> denied;
    if (md.method == kAckedPublishMethod) {
      if (auto env = wire::decode_envelope(frame.payload); env && !env->fields.method.empty()) {
        denied = gate_->check(PeerAction::publish, env->fields.method);
      }
    } else {
      denied = gate_->check(PeerAction::call, md.method);
    }
    if (denied) {
      log_error(id, md.method, md.trace_id, *denied);
      send_error(id, *denied);
      return;
    }
  }
  const HandlerEntry* entry = find_handler(md.method);
  if (!entry) {
    const Error e{StatusCode::not_found, "no handler for method \"" + std::string(md.method) + "\"",
                  json_string_field("method", md.method)};
    log_error(id, md.method, md.trace_id, e);
    send_error(id, e);
    return;
  }
  if (md.timeout_us && *md.timeout_us == 0) {
    send_error(id, Error{StatusCode::deadline_exceeded, "deadline passed before the call ran", {}});
    return;
  }
  // Guarded: even a disabled spdlog::debug costs a call and argument set-up on every request.
  if (observe::logger().should_log(spdlog::level::debug)) {
    const observe::ScopedLogFields log_fields({id, md.trace_id, md.method, identity_.name});
    observe::logger().debug("plexus: call {} \"{}\" from \"{}\" ({}) trace={}", id, md.method,
                            identity_.name, identity_.address, md.trace_id);
  }
  if (std::holds_alternative<StreamHandler>(entry->fn)) {
    send_error(id,
               Error{StatusCode::failed_precondition,
                     "\"" + std::string(md.method) + "\" is a stream method: open it as a stream",
                     json_string_field("method", md.method)});
    return;
  }
  const bool acked = !md.message_id.empty() && options_.acked_ids;
  if (acked) {
    switch (options_.acked_ids->begin(md.message_id)) {
      case AckedIds::Seen::fresh:
        break;
      case AckedIds::Seen::handled:
        // A resend of a message handled before (its acknowledgement was lost or late):
        // acknowledged again, not handled again.
        send_result(id, std::string());
        return;
      case AckedIds::Seen::in_progress:
        send_error(id, Error{StatusCode::unavailable,
                             "message " + std::string(md.message_id) +
                                 " is still being handled by an earlier delivery; resend later",
                             json_string_field("message_id", md.message_id)});
        return;
    }
  }
  if (entry->policies) {
    serve_with_policies(id, frame, md, arrived, entry->policies, entry->stats.get());
    return;
  }

  if (const auto* sync = std::get_if<SyncHandler>(&entry->fn)) {
    // The handler runs to completion here, so `entry` stays valid without a reference of its
    // own: the snapshot that holds it is only replaced by a later frame. One context serves
    // every synchronous call in turn; a handler that somehow re-enters this session (it would
    // have to run the I/O loop itself) gets a fresh one.
    std::optional<CallContext> nested;
    CallContext& ctx = sync_context_busy_ ? nested.emplace() : sync_context();
    fill_context(ctx, id, md.method, md.trace_id, md.message_id);
    if (md.timeout_us) ctx.deadline_ = arrived + clamp_timeout(*md.timeout_us);
    const bool reused = !nested;
    sync_context_busy_ = sync_context_busy_ || reused;
    AnswerLoan loan;  // CallContext::loan_answer
    loan.connection = connection_.get();
    loan.limit = peer_max_message_size();
    ctx.loan_ = &loan;
    Result<std::string> result = run_sync_handler(*sync, ctx, frame.payload);
    ctx.loan_ = nullptr;
    if (reused) {
      sync_context_busy_ = false;
      ctx.deadline_.reset();
      ctx.on_cancel_ = nullptr;  // whatever the handler registered dies with its call
    }
    if (!result) log_error(id, md.method, ctx.trace_id(), result.error());
    if (acked) options_.acked_ids->finish(md.message_id, result.has_value());
    if (auto* stats = entry->stats.get()) {
      stats->record(result ? StatusCode::ok : result.error().code, time_->now() - arrived);
    }
    if (loan.region) {
      send_loaned(id, loan, std::move(result));
      return;
    }
    send_result(id, std::move(result));
    return;
  }

  // Asynchronous and coroutine handlers: the call lives in inbound_ until answered.
  auto call = std::make_shared<InboundCall>();
  call->stats = entry->stats.get();
  call->arrived = arrived;
  fill_context(call->ctx, id, md.method, md.trace_id, md.message_id);
  if (!md.message_id.empty()) call->acked = options_.acked_ids;
  call->session = weak_from_this();
  call->executor = executor_;
  std::unique_ptr<Timer> deadline;
  if (md.timeout_us) {
    const auto timeout = clamp_timeout(*md.timeout_us);
    call->ctx.deadline_ = arrived + timeout;
    deadline = time_->make_timer(executor_);
    deadline->wait(*call->ctx.deadline_ - time_->now(), [weak = weak_from_this(), id] {
      if (auto s = weak.lock()) s->cancel_inbound(id);
    });
  }
  inbound_.add(id, call, std::move(deadline));
  start_handler(std::get_if<AsyncHandler>(&entry->fn), std::get_if<CoroHandler>(&entry->fn),
                call->ctx, call, frame.payload, executor_);
}

// A handler with policies (src/policy/chain.hpp): the call is held in inbound_ like an
// asynchronous one, since the chain may make it wait (concurrency limit) or answer later. Its
// deadline is the shorter of the caller's and the handler's own limit; when the handler's limit
// is the one that passes, the caller is still waiting and gets deadline_exceeded from here.
void Session::serve_with_policies(CallId id, const wire::FrameView& frame,
                                  const wire::CallFields& md, Clock::time_point arrived,
                                  const std::shared_ptr<CallInterceptor>& policies,
                                  observe::MethodStats* stats) {
  auto call = std::make_shared<InboundCall>();
  call->stats = stats;
  call->arrived = arrived;
  fill_context(call->ctx, id, md.method, md.trace_id, md.message_id);
  if (!md.message_id.empty()) call->acked = options_.acked_ids;
  call->session = weak_from_this();
  call->executor = executor_;
  std::optional<Clock::time_point> caller_deadline;
  if (md.timeout_us) caller_deadline = arrived + clamp_timeout(*md.timeout_us);
  const auto limit = policies->timeout();
  const auto deadline = effective_deadline(arrived, caller_deadline, limit);
  std::unique_ptr<Timer> timer;
  if (deadline.at) {
    call->ctx.deadline_ = *deadline.at;
    timer = time_->make_timer(executor_);
    timer->wait(
        *deadline.at - time_->now(), [weak = weak_from_this(), id, policies,
                                      own = deadline.handler_limit_won ? limit : std::nullopt] {
          auto s = weak.lock();
          if (!s) return;
          if (!own) {
            s->cancel_inbound(id);  // the caller's deadline: it has stopped waiting
            return;
          }
          if (s->inbound_.contains(id)) policies->on_timeout();
          s->cancel_inbound(
              id, Error{StatusCode::deadline_exceeded,
                        "handler time limit of " + std::to_string(own->count()) + " ms passed",
                        "{\"timeout_ms\":" + std::to_string(own->count()) + "}"});
        });
  }
  inbound_.add(id, call, std::move(timer));
  policies->run(call->ctx, frame.payload,
                [call](Answer answer) { call->reply(std::move(answer.result), answer.info); });
}

void Session::fill_context(CallContext& ctx, CallId id, std::string_view method,
                           std::string_view trace_id, std::string_view message_id) {
  if (!ctx.message_id_.empty() || !message_id.empty()) ctx.message_id_.assign(message_id);
  // A reused context usually serves the same method again: a compare is cheaper than a copy.
  if (ctx.method_ != method) ctx.method_.assign(method);
  ctx.id_ = id;
  ctx.identity_ = &identity_;
  if (ctx.trace_id_ != trace_id) ctx.trace_id_.assign(trace_id);
  // Both stay the same for a context this session reuses (sync_context()).
  if (ctx.session_.expired()) ctx.session_ = weak_from_this();
  if (!ctx.executor_) ctx.executor_ = executor_;
}

Session::WorkerTarget Session::worker_target(const CallContext& ctx) {
  auto session = ctx.session_.lock();
  if (!session) return {};
  WorkerPool* pool = session->options_.workers;
  if (!pool) return {session->executor_, std::move(session)};
  if (ctx.id() != 0) return {pool->executor(), std::move(session)};
  if (!session->ordered_workers_) session->ordered_workers_ = asio::make_strand(pool->executor());
  return {session->ordered_workers_, std::move(session)};
}

CallContext& Session::sync_context() {
  if (!sync_context_) sync_context_ = std::make_unique<CallContext>();
  return *sync_context_;
}

const HandlerEntry* Session::find_handler(std::string_view method) {
  const auto& table = handlers();
  // Most connections call one method, or a few, over and over: the last one found is checked
  // before the hash table (a short compare instead of hashing the name).
  if (last_handler_ && last_handler_version_ == handler_version_ && method == last_method_) {
    return last_handler_;
  }
  auto it = table.find(method);
  if (it == table.end()) {
    // A bus service that is started on its first call (docs/PROTOCOL.md §24.6) serves every
    // method of its name through one entry, "NAME/*", until its provider registers. Looked up
    // only when the method is not found, and not remembered below.
    return HandlerTable::find_fallback(table, method).get();  // the map holds it
  }
  last_method_.assign(method);
  last_handler_ = it->second.get();
  last_handler_version_ = handler_version_;
  return last_handler_;
}

void Session::handle_notify(const wire::FrameView& frame, const wire::Metadata& md) {
  ++counters_.notifies_in;
  if (gate_ && gate_->check(PeerAction::notify, md.method)) return;  // the gate counts it
  const auto& table = handlers();
  auto it = table.find(md.method);
  const auto entry = it != table.end() ? it->second : HandlerTable::find_fallback(table, md.method);
  if (!entry) {
    observe::logger().debug("plexus: notify for unknown method \"{}\" from \"{}\" dropped",
                            md.method, identity_.name);
    return;
  }
  run_notify(*entry, md, frame.payload);
}

void Session::run_notify(const HandlerEntry& entry, const wire::Metadata& md,
                         std::string_view payload) {
  if (std::holds_alternative<StreamHandler>(entry.fn)) return;  // streams are not notified
  // A notify runs the same handler as a call; its answer goes nowhere. A synchronous handler
  // is done when it returns: its context lives on the stack, as for a call (no allocation per
  // message). Asynchronous and coroutine handlers may use the context after returning, so it
  // lives on the heap with the responder (id 0 is never in inbound_: the answer is dropped).
  if (const auto* sync = std::get_if<SyncHandler>(&entry.fn)) {
    CallContext ctx;
    fill_context(ctx, 0, md.method, md.trace_id);
    if (auto r = run_sync_handler(*sync, ctx, payload); !r) notify_failed(md.method, r.error());
    return;
  }
  auto call = std::make_shared<InboundCall>();
  fill_context(call->ctx, 0, md.method, md.trace_id);
  call->session = weak_from_this();
  call->executor = executor_;
  start_handler(std::get_if<AsyncHandler>(&entry.fn), std::get_if<CoroHandler>(&entry.fn),
                call->ctx, call, payload, executor_);
}

void Session::notify_failed(std::string_view method, const Error& error) const {
  // Nobody waits for a notification's answer: a handler's failure is only logged (a thrown
  // exception, internal, louder than an error it returned).
  const auto level =
      error.code == StatusCode::internal ? spdlog::level::warn : spdlog::level::debug;
  const observe::ScopedLogFields log_fields({0, {}, method, identity_.name});
  observe::logger().log(level, "plexus: notify handler \"{}\" from \"{}\" failed: {}", method,
                        identity_.name, error.to_string());
}

void Session::handle_subscribe(const wire::FrameView& frame, const wire::Metadata& md) {
  if (inbound_.contains(frame.header.id)) {
    // Its RESPONSE could not be told from the call's: ids are unique across both.
    const Error e{StatusCode::protocol_error,
                  "call id " + std::to_string(frame.header.id) +
                      " reused by a SUBSCRIBE while still in flight",
                  "{\"id\":" + std::to_string(frame.header.id) + "}"};
    protocol_violation(e);
    return;
  }
  if (!callbacks_.on_subscribe) {
    send_error(frame.header.id, Error{StatusCode::failed_precondition,
                                      "this peer routes no subscriptions (subscribe to a server)",
                                      {}});
    return;
  }
  if (gate_) {
    if (auto denied = gate_->check(PeerAction::subscribe, md.method)) {
      send_error(frame.header.id, *denied);
      return;
    }
  }
  auto r = callbacks_.on_subscribe(*this, frame.header.id, md.method, frame.payload);
  if (r) {
    (void)send_or_hold(FrameKind::response, frame.header.id, {});
  } else {
    send_error(frame.header.id, r.error());
  }
}

void Session::handle_batch(const wire::FrameView& frame) {
  const wire::Limits limits{options_.max_message_size};
  if (auto n = wire::check_batch(frame.payload, limits); !n) {
    protocol_violation(n.error());
    return;
  }
  // Each item is a NOTIFY or PUBLISH whose metadata check_batch has already validated.
  wire::for_each_in_batch(frame.payload, limits, [this](const wire::FrameView& inner) {
    if (closed()) return;
    if (auto md = wire::decode_metadata(inner.metadata)) dispatch_message(inner, *md);
  });
}

void Session::dispatch_message(const wire::FrameView& frame, const wire::Metadata& md) {
  if (frame.header.kind == FrameKind::notify) {
    handle_notify(frame, md);
  } else if (callbacks_.on_publish) {
    if (gate_ && gate_->check(PeerAction::publish, md.method)) return;
    callbacks_.on_publish(*this, frame.header.id, md.method, frame.payload);
  }
}

void Session::finish_inbound(CallId id, Result<std::string> result, const ResponseInfo& info) {
  auto call = inbound_.take(id);
  if (!call) return;  // cancelled or timed out: the caller stopped waiting
  if (!result) log_error(id, call->ctx.method(), call->ctx.trace_id(), result.error());

  if (call->stats) {
    call->stats->record(result ? StatusCode::ok : result.error().code,
                        time_->now() - call->arrived);
  }
  after_inbound();
  if (!closed()) send_result(id, std::move(result), info);
}

void Session::cancel_inbound(CallId id, std::optional<Error> answer) {
  auto call = inbound_.take(id);
  if (!call) return;
  after_inbound();
  if (call->stats) {
    const auto now = time_->now();
    const bool expired = call->ctx.deadline() && now >= *call->ctx.deadline();
    call->stats->record(expired ? StatusCode::deadline_exceeded : StatusCode::cancelled,
                        now - call->arrived);
  }
  const observe::ScopedLogFields log_fields(
      {id, call->ctx.trace_id(), call->ctx.method(), identity_.name});
  observe::logger().debug("plexus: call {} \"{}\" from \"{}\" cancelled", id, call->ctx.method(),
                          identity_.name);
  if (answer && !closed()) send_error(id, *answer);
  call->cancel();
}

void Session::after_inbound() {
  if (!serving() && callbacks_.on_idle) callbacks_.on_idle(*this);
}

bool Session::take_outbound(CallId id, PendingCall& out) {
  if (outbound_.take(id, out)) return true;
  if (lent_count_.load(std::memory_order_acquire) > 0 && take_lent(id, out)) {
    // Its caller, an application thread, is about to run again and likely to call again: the
    // I/O thread should sleep (parked) rather than spin on a core that thread needs.
    connection_->expect_borrower();
    return true;
  }
  counters_.late_responses.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void Session::complete_outbound(CallId id, Result<std::string> result) {
  PendingCall call;
  if (take_outbound(id, call)) call.done(std::move(result));
}

void Session::complete_answer(const wire::FrameView& frame) {
  PendingCall call;
  if (!take_outbound(frame.header.id, call)) return;
  if (!call.answer_view) {
    // A large answer that arrived in a string of its own becomes the result without a copy.
    call.done(take_payload(frame));
    return;
  }
  // The call is out of outbound_ first: whatever the view's receiver starts or cancels, this
  // call completes once. `done` first (an empty string), so that what wraps it (the client's
  // circuit breaker) has counted the success before the view's receiver starts the next call;
  // the frame is still where it was.
  call.done(std::string());
  call.answer_view(frame.owned_payload ? std::string_view(*frame.owned_payload) : frame.payload);
}

void Session::on_frame_too_large(const wire::FrameHeader& header, const Error& error,
                                 bool skipping) {
  observe::logger().warn("plexus: {} frame of {} bytes from {} refused: {}",
                         wire::to_string(header.kind), header.body_length, identity_.address,
                         error.message);
  if (skipping && handshake_done_ && header.kind == FrameKind::request) {
    send_error(header.id, error);  // the connection goes on; only this call fails
  } else if (skipping && handshake_done_ &&
             (header.kind == FrameKind::response || header.kind == FrameKind::error)) {
    complete_outbound(header.id, tl::unexpected(error));  // our call fails, not hangs
  } else if (!skipping || !handshake_done_) {
    send_goaway(error);
    connection_->close(error, /*flush=*/true);
  }
}

void Session::on_malformed(const Error& error) {
  observe::logger().warn("plexus: protocol error from {}: {}", identity_.address, error.message);
  send_goaway(error);
}

void Session::on_closed(const Error& reason) {
  closed_.store(true, std::memory_order_release);
  ready_.store(false, std::memory_order_release);
  heartbeat_timer_->cancel();
  // Calls from application threads the strand never started (OutboxItem::Kind::call) fail
  // below with the calls in flight; they are not one-way messages lost.
  std::vector<OutboxItem> unstarted;
  std::size_t one_way_in_hand = 0;
  for (std::size_t i = draining_next_; i < draining_.size(); ++i) {
    if (draining_[i].kind != OutboxItem::Kind::call) {
      ++one_way_in_hand;
    } else if (draining_[i].done) {
      unstarted.push_back(std::move(draining_[i]));
    }
  }
  const std::size_t held = held_batches_.size() + (batcher_.items() > 0 ? 1 : 0) + one_way_in_hand;
  const std::size_t unsent =
      outbox_.close(Error{StatusCode::unavailable, "connection closed: " + reason.message, {}},
                    options_.unsent_total.get(), held, &unstarted) +
      held;
  unsent_on_close_.fetch_add(unsent, std::memory_order_relaxed);
  if (unsent > 0) {
    observe::logger().warn("plexus: {} one-way messages (or batches) to \"{}\" not written: {}",
                           unsent, identity_.name, reason.to_string());
  }
  batcher_.clear();
  held_batches_.clear();
  Error failure;
  if (peer_goaway_ && peer_goaway_->code != StatusCode::ok) {
    failure = *peer_goaway_;  // the peer said why
  } else if (!handshake_done_ && reason.code != StatusCode::unavailable) {
    failure = reason;  // e.g. the handshake timed out or was malformed: say so, not "lost"
  } else {
    failure = Error{StatusCode::unavailable, "connection lost: " + reason.message, reason.details};
  }
  if (!handshake_done_) {
    observe::logger().info("plexus: connection {} closed before the handshake: {}",
                           identity_.address, failure.to_string());
    if (callbacks_.on_ready) callbacks_.on_ready(*this, tl::unexpected(failure));
  } else {
    observe::logger().info("plexus: session with \"{}\" ({}) closed: {}", identity_.name,
                           identity_.address, reason.to_string());
  }
  outbound_.fail_all(failure);
  fail_lent(failure);
  for (auto& item : unstarted) item.done(tl::unexpected(failure));
  // Nothing more arrives to run in order; the jobs queued on the strand keep it alive.
  ordered_workers_ = {};
  heartbeat_.fail_pings(failure);
  streams_.cancel_all(failure);
  inbound_.cancel_all();
  if (callbacks_.on_closed) callbacks_.on_closed(*this, failure);
}

// ---- send path -----------------------------------------------------------------------------

void Session::post_completion(CallCallback done, Result<std::string> result) {
  asio::post(executor_,
             [done = std::move(done), r = std::move(result)]() mutable { done(std::move(r)); });
}

void Session::call(CallId id, std::string_view method, std::string&& payload,
                   const CallOptions& options, CallCallback&& done) {
  if (closed() || !handshake_done_) {
    post_completion(std::move(done), make_error(StatusCode::unavailable, "not connected"));
    return;
  }
  if (peer_goaway_) {
    post_completion(std::move(done), make_error(StatusCode::unavailable,
                                                "peer is shutting down: " + peer_goaway_->message));
    return;
  }
  if (method.empty() || method.size() > wire::kMaxNameLength) {
    post_completion(std::move(done),
                    make_error(StatusCode::invalid_argument, "method name must be 1 to 255 bytes"));
    return;
  }
  if (options.trace_id.size() > wire::kMaxTraceIdLength) {
    post_completion(std::move(done),
                    make_error(StatusCode::invalid_argument, "trace id is limited to 64 bytes"));
    return;
  }
  if (options.message_id.size() > wire::kMaxMessageIdLength) {
    post_completion(std::move(done),
                    make_error(StatusCode::invalid_argument, "message id is limited to 128 bytes"));
    return;
  }
  wire::CallFields fields{method, std::nullopt, options.trace_id, options.message_id};
  if (options.timeout) {
    fields.timeout_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(*options.timeout).count());
  }
  if (payload.size() > peer_max_message_size()) {
    post_completion(std::move(done),
                    make_error(StatusCode::message_too_large,
                               "payload of " + std::to_string(payload.size()) +
                                   " bytes exceeds the peer's limit of " +
                                   std::to_string(peer_max_message_size()),
                               limit_details(peer_max_message_size(), payload.size())));
    return;
  }
  // One-way messages sent before this call (from any thread) reach the peer before it; while
  // some are held back for room, the REQUEST waits behind them.
  if (!outbox_.empty() && !outbox_.stalled()) drain_outbox();
  if (outbox_.stalled()) {
    auto item = OutboxItem::for_call(OutboxItem::Kind::request, id, method, options.trace_id,
                                     options.message_id, payload);
    if (auto queued = queue_behind_held(std::move(item)); !queued) {
      post_completion(std::move(done), tl::unexpected(queued.error()));
      return;
    }
  } else if (auto sent = send_request(id, fields, std::move(payload)); !sent) {
    post_completion(std::move(done), tl::unexpected(sent.error()));
    return;
  }
  counters_.calls_out.fetch_add(1, std::memory_order_relaxed);
  if (observe::logger().should_log(spdlog::level::debug)) {  // as for requests: off the hot path
    const observe::ScopedLogFields log_fields({id, options.trace_id, method, identity_.name});
    observe::logger().debug(
        "plexus: call {} \"{}\" to \"{}\" ({}) trace={}", id, method, identity_.name,
        identity_.address,
        options.trace_id.empty() ? std::string_view("-") : std::string_view(options.trace_id));
  }
  PendingCall pending{std::move(done), nullptr, options.response_info, options.answer_view};
  if (options.timeout) {
    pending.deadline = time_->make_timer(executor_);
    pending.expires = time_->now() + *options.timeout;
    pending.deadline->wait(*options.timeout, [weak = weak_from_this(), id, t = *options.timeout] {
      auto s = weak.lock();
      if (!s || !s->outbound_.contains(id)) return;
      (void)s->send_or_hold(FrameKind::cancel, id, {});
      s->complete_outbound(id, make_error(StatusCode::deadline_exceeded,
                                          "no answer within " + std::to_string(t.count()) + " ms"));
    });
  }
  outbound_.add(id, std::move(pending));
}

Result<void> Session::send_request(CallId id, const wire::CallFields& fields,
                                   std::string&& payload) {
  flush_batch();  // notifications batched before this call reach the peer before it
  if (!fields.message_id.empty()) {
    // An acknowledged message: the general encoder carries its id.
    std::string general;
    wire::encode_metadata(wire::to_metadata(fields), general);
    return connection_->send(
        transport::OutFrame::preencoded(FrameKind::request, id, general, {}).handing_over(payload));
  }
  char block[wire::kMaxCallMetadata];
  const std::string_view metadata(block, wire::encode_call_metadata(fields, block));
  return connection_->send(
      transport::OutFrame::preencoded(FrameKind::request, id, metadata, {}).handing_over(payload));
}

void Session::cancel(CallId id) {
  if (!outbound_.contains(id)) {
    // A call whose request its caller wrote itself (start_call_here) is listed apart.
    PendingCall lent;
    if (lent_count_.load(std::memory_order_acquire) > 0 && take_lent(id, lent)) {
      (void)send_or_hold(FrameKind::cancel, id, {});
      lent.done(make_error(StatusCode::cancelled, "cancelled by the caller"));
    }
    return;
  }
  (void)send_or_hold(FrameKind::cancel, id, {});
  complete_outbound(id, make_error(StatusCode::cancelled, "cancelled by the caller"));
}

void Session::ping(std::function<void(Result<std::chrono::nanoseconds>)> done) {
  if (closed() || !handshake_done_) {
    asio::post(executor_, [done = std::move(done)] {
      done(make_error(StatusCode::unavailable, "not connected"));
    });
    return;
  }
  const auto nonce = heartbeat_.start_ping(time_->now(), std::move(done));
  (void)send_or_hold(FrameKind::ping, nonce, {});
}

Result<void> Session::notify(std::string_view method, std::string payload, bool immediate,
                             std::string_view explicit_trace) {
  if (closed() || !handshake_done_) return make_error(StatusCode::unavailable, "not connected");
  if (method.empty() || method.size() > wire::kMaxNameLength) {
    return make_error(StatusCode::invalid_argument, "method name must be 1 to 255 bytes");
  }
  std::string trace = explicit_trace.empty() ? trace::for_outgoing() : std::string(explicit_trace);
  if (outbox_.stalled()) {
    OutboxItem item;
    item.kind = OutboxItem::Kind::notify;
    item.immediate = immediate;
    item.name = std::string(method);
    item.trace_id = std::move(trace);
    item.payload = std::move(payload);
    return queue_behind_held(std::move(item));
  }
  return notify_now(method, std::move(payload), immediate, trace);
}

Result<void> Session::notify_now(std::string_view method, std::string&& payload, bool immediate,
                                 std::string_view trace) {
  wire::Metadata md;
  md.method = method;
  md.trace_id = trace;
  if (!options_.batching.enabled || (peer_capabilities() & wire::capability::kBatch) == 0) {
    return connection_->send(
        transport::OutFrame::with(FrameKind::notify, 0, md, {}).handing_over(payload));
  }
  return send_batchable(FrameKind::notify, 0, md, payload, immediate);
}

Result<void> Session::publish(SubscriptionId id, std::string_view topic, std::string_view payload,
                              bool immediate, std::string_view trace) {
  if (closed() || !handshake_done_) return make_error(StatusCode::unavailable, "not connected");
  std::string own_trace;
  if (trace.empty() && id == 0) {
    own_trace = trace::for_outgoing();
    trace = own_trace;
  }
  if (outbox_.stalled()) {
    OutboxItem item;
    item.kind = OutboxItem::Kind::publish;
    item.immediate = immediate;
    item.id = id;
    item.name = std::string(topic);
    item.trace_id = std::string(trace);
    item.payload = std::string(payload);
    return queue_behind_held(std::move(item));
  }
  return publish_now(id, topic, payload, immediate, trace);
}

Result<void> Session::publish_now(SubscriptionId id, std::string_view topic,
                                  std::string_view payload, bool immediate,
                                  std::string_view trace) {
  wire::Metadata md;
  md.method = topic;
  md.trace_id = trace;
  return send_batchable(FrameKind::publish, id, md, payload, immediate);
}

Result<void> Session::send_batchable(FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                                     std::string_view payload, bool immediate) {
  const auto& b = options_.batching;
  if (immediate || !b.enabled || (peer_capabilities() & wire::capability::kBatch) == 0) {
    flush_batch();  // what was batched before this message goes first
    return connection_->send(kind, id, md, payload);
  }
  auto added = batcher_.add(kind, id, md, payload, peer_max_message_size());
  if (added && *added == Batcher::Added::flush_first) {
    flush_batch();
    added = batcher_.add(kind, id, md, payload, peer_max_message_size());
  }
  if (!added) return tl::unexpected(added.error());
  switch (*added) {
    case Batcher::Added::queued:
    case Batcher::Added::flush_first:  // not after a flush: the batch was empty
      return {};
    case Batcher::Added::full:
      flush_batch();
      return {};
    case Batcher::Added::alone:
      flush_batch();
      return connection_->send(kind, id, md, payload);
  }
  return {};
}

void Session::flush_batch() {
  if (batcher_.items() == 0) return;
  std::string batch = batcher_.take();
  if (!held_batches_.empty()) {
    held_batches_.push_back(std::move(batch));  // behind the batches already held back
    return;
  }
  auto sent = connection_->send(FrameKind::batch, 0, {}, batch);
  if (!sent && sent.error().code == StatusCode::resource_exhausted) {
    // Its messages were accepted: it waits for room (on_write_done), and so does what follows.
    held_batches_.push_back(std::move(batch));
    outbox_.stall();
  } else if (!sent) {
    // Only a closing connection refuses otherwise; its close reports the loss.
    observe::logger().debug("plexus: batch to \"{}\" not sent: {}", identity_.name,
                            sent.error().to_string());
  }
}

void Session::subscribe(SubscriptionId id, std::string_view pattern, std::string options_json,
                        CallCallback done) {
  if (closed() || !handshake_done_) {
    post_completion(std::move(done), make_error(StatusCode::unavailable, "not connected"));
    return;
  }
  wire::Metadata md;
  md.method = pattern;
  flush_batch();  // publishes made before the subscription reach the peer before it
  auto sent = send_or_hold(FrameKind::subscribe, id, md, std::move(options_json));
  if (!sent) {
    post_completion(std::move(done), tl::unexpected(sent.error()));
    return;
  }
  outbound_.add(id, PendingCall{std::move(done), nullptr, nullptr, nullptr});
}

void Session::unsubscribe(SubscriptionId id) {
  if (closed() || !handshake_done_) return;
  flush_batch();
  (void)send_or_hold(FrameKind::unsubscribe, id, {});
}

void Session::on_write_done() {
  if (outbox_.stalled() && (outbox_.resume() || in_hand() > 0)) {
    drain_outbox();
  } else if (!held_batches_.empty()) {
    drain_outbox();
  }
  if (callbacks_.on_writable) callbacks_.on_writable(*this);
}

void Session::send_loaned(CallId id, AnswerLoan& loan, Result<std::string> result) {
  if (!result || !loan.used) {
    // An error, or a region never committed: the returned result is the answer.
    if (loan.in_connection) connection_->cancel_loan();
    send_result(id, std::move(result));
    return;
  }
  if (!loan.in_connection) {
    loan.scratch.resize(*loan.used);
    send_result(id, std::move(loan.scratch));
    return;
  }
  if (auto sent = connection_->commit_loan(FrameKind::response, id, *loan.used);
      !sent && sent.error().code != StatusCode::unavailable) {
    connection_->close(sent.error(), /*flush=*/false);  // as send_result: the session is over
  }
}

void Session::send_result(CallId id, Result<std::string> result, const ResponseInfo& info) {
  if (result) {
    Result<void> sent;
    if (info.cache == ResponseInfo::Cache::none && !info.cache_age && !info.handler_time) {
      // The usual answer: no metadata.
      sent = connection_->send(
          transport::OutFrame::plain(FrameKind::response, id, {}).handing_over(*result));
    } else {
      wire::Metadata md;
      if (info.cache != ResponseInfo::Cache::none) {
        md.cache_status = static_cast<std::uint8_t>(info.cache);
      }
      if (info.cache_age) md.cache_age_us = static_cast<std::uint64_t>(info.cache_age->count());
      if (info.handler_time) {
        md.handler_time_us = static_cast<std::uint64_t>(info.handler_time->count());
      }
      sent = connection_->send(
          transport::OutFrame::with(FrameKind::response, id, md, {}).handing_over(*result));
    }
    // The answer is over the caller's limit: the caller gets that error instead. Any other
    // failure (write queue full) ends the session, which fails the caller's call; except
    // unavailable: the connection is closing already (it may still be handing over what a peer
    // that stopped reading sent before, which closing now would cut short).
    if (!sent && sent.error().code == StatusCode::message_too_large) {
      send_error(id, sent.error());
    } else if (!sent && sent.error().code != StatusCode::unavailable) {
      connection_->close(sent.error(), /*flush=*/false);
    }
    return;
  }
  send_error(id, result.error());
}

void Session::send_error(CallId id, const Error& error) {
  counters_.errors_out.fetch_add(1, std::memory_order_relaxed);
  // An error must never say ok, and must fit the 64 KiB metadata block: long texts are cut.
  constexpr std::size_t kMaxMessage = 8 * 1024;
  constexpr std::size_t kMaxDetails = 48 * 1024;
  const StatusCode code = error.code == StatusCode::ok ? StatusCode::unknown : error.code;
  wire::Metadata md;
  md.status = static_cast<std::uint16_t>(code);
  md.error_message = std::string_view(error.message).substr(0, kMaxMessage);
  md.error_details = error.details.size() <= kMaxDetails ? std::string_view(error.details)
                                                         : std::string_view("{\"truncated\":true}");
  if (auto sent = connection_->send(FrameKind::error, id, md, {});
      !sent && sent.error().code != StatusCode::unavailable) {
    // A full write queue: the peer stopped reading, so the session is over. (unavailable: the
    // connection is closing already; the frames still being read must not be cut short.)
    connection_->close(sent.error(), /*flush=*/false);
  }
}

void Session::log_error(CallId id, std::string_view method, std::string_view trace_id,
                        const Error& error) const {
  const observe::ScopedLogFields log_fields({id, trace_id, method, identity_.name});
  // One line per failed call: internal errors are the server's fault, the rest the caller's.
  const auto level = error.code == StatusCode::internal ? spdlog::level::warn : spdlog::level::info;
  observe::logger().log(level, "plexus: call {} \"{}\" from \"{}\" ({}) failed: {}", id, method,
                        identity_.name, identity_.address, error.to_string());
  if (options_.recent_errors)
    options_.recent_errors->record(method, error, identity_.name, trace_id);
}

void Session::send_goaway(const Error& error) {
  wire::Metadata md;
  md.status = static_cast<std::uint16_t>(error.code);
  md.error_message = error.message;
  md.error_details = error.details;
  (void)send_or_hold(FrameKind::goaway, 0, md);
}

void Session::recheck_access(std::vector<std::string> patterns) {
  asio::dispatch(executor_, [self = shared_from_this(), patterns = std::move(patterns)] {
    if (!self->gate_ || self->closed() || self->going_away_) return;
    for (const auto& pattern : patterns) {
      auto refused = self->gate_->check(PeerAction::subscribe, pattern);
      if (!refused) continue;
      Error reason{
          StatusCode::permission_denied,
          "the reloaded access policy no longer allows this subscription: " + refused->message,
          refused->details};
      observe::logger().info("plexus: session with \"{}\" ({}) ends: {}", self->identity_.name,
                             self->identity_.address, reason.message);
      self->send_goaway(reason);
      self->close(reason, /*flush=*/true);
      return;
    }
    for (const auto& [core, method] : self->streams_.accepted_streams()) {
      auto refused = self->gate_->check(PeerAction::stream, method);
      if (!refused) continue;
      core->cancel(
          Error{StatusCode::permission_denied,
                "the reloaded access policy no longer allows this stream: " + refused->message,
                refused->details});
    }
  });
}

void Session::goaway(const Error& reason) {
  if (going_away_ || closed()) return;
  going_away_ = true;
  send_goaway(reason);
}

void Session::close(const Error& reason, bool flush) {
  if (flush && !closed()) {
    flush_batch();
    if (!outbox_.empty() || in_hand() > 0 || !held_batches_.empty()) {
      // Accepted one-way messages go out first; a caller that cannot wait closes without flush.
      close_when_drained_ = reason;
      post_drain();
      return;
    }
  }
  connection_->close(reason, flush);
}

// ---- heartbeats ----------------------------------------------------------------------------

void Session::arm_heartbeat() {
  const Millis period = heartbeat_.period();
  if (period.count() <= 0) return;
  heartbeat_timer_->wait(period, [weak = weak_from_this()] {
    if (auto s = weak.lock()) s->on_heartbeat_tick();
  });
}

void Session::on_heartbeat_tick() {
  if (closed()) return;
  // Answers a caller read from the connection itself (call_here) never passed through
  // on_frame, but they prove the peer alive just the same.
  if (const std::uint64_t borrowed = connection_->stats().borrowed_answers;
      borrowed != borrowed_answers_seen_) {
    borrowed_answers_seen_ = borrowed;
    heartbeat_.alive(time_->coarse_now());
  }
  const auto verdict = heartbeat_.tick(time_->coarse_now());
  if (verdict.dead) {
    observe::logger().warn("plexus: {} ({}) {} — closing", identity_.name, identity_.address,
                           verdict.dead->message);
    if (options_.heartbeat_failures) options_.heartbeat_failures->inc();
    connection_->close(*verdict.dead, /*flush=*/false);
    return;
  }
  if (verdict.ping_nonce != 0) (void)send_or_hold(FrameKind::ping, verdict.ping_nonce, {});
  arm_heartbeat();
}

}  // namespace plexus::rpc
