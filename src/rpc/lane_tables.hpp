// The lanes of one session (docs/PROTOCOL.md §6.11), both ways: those the peer opened here,
// each resolved to its handler, and those this side opened there, by method. The session sends
// and runs lane messages; these tables only keep the lanes.
//
// Threading: both tables live on the session's strand.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plexus/call.hpp"
#include "plexus/status.hpp"
#include "rpc/handler_table.hpp"
#include "wire/frame.hpp"

namespace plexus::rpc {

// A lane the peer opened here: its method, resolved to the handler when the lane opens and
// again whenever the handler table changed. A synchronous handler's context is made once per
// lane, not per message.
struct InboundLane {
  std::string method;
  std::shared_ptr<const HandlerEntry> entry;  // null: no handler, messages are dropped
  const SyncHandler* sync = nullptr;          // entry's handler when it is synchronous
  std::uint64_t handler_version = ~0ull;
  std::unique_ptr<CallContext> context;  // null: the id is not open

  // Looks the method up in `table` (of version `version`).
  void resolve(const HandlerTable::Map& table, std::uint64_t version);
};

// Lanes the peer opened here, by id (1..wire::kMaxLanes).
class InboundLanes {
 public:
  // Opens lane `id` for `method`, its context not yet filled; protocol_error when the id is out
  // of range or already open.
  Result<InboundLane*> open(std::uint64_t id, std::string_view method);
  // The open lane `id`, or null (never opened, or out of range: id 0 included).
  InboundLane* find(std::uint64_t id) {
    const std::uint64_t index = id - 1;  // id 0 wraps around: out of range
    return index < lanes_.size() && lanes_[index].context ? &lanes_[index] : nullptr;
  }

 private:
  std::vector<InboundLane> lanes_;  // index id - 1
};

// Lanes this side opened on the session, by method; ids 1..wire::kMaxLanes in order of opening.
class OutboundLanes {
 public:
  // The id of `method`'s lane, or 0 when it has none here.
  std::uint64_t find(std::string_view method) const;
  bool full() const { return ids_.size() >= wire::kMaxLanes; }
  // The id the next lane gets (the one LANE_OPEN names before add() records it).
  std::uint64_t next_id() const { return ids_.size() + 1; }
  // Records that `method`'s lane is open with next_id(), and returns that id.
  std::uint64_t add(std::string method);

 private:
  std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> ids_;
};

}  // namespace plexus::rpc
