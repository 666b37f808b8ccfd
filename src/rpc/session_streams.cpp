// The stream half of Session (docs/PROTOCOL.md §Streams): opening a stream, and accepting one
// the peer opens (its handler, its first credit, or the reason it is refused). The streams
// themselves, and the routing of their frames, are in rpc/stream_table.hpp.
#include <exception>

#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "rpc/session.hpp"

namespace plexus::rpc {
namespace {

using wire::FrameKind;

// Holds what a stream handler's coroutine refers to until it finishes.
struct AcceptedStream {
  CallContext ctx;
  std::shared_ptr<StreamCore> core;
};

}  // namespace

void Session::open_stream(std::shared_ptr<StreamCore> core, std::string method, std::string payload,
                          std::string trace) {
  auto fail = [&core](Error e) { core->on_cancel(e); };
  if (closed() || !handshake_done_) return fail({StatusCode::unavailable, "not connected", {}});
  if (peer_goaway_) {
    return fail({StatusCode::unavailable, "peer is shutting down: " + peer_goaway_->message, {}});
  }
  if ((peer_capabilities() & wire::capability::kStreams) == 0) {
    return fail({StatusCode::failed_precondition, "the peer does not support streams", {}});
  }
  if (method.empty() || method.size() > wire::kMaxNameLength) {
    return fail({StatusCode::invalid_argument, "method name must be 1 to 255 bytes", {}});
  }
  if (trace.size() > wire::kMaxTraceIdLength) {
    return fail({StatusCode::invalid_argument, "trace id is limited to 64 bytes", {}});
  }
  if (payload.size() > peer_max_message_size()) {
    return fail({StatusCode::message_too_large,
                 "payload of " + std::to_string(payload.size()) +
                     " bytes exceeds the peer's limit of " +
                     std::to_string(peer_max_message_size()),
                 {}});
  }
  const std::uint64_t id = next_call_id();
  wire::Metadata md;
  md.method = method;
  md.trace_id = trace;
  md.credit_items = core->window().items;
  md.credit_bytes = core->window().bytes;
  if (auto sent = send_or_hold(FrameKind::stream_open, id, md, std::move(payload)); !sent) {
    return fail(sent.error());
  }
  streams_.add_opened(id, core);
  core->attach(weak_from_this(), id, /*opener=*/true, 0, 0, options_.stream_totals);
}

Result<void> Session::send_stream_frame(FrameKind kind, std::uint64_t wire_id,
                                        const wire::Metadata& md, std::string payload) {
  if (closed()) return make_error(StatusCode::unavailable, "connection closed");
  return send_or_hold(kind, wire_id, md, std::move(payload));
}

void Session::forget_stream(std::uint64_t id, bool opened_here) {
  const bool was_served_here = streams_.forget(id, opened_here);
  if (was_served_here && !serving() && callbacks_.on_idle) {
    callbacks_.on_idle(*this);  // a drain may be waiting
  }
}

void Session::handle_stream_frame(const wire::FrameView& frame, const wire::Metadata& md) {
  if (frame.header.kind == FrameKind::stream_open) {
    accept_stream(frame, md);
  } else {
    streams_.deliver(frame, md);
  }
}

void Session::accept_stream(const wire::FrameView& frame, const wire::Metadata& md) {
  const std::uint64_t id = frame.header.id;
  auto refuse = [this, id](const Error& error) {
    wire::Metadata end;
    end.status = static_cast<std::uint16_t>(error.code);
    end.error_message = error.message;
    end.error_details = error.details;
    (void)send_or_hold(FrameKind::stream_end, id | wire::kStreamAcceptorBit, end);
  };
  if ((id & wire::kStreamAcceptorBit) != 0 || streams_.accepted_in_use(id)) {
    const Error e{StatusCode::protocol_error,
                  "stream id " + std::to_string(id) + " has the top bit set or is in use",
                  "{\"id\":" + std::to_string(id) + "}"};
    protocol_violation(e);
    return;
  }
  if (*md.credit_items == 0 || *md.credit_bytes == 0) {
    // A stream whose acceptor may never write would hang silently: refuse it, and say why.
    return refuse({StatusCode::protocol_error,
                   "STREAM_OPEN grants no credit: credit_items and credit_bytes must be at least 1",
                   "{\"credit_items\":" + std::to_string(*md.credit_items) +
                       ",\"credit_bytes\":" + std::to_string(*md.credit_bytes) + "}"});
  }
  if (going_away_) return refuse({StatusCode::unavailable, "server is shutting down", {}});
  if (gate_) {
    if (auto denied = gate_->check(PeerAction::stream, md.method)) return refuse(*denied);
  }
  const auto& table = handlers();
  auto it = table.find(md.method);
  // survives re-registration
  std::shared_ptr<const HandlerEntry> entry =
      it != table.end() ? it->second : HandlerTable::find_fallback(table, md.method);
  if (!entry) {
    return refuse({StatusCode::not_found,
                   "no handler for method \"" + std::string(md.method) + "\"",
                   nlohmann::json{{"method", std::string(md.method)}}.dump(
                       -1, ' ', false, nlohmann::json::error_handler_t::replace)});
  }
  const auto* handler = std::get_if<StreamHandler>(&entry->fn);
  if (!handler) {
    return refuse({StatusCode::failed_precondition,
                   "\"" + std::string(md.method) + "\" is not a stream method",
                   {}});
  }
  auto accepted = std::make_shared<AcceptedStream>();
  accepted->core = std::make_shared<StreamCore>(executor_, StreamWindow{});
  CallContext& ctx = accepted->ctx;
  fill_context(ctx, id, md.method, md.trace_id);
  accepted->core->set_cancel_hook([weak = std::weak_ptr<AcceptedStream>(accepted)] {
    if (auto a = weak.lock()) a->ctx.cancel();
  });
  streams_.add_accepted(id, accepted->core, std::string(md.method));
  accepted->core->attach(weak_from_this(), id, /*opener=*/false, *md.credit_items, *md.credit_bytes,
                         options_.stream_totals);
  // The opener's initial window for what it writes.
  wire::Metadata credit;
  credit.credit_items = accepted->core->window().items;
  credit.credit_bytes = accepted->core->window().bytes;
  (void)send_or_hold(FrameKind::stream_credit, id | wire::kStreamAcceptorBit, credit);

  try {
    asio::co_spawn(
        executor_,
        std::get<StreamHandler>(entry->fn)(ctx, std::string(frame.payload), Stream(accepted->core)),
        [accepted, entry](std::exception_ptr ep, Result<std::string> r) {
          if (ep) {
            try {
              std::rethrow_exception(ep);
            } catch (const std::exception& e) {
              r = make_error(StatusCode::internal,
                             std::string("stream handler threw: ") + e.what());
            } catch (...) {
              r = make_error(StatusCode::internal, "stream handler threw");
            }
          }
          accepted->core->finish(std::move(r));
        });
  } catch (const std::exception& e) {
    accepted->core->finish(
        make_error(StatusCode::internal, std::string("stream handler threw: ") + e.what()));
  }
}

}  // namespace plexus::rpc
