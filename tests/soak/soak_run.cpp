#include "soak_run.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "child_clients.hpp"
#include "load.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "serve_process.hpp"

namespace plexus::soak {
namespace {

using Clock = std::chrono::steady_clock;

// Once the load is told to stop, every thread ends within a call's deadline (10 s); past this
// the soak gives up on an orderly stop and exits, and its children die with it (spawn_process).
constexpr auto kStopTimeout = std::chrono::seconds(60);
// With every client gone, how long the server may take to close their connections.
constexpr auto kSettleTimeout = std::chrono::seconds(10);

// A private directory for the socket and the server's log, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    char name[] = "/tmp/pxsoak-XXXXXX";
    if (::mkdtemp(name)) path_ = name;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Ends the process if stopping hangs: a stuck stop must not leave `make test` waiting forever.
class StopWatchdog {
 public:
  StopWatchdog() : thread_([this] { watch(); }) {}
  ~StopWatchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void watch() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kStopTimeout, [this] { return done_; })) {
      std::fprintf(stderr, "soak: the load did not stop within %lld s; exiting\n",
                   static_cast<long long>(kStopTimeout.count()));
      std::_Exit(2);
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Waits up to `d` for SIGINT or SIGTERM (blocked in every thread); the signal, or 0.
int wait_for_signal(const sigset_t& signals, std::chrono::milliseconds d) {
  timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
  const int sig = ::sigtimedwait(&signals, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

void print_log_tail(const std::string& path, std::size_t lines) {
  std::ifstream log(path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(log, line);) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  if (tail.empty()) return;
  std::printf("  the server's log ends with:\n");
  for (const auto& line : tail) std::printf("    %s\n", line.c_str());
}

// With every client gone, waits until the server is down to the descriptors it had before the
// load (or kSettleTimeout passes); its footprint then.
std::optional<Footprint> settled_footprint(pid_t server, std::uint64_t fds_before) {
  const auto deadline = Clock::now() + kSettleTimeout;
  auto f = read_footprint(server);
  while (f && f->fds > fds_before && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    f = read_footprint(server);
  }
  return f;
}

// The load's threads. Children are started from a thread of their own, which reaps them before
// it ends (they die with it).
std::vector<std::thread> start_load(const LoadContext& load, const Options& o) {
  std::vector<std::thread> threads;
  for (int i = 0; i < o.callers; ++i) threads.emplace_back(run_caller, std::cref(load), i);
  for (int i = 0; i < o.streamers; ++i) threads.emplace_back(run_streamer, std::cref(load), i);
  for (int i = 0; i < o.reconnectors; ++i) {
    threads.emplace_back(run_reconnector, std::cref(load), i);
  }
  threads.emplace_back(run_pubsub, std::cref(load));
  threads.emplace_back(run_subscription_churn, std::cref(load));
  if (o.children.max_alive > 0) {
    threads.emplace_back(run_child_chaos, std::cref(load), o.children, own_executable());
  }
  return threads;
}

// Every interval, each kind of work must have moved: a server that stops answering fails the
// soak even before any deadline passes.
void check_progress(const Sample& now, const Sample& before, Tally& tally) {
  const auto stalled = [&](const char* what) {
    tally.unexpected(std::string("no ") + what + " between " + std::to_string(before.t_s) +
                     " s and " + std::to_string(now.t_s) + " s");
  };
  if (now.counts.calls == before.counts.calls) stalled("call completed");
  if (now.counts.delivered == before.counts.delivered) stalled("message delivered");
  if (now.counts.stream_items == before.counts.stream_items) stalled("stream item read");
}

}  // namespace

int run_soak(Options o) {
  // SIGINT/SIGTERM are waited for (below) rather than handled: blocked before any thread
  // exists, so that every thread inherits the mask. A write to a closed socket is an error
  // code, not a death.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  set_log_level(LogLevel::error);  // the soak's clients: failures are reported by the soak
  if (o.seed == 0) o.seed = std::random_device{}() | 1u;

  ScratchDir dir;
  if (dir.path().empty()) {
    std::fprintf(stderr, "soak: cannot make a directory under /tmp\n");
    return 1;
  }
  const std::string address = "unix://" + dir.path() + "/soak.sock";
  const std::string log_path = dir.path() + "/serve.log";
  ServeProcess server(o.plexus, address, log_path, std::chrono::seconds(15));
  if (!server.running()) {
    std::fprintf(stderr, "soak: %s serve --demo did not come up; it printed:\n%s\n",
                 o.plexus.c_str(), server.startup_output().c_str());
    print_log_tail(log_path, 30);
    return 1;
  }
  SoakResult result;
  result.options = o;
  result.server_pid = server.pid();
  if (auto f = read_footprint(server.pid())) result.before_load = *f;
  std::printf(
      "soak: plexus serve --demo (pid %d) on %s: %.0f s of load, a sample every %.0f s, the trend "
      "judged after %.0f s; seed %llu (--seed repeats the run's choices)\n",
      static_cast<int>(server.pid()), address.c_str(), o.seconds, o.interval, o.warmup_seconds(),
      static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);

  Tally tally;
  const PayloadPool pool(o.seed);
  RuntimeOptions quiet;
  quiet.idle_wait = WaitStrategy::block;  // the soak's own threads leave the cores to the server
  Runtime runtime(quiet);
  const LoadContext load{address, runtime, tally, pool, o.seed};
  auto threads = start_load(load, o);

  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.interval));
  auto next = start + interval;
  for (;;) {
    if (wait_for_signal(stop_signals, std::chrono::milliseconds(200)) != 0) {
      result.interrupted = true;
      break;
    }
    if (tally.failed()) break;
    if (auto status = server.exited()) {
      tally.unexpected("the server exited during the load: " + describe_wait_status(*status));
      break;
    }
    const auto now = Clock::now();
    if (now >= next || now >= end) {
      const auto f = read_footprint(server.pid());
      if (!f) {
        tally.unexpected("cannot read the server's /proc entries");
        break;
      }
      Sample sample{std::chrono::duration<double>(now - start).count(), *f, tally.snapshot()};
      const Sample* previous = result.samples.empty() ? nullptr : &result.samples.back();
      print_sample(sample, previous);
      if (previous) check_progress(sample, *previous, tally);
      result.samples.push_back(sample);
      next += interval;
    }
    if (now >= end) break;
  }

  result.load_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  {
    StopWatchdog watchdog;
    tally.request_stop();
    for (auto& t : threads) t.join();
  }
  result.load = tally.snapshot();
  // The exact count, not a trend: with no client left, the server must be back to the
  // descriptors it had before the first one (its listener, reactor, timers, log), so a leak of
  // even one connection's socket shows, however short the run.
  if (server.running()) result.after_load = settled_footprint(server.pid(), result.before_load.fds);
  if (result.after_load && result.after_load->fds > result.before_load.fds) {
    tally.unexpected("with every client gone the server still holds " +
                     std::to_string(result.after_load->fds - result.before_load.fds) +
                     " more descriptors than before the load");
  }
  const int exit_status = server.stop();
  result.server_exit = describe_wait_status(exit_status);
  if (!WIFEXITED(exit_status) || WEXITSTATUS(exit_status) != 0) {
    tally.unexpected("the server did not exit cleanly on SIGTERM: " + result.server_exit);
  }

  result.limits = TrendLimits{};
  result.trend = judge_trend(result.samples, o.warmup_seconds(), result.limits);
  result.failures = tally.failures();
  result.failure_count = tally.failure_count();
  result.passed = !result.interrupted && !tally.failed() && !result.trend.rss_growing &&
                  !result.trend.fds_growing;
  print_summary(result);
  if (!result.passed && !result.interrupted) print_log_tail(log_path, 30);
  if (!o.json_path.empty() && !write_json(result, o.json_path)) {
    std::fprintf(stderr, "soak: cannot write %s\n", o.json_path.c_str());
    return 1;
  }
  if (result.passed) return 0;
  return result.interrupted && !tally.failed() ? 130 : 1;
}

}  // namespace plexus::soak
