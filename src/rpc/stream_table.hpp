// The streams of one session by id: those this side opened and those the peer opened (the two
// sides choose ids independently, so they may overlap), and the routing of a stream frame to
// its StreamCore (docs/PROTOCOL.md §Streams). The session opens and accepts streams; this
// table only keeps them and hands them their frames.
//
// Threading: the table lives on the session's strand; accepted_count() is readable anywhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "plexus/status.hpp"
#include "rpc/stream_core.hpp"
#include "wire/frame.hpp"
#include "wire/metadata.hpp"

namespace plexus::rpc {

class StreamTable {
 public:
  void add_opened(std::uint64_t id, std::shared_ptr<StreamCore> core);
  // `method`: the stream method it serves (an access policy reload asks about it again).
  void add_accepted(std::uint64_t id, std::shared_ptr<StreamCore> core, std::string method = {});
  // The streams the peer opened that are being served, with their methods.
  std::vector<std::pair<std::shared_ptr<StreamCore>, std::string>> accepted_streams() const;
  // A STREAM_OPEN with this id would reuse a stream the peer still has open here.
  bool accepted_in_use(std::uint64_t id) const { return accepted_.contains(id); }
  // Removes a stream that ended; true when it was one the peer opened (being served here).
  bool forget(std::uint64_t id, bool opened_here);
  // Streams the peer opened that are still being served. Any thread.
  std::size_t accepted_count() const { return accepted_count_.load(std::memory_order_acquire); }
  // Hands a STREAM_DATA, _CREDIT, _END or _CANCEL frame to its stream. A frame for a stream
  // that is already over here (cancelled, finished) is late and dropped.
  void deliver(const wire::FrameView& frame, const wire::Metadata& md);
  // The connection closed: every stream ends with `reason`, and the table is empty.
  void cancel_all(const Error& reason);

 private:
  void count_accepted() { accepted_count_.store(accepted_.size(), std::memory_order_release); }

  std::unordered_map<std::uint64_t, std::shared_ptr<StreamCore>> opened_;
  std::unordered_map<std::uint64_t, std::shared_ptr<StreamCore>> accepted_;
  std::unordered_map<std::uint64_t, std::string> accepted_methods_;
  std::atomic<std::size_t> accepted_count_{0};
};

}  // namespace plexus::rpc
