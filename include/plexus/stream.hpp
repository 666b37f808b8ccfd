/// \file
/// Streams: an ordered flow of items in either or both directions over one session, with
/// credit-based flow control (docs/PROTOCOL.md §Streams). The receiver grants a window of items
/// and bytes and re-grants as its application reads, so a fast producer and a slow consumer stay
/// within a fixed memory budget: a writer out of credit is suspended, not buffered.
///
/// ```
/// plexus::Stream s = client.open_stream("numbers", "1000");
///
/// std::vector<std::string> items;
/// while (auto item = s.read()) {  // blocking form; an error ends the loop too
///   if (!*item) break;            // nullopt: the other side ended its direction cleanly
///   items.push_back(**item);
/// }
///
/// auto end = co_await s.async_read(asio::use_awaitable);  // coroutine form
/// ```
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/dispatch.hpp>

#include "plexus/call.hpp"
#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

namespace rpc {
class StreamCore;
}

/// How much a receiver lets its peer send ahead of what its application has read. The session
/// never buffers more than `bytes` plus one item (the item that crosses the line) per direction.
struct PLEXUS_EXPORT StreamWindow {
  std::uint32_t items = 256;       ///< items the peer may send ahead: 1 .. 2^32-1
  std::uint64_t bytes = 1u << 20;  ///< bytes the peer may send ahead: 1 .. 2^63
};

/// Options of Caller::open_stream.
struct PLEXUS_EXPORT StreamOptions {
  StreamWindow window;  ///< the opener's receive window
  /// The stream's trace, as CallOptions::trace_id (empty: a child of the current trace, if any).
  std::string trace_id = {};  // "= {}": designated initializers may leave it out under -Wextra
};

/// What a receiver knows of the producer's progress. `done` counts the producer's own unit when
/// it reports one (set_progress), else the items received.
struct PLEXUS_EXPORT StreamProgress {
  std::uint64_t done = 0;              ///< units done (see above)
  std::optional<std::uint64_t> total;  ///< the producer's total (set_progress); nullopt if unknown
  double rate = 0;                     ///< units per second since the first item
  std::optional<std::chrono::duration<double>> eta;  ///< when total and rate are known
};

/// Pure: progress from counts and the time since the first item (tested without a clock).
PLEXUS_EXPORT StreamProgress make_progress(std::uint64_t done, std::optional<std::uint64_t> total,
                                           std::chrono::nanoseconds elapsed);

/// The session's own accounting for one stream (both directions), read from any thread.
struct PLEXUS_EXPORT StreamStats {
  std::uint64_t items_sent = 0;           ///< items this side sent
  std::uint64_t bytes_sent = 0;           ///< payload bytes of those items
  std::uint64_t items_received = 0;       ///< items this side received
  std::uint64_t bytes_received = 0;       ///< payload bytes of those items
  std::uint64_t buffered_items = 0;       ///< received, not yet read by the application
  std::uint64_t buffered_bytes = 0;       ///< the bytes of those items
  std::uint64_t peak_buffered_items = 0;  ///< the most items buffered at once
  std::uint64_t peak_buffered_bytes = 0;  ///< the most bytes buffered at once
  std::uint64_t queued_bytes = 0;         ///< written by the application, waiting for credit
  std::uint64_t peak_queued_bytes = 0;    ///< the most bytes waiting for credit at once
  std::uint64_t credit_waits = 0;         ///< writes that had to wait for credit
  std::uint64_t credits_granted = 0;      ///< CREDIT frames this side sent
};

/// A read's completion (Stream::start_read): an item, nullopt at the end, or the error.
using StreamReadCallback = std::function<void(Result<std::optional<std::string>>)>;
/// A write's completion (Stream::start_write).
using StreamWriteCallback = std::function<void(Result<void>)>;

/// One stream, from either end: the opener's (Caller::open_stream) or a stream handler's.
/// Ownership: Stream is a cheap copyable handle; the stream lives while a handle or the session
/// refers to it. Threading: every method is safe from any thread; completions run on the
/// completion token's executor (an I/O thread for callbacks). Errors never throw: a read or write
/// fails with the stream's status (cancelled, unavailable when the session is lost, or the
/// producer's error code). On an empty handle operations fail with failed_precondition.
class PLEXUS_EXPORT Stream {
 public:
  /// An empty handle (valid() is false).
  Stream() = default;
  /// Made by plexus (Caller::open_stream, and for stream handlers).
  explicit Stream(std::shared_ptr<rpc::StreamCore> core) : core_(std::move(core)) {}

  /// False for an empty handle.
  bool valid() const { return core_ != nullptr; }

