// The BATCH frame being filled for one session (SessionOptions::batching): NOTIFY and PUBLISH
// frames back to back, sent when max_items is reached, when max_wait has passed since the first
// one, or when something that must keep its order behind them is sent. It holds the bytes; the
// session decides where they go.
//
// Threading: on the session's strand only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "plexus/pubsub.hpp"
#include "rpc/time_source.hpp"
#include "wire/metadata.hpp"

namespace plexus::rpc {

class Batcher {
 public:
  Batcher(BatchOptions options, std::unique_ptr<Timer> timer)
      : options_(options), timer_(std::move(timer)) {}
  // Runs (on the timer's executor) when the first item has waited max_wait.
  void on_wait_over(std::function<void()> fn) { wait_over_ = std::move(fn); }

  enum class Added {
    queued,       // in the batch
    full,         // in the batch, which is now full: flush it
    flush_first,  // not added: the batch would pass `limit`; flush it, then add again
    alone,        // not added: larger than a batch may be; send it as a frame of its own
  };
  // Appends one frame; the batch's payload stays within `limit` (the peer's message size).
  Result<Added> add(wire::FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                    std::string_view payload, std::uint32_t limit);
  std::size_t items() const { return items_; }
  // Takes the batch (empty afterwards) and stops its timer.
  std::string take();
  // Drops what is batched and stops the timer (the session closed).
  void clear();

 private:
  BatchOptions options_;
  std::unique_ptr<Timer> timer_;
  std::function<void()> wait_over_;
  std::string frames_;  // complete inner frames back to back
  std::size_t items_ = 0;
};

}  // namespace plexus::rpc
