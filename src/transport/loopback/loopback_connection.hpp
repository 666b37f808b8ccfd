// Two Connections joined inside one process: what one end sends, the other receives, through
// the FrameReader the socket transports use, so a corrupted byte, an oversize frame or a frame
// cut short meets the same code a socket's would. For tests of the layers above the transport
// (session, pub/sub router, streams, policies) without child processes or sockets, with faults
// injected on demand: a frame dropped, delayed or corrupted, a write that fails, the link cut in
// the middle of a frame.
//
// Threading: both ends run on one serial executor (an io_context run by one thread, as a test
// does); like every Connection, each method must be called there. Nothing is delivered inside
// send(): frames arrive in later handlers, in order, as over a socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <asio/steady_timer.hpp>

#include "transport/connection.hpp"
#include "transport/frame_reader.hpp"

namespace plexus::transport {

// Faults on the frames one end sends, numbered from 1 in the order send() took them. Set on
// the executor; a fault applies to frames sent after it is set.
struct LoopbackFaults {
  std::optional<std::uint64_t> drop;             // this frame never arrives
  std::optional<std::uint64_t> corrupt;          // arrives with byte `corrupt_at` inverted
  std::size_t corrupt_at = 0;                    // 0..15: the header; then metadata, payload
  std::optional<std::uint64_t> fail_write;       // its write fails: this end closes (unavailable)
  std::optional<std::uint64_t> close_mid_frame;  // half of it arrives, then the link is cut
  bool drop_all = false;                         // from now on nothing arrives (a hung peer)
  std::chrono::milliseconds delay{0};            // every frame arrives this much later
};

class LoopbackConnection final : public Connection,
                                 public std::enable_shared_from_this<LoopbackConnection> {
 public:
  using Pair = std::pair<std::shared_ptr<LoopbackConnection>, std::shared_ptr<LoopbackConnection>>;
  // Two joined ends on `executor`, each with its own options (receive limits, write queue).
  static Pair make_pair(asio::any_io_executor executor, ConnectionOptions first = {},
                        ConnectionOptions second = {});

  LoopbackConnection(asio::any_io_executor executor, ConnectionOptions options, std::string name);

  LoopbackFaults& faults() { return faults_; }
  std::uint64_t frames_sent() const { return sent_; }

  // Connection
  void start(std::shared_ptr<ConnectionDelegate> delegate) override;
  using Connection::send;
  Result<void> send(const OutFrame& frame) override;
  void close(const Error& reason, bool flush) override;
  void pause_reading() override;
  void resume_reading() override;
  void set_peer_max_message_size(std::uint32_t bytes) override { peer_max_ = bytes; }
  std::uint32_t peer_max_message_size() const override { return peer_max_; }
  bool is_open() const override { return !closed_ && !closing_; }
  const ConnectionStats& stats() const override { return stats_; }
  std::size_t pending_write_bytes() const override { return pending_bytes_; }
  asio::any_io_executor executor() const override { return executor_; }
  std::string describe() const override { return "loopback:" + name_; }
  std::optional<platform::PeerCredentials> credentials() const override;

 private:
  struct InFlight {
    std::chrono::steady_clock::time_point due;
    std::string bytes;
    bool cut_after = false;  // the link is cut once these bytes arrived
  };

  Result<void> refuse_send() const;
  // One encoded frame, after the faults: queued for the peer.
  void transmit(std::string bytes);
  void schedule_pump();
  void pump();  // hands the peer every frame that is due
  void arrive(std::string_view bytes);
  void peer_closed();
  void deliver();  // moves arrived bytes through the reader to the delegate
  void finish_close(const Error& reason);

  asio::any_io_executor executor_;
  ConnectionOptions options_;
  std::string name_;
  std::weak_ptr<LoopbackConnection> peer_;
  std::shared_ptr<ConnectionDelegate> delegate_;
  LoopbackFaults faults_;
  ConnectionStats stats_;
  FrameReader reader_;
  std::uint32_t peer_max_ = wire::kDefaultMaxMessageSize;

  std::deque<InFlight> in_flight_;  // sent, not yet arrived
  std::size_t pending_bytes_ = 0;
  asio::steady_timer timer_;
  bool pump_scheduled_ = false;
  std::uint64_t sent_ = 0;

  std::string inbox_;  // arrived, not yet through the reader
  std::size_t inbox_begin_ = 0;
  bool started_ = false;
  bool paused_ = false;
  bool delivering_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
  bool closed_ = false;
  Error close_reason_;
};

}  // namespace plexus::transport
