// The whole public API of plexus in one include.
#pragma once

#include "plexus/call.hpp"
#include "plexus/caller.hpp"
#include "plexus/client.hpp"
#include "plexus/handlers.hpp"
#include "plexus/method.hpp"
#include "plexus/runtime.hpp"
#include "plexus/server.hpp"
#include "plexus/status.hpp"
