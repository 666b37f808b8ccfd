// The vocabulary of one call: options a caller sets, the completion it gets, the context a
// handler sees, the responder an asynchronous handler answers through, and the handler
// signatures.
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
#include <asio/awaitable.hpp>

#include "plexus/status.hpp"

namespace plexus {

namespace rpc {
class Session;
struct InboundCall;
}  // namespace rpc

class Peer;

using CallId = std::uint64_t;
using Millis = std::chrono::milliseconds;

// What the callee said about an answer, from the RESPONSE frame's metadata (docs/PROTOCOL.md
// §4.2, keys 20..22): whether its response cache answered, the entry's age, and how long the
// handler ran (on a hit: when the entry was made). Empty for callees without policies.
struct ResponseInfo {
  enum class Cache : std::uint8_t { none = 0, miss = 1, hit = 2 };
  Cache cache = Cache::none;
  std::optional<std::chrono::microseconds> cache_age;
  std::optional<std::chrono::microseconds> handler_time;
};

struct CallOptions {
  // The deadline travels in the frame: the callee sees it and stops; the caller fails the call
  // with deadline_exceeded when it passes and tells the callee to cancel.
  std::optional<Millis> timeout;
  // While disconnected: fail at once with unavailable (false) or wait for the connection up to
  // the deadline (true). Unset: the client's default (ClientOptions::wait_for_ready).
  std::optional<bool> wait_for_ready;
  // Carried to the callee unchanged (<= 64 bytes) and shown in both peers' logs.
  std::string trace_id;
  // Out-parameter: when set, filled from the RESPONSE's metadata before the call completes.
  // Borrowed: must outlive the call (a local for blocking calls). Left untouched on errors.
  ResponseInfo* response_info = nullptr;
  // Answers without a copy (Caller::call_async_view sets it): when set, a successful call
  // completes with an empty string and then the answer is handed to this as a view, on the I/O
  // thread, valid only while it runs. Over shared memory an answer of 16 KiB or more is the
  // bytes where they lie in the ring, never copied on this side. Copied with the options:
  // keep its captures cheap.
  std::function<void(std::string_view)> answer_view;
};

// Who is on the other side of a session: the name from its HELLO, and for Unix sockets the
// kernel-verified credentials.
struct PeerIdentity {
  std::string name;
  std::optional<std::int32_t> pid;
  std::optional<std::uint32_t> uid;
  std::string address;  // the transport's description of the connection
};

// What a handler knows about the call it serves. Owned by plexus; valid until the handler
// answers (synchronous handlers: until they return). Methods are called on the I/O thread.
class CallContext {
 public:
  std::string_view method() const { return method_; }
  CallId id() const { return id_; }
  const PeerIdentity& peer_identity() const { return *identity_; }
  std::string_view trace_id() const { return trace_id_; }
  // When the caller stops waiting; nullopt if it set no timeout.
  std::optional<std::chrono::steady_clock::time_point> deadline() const { return deadline_; }
  // True once the caller cancelled, the deadline passed or the connection was lost.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Runs `fn` on the I/O thread when the call is cancelled (at once if it already is).
  void on_cancel(std::function<void()> fn);
  // A handle to call back into the caller over the same connection (sessions are symmetric).
  Peer peer() const;
  // The serial executor this call's session runs on: timers and async work a handler
  // starts on it need no locking against the session.
  asio::any_io_executor io_executor() const { return executor_; }

 private:
  friend class rpc::Session;
  friend struct rpc::InboundCall;
  void cancel();

  std::string method_;
  CallId id_ = 0;
  const PeerIdentity* identity_ = nullptr;
  std::string trace_id_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::atomic<bool> cancelled_{false};
  std::function<void()> on_cancel_;
  std::weak_ptr<rpc::Session> session_;
  asio::any_io_executor executor_;
};

// Answers one asynchronous call, exactly once. Move-only; may be used from any thread.
// Dropping it unanswered fails the call with `internal` so a caller never waits forever.
class Responder {
 public:
  Responder() = default;
  explicit Responder(std::shared_ptr<rpc::InboundCall> call) : call_(std::move(call)) {}
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) noexcept;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  void reply(Result<std::string> result);
  explicit operator bool() const { return call_ != nullptr; }

 private:
  std::shared_ptr<rpc::InboundCall> call_;
};

// A call's completion (Caller::call_async): the answer or the error, exactly once.
using CallCallback = std::function<void(Result<std::string>)>;
// The answer as a view, valid only while the callback runs.
using CallViewCallback = std::function<void(Result<std::string_view>)>;

// Handler shapes. A handler that throws fails that one call with `internal`.
// Synchronous: runs on the I/O thread and returns the answer (the fastest path).
using SyncHandler = std::function<Result<std::string>(CallContext&, std::string_view payload)>;
// Asynchronous: answers later through the Responder (timers, other calls, worker threads).
using AsyncHandler = std::function<void(CallContext&, std::string_view payload, Responder)>;
// Coroutine: co_awaits whatever it needs on the I/O thread and co_returns the answer.
using CoroHandler =
    std::function<asio::awaitable<Result<std::string>>(CallContext&, std::string payload)>;

}  // namespace plexus
