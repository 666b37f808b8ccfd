/// \file
/// Channels: a named bidirectional typed channel between two peers, built on a stream (same
/// credit flow control; nothing on the wire tells them apart). Values go through the JSON codec
/// like Method<Req, Resp> (plexus::Bytes passes raw bytes).
///
/// The serving side registers a coroutine that serves each channel and receives in it; the
/// opening side sends, receives and closes its direction:
///
/// ```
/// // chat(CallContext&, Channel<Msg>) -> asio::awaitable<Result<void>>: a coroutine per channel
/// plexus::handle_channel<Msg>(server, "chat", chat);
///
/// auto msg = co_await ch.async_receive();  // Result<std::optional<Msg>>, nullopt at the end
///
/// auto ch = plexus::open_channel<Msg>(client, "chat");
/// auto sent = ch.send(Msg{"ada", "hello"});
/// auto reply = ch.receive();  // Result<std::optional<Msg>>
/// ch.close();                 // chat's next receive yields nullopt, and it returns
/// ```
#pragma once

#include <optional>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "plexus/caller.hpp"
#include "plexus/handlers.hpp"
#include "plexus/method.hpp"
#include "plexus/stream.hpp"

namespace plexus {

/// A typed, bidirectional channel over one stream (open_channel, handle_channel).
/// Ownership: a cheap copyable handle. Threading: any thread; blocking forms not on an I/O thread.
/// Errors: receive() fails with the channel's status, or invalid_argument for a value that does
/// not decode; it yields nullopt once the other side closed.
/// \tparam T the values' type: JSON-encodable with nlohmann::json, or plexus::Bytes.
template <typename T>
class Channel {
 public:
  /// An empty handle: sends and receives fail with failed_precondition.
  Channel() = default;
  /// A channel over `stream` (open_channel and handle_channel make them).
  explicit Channel(Stream stream) : stream_(std::move(stream)) {}

  /// Sends one value, waiting for the peer's credit (Stream::write). Blocking; not on an I/O
  /// thread.
  Result<void> send(const T& value) { return stream_.write(codec::encode(value)); }
  /// The next value; nullopt once the other side closed (Stream::read). Blocking; not on an I/O
  /// thread.
  Result<std::optional<T>> receive() { return decode(stream_.read()); }

  /// Coroutine form of send() (on any executor).
  asio::awaitable<Result<void>> async_send(const T& value) {
    const std::string bytes = codec::encode(value);
    co_return co_await stream_.async_write(bytes, asio::use_awaitable);
  }
  /// Coroutine form of receive() (on any executor).
  asio::awaitable<Result<std::optional<T>>> async_receive() {
    auto raw = co_await stream_.async_read(asio::use_awaitable);
    co_return decode(std::move(raw));
  }

  /// The opening side closes its direction (the serving side's receives then yield nullopt);
  /// the serving side closes the channel by returning from its handler.
  void close() { stream_.close_write(); }
  /// Aborts both directions (the other side sees `cancelled`).
  void cancel(std::string reason = "channel cancelled") { stream_.cancel(std::move(reason)); }
  /// The underlying stream (progress, stats, the fast paths).
  Stream& stream() { return stream_; }

 private:
  static Result<std::optional<T>> decode(Result<std::optional<std::string>> raw) {
    if (!raw) return tl::unexpected(std::move(raw.error()));
    if (!*raw) return std::optional<T>();
    auto value = codec::decode<T>(**raw);
    if (!value) return tl::unexpected(std::move(value.error()));
    return std::optional<T>(std::move(*value));
  }

  Stream stream_;
};

/// Opens the channel the peer serves under `name` (handle_channel). Returns at once; when it
/// cannot open, its first receive fails with the reason (as Caller::open_stream).
template <typename T>
Channel<T> open_channel(Caller& caller, std::string_view name, StreamOptions options = {}) {
  return Channel<T>(caller.open_stream(name, std::string(), options));
}

/// `fn(CallContext&, Channel<T>) -> asio::awaitable<Result<void>>` serves each channel opened
/// under `name`; returning closes it (an error closes it with that status). Registered as a
/// stream method (HandlerRegistry::handle_stream); `fn` runs on the I/O thread.
template <typename T, typename Fn>
void handle_channel(HandlerRegistry& registry, std::string name, Fn fn) {
  registry.handle_stream(
      std::move(name),
      [fn = std::move(fn)](CallContext& ctx, std::string,
                           Stream stream) -> asio::awaitable<Result<std::string>> {
        // Called apart from the co_await: g++ 12 mishandles temporaries inside one.
        auto served = fn(ctx, Channel<T>(std::move(stream)));
        Result<void> r = co_await std::move(served);
        if (!r) co_return tl::unexpected(std::move(r.error()));
        co_return std::string();
      });
}

}  // namespace plexus
