#include "rpc/stream_table.hpp"

namespace plexus::rpc {
using wire::FrameKind;

void StreamTable::add_opened(std::uint64_t id, std::shared_ptr<StreamCore> core) {
  opened_.emplace(id, std::move(core));
}

void StreamTable::add_accepted(std::uint64_t id, std::shared_ptr<StreamCore> core,
                               std::string method) {
  accepted_.emplace(id, std::move(core));
  accepted_methods_.emplace(id, std::move(method));
  count_accepted();
}

std::vector<std::pair<std::shared_ptr<StreamCore>, std::string>> StreamTable::accepted_streams()
    const {
  std::vector<std::pair<std::shared_ptr<StreamCore>, std::string>> out;
  for (const auto& [id, core] : accepted_) {
    auto m = accepted_methods_.find(id);
    out.emplace_back(core, m == accepted_methods_.end() ? std::string() : m->second);
  }
  return out;
}

bool StreamTable::forget(std::uint64_t id, bool opened_here) {
  if (opened_here) {
    opened_.erase(id);
    return false;
  }
  accepted_.erase(id);
  accepted_methods_.erase(id);
  count_accepted();
  return true;
}

void StreamTable::deliver(const wire::FrameView& frame, const wire::Metadata& md) {
  // The acceptor marks its frames with the top bit: they concern a stream this side opened.
  const bool from_acceptor = (frame.header.id & wire::kStreamAcceptorBit) != 0;
  const std::uint64_t id = frame.header.id & ~wire::kStreamAcceptorBit;
  auto& table = from_acceptor ? opened_ : accepted_;
  auto it = table.find(id);
  if (it == table.end()) return;
  auto core = it->second;  // the core may detach itself (and leave the table) below
  switch (frame.header.kind) {
    case FrameKind::stream_data:
      core->on_data(frame.payload, frame.owned_payload, md);
      break;
    case FrameKind::stream_credit:
      core->on_credit(md.credit_items.value_or(0), md.credit_bytes.value_or(0));
      break;
    case FrameKind::stream_end:
      if (md.status && *md.status != 0) {
        core->on_end(tl::unexpected(wire::carried_error(md)));
      } else {
        core->on_end(std::string(frame.payload));
      }
      break;
    case FrameKind::stream_cancel: {
      Error e = wire::carried_error(md);
      if (e.code == StatusCode::ok) e.code = StatusCode::cancelled;
      if (e.message.empty()) e.message = "cancelled by the peer";
      core->on_cancel(e);
      break;
    }
    default:
      break;
  }
}

void StreamTable::cancel_all(const Error& reason) {
  // Moved out first: a core's cancel may call back into forget().
  auto opened = std::move(opened_);
  auto accepted = std::move(accepted_);
  opened_.clear();
  accepted_.clear();
  accepted_methods_.clear();
  count_accepted();
  for (auto& [_, core] : opened) core->on_cancel(reason);
  for (auto& [_, core] : accepted) core->on_cancel(reason);
}

}  // namespace plexus::rpc
