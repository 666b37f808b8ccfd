#include "rpc/lane_tables.hpp"

namespace plexus::rpc {

void InboundLane::resolve(const HandlerTable::Map& table, std::uint64_t version) {
  auto it = table.find(method);
  entry = it == table.end() ? nullptr : it->second;
  sync = entry ? std::get_if<SyncHandler>(&entry->fn) : nullptr;
  handler_version = version;
}

Result<InboundLane*> InboundLanes::open(std::uint64_t id, std::string_view method) {
  if (id == 0 || id > wire::kMaxLanes || find(id) != nullptr) {
    return tl::unexpected(Error{StatusCode::protocol_error,
                                "lane id " + std::to_string(id) + " is out of range (1.." +
                                    std::to_string(wire::kMaxLanes) + ") or already open",
                                "{\"id\":" + std::to_string(id) + "}"});
  }
  if (lanes_.size() < id) lanes_.resize(id);
  InboundLane& lane = lanes_[id - 1];
  lane.method = std::string(method);
  lane.context = std::make_unique<CallContext>();
  return &lane;
}

std::uint64_t OutboundLanes::find(std::string_view method) const {
  auto it = ids_.find(method);
  return it == ids_.end() ? 0 : it->second;
}

std::uint64_t OutboundLanes::add(std::string method) {
  const std::uint64_t id = next_id();
  ids_.emplace(std::move(method), id);
  return id;
}

}  // namespace plexus::rpc
