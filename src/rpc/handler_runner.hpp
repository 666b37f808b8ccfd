// Runs a handler of any shape — synchronous, asynchronous (Responder) or coroutine — and turns
// whatever it throws into `internal` for that one call. The one place that does so: calls,
// notifications, lane messages and the policy chain all run their handlers through it.
//
// Threading: on the executor the handler is meant to run on (the session's strand).
#pragma once

#include <memory>
#include <string_view>

#include <asio/any_io_executor.hpp>

#include "plexus/call.hpp"
#include "rpc/inbound_calls.hpp"

namespace plexus::rpc {

// A synchronous handler's answer, or internal with what it threw.
Result<std::string> run_sync_handler(const SyncHandler& handler, CallContext& ctx,
                                     std::string_view payload) noexcept;

// Starts an asynchronous or coroutine handler (`async` or `coro`, exactly one non-null) with
// `ctx` (which must outlive it: usually call->ctx) for `call`; its answer (or internal with what it
// threw, at once or from the coroutine) goes to call->reply. The coroutine runs on `executor`.
void start_handler(const AsyncHandler* async, const CoroHandler* coro, CallContext& ctx,
                   const std::shared_ptr<InboundCall>& call, std::string_view payload,
                   const asio::any_io_executor& executor) noexcept;

// The error a handler's exception becomes.
Error handler_exception_error(std::exception_ptr error);

}  // namespace plexus::rpc
