/// \file
/// The vocabulary of one call: options a caller sets, the completion it gets, the context a
/// handler sees, the responder an asynchronous handler answers through, and the handler
/// signatures.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "plexus/export.hpp"
#include "plexus/status.hpp"

namespace plexus {

namespace rpc {
class Session;
struct InboundCall;
struct AnswerLoan;
}  // namespace rpc

class Peer;

/// Identifies one call on its session; Caller::cancel() takes it.
using CallId = std::uint64_t;
/// Durations in plexus options: milliseconds.
using Millis = std::chrono::milliseconds;

/// What the callee said about an answer, from the RESPONSE frame's metadata (docs/PROTOCOL.md
/// §4.2, keys 20..22): whether its response cache answered, the entry's age, and how long the
/// handler ran (on a hit: when the entry was made). Empty for callees without policies.
struct PLEXUS_EXPORT ResponseInfo {
  /// The callee's response cache for this answer (metadata key 20, `cache_status`).
  enum class Cache : std::uint8_t {
    none = 0,  ///< Not reported: the callee has no response cache for the method.
    miss = 1,  ///< The handler ran (and its answer may have been stored).
    hit = 2    ///< Answered from the cache; the handler did not run.
  };
  Cache cache = Cache::none;  ///< Whether the callee's cache answered.
  /// On a hit: the age of the cached answer (key 21).
  std::optional<std::chrono::microseconds> cache_age;
  /// How long the handler ran (key 22); on a hit: when the entry was made.
  std::optional<std::chrono::microseconds> handler_time;
};

/// Per-call options for every call form (Caller::call, call_async, async_call, typed calls).
/// A plain value; copied into the call.
struct PLEXUS_EXPORT CallOptions {
  /// The deadline travels in the frame: the callee sees it and stops; the caller fails the call
  /// with deadline_exceeded when it passes and tells the callee to cancel.
  std::optional<Millis> timeout;
  /// While disconnected: fail at once with unavailable (false) or wait for the connection up to
  /// the deadline (true). Unset: the client's default (ClientOptions::wait_for_ready).
  std::optional<bool> wait_for_ready;
  /// The call's trace: a W3C traceparent ("00-<trace id>-<parent id>-<flags>") or any other id
  /// (<= 64 bytes, carried unchanged); shown in both peers' logs. Empty: inside a handler (or a
  /// TraceScope) a child of the current trace, so traces cross hops by themselves; otherwise
  /// none, and the callee draws one. A longer one fails the call with invalid_argument.
  std::string trace_id;
  /// Out-parameter: when set, filled from the RESPONSE's metadata before the call completes.
  /// Borrowed: must outlive the call (a local for blocking calls). Left untouched on errors.
  ResponseInfo* response_info = nullptr;
  /// Answers without a copy (Caller::call_async_view sets it): when set, a successful call
  /// completes with an empty string and then the answer is handed to this as a view, on the I/O
  /// thread, valid only while it runs. Over shared memory an answer of 16 KiB or more is the
  /// bytes where they lie in the ring, never copied on this side. With the blocking forms
  /// (Caller::call, call_loaned) it runs before they return: on the calling thread when that
  /// thread read the answer in the ring itself (any size, no copy) or the I/O thread handed it
  /// over (then a copy), else on the I/O thread while the caller waits; an exception from it
  /// on the calling thread leaves the call. Copied with the options: keep its captures cheap.
  std::function<void(std::string_view)> answer_view;
  /// Makes the call an acknowledged message (docs/PROTOCOL.md §22.1; Caller::send_acked sets
  /// it): the id, at most 128 bytes, travels with the request, and a receiver that handled that
  /// id before answers at once without running the handler again. Empty: a plain call.
  std::string message_id;
};

/// Who is on the other side of a session: the name from its HELLO (a label the peer chose),
/// and what this side verified itself: for Unix sockets (and shared memory over them) the
/// kernel's credentials at connect time, for TCP the remote host.
struct PLEXUS_EXPORT PeerIdentity {
  std::string name;                  ///< The name the peer gave in its HELLO (not verified).
  std::optional<std::int32_t> pid;   ///< The peer's process id (Unix sockets only).
  std::optional<std::uint32_t> uid;  ///< The peer's user id (Unix sockets only).
  std::optional<std::uint32_t> gid;  ///< The peer's group id (Unix sockets only).
  /// The peer's supplementary groups (/proc/PID/status at connect time, Unix sockets only).
  std::vector<std::uint32_t> groups;
  /// The peer's executable (/proc/PID/exe, Unix sockets only); empty when this process may not
  /// read it (another user's process, unless this one is privileged) or the peer is gone.
  std::string executable;
  std::string host;     ///< The peer's IP address (TCP only).
  std::string address;  ///< the transport's description of the connection
  /// Who a verified token says the peer is (its "sub"); empty when it presented none.
  std::string subject;
  std::vector<std::string> scopes;  ///< the verified token's scopes
  /// The subject of the client certificate verified over mutual TLS (RFC 2253 form,
  /// "CN=alice,O=Example"); empty otherwise.
  std::string certificate;
  /// The verified part as one key: "sub:NAME" with a token, else "cert:SUBJECT" with a client
  /// certificate verified over mutual TLS, "uid:N" over Unix sockets, "host:IP" over TCP, empty
  /// where nothing is verified (an in-process connection). What per-client limits key on by
  /// default.
  std::string verified_key() const;
};

/// What a handler knows about the call it serves. Owned by plexus; valid until the handler
/// answers (synchronous handlers: until they return). Its methods may be called from the
/// thread the handler runs on: the I/O thread, or a worker (HandlerOptions::offload).
class PLEXUS_EXPORT CallContext {
 public:
  /// The method name the caller called.
  std::string_view method() const { return method_; }
  /// The call's id on its session.
  CallId id() const { return id_; }
  /// Who made the call (the session's peer).
  const PeerIdentity& peer_identity() const { return *identity_; }
  /// The call's trace (CallOptions::trace_id): the caller's, or a W3C traceparent drawn here
  /// when it sent none. Calls, notifications, publishes, streams and lanes the handler starts
  /// carry a child of it (plexus/trace.hpp).
  std::string_view trace_id() const;
  /// The id of an acknowledged message (Caller::send_acked), the same on every resend of it;
  /// empty for a plain call or a notify.
  std::string_view message_id() const { return message_id_; }
  /// When the caller stops waiting; nullopt if it set no timeout.
  std::optional<std::chrono::steady_clock::time_point> deadline() const { return deadline_; }
  /// True once the caller cancelled, the deadline passed or the connection was lost.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  /// Runs `fn` on the I/O thread when the call is cancelled (at once, on the calling thread, if
  /// it already is). Any thread.
  void on_cancel(std::function<void()> fn);
  /// A handle to call back into the caller over the same connection (sessions are symmetric).
  Peer peer() const;
  /// The serial executor this call's session runs on: timers and async work a handler
  /// starts on it need no locking against the session.
  asio::any_io_executor io_executor() const { return executor_; }
  /// A loaned region for the answer (synchronous handlers of calls, registered without offload
  /// or policies; null elsewhere, or past the caller's message limit): write the answer there,
  /// call commit_answer(used) and return an empty string. Over shared memory the region is the
  /// outbound ring itself when it has room at once, so the answer is never copied as a whole
  /// (the handler's writing it is its one copy); elsewhere it is a buffer the session sends.
  /// Valid until the handler returns; one per call. Frames the handler sends while it holds the
  /// region keep their order: the answer follows them (copied then).
  char* loan_answer(std::size_t size);
  /// The answer is the first `used` bytes (at most the loaned size) of the loaned region; what
  /// the handler returns is then ignored unless it is an error.
  void commit_answer(std::size_t used);

