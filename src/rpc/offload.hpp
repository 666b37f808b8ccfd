// HandlerOptions::offload: each handler form wrapped so that its body runs on the runtime's
// worker pool (rpc/worker_pool.hpp) instead of the I/O thread. The wrapper is what the session,
// the policy chain and lanes see, so policies still run first, on the I/O thread, and only the
// handler itself moves. Its answer goes back through the call's Responder (any thread), and
// cancel and deadlines reach it through its CallContext (cancelled(), on_cancel()).
//
// Calls run at once on any worker; a session's notifications and lane messages run one at a
// time, in the order they came (Session::worker_target). A call cancelled before a worker took
// it up is answered `cancelled` without running.
#pragma once

#include "plexus/call.hpp"
#include "plexus/stream.hpp"

namespace plexus::rpc {

// A synchronous handler becomes an asynchronous one whose body runs on a worker.
AsyncHandler offload(SyncHandler handler);
// An asynchronous handler is started on a worker (it may answer from any thread, as ever).
AsyncHandler offload(AsyncHandler handler);
// A coroutine handler runs on the pool: it may block between its co_awaits.
AsyncHandler offload(CoroHandler handler);
// A stream handler's coroutine runs on the pool; it may also use Stream's blocking forms.
StreamHandler offload(StreamHandler handler);

}  // namespace plexus::rpc
