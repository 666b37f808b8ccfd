#include "plexus/caller.hpp"

#include <exception>

#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "api/executor_target.hpp"
#include "api/lane_state.hpp"
#include "plexus/runtime.hpp"
#include "rpc/call_waiter.hpp"
#include "rpc/loaned_request.hpp"
#include "rpc/session.hpp"
#include "rpc/trace.hpp"

namespace plexus {

CallId Caller::call_async(std::string_view method, std::string payload, CallOptions options,
                          CallCallback done) {
  const CallId id = next_call_id();
  start_call(id, method, std::move(payload), std::move(options), std::move(done));
  return id;
}

CallId Caller::call_async_view(std::string_view method, std::string payload, CallOptions options,
                               CallViewCallback done) {
  // One callback for both paths: the answer's view (the session hands it over right after it
  // completed the call with an empty string, which is ignored here), or the call's error.
  auto shared = std::make_shared<CallViewCallback>(std::move(done));
  options.answer_view = [shared](std::string_view answer) {
    (*shared)(Result<std::string_view>(answer));
  };
  return call_async(method, std::move(payload), std::move(options),
                    [shared](Result<std::string> result) {
                      if (!result) (*shared)(tl::unexpected(std::move(result.error())));
                    });
}

Result<std::string> Caller::call(std::string_view method, std::string payload,
                                 CallOptions options) {
  if (on_io_thread()) {
    return make_error(StatusCode::failed_precondition,
                      "blocking call on an I/O thread would deadlock; use call_async or "
                      "co_await async_call");
  }
  if (auto here = call_on_this_thread(method, payload, options)) return std::move(*here);
  return call_through_io_thread(method, std::move(payload), std::move(options));
}

Result<std::string> Caller::call_through_io_thread(std::string_view method, std::string&& payload,
                                                   CallOptions&& options) {
  // A futex the completing I/O thread wakes only if this thread sleeps (rpc/call_waiter.hpp).
  rpc::CallWaiter waiter;
  if (!options.answer_view) {
    call_async(method, std::move(payload), std::move(options),
               [&waiter](Result<std::string> r) { waiter.complete(std::move(r)); });
    waiter.wait_until(rpc::CallWaiter::Clock::time_point::max());
    return waiter.take();
  }
  // A successful call completes (empty) before its view runs: this call returns once the view
  // has run on the I/O thread, and rethrows here what it threw there.
  std::exception_ptr thrown;
  auto view = std::move(options.answer_view);
  options.answer_view = [&waiter, &view, &thrown](std::string_view answer) {
    try {
      view(answer);
    } catch (...) {
      thrown = std::current_exception();
    }
    waiter.complete(std::string());
  };
  call_async(method, std::move(payload), std::move(options), [&waiter](Result<std::string> r) {
    if (!r) waiter.complete(std::move(r));
  });
  waiter.wait_until(rpc::CallWaiter::Clock::time_point::max());
  if (thrown) std::rethrow_exception(thrown);
  return waiter.take();
}

Result<std::string> Caller::call_loaned(std::string_view method, std::size_t size,
                                        PayloadWriter write, CallOptions options) {
  if (on_io_thread()) {
    return make_error(StatusCode::failed_precondition,
                      "blocking call on an I/O thread would deadlock; use call_async_loaned or "
                      "co_await async_call");
  }
  // Known only once connected (0 before): a call that waits for its connection is checked
  // where it is sent.
  if (const auto limit = peer_max_message_size(); limit != 0) {
    if (auto fits = detail::payload_within_limit(size, limit); !fits)
      return tl::unexpected(fits.error());
  }
  if (auto here = call_loaned_on_this_thread(method, size, write, options)) return std::move(*here);
  auto payload = rpc::write_into_buffer(size, write);
  if (!payload) return tl::unexpected(std::move(payload.error()));
  return call_through_io_thread(method, std::move(*payload), std::move(options));
}

CallId Caller::call_async_loaned(std::string_view method, std::size_t size, PayloadWriter write,
                                 CallOptions options, CallCallback done) {
  const CallId id = next_call_id();
  if (const auto limit = peer_max_message_size(); limit != 0) {
    if (auto fits = detail::payload_within_limit(size, limit); !fits) {
      fail_later(std::move(done), std::move(fits.error()));
      return id;
    }
  }
  if (!on_io_thread() && start_call_loaned_here(id, method, size, write, options, done)) return id;
  auto payload = rpc::write_into_buffer(size, write);
  if (!payload) {
    fail_later(std::move(done), std::move(payload.error()));
    return id;
  }
  start_call(id, method, std::move(*payload), std::move(options), std::move(done));
  return id;
}

Result<void> Caller::notify(std::string_view method, std::string payload) {
  return notify(method, std::move(payload), NotifyOptions{});
}

Result<void> Caller::notify(std::string_view method, std::string payload, NotifyOptions options) {
  // Checked here because the send itself happens later, on the I/O thread.
  if (method.empty() || method.size() > 255) {
    return make_error(StatusCode::invalid_argument, "method name must be 1 to 255 bytes");
  }
  return start_notify(std::string(method), std::move(payload), options);
}

// ---- Lane ----------------------------------------------------------------------------------

Result<Lane> Caller::open_lane(std::string_view method) {
  if (method.empty() || method.size() > 255) {
    return make_error(StatusCode::invalid_argument, "method name must be 1 to 255 bytes");
  }
  auto state = std::make_shared<detail::LaneState>();
  state->binding = std::make_shared<rpc::LaneBinding>();
  state->binding->method = std::string(method);
  state->binding->trace = outgoing_trace();
  state->owned_caller = copy_for_lane();
  Caller* caller = state->owned_caller ? state->owned_caller.get() : this;
  return Lane(caller, std::move(state));
}

Result<void> Caller::send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                                  std::string_view payload, const SendOptions& options) {
  return start_notify(lane->binding->method, std::string(payload), options);
}