 private:
  friend class rpc::Session;
  friend struct rpc::InboundCall;
  void cancel();

  std::string method_;
  CallId id_ = 0;
  const PeerIdentity* identity_ = nullptr;
  mutable std::string trace_id_;  // drawn by trace_id() when the caller sent none
  std::string message_id_;        // an acknowledged message's id; empty otherwise
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::atomic<bool> cancelled_{false};
  std::mutex on_cancel_mu_;  // an offloaded handler adds hooks on a worker while cancel() runs
  std::function<void()> on_cancel_;  // guarded by on_cancel_mu_ (the session's reset needs none)
  std::weak_ptr<rpc::Session> session_;
  asio::any_io_executor executor_;
  rpc::AnswerLoan* loan_ = nullptr;  // set by the session while a synchronous handler runs
};

/// Answers one asynchronous call, exactly once. Move-only; may be used from any thread.
/// Dropping it unanswered fails the call with `internal` so a caller never waits forever.
class PLEXUS_EXPORT Responder {
 public:
  /// An empty responder: answers nothing.
  Responder() = default;
  /// Made by plexus for each call to an AsyncHandler.
  explicit Responder(std::shared_ptr<rpc::InboundCall> call) : call_(std::move(call)) {}
  /// Takes over `other`'s call; `other` becomes empty.
  Responder(Responder&&) noexcept = default;
  /// Takes over `other`'s call; a call this one still held fails with `internal`.
  Responder& operator=(Responder&&) noexcept;
  Responder(const Responder&) = delete;             ///< move-only: a call is answered once
  Responder& operator=(const Responder&) = delete;  ///< move-only: a call is answered once
  /// Fails the call with `internal` if it was not answered.
  ~Responder();

