// One stream's state machine: the receive buffer and the credit it grants, the send credit the
// peer granted and the one write that may wait for it, progress, end and cancel.
// Threading: every non-const method runs on the session's executor; stats(), progress() and
// outcome() may be read from any thread (guarded by mu_). Never calls user code inline: read and
// write completions are posted. Frames go out through the session, held weakly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio/any_io_executor.hpp>

#include "plexus/stream.hpp"
#include "wire/metadata.hpp"

namespace plexus::rpc {

class Session;

// What every stream of one owner (a Server or a Client: SessionOptions::stream_totals) did, for
// the metrics registry. Relaxed atomics, bumped beside the per-stream StreamStats; read from any
// thread.
struct StreamTotals {
  std::atomic<std::uint64_t> opened{0};    // streams this side opened (STREAM_OPEN sent)
  std::atomic<std::uint64_t> accepted{0};  // streams the peer opened
  std::atomic<std::int64_t> open{0};       // attached to a session now
  std::atomic<std::uint64_t> items_sent{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> items_received{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> credit_waits{0};  // writes that had to wait for credit
};

class StreamCore : public std::enable_shared_from_this<StreamCore> {
 public:
  StreamCore(asio::any_io_executor executor, StreamWindow window);
  ~StreamCore();

  const asio::any_io_executor& executor() const { return executor_; }
  const StreamWindow& window() const { return window_; }

  // ---- session side --------------------------------------------------------------------
  // Binds the stream to its session and id. `send_items/bytes` is the credit the peer granted
  // with its OPEN (acceptor side); the opener's comes with the acceptor's first CREDIT.
  // `totals` (may be null) counts this stream with its owner's others.
  void attach(std::weak_ptr<Session> session, std::uint64_t id, bool opener,
              std::uint32_t send_items = 0, std::uint64_t send_bytes = 0,
              std::shared_ptr<StreamTotals> totals = nullptr);
  // `owned`, when set, holds `payload` and may be moved from (a large item read into a
  // string of its own by the transport, wire::FrameView::owned_payload).
  void on_data(std::string_view payload, std::string* owned, const wire::Metadata& md);
  void on_credit(std::uint32_t items, std::uint64_t bytes);
  // The peer ended its direction: ok (the opener's close_write, or the handler's value) or an
  // error. On the opener the stream is then over.
  void on_end(Result<std::string> outcome);
  // The peer cancelled, or the session is gone: everything pending fails with `reason`.
  void on_cancel(const Error& reason);
  // Acceptor: runs once when the stream is cancelled (the handler's CallContext::cancel).
  void set_cancel_hook(std::function<void()> hook) { cancel_hook_ = std::move(hook); }

  // ---- application side ----------------------------------------------------------------
  void read(StreamReadCallback done);
  void write(std::string item, StreamWriteCallback done);
  // Synchronous fast paths (Stream::try_read / try_write), on the executor only: take an item
  // already received / send one within the credit, or do nothing and say so.
  std::optional<std::string> try_read();
  bool try_write(std::string_view item);
  void close_write();
  void cancel(const Error& reason);
  // Acceptor: the handler returned; sends STREAM_END with its value or error.
  void finish(Result<std::string> result);
  void set_progress(std::uint64_t total, std::optional<std::uint64_t> done);

  // ---- any thread ----------------------------------------------------------------------
  StreamStats stats() const;
  StreamProgress progress() const;
  std::optional<Result<std::string>> outcome() const;

 private:
  enum class State { open, over };
  std::uint64_t wire_id() const;
  void send_frame(wire::FrameKind kind, const wire::Metadata& md, std::string payload);
  void send_data(std::string item);
  bool has_credit() const;
  // send_data() with the frame held in the connection (see write()).
  void send_held(std::string item);
  // The oldest received item, taken by the application (its credit counted as consumed).
  std::string take_item();
  void consumed(std::size_t bytes);
  void deliver_end_to_reader();
  void terminate(const Error& reason, bool tell_peer);
  void detach();
  void post_read(Result<std::optional<std::string>> r);
  void post_write(StreamWriteCallback done, Result<void> r);
  // Write coalescing: see StreamCore::write.
  void hold_writes();
  void schedule_release();
  void release_writes();
  Error over_error() const;

  asio::any_io_executor executor_;
  StreamWindow window_;
  std::weak_ptr<Session> session_;
  std::uint64_t id_ = 0;
  bool opener_ = true;
  bool attached_ = false;
  std::shared_ptr<StreamTotals> totals_;  // null: not counted
  State state_ = State::open;
  std::optional<Error> failure_;  // why the stream is over (cancel, lost session, peer error)

  // Receive direction.
  std::deque<std::string> inbox_;
  StreamReadCallback reader_;
  std::optional<Result<std::string>> remote_end_;  // the peer's END
  std::uint64_t peer_items_ = 0;  // credit the peer still holds, as this side granted it
  std::int64_t peer_bytes_ = 0;
  std::uint64_t unacked_items_ = 0;  // read by the application since the last CREDIT
  std::uint64_t unacked_bytes_ = 0;

  // Send direction.
  std::uint64_t send_items_ = 0;
  std::int64_t send_bytes_ = 0;  // may go negative by less than one item (see PROTOCOL.md)
  bool local_closed_ = false;
  std::optional<std::string> pending_item_;
  StreamWriteCallback pending_write_;
  std::optional<std::uint64_t> progress_total_out_;
  std::optional<std::uint64_t> progress_done_out_;
  bool holding_writes_ = false;         // this core holds the connection's writes (one hold)
  std::size_t completions_queued_ = 0;  // write completions posted and not yet run
  std::size_t held_items_ = 0;          // items queued under the current hold
  std::size_t held_bytes_ = 0;

  std::function<void()> cancel_hook_;

  mutable std::mutex mu_;
  StreamStats stats_;                                 // guarded by mu_
  std::optional<std::uint64_t> progress_total_in_;    // guarded by mu_
  std::optional<std::uint64_t> progress_done_in_;     // guarded by mu_
  std::chrono::steady_clock::time_point first_item_;  // guarded by mu_
  std::optional<Result<std::string>> outcome_;        // guarded by mu_
};

}  // namespace plexus::rpc