Result<void> Lane::send(std::string_view payload, const SendOptions& options) {
  if (!caller_) return make_error(StatusCode::failed_precondition, "empty lane handle");
  return caller_->send_on_lane(state_, payload, options);
}

std::string_view Lane::method() const {
  return state_ ? std::string_view(state_->binding->method) : "";
}

// ---- Peer ------------------------------------------------------------------------------------

namespace {
// True on a thread that runs the io_context behind a strand executor.
bool runs_io_context(const asio::any_io_executor& ex) {
  using Strand = asio::strand<asio::io_context::executor_type>;
  if (const auto* strand = detail::executor_target<Strand>(ex)) {
    return strand->get_inner_executor().running_in_this_thread();
  }
  if (const auto* io = detail::executor_target<asio::io_context::executor_type>(ex)) {
    return io->running_in_this_thread();
  }
  return false;
}
}  // namespace

// A handler's way back to its caller (plexus/call.hpp): a Peer on the call's session.
Peer CallContext::peer() const {
  Peer peer(session_);
  peer.trace_ = trace_id();
  return peer;
}

std::string Caller::outgoing_trace() const {
  return rpc::trace::for_outgoing();
}

std::string Peer::outgoing_trace() const {
  auto trace = rpc::trace::for_outgoing();
  if (trace.empty() && !trace_.empty()) trace = rpc::trace::child_of(trace_);
  return trace;
}

Peer::Peer(std::weak_ptr<rpc::Session> session) : session_(std::move(session)) {
  if (auto s = session_.lock()) executor_ = s->executor();
}

bool Peer::connected() const {
  auto s = session_.lock();
  return s && s->ready();
}

PeerIdentity Peer::identity() const {
  auto s = session_.lock();
  return s ? s->identity() : PeerIdentity{};
}

std::uint32_t Peer::peer_max_message_size() const {
  auto s = session_.lock();
  return s ? s->peer_max_message_size() : 0;
}

