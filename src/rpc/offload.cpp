#include "rpc/offload.hpp"

#include <memory>
#include <string>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "rpc/handler_runner.hpp"
#include "rpc/session.hpp"

namespace plexus::rpc {

namespace {

Error session_gone() {
  return {StatusCode::unavailable, "the connection closed", {}};
}

// Runs `work` on the worker the call is meant for, keeping its session (whose peer identity the
// handler's context points at) alive until the work is done; the session is let go on its own
// executor, since its last owner must not be a worker thread.
template <typename Work>
bool post_to_worker(const CallContext& ctx, Work work) {
  auto target = Session::worker_target(ctx);
  if (!target.session) return false;
  asio::post(target.executor,
             [work = std::move(work), session = std::move(target.session)]() mutable {
               work();
               const auto executor = session->executor();
               asio::post(executor, [session = std::move(session)] {});
             });
  return true;
}

Error cancelled_before_start() {
  return {StatusCode::cancelled, "call cancelled before a worker took it up", {}};
}

// What the synchronous and asynchronous forms share: the payload copied (its bytes belong to the
// frame, gone once the wrapper returns), then on a worker a call cancelled while it waited is
// answered without running, and any other runs `run(ctx, payload, responder)`. When the job
// cannot be posted (the session is gone), its Responder answers internal.
template <typename Run>
AsyncHandler on_worker(Run run) {
  return [run = std::move(run)](CallContext& ctx, std::string_view payload, Responder responder) {
    (void)post_to_worker(ctx, [run, &ctx, payload = std::string(payload),
                               responder = std::move(responder)]() mutable {
      if (ctx.cancelled()) {
        responder.reply(tl::unexpected(cancelled_before_start()));
        return;
      }
      run(ctx, std::string_view(payload), responder);
    });
  };
}

}  // namespace

AsyncHandler offload(SyncHandler handler) {
  auto shared = std::make_shared<const SyncHandler>(std::move(handler));
  return on_worker([shared](CallContext& ctx, std::string_view payload, Responder& responder) {
    responder.reply(run_sync_handler(*shared, ctx, payload));
  });
}

AsyncHandler offload(AsyncHandler handler) {
  auto shared = std::make_shared<const AsyncHandler>(std::move(handler));
  return on_worker([shared](CallContext& ctx, std::string_view payload, Responder& responder) {
    try {
      (*shared)(ctx, payload, std::move(responder));
    } catch (...) {
      // Unwinding dropped the Responder, which answered internal already; this only tells
      // what was thrown, if the Responder is still here.
      responder.reply(tl::unexpected(handler_exception_error(std::current_exception())));
    }
  });
}

AsyncHandler offload(CoroHandler handler) {
  auto shared = std::make_shared<const CoroHandler>(std::move(handler));
  return [shared](CallContext& ctx, std::string_view payload, Responder responder) {
    auto target = Session::worker_target(ctx);
    if (!target.session) {
      responder.reply(tl::unexpected(session_gone()));
      return;
    }
    auto call = std::make_shared<Responder>(std::move(responder));
    try {
      asio::co_spawn(target.executor, (*shared)(ctx, std::string(payload)),
                     [call, session = std::move(target.session)](std::exception_ptr ep,
                                                                 Result<std::string> r) mutable {
                       if (ep) r = tl::unexpected(handler_exception_error(ep));
                       call->reply(std::move(r));
                       const auto executor = session->executor();
                       asio::post(executor, [session = std::move(session)] {});
                     });
    } catch (...) {
      call->reply(tl::unexpected(handler_exception_error(std::current_exception())));
    }
  };
}

namespace {

// The stream handler's own coroutine, spawned on the pool; the session's coroutine waits for it.
asio::awaitable<Result<std::string>> run_stream_on_workers(
    std::shared_ptr<const StreamHandler> handler, CallContext& ctx, std::string payload,
    Stream stream) {
  auto target = Session::worker_target(ctx);
  if (!target.session) co_return tl::unexpected(session_gone());
  co_return co_await asio::co_spawn(
      target.executor, (*handler)(ctx, std::move(payload), std::move(stream)), asio::use_awaitable);
}

}  // namespace

StreamHandler offload(StreamHandler handler) {
  auto shared = std::make_shared<const StreamHandler>(std::move(handler));
  return [shared](CallContext& ctx, std::string payload, Stream stream) {
    return run_stream_on_workers(shared, ctx, std::move(payload), std::move(stream));
  };
}

}  // namespace plexus::rpc