  /// Sends the answer (a value or an error) and empties the responder; later calls do nothing.
  void reply(Result<std::string> result);
  /// True while it holds a call not yet answered.
  explicit operator bool() const { return call_ != nullptr; }

 private:
  std::shared_ptr<rpc::InboundCall> call_;
};

/// The code that writes a request's payload into a loaned region (Caller::call_loaned): called
/// once, on the calling thread, with a region of the size asked for; returns how many of its
/// bytes the payload uses. A non-owning reference: it refers to the callable it was made from,
/// so it is valid only during the call it is passed to (a lambda written in that call is).
class PayloadWriter {
 public:
  /// Refers to `write`, any callable taking the region and returning the bytes used; it must
  /// outlive this reference.
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, PayloadWriter> &&
           std::is_invocable_r_v<std::size_t, F&, std::span<char>>)
      PayloadWriter(F&& write)  // NOLINT(google-explicit-constructor): lambdas convert
      : target_(const_cast<void*>(static_cast<const void*>(std::addressof(write)))),
        thunk_([](void* target, std::span<char> region) -> std::size_t {
          return (*static_cast<std::remove_reference_t<F>*>(target))(region);
        }) {}
  /// Runs the writer on `region`; returns the bytes it used.
  std::size_t operator()(std::span<char> region) const { return thunk_(target_, region); }

 private:
  void* target_;
  std::size_t (*thunk_)(void*, std::span<char>);
};

/// A call's completion (Caller::call_async): the answer or the error, exactly once.
using CallCallback = std::function<void(Result<std::string>)>;
/// The answer as a view, valid only while the callback runs (Caller::call_async_view).
using CallViewCallback = std::function<void(Result<std::string_view>)>;

/// Synchronous handler: runs on the I/O thread and returns the answer (the fastest path).
/// A handler that throws fails that one call with `internal`.
using SyncHandler = std::function<Result<std::string>(CallContext&, std::string_view payload)>;
/// Asynchronous handler: answers later through the Responder (timers, other calls, worker
/// threads). A handler that throws fails that one call with `internal`.
using AsyncHandler = std::function<void(CallContext&, std::string_view payload, Responder)>;
/// Coroutine handler: co_awaits whatever it needs on the I/O thread and co_returns the answer.
/// A handler that throws fails that one call with `internal`.
using CoroHandler =
    std::function<asio::awaitable<Result<std::string>>(CallContext&, std::string payload)>;

}  // namespace plexus
