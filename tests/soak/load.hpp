// The soak's load, all of it at once against the one server: each run_* function is the body of
// one thread and returns once the tally says stop.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <plexus/plexus.hpp>

#include "payloads.hpp"
#include "tally.hpp"

namespace plexus::soak {

struct LoadContext {
  std::string address;
  Runtime& runtime;
  Tally& tally;
  const PayloadPool& pool;
  std::uint64_t seed;
};

// Blocking calls on one connection: echo of 1 B..64 KiB (most), pipelined bursts of echoes,
// and the other demo methods with their answers and errors checked.
void run_caller(const LoadContext& load, int index);
// Streams from count_stream read to their end, or cancelled midway, on one connection.
void run_streamer(const LoadContext& load, int index);
// Connect, a few calls (and now and then a subscription or a stream left open), close; again.
void run_reconnector(const LoadContext& load, int index);
// Publishes to soak.pub.* on one connection, to subscribers on two others that check every
// message; at the end, that the newest message arrived.
void run_pubsub(const LoadContext& load);
// Subscribes and unsubscribes in a loop, with varied patterns and queue options.
void run_subscription_churn(const LoadContext& load);

// Shared by the files above.
// A client with no automatic reconnect: a connection the server drops shows as an error instead
// of being mended quietly. nullptr once the failure is reported to the tally.
std::unique_ptr<Client> connect_client(const LoadContext& load, const std::string& name);
// Empty when `answer` is `sent`; else what differs, for the failure report.
std::string echo_mismatch(std::string_view sent, std::string_view answer);
// The next read of `stream`, or nullopt when it did not complete within `timeout` (a stall; the
// blocking Stream::read has no deadline).
std::optional<Result<std::optional<std::string>>> read_within(Stream& stream, Millis timeout);

}  // namespace plexus::soak
