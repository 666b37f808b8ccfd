// The stream half of Session: opening, accepting and routing stream frames to their
// StreamCore (docs/PROTOCOL.md §Streams). Kept apart from session.cpp, which stays about calls.
#include <exception>

#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "rpc/session.hpp"

namespace plexus::rpc {
namespace {

using wire::FrameKind;

Error end_error_from(const wire::Metadata& md) {
  return Error{status_code_from_wire(md.status.value_or(0)), std::string(md.error_message),
               std::string(md.error_details)};
}

// Holds what a stream handler's coroutine refers to until it finishes.
struct AcceptedStream {
  CallContext ctx;
  std::shared_ptr<StreamCore> core;
};

}  // namespace

void Session::open_stream(std::shared_ptr<StreamCore> core, std::string method,
                          std::string payload) {
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
  md.credit_items = core->window().items;
  md.credit_bytes = core->window().bytes;
  if (auto sent = send_or_hold(FrameKind::stream_open, id, md, std::move(payload)); !sent) {
    return fail(sent.error());
  }
  opened_streams_.emplace(id, core);
  core->attach(weak_from_this(), id, /*opener=*/true, 0, 0, options_.stream_totals);
}

Result<void> Session::send_stream_frame(FrameKind kind, std::uint64_t wire_id,
                                        const wire::Metadata& md, std::string payload) {
  if (closed()) return make_error(StatusCode::unavailable, "connection closed");
  return send_or_hold(kind, wire_id, md, std::move(payload));
}

void Session::forget_stream(std::uint64_t id, bool opened_here) {
  if (opened_here) {
    opened_streams_.erase(id);
    return;
  }
  accepted_streams_.erase(id);
  accepted_stream_count_.store(accepted_streams_.size(), std::memory_order_release);
  if (!serving() && callbacks_.on_idle) callbacks_.on_idle(*this);  // a drain may be waiting
}

void Session::handle_stream_frame(const wire::FrameView& frame, const wire::Metadata& md) {
  const auto kind = frame.header.kind;
  if (kind == FrameKind::stream_open) {
    accept_stream(frame, md);
    return;
  }
  // The acceptor marks its frames with the top bit: they concern a stream this side opened.
  const bool from_acceptor = (frame.header.id & wire::kStreamAcceptorBit) != 0;
  const std::uint64_t id = frame.header.id & ~wire::kStreamAcceptorBit;
  auto& table = from_acceptor ? opened_streams_ : accepted_streams_;
  auto it = table.find(id);
  if (it == table.end()) return;  // already over here (cancelled, finished): late frame dropped
  auto core = it->second;         // the core may detach itself below
  switch (kind) {
    case FrameKind::stream_data:
      core->on_data(frame.payload, frame.owned_payload, md);
      break;
    case FrameKind::stream_credit:
      core->on_credit(md.credit_items.value_or(0), md.credit_bytes.value_or(0));
      break;
    case FrameKind::stream_end:
      if (md.status && *md.status != 0) {
        core->on_end(tl::unexpected(end_error_from(md)));
      } else {
        core->on_end(std::string(frame.payload));
      }
      break;
    case FrameKind::stream_cancel: {
      Error e = end_error_from(md);
      if (e.code == StatusCode::ok) e.code = StatusCode::cancelled;
      if (e.message.empty()) e.message = "cancelled by the peer";
      core->on_cancel(e);
      break;
    }
    default:
      break;
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
  if ((id & wire::kStreamAcceptorBit) != 0 || accepted_streams_.contains(id)) {
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
  const auto& table = handlers();
  auto it = table.find(md.method);
  if (it == table.end()) {
    return refuse({StatusCode::not_found,
                   "no handler for method \"" + std::string(md.method) + "\"",
                   nlohmann::json{{"method", std::string(md.method)}}.dump(
                       -1, ' ', false, nlohmann::json::error_handler_t::replace)});
  }
  const auto* handler = std::get_if<StreamHandler>(&it->second->fn);
  if (!handler) {
    return refuse({StatusCode::failed_precondition,
                   "\"" + std::string(md.method) + "\" is not a stream method",
                   {}});
  }
  std::shared_ptr<const HandlerEntry> entry = it->second;  // survives re-registration
  auto accepted = std::make_shared<AcceptedStream>();
  accepted->core = std::make_shared<StreamCore>(executor_, StreamWindow{});
  CallContext& ctx = accepted->ctx;
  fill_context(ctx, id, md.method, md.trace_id);
  accepted->core->set_cancel_hook([weak = std::weak_ptr<AcceptedStream>(accepted)] {
    if (auto a = weak.lock()) a->ctx.cancel();
  });
  accepted_streams_.emplace(id, accepted->core);
  accepted_stream_count_.store(accepted_streams_.size(), std::memory_order_release);
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

void Session::close_streams(const Error& reason) {
  auto opened = std::move(opened_streams_);
  auto accepted = std::move(accepted_streams_);
  opened_streams_.clear();
  accepted_streams_.clear();
  accepted_stream_count_.store(0, std::memory_order_release);
  for (auto& [_, core] : opened) core->on_cancel(reason);
  for (auto& [_, core] : accepted) core->on_cancel(reason);
}

}  // namespace plexus::rpc