  /// The next item; nullopt once the other side ended its direction cleanly; an error when it
  /// ended with one, cancelled, or the session was lost. Items already received are delivered
  /// before an error. One read at a time. Any Asio completion token (use_awaitable, a callback,
  /// use_future); completes with Result<std::optional<std::string>>.
  template <typename Token>
  auto async_read(Token&& token) {
    return asio::async_initiate<Token, void(Result<std::optional<std::string>>)>(
        [this](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          start_read([shared](Result<std::optional<std::string>> r) mutable {
            auto ex = asio::get_associated_executor(*shared);
            asio::dispatch(ex, [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
          });
        },
        token);
  }
  /// Blocking form; on an I/O thread it fails with failed_precondition (it would deadlock).
  Result<std::optional<std::string>> read();

  /// Sends one item. Completes once the session has taken it within the peer's credit: a
  /// writer out of credit stays suspended until the peer grants more (or the stream ends,
  /// failing the write). One write at a time. Fails with failed_precondition after close_write,
  /// message_too_large over the peer's frame limit, or the stream's status once it is over.
  template <typename Token>
  auto async_write(std::string_view item, Token&& token) {
    return asio::async_initiate<Token, void(Result<void>)>(
        [this](auto handler, std::string item) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          start_write(std::move(item), [shared](Result<void> r) mutable {
            auto ex = asio::get_associated_executor(*shared);
            asio::dispatch(ex, [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
          });
        },
        token, std::string(item));
  }
  /// Blocking form; not on an I/O thread.
  Result<void> write(std::string item);

  /// Fast paths for many small items, for code running on the stream's I/O thread (a stream
  /// handler, or a coroutine/callback of the client's runtime); elsewhere they do nothing.
  /// try_write sends `item` now if the peer's credit allows and returns true; false means nothing
  /// was sent: async_write then waits for credit or reports why it cannot write. try_read takes
  /// an item that has already arrived; nullopt means none has (async_read then waits for one, or
  /// reports the end or an error). Neither suspends, posts or allocates a completion:
  /// ```
  /// if (!s.try_write(item)) {  // no credit now: wait for it
  ///   auto written = co_await s.async_write(item, asio::use_awaitable);
  ///   if (!written) co_return tl::unexpected(written.error());
  /// }
  /// ```
  bool try_write(std::string_view item);
  /// The fast path for reads (see try_write): an item that has already arrived, or nullopt.
  std::optional<std::string> try_read();

  /// The opener ends its direction cleanly (the acceptor's reads then yield nullopt); items it
  /// wrote before are delivered first. A stream handler ends its side by returning.
  void close_write();
  /// Aborts the stream both ways: the other side's reads and writes fail with `cancelled` and a
  /// stream handler's CallContext reports cancelled(). Idempotent.
  void cancel(std::string reason = "cancelled by the peer");

  /// Producer side: announces the total (and optionally its own count of work done) to the
  /// reader; carried on the next item written.
  void set_progress(std::uint64_t total, std::optional<std::uint64_t> done = std::nullopt);
  /// Reader side: the producer's progress as received so far.
  StreamProgress progress() const;
  /// The session's accounting for this stream, both directions (zeros for an empty handle).
  StreamStats stats() const;
  /// Opener side: the acceptor's final word once reads returned nullopt or an error: the stream
  /// handler's returned payload, or its error. nullopt while the stream is open.
  std::optional<Result<std::string>> outcome() const;

  /// Callback form of async_read (the templates above use it); `done` runs on an I/O thread.
  void start_read(StreamReadCallback done);
  /// Callback form of async_write (the templates above use it); `done` runs on an I/O thread.
  void start_write(std::string item, StreamWriteCallback done);

 private:
  std::shared_ptr<rpc::StreamCore> core_;
};

/// Serves one stream opened by a peer. `payload` is the opener's argument; `stream` reads what
/// the opener writes and writes to the opener. Returning ends the stream: a value is the final
/// payload (Stream::outcome on the opener), an error ends it with that status. Runs on the I/O
/// thread; a handler that throws ends its stream with `internal`.
using StreamHandler =
    std::function<asio::awaitable<Result<std::string>>(CallContext&, std::string payload, Stream)>;

/// How a stream method's handler runs (HandlerRegistry::handle_stream).
struct PLEXUS_EXPORT StreamHandlerOptions {
  /// Run the handler's coroutine on the runtime's worker pool instead of the I/O thread: it may
  /// block between its co_awaits and use Stream's blocking read() and write().
  bool offload = false;
};

}  // namespace plexus
