// Measurement loops shared by all cases, so every transport is timed the
// same way and a case only supplies "how to do one call".
#pragma once

#include "rr_case.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace plexus_bench {

// Runs params.warmup_count untimed calls, then params.rt_count timed ones.
// `call` performs one complete request/response round trip.
std::vector<double> time_round_trips(const RrParams& params, const std::function<void()>& call);

// Issues `count` requests keeping at most `window` outstanding: send_one
// queues one request, recv_one blocks until one reply arrived. Replies may
// complete in any order. Returns elapsed seconds.
double time_windowed(std::uint64_t count, std::uint32_t window,
                     const std::function<void()>& send_one, const std::function<void()>& recv_one);

// Fallback for transports without pipelining: `count` back-to-back calls.
// Returns elapsed seconds.
double time_sequential(std::uint64_t count, const std::function<void()>& call);

}  // namespace plexus_bench
