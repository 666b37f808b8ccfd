// Runs a test once per transport: the child server listens on a fresh Unix path (plain, or
// accepting the shared-memory upgrade with `?shm=1`) or on TCP port 0, and the test connects to
// the address it reports (which carries `?shm=1`, so the client asks for the upgrade). Over
// exec, each client spawns the server itself as its helper (exec://…?arg=--listen&arg=
// inherited:; ServerProcess over exec in test_kit.hpp): one client per server process, and a
// reconnect starts a new one.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_kit.hpp"

namespace plexus::test {

enum class Transport { unix_socket, tcp, shm, exec };

inline std::string transport_name(const ::testing::TestParamInfo<Transport>& info) {
  switch (info.param) {
    case Transport::unix_socket:
      return "unix";
    case Transport::tcp:
      return "tcp";
    case Transport::shm:
      return "shm";
    case Transport::exec:
      return "exec";
  }
  return "?";
}

// The --listen argument for a fresh address of `transport`.
inline std::string listen_address(Transport transport, const TempDir& dir,
                                  const std::string& name = "s.sock") {
  switch (transport) {
    case Transport::unix_socket:
      return dir.unix_address(name);
    case Transport::tcp:
      return "tcp://127.0.0.1:0";
    case Transport::shm:
      return dir.unix_address(name) + "?shm=1";
    case Transport::exec:
      return kExecHelperListen + dir.file(name);  // for ServerProcess::spawn only
  }
  return {};
}

// In a test of a suite run over every transport: skips it over exec, saying why the scenario
// does not exist there (`why` completes "over exec: ").
#define PLEXUS_SKIP_OVER_EXEC(why)                     \
  if (GetParam() == ::plexus::test::Transport::exec) { \
    GTEST_SKIP() << "over exec: " << why;              \
  }

#define PLEXUS_ALL_TRANSPORTS(Suite)                                                            \
  INSTANTIATE_TEST_SUITE_P(                                                                     \
      Transports, Suite,                                                                        \
      ::testing::Values(::plexus::test::Transport::unix_socket, ::plexus::test::Transport::tcp, \
                        ::plexus::test::Transport::shm, ::plexus::test::Transport::exec),       \
      ::plexus::test::transport_name)

}  // namespace plexus::test
