// "iceoryx": ping-pong over iceoryx 2.0 (Debian's libiceoryx-posh-dev), untyped publisher and
// subscriber on two topics, both sides busy-polling take() as its own latency examples do, with
// zero-copy loans (the payload is written into the loaned chunk once). The bench starts
// `iox-roudi` (the iceoryx daemon) for the row and stops it after.
#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"

namespace plexus_bench {
namespace {

constexpr auto kIdle = std::chrono::seconds(10);

// Runs iox-roudi for the lifetime of the object.
class Roudi {
 public:
  Roudi() {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork iox-roudi");
    if (pid_ == 0) {
      // Quiet, and dead with the bench.
      freopen("/dev/null", "w", stdout);
      execlp("iox-roudi", "iox-roudi", "-l", "off", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Roudi() {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }

 private:
  pid_t pid_ = -1;
};

template <typename F>
void spin_until(F ready, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  std::uint32_t spins = 0;
  while (!ready()) {
    if (++spins == 1u << 16) {
      spins = 0;
      if (std::chrono::steady_clock::now() - start > kIdle) throw std::runtime_error(what);
    }
  }
}

// One side: publishes on `out`, takes from `in`.
struct Side {
  Side(const char* out, const char* in)
      : publisher(
            {"plexus-bench", "rr", iox::capro::IdString_t(iox::cxx::TruncateToCapacity, out)}),
        subscriber(
            {"plexus-bench", "rr", iox::capro::IdString_t(iox::cxx::TruncateToCapacity, in)}) {}

  void send(const char* data, std::size_t size) {
    void* chunk = nullptr;
    spin_until(
        [&] {
          auto loan = publisher.loan(static_cast<std::uint32_t>(size));
          if (loan.has_error()) return false;
          chunk = loan.value();
          return true;
        },
        "iceoryx loan failed");
    std::memcpy(chunk, data, size);
    publisher.publish(chunk);
  }

  // Copies the next message into `out` (size bytes) and releases it.
  void receive(char* out, std::size_t size) {
    spin_until(
        [&] {
          auto taken = subscriber.take();
          if (taken.has_error()) return false;
          std::memcpy(out, taken.value(), size);
          subscriber.release(taken.value());
          return true;
        },
        "iceoryx peer stopped answering");
  }

  iox::popo::UntypedPublisher publisher;
  iox::popo::UntypedSubscriber subscriber;
};

void write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n <= 0) _exit(6);
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

bool read_all(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Both iceoryx peers run in child processes: an iceoryx runtime is per process and cannot be
// re-initialised, and this process forks the peers of the other rows.
RrResult run_iceoryx(const RrParams& params) {
  if (params.payload_size > 64 * 1024) {
    // The default RouDi memory configuration has no chunk pool for this size.
    throw std::runtime_error("skipped: payload larger than the default iceoryx mempools");
  }
  Roudi roudi;
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe");
  const std::uint64_t sequential = std::min(params.pipelined_count, params.rt_count);
  ServerProcess client(
      [&](const std::function<void()>& ready) {
        close(fds[0]);
        ready();
        const std::string tag = std::to_string(getpid());
        ServerProcess echo(
            [&](const std::function<void()>& echo_ready) {
              iox::runtime::PoshRuntime::initRuntime(
                  iox::RuntimeName_t(iox::cxx::TruncateToCapacity, ("plexus-echo-" + tag).c_str()));
              Side side("pong", "ping");
              echo_ready();
              std::string buf(params.payload_size, '\0');
              const std::uint64_t total = params.warmup_count + params.rt_count + sequential;
              for (std::uint64_t i = 0; i < total; ++i) {
                side.receive(buf.data(), buf.size());
                if (i == 0) {
                  // The client subscribed before its first ping; wait until RouDi connected it.
                  spin_until([&] { return side.publisher.hasSubscribers(); },
                             "iceoryx client never subscribed");
                }
                side.send(buf.data(), buf.size());
              }
            },
            20000);
        iox::runtime::PoshRuntime::initRuntime(
            iox::RuntimeName_t(iox::cxx::TruncateToCapacity, ("plexus-client-" + tag).c_str()));
        Side side("ping", "pong");
        spin_until([&] { return side.publisher.hasSubscribers(); },
                   "iceoryx echo never subscribed");
        std::string out(params.payload_size, 'x'), in(params.payload_size, '\0');
        const auto call = [&] {
          side.send(out.data(), out.size());
          side.receive(in.data(), in.size());
        };
        auto rt = time_round_trips(params, call);
        const double seconds = time_sequential(sequential, call);
        const std::uint64_t n = rt.size();
        write_all(fds[1], &n, sizeof n);
        write_all(fds[1], rt.data(), n * sizeof(double));
        write_all(fds[1], &seconds, sizeof seconds);
        if (!echo.join(5000)) _exit(7);
      },
      20000);
  close(fds[1]);
  RrResult result;
  std::uint64_t n = 0;
  bool ok = read_all(fds[0], &n, sizeof n) && n <= params.rt_count;
  if (ok) {
    result.rt_us.resize(n);
    ok = read_all(fds[0], result.rt_us.data(), n * sizeof(double)) &&
         read_all(fds[0], &result.pipelined_seconds, sizeof(double));
  }
  close(fds[0]);
  if (!client.join(30000) || !ok) throw std::runtime_error("iceoryx run failed");
  result.pipelined_calls = sequential;
  result.pipeline_mode = PipelineMode::sequential;
  return result;
}

const RrRegistrar iceoryx_case{RrCase{"iceoryx", run_iceoryx}};

}  // namespace
}  // namespace plexus_bench
