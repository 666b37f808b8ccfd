#include "rpc/handler_runner.hpp"

#include <exception>

#include <asio/co_spawn.hpp>

#include "rpc/trace.hpp"

namespace plexus::rpc {

Error handler_exception_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return Error{StatusCode::internal, std::string("handler threw: ") + e.what(), {}};
  } catch (...) {
    return Error{StatusCode::internal, "handler threw a non-standard exception", {}};
  }
}

Result<std::string> run_sync_handler(const SyncHandler& handler, CallContext& ctx,
                                     std::string_view payload) noexcept {
  const trace::Scope scope(ctx);
  try {
    return handler(ctx, payload);
  } catch (...) {
    return tl::unexpected(handler_exception_error(std::current_exception()));
  }
}

void start_handler(const AsyncHandler* async, const CoroHandler* coro, CallContext& ctx,
                   const std::shared_ptr<InboundCall>& call, std::string_view payload,
                   const asio::any_io_executor& executor) noexcept {
  // Covers an asynchronous handler's own run and a coroutine's start; a coroutine resumed later
  // passes its trace on through ctx.peer() or CallOptions::trace_id (plexus/trace.hpp).
  const trace::Scope scope(ctx);
  try {
    if (async) {
      // A handler that throws has dropped its Responder while unwinding, which answered
      // internal already; the reply below is then ignored.
      (*async)(ctx, payload, Responder(call));
      return;
    }
    asio::co_spawn(executor, (*coro)(ctx, std::string(payload)),
                   [call](std::exception_ptr ep, Result<std::string> r) {
                     if (ep) r = tl::unexpected(handler_exception_error(ep));
                     call->reply(std::move(r));
                   });
  } catch (...) {
    call->reply(tl::unexpected(handler_exception_error(std::current_exception())));
  }
}

}  // namespace plexus::rpc
