// Bus activation's process side (src/api/bus_activator.*), with real child processes: a
// started provider that registers lets the waiting calls go on; one that exits, is killed,
// cannot be executed, never registers, or has a broken service file fails them with an error
// that says which and why. The bus's own tests (bus_test.cpp) drive it through calls.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "api/bus_activator.hpp"
#include "plexus/log.hpp"
#include "test_kit.hpp"

namespace plexus::test::bus_activator {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// An io_context on a thread of its own for the activator's strand.
class ActivatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (activator_) activator_->stop_all();
    activator_.reset();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // A service file in the test's directory.
  void service(const std::string& name, const std::string& body) {
    std::ofstream(dir_.file(name + ".toml")) << "name = \"" << name << "\"\n" << body;
  }
  void start_activator() {
    activator_ = std::make_shared<bus::Activator>(asio::make_strand(io_),
                                                  bus::load_service_catalog({dir_.path()}),
                                                  "unix:///nowhere/bus.sock");
  }
  // activate() and its outcome, waited for with a bound.
  Result<void> activate(const std::string& name) {
    auto outcome = std::make_shared<std::promise<Result<void>>>();
    activator_->activate(name, [outcome](Result<void> r) { outcome->set_value(std::move(r)); });
    auto future = outcome->get_future();
    if (future.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "activate(" << name << ") did not complete";
      return make_error(StatusCode::internal, "no outcome");
    }
    return future.get();
  }

  TempDir dir_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      io_.get_executor()};
  std::thread thread_;
  std::shared_ptr<bus::Activator> activator_;
};

TEST_F(ActivatorTest, AProviderThatRegistersLetsEveryWaiterGoOn) {
  // The provider writes its environment to a file and waits to be ended (SIGTERM at stop_all).
  const auto seen = dir_.file("env.txt");
  service("com.example.up", "exec = \"/bin/sh\"\nargs = [\"-c\", \"env > " + seen +
                                "; exec sleep 30\"]\n"
                                "env = { EXTRA = \"yes\" }\n");
  start_activator();
  auto first = std::make_shared<std::promise<Result<void>>>();
  auto second = std::make_shared<std::promise<Result<void>>>();
  activator_->activate("com.example.up", [first](Result<void> r) { first->set_value(r); });
  activator_->activate("com.example.up", [second](Result<void> r) { second->set_value(r); });
  // The provider is running before it registers: wait for its file, then say it registered.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!fs::exists(seen) || fs::file_size(seen) == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the provider never ran";
    std::this_thread::sleep_for(5ms);  // a file another process writes: polled
  }
  activator_->registered("com.example.up");
  auto f1 = first->get_future(), f2 = second->get_future();
  ASSERT_EQ(f1.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(f1.get());
  EXPECT_TRUE(f2.get());
  const auto counts = activator_->counts();
  EXPECT_EQ(counts.started, 1u) << "two waiters, one process";
  EXPECT_EQ(counts.registered, 1u);
  std::ifstream in(seen);
  const std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(env.find("PLEXUS_ADDRESS=unix:///nowhere/bus.sock"), std::string::npos) << env;
  EXPECT_NE(env.find("PLEXUS_SERVICE_NAME=com.example.up"), std::string::npos) << env;
  EXPECT_NE(env.find("EXTRA=yes"), std::string::npos) << env;
  EXPECT_EQ(env.find("PLEXUS_INHERITED_FD"), std::string::npos) << "no socket pair here";
}

TEST_F(ActivatorTest, AProviderThatExitsFirstFailsTheCallWithItsStatus) {
  service("com.example.exits", "exec = \"/bin/sh\"\nargs = [\"-c\", \"echo starting; exit 3\"]\n");
  service("com.example.killed", "exec = \"/bin/sh\"\nargs = [\"-c\", \"kill -9 $$\"]\n");
  start_activator();
  auto exited = activate("com.example.exits");
  ASSERT_FALSE(exited);
  EXPECT_EQ(exited.error().code, StatusCode::unavailable);
  EXPECT_NE(exited.error().message.find("service com.example.exits exited with status 3 before it "
                                        "registered"),
            std::string::npos)
      << exited.error().message;
  EXPECT_NE(exited.error().details.find("\"exit_status\":3"), std::string::npos);
  EXPECT_NE(exited.error().details.find("com.example.exits.toml"), std::string::npos)
      << exited.error().details;

  auto killed = activate("com.example.killed");
  ASSERT_FALSE(killed);
  EXPECT_NE(killed.error().message.find("killed by signal 9 (SIGKILL)"), std::string::npos)
      << killed.error().message;
  EXPECT_NE(killed.error().details.find("\"signal\":9"), std::string::npos);
  EXPECT_EQ(activator_->counts().failed, 2u);
}

TEST_F(ActivatorTest, AMissingProgramABrokenFileAndAnUnknownNameEachSaySo) {
  service("com.example.missing", "exec = \"/nonexistent/provider\"\n");
  service("com.example.broken", "exec = \"/bin/true\"\nrestart = \"always\"\n");
  start_activator();
  auto missing = activate("com.example.missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StatusCode::unavailable);
  EXPECT_NE(missing.error().message.find("/nonexistent/provider"), std::string::npos)
      << missing.error().message;
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos);

  EXPECT_TRUE(activator_->knows("com.example.broken"));
  auto broken = activate("com.example.broken");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, StatusCode::failed_precondition);
  EXPECT_NE(broken.error().message.find("unknown key \"restart\""), std::string::npos)
      << broken.error().message;

  EXPECT_FALSE(activator_->knows("com.example.nothing"));
  auto unknown = activate("com.example.nothing");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, StatusCode::not_found);
}

TEST_F(ActivatorTest, AProviderThatNeverRegistersTimesOutAndIsEnded) {
  // Its end shows in the log: the activator reports each started process's exit.
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  const auto level = log_level();
  set_log_level(LogLevel::info);
  set_log_handler([&](const LogRecord& r) {
    if (r.message.find("service com.example.silent killed by signal 15 (SIGTERM)") ==
        std::string::npos) {
      return;
    }
    std::lock_guard lock(mu);
    ended = true;
    cv.notify_all();
  });
  service("com.example.silent", "exec = \"/bin/sleep\"\nargs = [\"30\"]\nstart_timeout_ms = 200\n");
  start_activator();
  const auto started = std::chrono::steady_clock::now();
  auto silent = activate("com.example.silent");
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().code, StatusCode::deadline_exceeded);
  EXPECT_NE(silent.error().message.find("did not register within 200 ms"), std::string::npos)
      << silent.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 10s, [&] { return ended; })) << "the provider was not ended";
  }
  set_log_handler({});
  set_log_level(level);
}

}  // namespace
}  // namespace plexus::test::bus_activator
