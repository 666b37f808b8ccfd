// Client processes killed at random: copies of this program (run_child) that connect and call,
// subscribe, stream or publish in a loop until the soak SIGKILLs them, in the middle of whatever
// they do. The server must let go of each one's connection, calls, streams and subscriptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "load.hpp"

namespace plexus::soak {

struct ChildPlan {
  int max_alive = 3;       // client processes at once
  int max_total = 10'000;  // started over the whole run: bounded even when the run is long
  std::chrono::milliseconds min_life{100};
  std::chrono::milliseconds max_life{3000};
  std::chrono::milliseconds max_respawn_delay{500};  // between a kill and the next start
};

// The parent side: the body of one thread, which starts, kills and reaps every child (they die
// with that thread too: spawn_process). Returns once the tally says stop and every child it
// started is reaped. A child that ends by itself has met something unexpected (its stderr says
// what): the soak fails.
void run_child_chaos(const LoadContext& load, const ChildPlan& plan, const std::string& executable);

// The child side (`plexus_soak --child MODE …`): runs `mode` ("caller", "subscriber",
// "streamer", "publisher") against `address` until killed. Exits only on a failure, with a
// nonzero status and a line on stderr.
int run_child(const std::string& mode, const std::string& address, std::uint64_t seed,
              std::uint64_t index);

}  // namespace plexus::soak
