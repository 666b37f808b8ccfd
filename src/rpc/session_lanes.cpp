// The lane half of Session (docs/PROTOCOL.md §6.11): a sender binds a method to a small id once
// (LANE_OPEN), then each message is a LANE_DATA frame that carries only that id. The receiver
// resolves the method to its handler when the lane opens, so a message costs no metadata
// decoding, no handler lookup by name and no handler context set-up.
#include "observe/log.hpp"

#include "rpc/handler_runner.hpp"
#include "rpc/session.hpp"

namespace plexus::rpc {

using wire::FrameKind;

void Session::protocol_violation(Error error) {
  on_malformed(error);  // GOAWAY with the error
  connection_->close(error, /*flush=*/true);
}

Result<void> Session::send_on_lane_first(const std::shared_ptr<LaneBinding>& lane,
                                         std::string_view payload) {
  if (closed() || !handshake_done_) return make_error(StatusCode::unavailable, "not connected");
  if (outbox_.stalled()) {
    OutboxItem item;
    item.kind = OutboxItem::Kind::lane;
    item.lane = lane;
    item.payload = std::string(payload);
    return queue_behind_held(std::move(item));
  }
  return lane_send_now(*lane, payload);
}

Result<void> Session::lane_send_now(LaneBinding& binding, std::string_view payload) {
  if (closed() || !handshake_done_) return make_error(StatusCode::unavailable, "not connected");
  const std::string& method = binding.method;
  if (binding.session_serial != serial_) {
    binding.session_serial = serial_;
    binding.id = 0;
    if ((peer_capabilities() & wire::capability::kLanes) != 0) {
      if (const std::uint64_t id = lanes_out_.find(method); id != 0) {
        binding.id = id;
      } else if (!lanes_out_.full()) {
        wire::Metadata md;
        md.method = method;
        md.trace_id = binding.trace;
        flush_batch();  // NOTIFYs batched before the lane's first message go first
        const std::uint64_t new_id = lanes_out_.next_id();
        if (auto sent = connection_->send(FrameKind::lane_open, new_id, md, {}); !sent) {
          binding.session_serial = 0;  // try again with the next message
          return sent;
        }
        binding.id = lanes_out_.add(method);
      }
    }
  }
  if (binding.id == 0) return notify_now(method, std::string(payload), false, binding.trace);
  // A lane's messages keep their order with the NOTIFYs this side sent before them.
  if (batcher_.items() > 0) flush_batch();
  return connection_->send(transport::OutFrame::plain(FrameKind::lane_data, binding.id, payload));
}

void Session::handle_lane_open(const wire::FrameView& frame, const wire::Metadata& md) {
  auto lane = lanes_in_.open(frame.header.id, md.method);
  if (!lane) {
    protocol_violation(std::move(lane.error()));
    return;
  }
  fill_context(*(*lane)->context, 0, (*lane)->method, md.trace_id);
  resolve_lane(**lane);
}

// The per-message path: kept free of logging and other rare work so that it stays small.
void Session::handle_lane_data(const wire::FrameView& frame) {
  InboundLane* found = lanes_in_.find(frame.header.id);
  if (!found) {
    lane_not_open(frame.header.id);
    return;
  }
  InboundLane& lane = *found;
  ++counters_.notifies_in;
  // A lane's messages are notifications of its method (the gate's last answer is cached).
  if (gate_ && gate_->check(PeerAction::notify, lane.method)) return;
  if (lane.handler_version != handler_table_->version()) resolve_lane(lane);
  if (!lane.sync) {
    run_lane_message(lane, frame.payload);
    return;
  }
  // A synchronous handler is done when it returns, so the lane's one context serves every
  // message; a cancel hook it set for one message is dropped (a notify is never cancelled).
  CallContext& ctx = *lane.context;
  if (auto r = run_sync_handler(*lane.sync, ctx, frame.payload); !r) {
    notify_failed(lane.method, r.error());
  }
  if (ctx.on_cancel_) ctx.on_cancel_ = nullptr;
}

void Session::resolve_lane(InboundLane& lane) {
  const auto& table = handlers();  // brings handler_version_ up to date first
  lane.resolve(table, handler_version_);
}

void Session::lane_not_open(std::uint64_t id) {
  protocol_violation({StatusCode::protocol_error,
                      "LANE_DATA on lane " + std::to_string(id) + ", which is not open",
                      "{\"id\":" + std::to_string(id) + "}"});
}

void Session::run_lane_message(InboundLane& lane, std::string_view payload) {
  if (!lane.entry) {
    observe::logger().debug("plexus: lane message for unknown method \"{}\" from \"{}\" dropped",
                            lane.method, identity_.name);
    return;
  }
  // Asynchronous and coroutine handlers keep their context: one of their own per message.
  wire::Metadata md;
  md.method = lane.method;
  run_notify(*lane.entry, md, payload);
}

}  // namespace plexus::rpc
