// Runs a test once per stream transport: the child server listens on a fresh Unix path or on
// TCP port 0, and the test connects to the address it reports.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_kit.hpp"

namespace plexus::test {

enum class Transport { unix_socket, tcp };

inline std::string transport_name(const ::testing::TestParamInfo<Transport>& info) {
  return info.param == Transport::unix_socket ? "unix" : "tcp";
}

// The --listen argument for a fresh address of `transport`.
inline std::string listen_address(Transport transport, const TempDir& dir,
                                  const std::string& name = "s.sock") {
  return transport == Transport::unix_socket ? dir.unix_address(name) : "tcp://127.0.0.1:0";
}

#define PLEXUS_ALL_TRANSPORTS(Suite)                                                             \
  INSTANTIATE_TEST_SUITE_P(                                                                      \
      Transports, Suite,                                                                         \
      ::testing::Values(::plexus::test::Transport::unix_socket, ::plexus::test::Transport::tcp), \
      ::plexus::test::transport_name)

}  // namespace plexus::test
