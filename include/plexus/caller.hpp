/// \file
/// Caller and Peer: the calling half of a session (calls, one-way messages, lanes, streams).
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>

#include "plexus/call.hpp"
#include "plexus/export.hpp"
#include "plexus/lane.hpp"
#include "plexus/pubsub.hpp"
#include "plexus/status.hpp"
#include "plexus/stream.hpp"

namespace plexus {

/// The calling half of a session: calls, one-way messages, lanes and streams to the peer.
/// Shared by Client (one reconnecting session) and Peer (a handle to one session, e.g. a server
/// calling back into a connected client). Abstract: use a Client or a Peer.
/// Threading: every method is safe from any thread. Completions run on an I/O thread.
class PLEXUS_EXPORT Caller {
 public:
  /// Default (empty) options, used by the async_call overload that takes none.
  static inline const CallOptions kNoOptions{};

  virtual ~Caller() = default;  ///< an interface: Client and Peer implement it

  /// Callback form. `done` runs exactly once on an I/O thread, never inside this call.
  /// Returns the id that cancel() takes.
  CallId call_async(std::string_view method, std::string payload, CallOptions options,
                    CallCallback done);

  /// Callback form for large answers: `done` gets the answer as a view, valid only while it runs
  /// (exactly once, on an I/O thread, never inside this call). Over shared memory an answer of
  /// 16 KiB or more is then read where it lies in the ring: the callee's copy into the ring is
  /// the only copy between the processes (call_async copies it once more into the result).
  /// Over sockets it is a view of the received bytes; a failed call gets its Error. Uses
  /// CallOptions::answer_view (replaced).
  CallId call_async_view(std::string_view method, std::string payload, CallOptions options,
                         CallViewCallback done);

  /// Blocking form. On an I/O thread it fails at once with failed_precondition (it would
  /// deadlock); use call_async or co_await async_call there. Over shared memory the calling
  /// thread writes the request and waits for the answer on the rings itself when the connection
  /// is idle (the connection's wait strategy: spin, then sleep), instead of handing both to the
  /// I/O thread.
  Result<std::string> call(std::string_view method, std::string payload, CallOptions options = {});

  /// Blocking form with the request written in place: `write` gets a region of `size` bytes,
  /// writes the payload there and returns how many bytes it used. Over shared memory, when the
  /// calling thread takes the connection (as call() does), the region is the outbound ring
  /// itself: the request is never copied, `write` producing it is its one copy. Otherwise the
  /// region is a buffer sent as call() sends a payload. `write` runs once, on this thread,
  /// before this returns. Errors as call(), and: message_too_large for a `size` over the peer's
  /// limit; invalid_argument when `write` returns more than `size` (nothing is sent). An
  /// exception from `write` leaves this call, and nothing is sent.
  Result<std::string> call_loaned(std::string_view method, std::size_t size, PayloadWriter write,
                                  CallOptions options = {});
  /// Callback form of call_loaned, with call_async's rules for `done` (exactly once, on an I/O
  /// thread, never inside this call). From an application thread over shared memory the region
  /// is in the ring when the connection is idle at this moment; from an I/O thread it is always
  /// a buffer. An exception from `write` leaves this call; nothing is sent and `done` never runs.
  CallId call_async_loaned(std::string_view method, std::size_t size, PayloadWriter write,
                           CallOptions options, CallCallback done);

