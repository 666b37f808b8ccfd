// Connecting a test client: one place for "connect, and fail the test with the reason if not".
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "plexus/client.hpp"

namespace plexus::test {

// Connects to `address` with `options` (its address is overwritten). Records a test failure
// with the error and returns null when the connection fails.
inline std::unique_ptr<Client> connect_client(Runtime& runtime, const std::string& address,
                                              ClientOptions options = {}) {
  options.address = address;
  auto client = Client::connect(runtime, options);
  EXPECT_TRUE(client) << "connect to " << address << ": " << client.error().to_string();
  return client ? std::move(*client) : nullptr;
}

}  // namespace plexus::test
