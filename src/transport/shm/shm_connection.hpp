// A Connection over two shared-memory rings (transport/shm/ring.hpp), set up by the upgrade in
// shm_upgrade.hpp. The Unix socket it was negotiated on stays open as the control channel and
// the liveness signal: nothing more is sent on it, and when it closes (the peer exited, even by
// SIGKILL) the connection drains the frames already in the ring, then closes with unavailable.
//
// Reading runs on the connection's executor and never blocks it: a poll step is posted while
// spinning (so other connections on the same I/O thread still run), and a sleeping reader waits
// with an asynchronous wait on its eventfd. send() writes straight into the outbound ring;
// frames sent while input is processed are published together (one doorbell check for all).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/local/stream_protocol.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "platform/adaptive_spin.hpp"
#include "platform/posix/shm.hpp"
#include "transport/connection.hpp"
#include "transport/frame_reader.hpp"
#include "transport/payload_sizes.hpp"
#include "transport/shm/ring.hpp"
#include "transport/shm/shm_options.hpp"

namespace plexus::transport::shm {

struct ShmParts {
  asio::local::stream_protocol::socket control;  // bound to the connection's serial executor
  platform::Mapping mapping;                     // the whole segment (rings mirrored)
  std::size_t segment_bytes = 0;                 // the segment's size (memory in use)
  platform::Fd doorbell_in;   // the eventfd this side sleeps on (its inbound ring's)
  platform::Fd doorbell_out;  // the eventfd of the peer's inbound ring
  RingReader in;
  RingWriter out;
};

class ShmConnection final : public Connection, public std::enable_shared_from_this<ShmConnection> {
 public:
  ShmConnection(ShmParts parts, ShmOptions shm, ConnectionOptions options, std::string label);

  void start(std::shared_ptr<ConnectionDelegate> delegate) override;
  using Connection::send;
  Result<void> send(const OutFrame& frame) override;
  void close(const Error& reason, bool flush) override;
  void pause_reading() override { read_paused_ = true; }
  void resume_reading() override;
  void hold_writes() override { ++writes_held_; }
  void release_writes() override;

  void set_peer_max_message_size(std::uint32_t bytes) override { peer_max_ = bytes; }
  std::uint32_t peer_max_message_size() const override { return peer_max_; }
  bool is_open() const override { return !closed_ && !closing_; }
  const ConnectionStats& stats() const override { return stats_; }
  std::size_t pending_write_bytes() const override { return pending_bytes_; }
  asio::any_io_executor executor() const override { return executor_; }
  std::string describe() const override { return label_; }
  std::optional<platform::PeerCredentials> credentials() const override;

  // Lending the rings to a thread that makes a blocking call (Connection::borrow). The
  // executor lends them only while it sleeps with nothing in hand (parked: no partial input,
  // nothing queued, writes not held); a borrower takes them with one compare-and-swap. While
  // they are lent the executor does not touch them: its sends queue, a close or the peer's
  // exit waits, and it asks for them back (wanted_back_), which the borrower heeds at its next
  // look. A borrower gives them back parked again when the ring is empty and nobody asked, so
  // back-to-back blocking calls never wake the executor; otherwise it rings the executor's own
  // doorbell, on which a lending executor always waits.
  char* loan(std::size_t size) override;
  Result<void> commit_loan(wire::FrameKind kind, std::uint64_t id, std::size_t used) override;
  void cancel_loan() override;

