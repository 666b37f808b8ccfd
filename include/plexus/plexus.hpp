/// \file
/// The whole public API of plexus in one include.
#pragma once

/// \namespace plexus
/// The plexus public API: Runtime, Server, Client and Peer, the call vocabulary, pub/sub,
/// streams, lanes, channels and direct channels.

// Asio's coroutine vocabulary, for co_await client.async_call(…, asio::use_awaitable).
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "plexus/acked.hpp"
#include "plexus/bus.hpp"
#include "plexus/call.hpp"
#include "plexus/caller.hpp"
#include "plexus/channel.hpp"
#include "plexus/client.hpp"
#include "plexus/coalesce.hpp"
#include "plexus/completion_queue.hpp"
#include "plexus/direct.hpp"
#include "plexus/durable.hpp"
#include "plexus/generator.hpp"
#include "plexus/handlers.hpp"
#include "plexus/lane.hpp"
#include "plexus/log.hpp"
#include "plexus/method.hpp"
#include "plexus/nats_bridge.hpp"
#include "plexus/pubsub.hpp"
#include "plexus/queue.hpp"
#include "plexus/runtime.hpp"
#include "plexus/server.hpp"
#include "plexus/spool.hpp"
#include "plexus/status.hpp"
#include "plexus/stream.hpp"
#include "plexus/stream_items.hpp"
#include "plexus/tls.hpp"
#include "plexus/trace.hpp"
#include "plexus/version.hpp"
