// The soak itself: the server, the load, the samples, the verdict.
#pragma once

#include "soak_options.hpp"

namespace plexus::soak {

// 0 when the server passed; 1 when it grew or failed; 130 when interrupted (SIGINT/SIGTERM)
// before anything failed. Kills and reaps the server and every client process before returning.
int run_soak(Options options);

}  // namespace plexus::soak