  /// Any Asio completion token: asio::use_awaitable (co_await), use_future, a callback.
  /// Completes with Result<std::string>. Honours Asio per-operation cancellation (e.g. a
  /// cancellation_signal or `||` with a timer): the call completes with `cancelled` and the
  /// callee is told to stop. Arguments are copied before this returns.
  /// g++ 12 caveat: it corrupts temporaries that have destructors inside a co_await
  /// expression (e.g. `CallOptions{…}` or `std::string(…)` written in the call). The parameters
  /// are views so that `co_await c.async_call("m", payload, asio::use_awaitable)` creates none;
  /// build CallOptions in a named local first.
  template <typename Token>
  auto async_call(std::string_view method, std::string_view payload, const CallOptions& options,
                  Token&& token) {
    return asio::async_initiate<Token, void(Result<std::string>)>(
        [this](auto handler, std::string method, std::string payload, CallOptions options) {
          using Handler = decltype(handler);
          auto slot = asio::get_associated_cancellation_slot(handler);
          auto shared = std::make_shared<Handler>(std::move(handler));
          const CallId id = next_call_id();
          if (slot.is_connected()) {
            slot.assign([this, id](asio::cancellation_type) { cancel(id); });
          }
          start_call(id, method, std::move(payload), std::move(options),
                     [shared](Result<std::string> result) mutable {
                       auto ex = asio::get_associated_executor(*shared);
                       asio::dispatch(ex, [shared, r = std::move(result)]() mutable {
                         (*shared)(std::move(r));
                       });
                     });
        },
        token, std::string(method), std::string(payload), options);
  }
  /// As above with default options (kNoOptions).
  template <typename Token>
  auto async_call(std::string_view method, std::string_view payload, Token&& token) {
    return async_call(method, payload, kNoOptions, std::forward<Token>(token));
  }

  /// Cancels a call started by this caller: it completes with `cancelled` and the callee's
  /// context reports cancelled(). Unknown or finished ids are ignored.
  void cancel(CallId id) { cancel_call(id); }

  /// One-way message: no answer. An ok is written unless the connection closes first (which
  /// reports why); from an application thread the payload is copied into the connection's send
  /// queue and the I/O thread writes it. Fails at once with unavailable (not connected) or
  /// message_too_large (over the peer's limit), and with resource_exhausted when the peer reads
  /// slower than this side sends (the send queue stayed full for SendOptions::wait_for_room).
  /// invalid_argument for a method name that is empty or over 255 bytes.
  Result<void> notify(std::string_view method, std::string payload);
  /// As above; `options.immediate` bypasses the batcher (BatchOptions) for this one message.
  Result<void> notify(std::string_view method, std::string payload, NotifyOptions options);

  /// Opens a lane to the peer's `method` (plexus/lane.hpp): one-way messages at high rates.
  /// Nothing is sent until the first message. invalid_argument for a name that is empty or
  /// over 255 bytes.
  Result<Lane> open_lane(std::string_view method);

  /// The largest payload the peer accepts (from its WELCOME/HELLO); 0 when not connected.
  virtual std::uint32_t peer_max_message_size() const = 0;

  /// Opens a stream served by the peer's stream handler `method`
  /// (HandlerRegistry::handle_stream), with `payload` as its argument. Returns at once; when the
  /// stream cannot open, its first read fails with the reason (unavailable, not_found,
  /// failed_precondition for a peer without streams or a method that is not a stream).
  Stream open_stream(std::string_view method, std::string payload, StreamOptions options = {}) {
    return start_stream(std::string(method), std::move(payload), options);
  }

