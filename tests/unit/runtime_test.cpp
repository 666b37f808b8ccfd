// Runtime::running_in: the check that lets a call made from a completion go straight into the
// session instead of through asio::dispatch, and that keeps blocking calls off I/O threads.
#include <future>

#include <gtest/gtest.h>
#include <asio/post.hpp>

#include "plexus/runtime.hpp"

namespace {

// Runs `probe` on `executor` and returns what it saw.
bool seen_on(const asio::any_io_executor& executor, const asio::any_io_executor& probe) {
  std::promise<bool> seen;
  asio::post(executor, [&] { seen.set_value(plexus::Runtime::running_in(probe)); });
  return seen.get_future().get();
}

TEST(RuntimeTest, OneThreadRuntimeKnowsItsOwnThread) {
  plexus::Runtime runtime(plexus::RuntimeOptions{1});
  const auto serial = runtime.serial_executor();  // the io_context's executor itself
  EXPECT_FALSE(plexus::Runtime::running_in(serial)) << "the test thread runs no handlers";
  EXPECT_TRUE(seen_on(serial, serial));
}

TEST(RuntimeTest, StrandsAreToldApart) {
  plexus::Runtime runtime(plexus::RuntimeOptions{2});
  const auto a = runtime.serial_executor();
  const auto b = runtime.serial_executor();
  EXPECT_FALSE(plexus::Runtime::running_in(a));
  EXPECT_TRUE(seen_on(a, a));
  EXPECT_FALSE(seen_on(a, b)) << "inside strand a, strand b is not running";
}

TEST(RuntimeTest, OtherRuntimesThreadIsNotOurs) {
  plexus::Runtime one(plexus::RuntimeOptions{1});
  plexus::Runtime other(plexus::RuntimeOptions{1});
  EXPECT_FALSE(seen_on(other.serial_executor(), one.serial_executor()));
}

}  // namespace