  bool borrow(std::chrono::nanoseconds patience) override;
  Result<void> borrowed_send(const OutFrame& frame) override;
  char* borrowed_loan(std::size_t metadata_size, std::size_t size) override;
  Result<void> borrowed_commit(wire::FrameKind kind, std::uint64_t id, std::string_view metadata,
                               std::size_t used) override;
  BorrowedWait borrowed_wait(std::uint64_t id, std::chrono::steady_clock::time_point deadline,
                             std::string& answer,
                             const std::function<void(std::string_view)>* view) override;
  void give_back() override;
  void expect_borrower() override { lend_wanted_.store(true, std::memory_order_relaxed); }
  void borrowed_answer_came(std::chrono::nanoseconds waited) override {
    late_answer_ns_.store(waited.count(), std::memory_order_relaxed);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kReadChunk = 64 * 1024;
  // How long poll() spins on the rings itself before it goes back through the executor.
  static constexpr std::chrono::microseconds kInlineSpin{4};
  // How long poll() keeps watching the rings while they keep bringing work: work posted to this
  // thread meanwhile waits at most about this long (plus one kInlineSpin). Longer budgets gain
  // little over 8 µs (docs/decisions/0009).
  static constexpr std::chrono::microseconds kInlineBudget{8};
  // Frames written while input is processed or writes are held are published together, but
  // never more than this many bytes at once: a producer that writes for long (a loop in a
  // completion handler) keeps the reader busy instead of leaving it idle until it stops.
  // 4 KiB balances pipelined calls against one-way lanes (docs/decisions/0014).
  static constexpr std::uint64_t kPublishBacklog = 4 * 1024;

  struct Pending {
    std::string bytes;
    std::size_t offset = 0;  // already written into the ring
    bool owned_payload = false;
  };

  Result<void> check_open() const;
  // Writes head + payload into the ring, or as much as fits and queues the rest.
  // send()'s two cases without a metadata encoder: no block at all (a lane's message, kept apart
  // because its few hundred instructions grew by a quarter through the general one), and a
  // block the caller encoded (a call).
  Result<void> send_plain(wire::FrameKind kind, std::uint64_t id, std::string_view payload,
                          std::string* owned);
  Result<void> send_encoded(wire::FrameKind kind, std::uint64_t id, std::string_view metadata,
                            std::string_view payload, std::string* owned);
  Result<void> enqueue(std::string_view head, std::string_view payload, std::string* owned);
  void queue_copy(std::string_view bytes);
  // Queues the part of a frame that did not go into the ring: `head`, then `payload` from
  // `payload_from` (a large payload the caller handed over is moved, not copied).
  void queue_rest(std::string_view head, std::string_view payload, std::size_t payload_from,
                  std::string* owned);
  bool flush_pending();  // true if anything moved
  void publish();
  bool read_ring();  // true if anything was read
  // Whether the frame whose header starts `skip` bytes after the ring's tail is read in place.
  bool in_place(const wire::FrameHeader& header, std::uint64_t skip) const;
  // Delivers the large frame at the tail where it lies, once all of it is in the ring.
  bool read_in_place(const wire::FrameHeader& header, std::uint64_t available);
  void process_input();
  bool pump();

  void schedule_poll();
  void poll();
  bool spin_inline();  // true when the ring moved within kInlineSpin
  void sleep();
  void kick();  // wakes the loop whether it spins or sleeps
  void on_doorbell(const std::error_code& ec);
  void watch_control();
  void on_control(const std::error_code& ec);
  void fail(const Error& error);  // corrupt shared state: tell the delegate, close
  void finish_close(const Error& reason);
  // What on_control does once the peer is gone: drain what it published, then close.
  void peer_gone(const std::error_code& rec);

  // Lending. owned(): whether the executor holds the rings now, taking them back when parked;
  // with `ask`, a borrower holding them is asked to give them back.
  enum : std::uint32_t { kOwned = 0, kParked = 1, kLent = 2 };
  bool owned(bool ask);
  bool may_park() const;
  void await_return();  // the executor waits on its doorbell until the rings come back
  // send() while the rings are lent: the frame waits in pending_ (flushed when they return).
  Result<void> send_later(const OutFrame& frame);
  // The borrower's look at the ring: 1 the answer was taken, 0 nothing complete yet, -1 a
  // frame that is not the answer (or anything wrong) is at the tail.
  int take_answer(std::uint64_t id, std::string& answer,
                  const std::function<void(std::string_view)>* view);
  // A borrower's frame of `total` bytes is in the ring: counts it, publishes it, rings the peer.
  void borrowed_publish(std::uint64_t total);

  asio::local::stream_protocol::socket control_;
  asio::any_io_executor executor_;
  platform::Mapping mapping_;  // unmapped on destruction, after every handler has run
  platform::Fd doorbell_out_;
  int doorbell_in_fd_;  // doorbell_in_'s, read by a borrower on its own thread
  asio::posix::stream_descriptor doorbell_in_;
  RingReader in_;
  RingWriter out_;
  ShmOptions shm_;
  ConnectionOptions options_;
  std::string label_;
  std::shared_ptr<ConnectionDelegate> delegate_;
  std::uint32_t peer_max_ = wire::kDefaultMaxMessageSize;

  FrameReader reader_;  // bytes copied out of the ring, and their framing
  bool read_paused_ = false;
  // Large payloads are read where they lie in the ring (one copy in all: the sender's). To stop
  // the copy into reader_ where such a frame starts, the headers ahead are looked at as bytes
  // arrive: next_header_ is the ring position (bytes ever consumed) of the first not yet seen.
  std::uint64_t next_header_ = 0;
  bool framing_lost_ = false;  // a header did not decode: reader_ reports it and closes
  // Bytes in the ring that are of no use until more arrive (the start of a large frame or of a
  // header): sleep() waits for more than these.
  std::uint64_t incomplete_bytes_ = 0;
  std::string in_place_metadata_;  // copied out: the decoder must see what it checks

  std::string head_buf_;         // scratch for one frame's header + metadata
  std::deque<Pending> pending_;  // what did not fit in the ring yet
  std::size_t pending_bytes_ = 0;
  bool in_input_ = false;  // sends are published after the input batch
  int writes_held_ = 0;    // hold_writes() nesting: frames stay unpublished until it is back to 0

  bool poll_posted_ = false;
  bool sleeping_ = false;
  platform::AdaptiveSpin spin_;  // shm_.wait's bookkeeping: spin on the rings or sleep

  bool closing_ = false;
  bool closed_ = false;
  Error close_reason_;
  ConnectionStats stats_;

  // An answer region handed out by loan() at the writer's head: sends queue meanwhile.
  bool loan_out_ = false;
  std::size_t loan_size_ = 0;
  // The region a borrower has (borrowed_loan), written by the borrowing thread alone.
  std::size_t borrowed_loan_size_ = 0;
  std::size_t borrowed_loan_skip_ = 0;  // header + metadata ahead of it
  bool borrowed_loan_out_ = false;
  Clock::time_point loan_started_{};
  // How long the borrower took to write its last request (borrowed_wait's spin floor).
  Clock::duration request_write_time_{};

  std::atomic<std::uint32_t> owner_{kOwned};
  std::atomic<bool> wanted_back_{false};         // the executor waits for the rings
  std::atomic<bool> lend_wanted_{false};         // a borrower waits: park as soon as idle
  platform::AdaptiveSpin lent_spin_;             // the borrowers' bookkeeping (one at a time)
  std::atomic<std::int64_t> late_answer_ns_{0};  // borrowed_answer_came, for the next borrower
  // What the executor put off while the rings were lent: a close, the peer's exit.
  std::optional<std::pair<Error, bool>> close_when_back_;
  std::optional<std::error_code> peer_gone_when_back_;
};

}  // namespace plexus::transport::shm
