// The one frame-oriented interface every transport implements (unix, tcp; later shm, stdio…).
// The RPC layer sees only this: frames in through a delegate, frames out through send().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>

#include "platform/posix/process.hpp"
#include "plexus/status.hpp"
#include "wire/frame.hpp"
#include "wire/metadata.hpp"

namespace plexus::transport {

// A count written only on the connection's executor and read from any thread (metrics
// scrapes): the writer's relaxed load and store cost what a plain increment does, and a reader
// never sees a torn value.
class StatCount {
 public:
  StatCount() = default;
  StatCount(const StatCount& other) : value_(other.get()) {}
  StatCount& operator=(const StatCount& other) {
    value_.store(other.get(), std::memory_order_relaxed);
    return *this;
  }
  StatCount& operator+=(std::uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    return *this;
  }
  StatCount& operator++() { return *this += 1; }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }
  operator std::uint64_t() const { return get(); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Counted by the transport itself (not estimated): tests assert batching from these.
struct ConnectionStats {
  StatCount frames_in;
  StatCount frames_out;
  StatCount bytes_in;
  StatCount bytes_out;
  StatCount write_batches;     // gather writes issued; frames_out / write_batches = batching
  StatCount shm_mapped_bytes;  // shared memory mapped for this connection (0 unless shm)
  // Payload bytes handed to the delegate where they lay in shared memory, never copied on
  // this side (large frames over shm; docs/ARCHITECTURE.md section 15).
  StatCount bytes_in_place;
  // Reads made by a look of the idle I/O thread (transport/hot_read.hpp), not by the reactor.
  StatCount hot_reads;
  // Requests written, and answers read, by a thread that borrowed the connection (a blocking
  // call on its own thread; Connection::borrow). Written by that thread alone.
  StatCount borrowed_requests;
  StatCount borrowed_answers;
  // Of borrowed_requests, those whose payload was written in place in the ring (borrowed_loan).
  StatCount loaned_requests;
};

// Receives what a connection reads. Every call runs on the connection's executor.
class ConnectionDelegate {
 public:
  virtual ~ConnectionDelegate() = default;
  // One complete frame; the views are valid only during the call.
  virtual void on_frame(const wire::FrameView& frame) = 0;
  // A header announced a payload over this side's limit. When `skipping`, the transport discards
  // the body without storing it and reading goes on; otherwise the connection closes after the
  // delegate's reply is flushed.
  virtual void on_frame_too_large(const wire::FrameHeader& header, const Error& error,
                                  bool skipping) = 0;
  // The byte stream is not valid protocol; the connection closes after the delegate's reply
  // (a GOAWAY) is flushed.
  virtual void on_malformed(const Error& error) = 0;
  // Called exactly once, when the connection is closed for any reason.
  virtual void on_closed(const Error& reason) = 0;
  // A write finished and nothing more is queued: pending_write_bytes() is 0. For senders that
  // hold messages back while the peer is slow (pub/sub queues).
  virtual void on_write_done() {}
};

class HotReadSlot;  // transport/hot_read.hpp
class TlsConfig;    // transport/tls/tls_config.hpp

struct ConnectionOptions {
  wire::Limits receive_limits;                        // what this side accepts
  std::uint64_t max_skip_bytes = 64ull << 20;         // oversize bodies larger than this: close
  std::size_t max_pending_write_bytes = 64ull << 20;  // send() past this: resource_exhausted
  // The runtime's slot for the socket its idle I/O thread polls itself (a runtime with one I/O
  // thread that polls before it sleeps); nullptr: always read through the reactor. Must outlive
  // the connection's reads. Socket transports only.
  HotReadSlot* hot_read = nullptr;
  // tls:// only: the certificates, keys and trust (transport/tls/tls_config.hpp), shared by
  // every connection of a listener or client. Required by the tls transport.
  std::shared_ptr<TlsConfig> tls;
};

// One frame for Connection::send: kind and id, the metadata block (structured and encoded by
// the transport, or already encoded by the caller, or none) and the payload (borrowed for the
// call, or a string the transport may take instead of copying).
struct OutFrame {
  wire::FrameKind kind{};
  std::uint64_t id = 0;
  const wire::Metadata* metadata = nullptr;  // encoded by the transport; null: `encoded`
  std::string_view encoded;                  // a block the caller encoded (may be empty)
  std::string_view payload;                  // read during send() only
  // The payload's own string: a transport may move it out (only when send() succeeds) rather
  // than copy a large payload (kHandOverPayload). Null: borrowed only.
  std::string* owned = nullptr;

  // No metadata (LANE_DATA, PONG, a plain RESPONSE).
  static OutFrame plain(wire::FrameKind kind, std::uint64_t id, std::string_view payload) {
    return OutFrame{kind, id, nullptr, {}, payload, nullptr};
  }
  static OutFrame with(wire::FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                       std::string_view payload) {
    return OutFrame{kind, id, &md, {}, payload, nullptr};
  }
  // A block encoded by the caller (wire/call_metadata.hpp: the call path skips the general
  // encoder).
  static OutFrame preencoded(wire::FrameKind kind, std::uint64_t id, std::string_view block,
                             std::string_view payload) {
    return OutFrame{kind, id, nullptr, block, payload, nullptr};
  }
  // The payload is `s`, which the transport may take.
  OutFrame& handing_over(std::string& s) {
    payload = s;
    owned = &s;
    return *this;
  }
};

// The refusal every transport's send() checks first: unavailable once the connection is closed
// or closing, resource_exhausted while more than `max_pending_bytes` wait to be written.
Result<void> send_refusal(bool closed, std::size_t pending_bytes, std::size_t max_pending_bytes);

// What Connection::borrowed_wait came to.
enum class BorrowedWait {
  answered,     // the answer is in hand; the connection is still borrowed: give_back()
  handed_back,  // not answered here (another frame came first, the executor needed the
                // connection, or the wait strategy's spin ran out): the connection is given
                // back and the answer reaches the delegate like any frame
  deadline,     // the deadline passed first; the connection is given back
  spin_ran_out  // handed_back because the wait strategy's spin ran out (borrowed_answer_came)
};

// Shared ownership: the session holds it and pending I/O operations keep it alive until they
// complete. Not thread-safe: every method must be called on executor().
class Connection {
 public:
  virtual ~Connection() = default;

  // Starts reading. The connection holds `delegate` until on_closed has been delivered. No
  // delegate callback runs before start() returns.
  virtual void start(std::shared_ptr<ConnectionDelegate> delegate) = 0;

  // Queues one frame. If no write is in flight it leaves at once; otherwise it joins the batch
  // that leaves in the next single gather write. Fails, queuing nothing, with message_too_large
  // (payload over the peer's limit), resource_exhausted (write queue full) or unavailable.
  // The one send path: each transport copies, gathers or writes in place as it sees fit.
  virtual Result<void> send(const OutFrame& frame) = 0;
  // A frame with structured metadata and a borrowed payload: send(OutFrame::with(…)).
  Result<void> send(wire::FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                    std::string_view payload) {
    return send(OutFrame::with(kind, id, md, payload));
  }

  // Closes: with `flush`, after the queued frames are written; on_closed reports `reason`.
  virtual void close(const Error& reason, bool flush) = 0;

  // Stops handing frames to the delegate (the rest of the current read buffer waits too) and
  // stops reading the socket, until resume_reading(): backpressure on a peer. Idempotent.
  virtual void pause_reading() = 0;
  // Delivers what was held back (never inside this call) and reads again.
  virtual void resume_reading() = 0;

  // Coalescing for a sender that knows more frames follow at once (a stream producer whose
  // writes complete without waiting): between hold_writes() and the matching release_writes()
  // frames only queue; the release writes them all in one gather write. Calls nest. A transport
  // that does not coalesce this way may ignore both (the defaults).
  virtual void hold_writes() {}
  virtual void release_writes() {}

  virtual void set_peer_max_message_size(std::uint32_t bytes) = 0;
  virtual std::uint32_t peer_max_message_size() const = 0;
  virtual bool is_open() const = 0;
  virtual const ConnectionStats& stats() const = 0;
  virtual std::size_t pending_write_bytes() const = 0;
  virtual asio::any_io_executor executor() const = 0;
  virtual std::string describe() const = 0;  // for logs: "unix:/path fd=7"
  virtual std::optional<platform::PeerCredentials> credentials() const = 0;
  // The peer's IP address for TCP and TLS connections; empty for the others.
  virtual std::string remote_host() const { return {}; }
  // The subject of the certificate the peer presented and this side verified (TLS), in RFC 2253
  // form ("CN=alice,O=Example"); empty when there is none.
  virtual std::string peer_certificate_subject() const { return {}; }

  // A region of `size` bytes in the outbound buffer itself, after room for a frame header, for
  // the payload of a frame without metadata that its producer writes in place
  // (CallContext::loan_answer); nullptr: not supported, or no room at once. One at a time:
  // frames sent meanwhile queue behind it. commit_loan sends the frame with the first `used`
  // bytes (after the frames queued meanwhile, if any), cancel_loan drops it.
  virtual char* loan(std::size_t /*size*/) { return nullptr; }
  virtual Result<void> commit_loan(wire::FrameKind /*kind*/, std::uint64_t /*id*/,
                                   std::size_t /*used*/) {
    return make_error(StatusCode::internal, "no region loaned");
  }
  virtual void cancel_loan() {}

  // Lending (docs/ARCHITECTURE.md section 6, "Blocking calls on the caller's thread"): a thread
  // that makes a blocking call writes its request and reads its answer itself while the
  // executor has nothing in hand, saving the hop to the I/O thread and back. Shared memory lends
  // the rings (its borrower also waits for the answer itself); a Unix or TCP socket lends only
  // its writing side, and the session borrows it only for blocking calls (borrowed_send; the
  // executor reads the answer); TLS and these defaults refuse. Unlike the rest of this interface
  // these run on the borrowing thread (any thread but the executor's), one borrower at a time.
  //
  // Takes the connection when the executor lends it within `patience`; false: use send().
  virtual bool borrow(std::chrono::nanoseconds /*patience*/) { return false; }
  // While borrowed: writes the whole frame now and publishes it, or nothing (resource_exhausted
  // when there is no room at once, message_too_large over the peer's limit).
  virtual Result<void> borrowed_send(const OutFrame& /*frame*/) {
    return make_error(StatusCode::unavailable, "connection not borrowed");
  }
  // While borrowed: a region of `size` bytes in the outbound buffer itself, after room for a
  // frame header and `metadata_size` bytes of metadata, where the borrower writes a request's
  // payload in place (Caller::call_loaned); nullptr: no room at once, or the executor has
  // frames to send first. Nothing is visible to the peer until borrowed_commit, which writes
  // the header and `metadata` and publishes the frame with the region's first `used` bytes; a
  // region never committed is simply dropped (the next write reuses it).
  virtual char* borrowed_loan(std::size_t /*metadata_size*/, std::size_t /*size*/) {
    return nullptr;
  }
  virtual Result<void> borrowed_commit(wire::FrameKind /*kind*/, std::uint64_t /*id*/,
                                       std::string_view /*metadata*/, std::size_t /*used*/) {
    return make_error(StatusCode::internal, "no region loaned");
  }
  // While borrowed: waits, as the connection's wait strategy says, for the plain RESPONSE (no
  // metadata) to call `id` and copies its payload into `answer`, or with a `view` (not null,
  // not empty) hands it to that where it lies, on this thread; an exception from `view`
  // leaves this call with the answer consumed. Anything else (an ERROR, another frame ahead
  // of it) is left to the executor.
  virtual BorrowedWait borrowed_wait(
      std::uint64_t /*id*/, std::chrono::steady_clock::time_point /*deadline*/,
      std::string& /*answer*/, const std::function<void(std::string_view)>* /*view*/ = nullptr) {
    return BorrowedWait::handed_back;
  }
  // Ends a borrow that did not end in borrowed_wait.
  virtual void give_back() {}
  // True when each borrow costs a system call of its own (a socket's write): the session then
  // borrows only for a blocking call, never for a callback call or a loaned region.
  virtual bool lends_per_write() const { return false; }
  // On the executor: a borrower is likely to come back soon (its call just completed here), so
  // the connection parks as soon as it is idle instead of spinning first.
  virtual void expect_borrower() {}
  // After a borrowed_wait that handed the connection back when its spin ran out: the answer came
  // `waited` after that wait began, which the next borrower's spin takes into account (any
  // thread).
  virtual void borrowed_answer_came(std::chrono::nanoseconds /*waited*/) {}
};

}  // namespace plexus::transport