 protected:
  friend class Lane;
  /// One message on `lane` (Lane::send); the default sends it as a NOTIFY.
  virtual Result<void> send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                                    std::string_view payload, const SendOptions& options);
  /// A copy a lane keeps of a cheap handle (Peer), so that the lane does not depend on the
  /// handle it was opened on; null (the default): the lane refers to this caller.
  virtual std::unique_ptr<Caller> copy_for_lane() const { return nullptr; }
  /// The trace a message this caller starts carries when its sender set none: a child of the
  /// calling thread's current trace (plexus/trace.hpp), or empty.
  virtual std::string outgoing_trace() const;
  /// Opens a stream (open_stream). Default: no streams (the handle's operations fail with
  /// failed_precondition).
  virtual Stream start_stream(std::string /*method*/, std::string /*payload*/,
                              StreamOptions /*options*/) {
    return Stream();
  }
  /// A new call id for this caller's session.
  virtual CallId next_call_id() = 0;
  /// Starts call `id` (every call form ends here); `done` runs exactly once on an I/O thread.
  // Arguments by reference: a call passes through two or three layers, and each move of a
  // string, the options and the callback costs on the hottest path there is.
  virtual void start_call(CallId id, std::string_view method, std::string&& payload,
                          CallOptions&& options, CallCallback&& done) = 0;
  /// Cancels call `id` (cancel); unknown or finished ids are ignored.
  virtual void cancel_call(CallId id) = 0;
  /// Sends one NOTIFY (notify, after the method name was checked); fails as notify does.
  virtual Result<void> start_notify(std::string method, std::string payload,
                                    const SendOptions& options) = 0;
  /// True on an I/O thread of the runtime this caller runs on (where blocking would deadlock).
  virtual bool on_io_thread() const = 0;
  /// A blocking call made on the calling thread itself where the connection allows it (a
  /// Client over shared memory); nullopt: it was not sent, `payload` is intact and call() goes
  /// through start_call. Default: nullopt.
  virtual std::optional<Result<std::string>> call_on_this_thread(std::string_view /*method*/,
                                                                 std::string& /*payload*/,
                                                                 CallOptions& /*options*/) {
    return std::nullopt;
  }
  /// call_loaned's counterpart of call_on_this_thread: nullopt when the request cannot be
  /// written in place on this thread (`write` has not run); otherwise the call's result.
  virtual std::optional<Result<std::string>> call_loaned_on_this_thread(
      std::string_view /*method*/, std::size_t /*size*/, const PayloadWriter& /*write*/,
      CallOptions& /*options*/) {
    return std::nullopt;
  }
  /// call_async_loaned's: true when the call was taken (written in place, or refused with
  /// `done` failed later); false: `write` has not run and `done` is intact. Default: false.
  virtual bool start_call_loaned_here(CallId /*id*/, std::string_view /*method*/,
                                      std::size_t /*size*/, const PayloadWriter& /*write*/,
                                      CallOptions& /*options*/, CallCallback& /*done*/) {
    return false;
  }
  /// Runs `done` with `error` later on an I/O thread (never inside the caller's call).
  virtual void fail_later(CallCallback&& done, Error error) = 0;

 private:
  // call()'s way through the I/O thread: hands the call over and waits for its completion.
  Result<std::string> call_through_io_thread(std::string_view method, std::string&& payload,
                                             CallOptions&& options);
};

/// A handle to one live session (for example the client behind a server-side call). Copyable and
/// cheap; calls on a closed session fail with unavailable.
/// Threading: every method is safe from any thread; completions run on the session's I/O thread.
class PLEXUS_EXPORT Peer final : public Caller {
 public:
  /// An empty handle, bound to no session: calls fail with unavailable.
  Peer() = default;
  /// A handle to `session`. Made by plexus (CallContext::peer, Server::peers, Client::peer).
  explicit Peer(std::weak_ptr<rpc::Session> session);

  /// True while the session is open and its handshake is done.
  bool connected() const;
  /// Who is on the other side; empty once the session is gone.
  PeerIdentity identity() const;
  /// The largest payload the peer accepts; 0 once the session is gone.
  std::uint32_t peer_max_message_size() const override;
  /// Sends GOAWAY with `reason` (status unavailable) and closes once written. Does nothing when
  /// the session is gone.
  void disconnect(const std::string& reason);

 protected:
  CallId next_call_id() override;
  void start_call(CallId id, std::string_view method, std::string&& payload, CallOptions&& options,
                  CallCallback&& done) override;
  void cancel_call(CallId id) override;
  Result<void> start_notify(std::string method, std::string payload,
                            const SendOptions& options) override;
  bool on_io_thread() const override;
  Stream start_stream(std::string method, std::string payload, StreamOptions options) override;
  Result<void> send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                            std::string_view payload, const SendOptions& options) override;
  std::unique_ptr<Caller> copy_for_lane() const override { return std::make_unique<Peer>(*this); }
  std::string outgoing_trace() const override;
  void fail_later(CallCallback&& done, Error error) override;

 private:
  friend class CallContext;
  std::weak_ptr<rpc::Session> session_;
  asio::any_io_executor executor_;  // the session's, kept to answer after it is gone
  // CallContext::peer(): the handler's trace, continued by what this handle sends even where
  // the handler's thread-local trace does not reach (a coroutine after its first suspension).
  std::string trace_;
};

}  // namespace plexus
