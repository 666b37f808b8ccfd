// Child-process helpers. exec:///abs/path?arg=…&env=K=V (dial only) starts the helper with one
// end of a socket pair as its fd 3 and PLEXUS_INHERITED_FD=3, and speaks plexus over the other
// end; inherited: (listen only) is the helper's side, one connection made of that fd.
//
// The helper's stdout and stderr go, a line at a time, to the helper output sink (the api layer
// sends them to plexus's log: transport/ has no observe/). When the helper exits, its
// connection closes with unavailable "helper exited with status N" (details {"exit_status":N})
// or "helper killed by signal S (SIGKILL)" (details {"signal":S}), which the calls in flight
// fail with. When the connection closes first (the client closes it, or the socket fails), the
// helper is ended: SIGTERM, kStopGrace for it to exit, then SIGKILL; it is always reaped. The
// connection's credentials name the helper's pid (SO_PEERCRED of the pair would name this one).
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "transport/exec/helper_process.hpp"
#include "transport/registry.hpp"
#include "transport/socket_upgrade.hpp"

namespace plexus::transport::exec {

// After the socket reports the helper gone, how long its exit status is waited for (the pidfd
// usually turns readable right after the socket's EOF); after the helper exits, how long the
// socket's EOF is waited for (what the helper wrote before exiting is still read).
inline constexpr std::chrono::milliseconds kExitWait{1000};

// exec:///abs/path[?arg=A&arg=B&env=K=V]: dial only. The path must be absolute; `arg` (in
// order) are the helper's arguments after argv[0], `env` adds or replaces a variable of the
// helper's environment (otherwise the parent's). Values are percent-decoded (%26 is `&`, %20 a
// space). `upgrade` reads the shm options (shm=1, shm_…) as for a Unix address and the dialer
// asks for what it returns, right after the spawn. Any other option, a relative or empty path:
// invalid_argument. A missing or non-executable file: unavailable "cannot execute helper PATH:
// No such file or directory".
Transport exec_transport(SocketUpgradeFactory upgrade);

// inherited:[?shm=1] (listen only): hands out exactly one connection, made of the connected Unix
// stream socket PLEXUS_INHERITED_FD names; with ?shm=1 it grants the upgrade `upgrade` reads,
// otherwise refuses a request for it. Unset, or naming anything else: failed_precondition.
Transport inherited_transport(SocketUpgradeFactory upgrade);

}  // namespace plexus::transport::exec