void Peer::disconnect(const std::string& reason) {
  if (auto s = session_.lock()) {
    asio::dispatch(s->executor(), [s, reason] {
      s->goaway(Error{StatusCode::unavailable, reason, {}});
      s->close(Error{StatusCode::unavailable, reason, {}});
    });
  }
}

CallId Peer::next_call_id() {
  auto s = session_.lock();
  return s ? s->next_call_id() : 0;
}

void Peer::start_call(CallId id, std::string_view method, std::string&& payload,
                      CallOptions&& options, CallCallback&& done) {
  auto s = session_.lock();
  if (!s) {
    auto error = make_error(StatusCode::unavailable, "peer is gone");
    if (!executor_) {
      done(std::move(error));  // a default-constructed Peer has no executor to defer to
      return;
    }
    asio::post(executor_, [done = std::move(done), error]() mutable { done(std::move(error)); });
    return;
  }
  if (options.trace_id.empty()) options.trace_id = outgoing_trace();
  asio::dispatch(s->executor(), [s, id, method = std::string(method), payload = std::move(payload),
                                 options = std::move(options), done = std::move(done)]() mutable {
    s->call(id, method, std::move(payload), options, std::move(done));
  });
}

void Peer::fail_later(CallCallback&& done, Error error) {
  if (!executor_) {
    done(tl::unexpected(std::move(error)));  // a default-constructed Peer has no executor
    return;
  }
  asio::post(executor_, [done = std::move(done), error = std::move(error)]() mutable {
    done(tl::unexpected(std::move(error)));
  });
}

void Peer::cancel_call(CallId id) {
  if (auto s = session_.lock()) asio::dispatch(s->executor(), [s, id] { s->cancel(id); });
}

Result<void> Peer::start_notify(std::string method, std::string payload,
                                const SendOptions& options) {
  auto s = session_.lock();
  if (!s || s->closed()) return make_error(StatusCode::unavailable, "peer is gone");
  if (auto fits = detail::payload_within_limit(payload.size(), s->peer_max_message_size()); !fits) {
    return fits;
  }
  auto trace = outgoing_trace();
  if (Runtime::running_in(s->executor())) {
    return s->notify(method, std::move(payload), options.immediate, trace);
  }
  rpc::OutboxItem item;
  item.kind = rpc::OutboxItem::Kind::notify;
  item.immediate = options.immediate;
  item.name = std::move(method);
  item.trace_id = std::move(trace);
  item.payload = std::move(payload);
  return s->send_from_app(std::move(item), options.wait_for_room);
}

Stream Peer::start_stream(std::string method, std::string payload, StreamOptions options) {
  auto s = session_.lock();
  if (!executor_) return Stream();
  auto core = std::make_shared<rpc::StreamCore>(executor_, options.window);
  if (options.trace_id.empty()) options.trace_id = outgoing_trace();
  asio::dispatch(executor_, [s, core, method = std::move(method), payload = std::move(payload),
                             trace = std::move(options.trace_id)]() mutable {
    if (!s) return core->on_cancel(Error{StatusCode::unavailable, "peer is gone", {}});
    s->open_stream(core, std::move(method), std::move(payload), std::move(trace));
  });
  return Stream(core);
}

Result<void> Peer::send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                                std::string_view payload, const SendOptions& options) {
  auto s = session_.lock();
  if (!s || s->closed()) return make_error(StatusCode::unavailable, "peer is gone");
  if (Runtime::running_in(s->executor())) return s->send_on_lane(lane->binding, payload);
  rpc::OutboxItem item;
  item.kind = rpc::OutboxItem::Kind::lane;
  item.lane = lane->binding;
  item.payload = std::string(payload);
  return s->send_from_app(std::move(item), options.wait_for_room);
}

bool Peer::on_io_thread() const {
  return executor_ && runs_io_context(executor_);
}

}  // namespace plexus
