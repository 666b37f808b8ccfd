// A Connection over a byte-stream socket (Unix domain or TCP): frame reader with in-place
// parsing and a writer that coalesces every frame queued during an in-flight write into the
// next single gather write (writev). Instantiated for asio::local::stream_protocol and
// asio::ip::tcp here, and for TLS over TCP in transport/tls/ (a protocol tag with `is_tls` whose
// `Session` encrypts and decrypts between the frames and the TCP socket in memory, so TLS keeps
// the hot reads, synchronous writes and one-writev batches of plain TCP;
// stream_connection_impl.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/write.hpp>

#include "transport/connection.hpp"
#include "transport/frame_reader.hpp"
#include "transport/hot_read.hpp"
#include "transport/payload_sizes.hpp"

namespace plexus::transport {

// A protocol tag whose socket is a TLS stream over a TCP socket (transport/tls/).
template <typename Protocol>
inline constexpr bool kIsTlsProtocol = requires {
  Protocol::is_tls;
};

// What a TLS connection keeps beside its TCP socket; nothing for the plain protocols.
template <typename Protocol>
struct TlsState {};
template <typename Protocol>
requires kIsTlsProtocol<Protocol>
struct TlsState<Protocol> {
  // Ciphertext is read in chunks this large: a 64 KiB frame's four records in one read.
  static constexpr std::size_t kReadChunk = 64 * 1024;
  std::unique_ptr<typename Protocol::Session> session;
  // Left uninitialised: only the pages a read touches become resident.
  std::unique_ptr<char[]> cipher_in{new char[kReadChunk]};
  std::string cipher_out;  // the batch being written, encrypted
  // The session may hold input not decrypted yet: after the handshake (the peer's first frames
  // may have come with its last handshake message) or after reading paused part-way.
  bool unread = true;
};

template <typename Protocol>
class StreamConnection final : public Connection,
                               public HotReader,
                               public std::enable_shared_from_this<StreamConnection<Protocol>> {
 public:
  using Socket = typename Protocol::socket;

  // `socket` must be connected and bound to a strand (its executor runs every handler).
  StreamConnection(Socket socket, ConnectionOptions options, std::string label);

  // TLS: the session whose handshake is done (tls_transport.cpp); call before start().
  template <typename P = Protocol>
  requires kIsTlsProtocol<P>
  void adopt_tls(std::unique_ptr<typename P::Session> session) {
    tls_.session = std::move(session);
  }

  void start(std::shared_ptr<ConnectionDelegate> delegate) override;
  using Connection::send;
  Result<void> send(const OutFrame& frame) override;
  void close(const Error& reason, bool flush) override;
  void pause_reading() override;
  void resume_reading() override;
  void hold_writes() override { ++writes_held_; }
  void release_writes() override;

  void set_peer_max_message_size(std::uint32_t bytes) override { peer_max_ = bytes; }
  std::uint32_t peer_max_message_size() const override { return peer_max_; }
  bool is_open() const override { return !closed_ && !closing_ && !write_failed_; }
  const ConnectionStats& stats() const override { return stats_; }
  std::size_t pending_write_bytes() const override;
  asio::any_io_executor executor() const override { return executor_; }
  std::string describe() const override { return label_; }
  std::optional<platform::PeerCredentials> credentials() const override;
  std::string remote_host() const override;
  std::string peer_certificate_subject() const override;

  // Lending the writing side (Connection::borrow; Unix and TCP, not TLS): a thread that makes a
  // call while nothing waits to be written writes its request itself, one non-blocking sendmsg,
  // instead of handing it to the I/O thread; the executor still reads every answer.
  bool borrow(std::chrono::nanoseconds patience) override;
  Result<void> borrowed_send(const OutFrame& frame) override;
  // Gives the connection back at once: the answer comes through the executor.
  BorrowedWait borrowed_wait(std::uint64_t id, std::chrono::steady_clock::time_point deadline,
                             std::string& answer,
                             const std::function<void(std::string_view)>* view) override;
  void give_back() override;
  bool lends_per_write() const override { return kLends; }

  // HotReader (options.hot_read): polled by the idle I/O thread while it holds the slot.
  bool read_until(std::chrono::steady_clock::time_point until) override;
  void park() override;

  // Accepted Unix connections of a listener that does not grant shared memory: a
  // shared-memory upgrade request as the very first bytes is answered with a refusal (the
  // dialer then carries on with HELLO, docs/PROTOCOL.md §19.1) and never reaches the delegate.
  // Call before start().
  void refuse_shm_upgrade() { refuse_shm_upgrade_ = true; }

 private:
  // The first-bytes check of refuse_shm_upgrade(): false while more bytes are needed to decide.
  bool answer_shm_upgrade();

  // Frames produced while a read batch is handled leave as soon as this many bytes are queued
  // (between two frames), the rest after the batch: a pipelining peer then works on the first
  // answers while this side makes the next ones. 2 KiB (~25 small frames) measured best for
  // pipelined 64 B calls (docs/decisions/0014).
  static constexpr std::size_t kFlushDuringInput = 2 * 1024;

  struct LargePayload {
    std::size_t batch_offset;  // where in the batch bytes this payload belongs
    std::string bytes;
  };
  struct Batch {
    std::string bytes;                // headers, metadata and small payloads, back to back
    std::vector<LargePayload> large;  // large payloads, spliced in at their offsets
    std::size_t size() const;
    void clear() {
      bytes.clear();
      large.clear();
    }
  };

  static constexpr bool kLends = !kIsTlsProtocol<Protocol>;
  // lend_: kOwned while the executor may write; kLendable while its writing side is idle
  // (nothing queued, no write in flight), which a borrower takes with one compare-and-swap;
  // kBorrowed while a borrower writes; kClosed once finish_close has waited out any borrower.
  // Only a borrower leaves kBorrowed. The executor takes kLendable back before it queues or
  // writes (reclaim); finding it borrowed, it sets want_back_ and the borrower, giving back,
  // posts the write of what queued meanwhile.
  enum LendState : int { kOwned, kLendable, kBorrowed, kClosed };
  bool reclaim();     // executor: true when it may write now
  void offer_lend();  // executor: the writing side went idle
  void after_lend();  // executor, posted by give_back: write what queued meanwhile
  void take_lent_rest(std::string rest);  // executor: a borrower's frame the socket cut short

  // Whether a frame may be queued: open, and the queue within its limit. Inline: every send
  // asks, and the answer is nearly always yes.
  Result<void> check_open() const {
    if (!closed_ && !closing_ && !write_failed_ && pending_.large.empty() &&
        pending_.bytes.size() <= options_.max_pending_write_bytes) {
      return {};
    }
    return refuse_send();
  }
  Result<void> refuse_send() const;  // check_open's full check, with the reason
  void start_read();
  void on_read(const std::error_code& ec, std::size_t n);
  // Where the socket is read to: the frame reader's space, or for TLS the ciphertext buffer.
  std::span<char> read_space();
  // `n` bytes were read into read_space(): the frames go to the delegate, what they produce
  // leaves.
  void handle_input(std::size_t n);
  // TLS: decrypts what the session holds into the frame reader, frames to the delegate, until
  // the session needs more input (or reading stops).
  void decrypt_input();
  // Whether anything waits to be written: frames, or TLS records the session made by itself.
  bool has_queued() const;
  // After input: the next read waits in the hot-read slot if there is one, else in the reactor.
  void continue_reading();
  bool wants_hot() const;  // whether the next read may wait in the hot-read slot
  void process_input();
  // try_now: attempt a non-blocking write first; only what the socket does not take at once
  // goes through async_write.
  void start_write(bool try_now = false);
  void on_write(const std::error_code& ec, std::size_t n);
  // After a failed write (write_failed_): what the peer sent before it stopped reading (the
  // bytes in the receive buffer now, read without waiting) goes to the delegate, then the
  // connection closes with write_error_. Returns early, still open, if reading is paused: the
  // rest follows when it resumes.
  void read_what_arrived_then_close();
  void finish_close(const Error& reason);
  auto& raw() { return socket_; }
  const auto& raw() const { return socket_; }

  Socket socket_;
  asio::any_io_executor executor_;  // the socket's strand, copied: get_executor() is not const
  ConnectionOptions options_;
  std::string label_;
  std::shared_ptr<ConnectionDelegate> delegate_;  // reset after on_closed
  std::uint32_t peer_max_ = wire::kDefaultMaxMessageSize;

  FrameReader reader_;
  bool read_in_flight_ = false;
  HotReadSlot* hot_slot_ = nullptr;  // options.hot_read
  bool hot_ = false;                 // holds hot_slot_: no read waits in the reactor
  bool read_paused_ = false;         // pause_reading(): no frames to the delegate, no socket reads

  Batch pending_;  // frames queued while a write is in flight
  Batch writing_;  // the batch being written
  std::vector<asio::const_buffer> iov_;
  bool write_in_flight_ = false;
  // While the frames of one read are handed to the delegate, what it sends is only queued;
  // on_read then writes it all at once (see there).
  bool in_input_ = false;
  int writes_held_ = 0;              // hold_writes() nesting: frames queue until it is back to 0
  bool refuse_shm_upgrade_ = false;  // still looking at the first bytes (refuse_shm_upgrade)
  bool sync_write_ok_ = false;  // the socket is in non-blocking mode, so write_some never blocks

  bool closing_ = false;  // close(flush) requested: stop reading, finish the writes
  bool closed_ = false;
  bool write_failed_ = false;  // a write failed: sends are refused, what arrived is still read
  Error write_error_;          // why, the reason the connection closes with
  Error close_reason_;
  ConnectionStats stats_;
  [[no_unique_address]] TlsState<Protocol> tls_;

  std::atomic<int> lend_{kOwned};
  std::atomic<bool> want_back_{false};
  // A borrower whose frame the socket cut short is done with the socket and has posted the rest
  // (lend_ stays kBorrowed until the executor takes it over).
  std::atomic<bool> handing_over_{false};
  int fd_ = -1;  // the socket's descriptor, for a borrower (set by start, closed after lend_)
  // Frames the executor queued while a borrower held the connection (and counted stats_):
  // counted when it has the connection back.
  std::uint64_t deferred_frames_ = 0;
  std::string lent_head_;  // borrower: the frame's header and metadata
  std::string lent_rest_;  // borrower: what the socket did not take, for give_back to hand over
};

using UnixConnection = StreamConnection<asio::local::stream_protocol>;
using TcpConnection = StreamConnection<asio::ip::tcp>;

extern template class StreamConnection<asio::local::stream_protocol>;
extern template class StreamConnection<asio::ip::tcp>;

}  // namespace plexus::transport
