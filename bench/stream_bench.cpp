// plexus_bench_stream: one-way stream throughput, producer in a forked child process, consumer
// here, side by side in the same run:
//   plexus-stream-unix  a plexus stream handler writing N items to a client reading them, both
//                       with the fast paths first (try_write, try_read) and co_await
//                       async_write / async_read only when those cannot proceed (no credit,
//                       nothing arrived yet); credit window 256 items / 4 MiB
//   plexus-stream-unix-await  the same with a co_await per item (async_write, async_read)
//   plexus-lane-app-unix     one-way messages the other way: Lane::send from this process's
//   plexus-notify-app-unix   main thread (an application thread, not an I/O thread), or
//   plexus-lane-app-shm      Client::notify, to a server in the child that counts them; timed
//                       until a call that follows them reports every one arrived (lossless:
//                       default bounds, a sender past them waits for room)
//   zmq-push-pull-ipc   ZeroMQ PUSH (child) -> PULL (here) over ipc://, SNDHWM = RCVHWM = 256
//                       messages: the closest ZeroMQ has to a bounded window
// Reports items/s and MB/s (median of the repetitions) and each row's ratio to ZeroMQ.
#include "bench_args.hpp"
#include "scratch_dir.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kWindowItems = 256;
constexpr std::uint64_t kWindowBytes = 4u << 20;
constexpr int kJoinTimeoutMs = 10000;

struct Profile {
  std::size_t item_size;
  std::uint64_t items;
};

struct Row {
  std::string name;
  std::size_t item_size = 0;
  std::uint64_t items = 0;
  std::vector<double> seconds;  // one per repetition
  double median_seconds() const {
    auto s = seconds;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
  double items_per_s() const { return static_cast<double>(items) / median_seconds(); }
  double mb_per_s() const { return items_per_s() * static_cast<double>(item_size) / 1e6; }
};

template <typename T>
T unwrap(plexus::Result<T> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().to_string());
  return std::move(*r);
}

// fast: try_write / try_read first (Stream's fast paths); else a co_await per item.
double run_plexus(const std::string& dir, const Profile& p, bool fast) {
  const std::string address = "unix://" + dir + "/stream.sock";
  ServerProcess child([&](const std::function<void()>& ready) {
    plexus::Runtime runtime;
    std::promise<void> finished;
    plexus::ServerOptions options;
    options.listen = {address};
    auto server = unwrap(plexus::Server::create(runtime, options), "Server::create");
    server->handle_stream(
        "bench.stream",
        [&finished, p, fast](plexus::CallContext&, std::string,
                             plexus::Stream out) -> asio::awaitable<plexus::Result<std::string>> {
          const std::string item(p.item_size, 'x');
          for (std::uint64_t i = 0; i < p.items; ++i) {
            if (fast && out.try_write(item)) continue;
            auto w = co_await out.async_write(item, asio::use_awaitable);
            if (!w) break;
          }
          finished.set_value();
          co_return std::string();
        });
    if (auto s = server->start(); !s) throw std::runtime_error(s.error().to_string());
    ready();
    finished.get_future().wait();
    server->shutdown(plexus::Millis{1000});
  });
  plexus::Runtime runtime;
  plexus::ClientOptions options;
  options.address = address;
  options.reconnect.enabled = false;
  auto client = unwrap(plexus::Client::connect(runtime, options), "connect");
  std::promise<std::uint64_t> done;
  auto received = done.get_future();
  const auto start = Clock::now();
  plexus::StreamOptions so;
  so.window = plexus::StreamWindow{kWindowItems, kWindowBytes};
  plexus::Stream stream = client->open_stream("bench.stream", "", so);
  asio::co_spawn(
      runtime.executor(),
      [&]() -> asio::awaitable<void> {
        std::uint64_t n = 0;
        for (;;) {
          if (fast && stream.try_read()) {
            ++n;
            continue;
          }
          auto r = co_await stream.async_read(asio::use_awaitable);
          if (!r || !*r) break;
          ++n;
        }
        done.set_value(n);
      },
      asio::detached);
  if (received.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    throw std::runtime_error("plexus stream stalled");
  }
  const auto n = received.get();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (n != p.items) throw std::runtime_error("plexus stream ended early");
  client->close();
  child.join(kJoinTimeoutMs);
  return seconds;
}

enum class OneWay { lane, notify };

// Application-thread one-way sends: this process sends, the child counts.
double run_plexus_oneway(const std::string& dir, const Profile& p, OneWay how, bool shm) {
  static int run = 0;
  const std::string address =
      "unix://" + dir + "/oneway" + std::to_string(++run) + ".sock" + (shm ? "?shm=1" : "");
  ServerProcess child([&](const std::function<void()>& ready) {
    plexus::Runtime runtime;
    std::atomic<std::uint64_t> received{0};
    std::promise<void> finished;
    std::atomic<bool> said{false};
    plexus::ServerOptions options;
    options.listen = {address};
    auto server = unwrap(plexus::Server::create(runtime, options), "Server::create");
    server->handle("bench.sink",
                   [&](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                     received.fetch_add(1, std::memory_order_relaxed);
                     return std::string();
                   });
    // Answered after every message sent before it on the connection was handled.
    server->handle("bench.received",
                   [&](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                     const auto n = received.load();
                     if (n >= p.items && !said.exchange(true)) finished.set_value();
                     return std::to_string(n);
                   });
    if (auto s = server->start(); !s) throw std::runtime_error(s.error().to_string());
    ready();
    finished.get_future().wait();
    server->shutdown(plexus::Millis{1000});
  });
  plexus::Runtime runtime;
  plexus::ClientOptions options;
  options.address = address;
  options.reconnect.enabled = false;
  auto client = unwrap(plexus::Client::connect(runtime, options), "connect");
  auto lane = unwrap(client->open_lane("bench.sink"), "open_lane");
  const std::string item(p.item_size, 'x');
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < p.items; ++i) {
    auto sent = how == OneWay::lane ? lane.send(item) : client->notify("bench.sink", item);
    if (!sent) throw std::runtime_error("one-way send: " + sent.error().to_string());
  }
  auto n = unwrap(client->call("bench.received", ""), "bench.received");
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (n != std::to_string(p.items)) throw std::runtime_error("one-way: " + n + " arrived");
  client->close();
  child.join(kJoinTimeoutMs);
  return seconds;
}

[[noreturn]] void throw_zmq(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + zmq_strerror(zmq_errno()));
}

void* zmq_socket_with_hwm(void* ctx, int type) {
  void* s = zmq_socket(ctx, type);
  if (!s) throw_zmq("zmq_socket");
  const int hwm = kWindowItems, linger = 5000, timeout = 30000;
  zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
  return s;
}

// The ZeroMQ producer may exit only once the consumer has every item: PUSH/PULL does not deliver
// what is still in flight when the sending process goes away, whatever its linger (now and then a
// few hundred items never arrive, even with ZMQ_LINGER -1). The consumer says so through this pipe,
// made before fork().
class DonePipe {
 public:
  DonePipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    read_ = UniqueFd(fds[0]);
    write_ = UniqueFd(fds[1]);
  }
  // Child: blocks until the parent said done or went away (EOF).
  void wait() {
    write_.reset();
    char byte;
    while (read(read_.get(), &byte, 1) < 0 && errno == EINTR) {
    }
  }
  // Parent: done (or failed: closing the write end wakes the child as well).
  void say_done() {
    read_.reset();
    write_.reset();
  }

 private:
  UniqueFd read_;
  UniqueFd write_;
};

double run_zmq(const std::string& dir, const Profile& p) {
  // A fresh path per run: a socket file left by the previous run's producer is never reused.
  static int run = 0;
  const std::string endpoint = "ipc://" + dir + "/zmq" + std::to_string(++run) + ".sock";
  DonePipe done;
  // The producer binds and waits (PUSH blocks without a peer); zmq contexts are created only
  // after fork(), in the child and then here (server_process.hpp).
  ServerProcess child([&](const std::function<void()>& ready) {
    void* cctx = zmq_ctx_new();
    void* push = zmq_socket_with_hwm(cctx, ZMQ_PUSH);
    if (zmq_bind(push, endpoint.c_str()) != 0) throw_zmq("zmq_bind");
    ready();
    const std::string item(p.item_size, 'x');
    for (std::uint64_t i = 0; i < p.items; ++i) {
      if (zmq_send(push, item.data(), item.size(), 0) < 0) throw_zmq("zmq_send");
    }
    done.wait();
    zmq_close(push);
    zmq_ctx_term(cctx);
  });
  const auto start = Clock::now();
  void* ctx = zmq_ctx_new();
  void* pull = zmq_socket_with_hwm(ctx, ZMQ_PULL);
  if (zmq_connect(pull, endpoint.c_str()) != 0) throw_zmq("zmq_connect");
  std::vector<char> buf(p.item_size + 1);
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  for (std::uint64_t i = 0; i < p.items; ++i) {
    // A signal (the previous child's exit) may interrupt a wait: retry until the deadline.
    while (zmq_recv(pull, buf.data(), buf.size(), 0) < 0) {
      if ((zmq_errno() != EINTR && zmq_errno() != EAGAIN) || Clock::now() > give_up) {
        done.say_done();
        throw_zmq("zmq_recv");
      }
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  done.say_done();
  child.join(kJoinTimeoutMs);
  zmq_close(pull);
  zmq_ctx_term(ctx);
  return seconds;
}

void write_json(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  out << "{\n  \"benchmark\": \"stream\",\n  \"window_items\": " << kWindowItems
      << ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << "    {\"name\": \"" << r.name << "\", \"item_size\": " << r.item_size
        << ", \"items\": " << r.items << ", \"median_seconds\": " << r.median_seconds()
        << ", \"items_per_s\": " << r.items_per_s() << ", \"mb_per_s\": " << r.mb_per_s()
        << ", \"reps\": " << r.seconds.size() << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
}

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  using namespace plexus_bench;
  BenchArgs args{"bench/results/stream.json"};
  if (!parse_bench_args(argc, argv, "plexus_bench_stream", args)) return 2;
  const std::string& json_path = args.json_path;
  const int reps = args.reps;
  const bool quick = args.quick;
  const std::vector<Profile> profiles = quick ? std::vector<Profile>{{64, 20000}, {16384, 2000}}
                                              : std::vector<Profile>{{64, 300000}, {16384, 30000}};
  try {
    ScratchDir dir;
    std::vector<Row> rows;  // per profile: the plexus rows, then ZeroMQ's
    constexpr std::size_t kRowsPerProfile = 6;
    for (const auto& p : profiles) {
      Row fast_row{"plexus-stream-unix", p.item_size, p.items, {}};
      Row await_row{"plexus-stream-unix-await", p.item_size, p.items, {}};
      Row lane_row{"plexus-lane-app-unix", p.item_size, p.items, {}};
      Row notify_row{"plexus-notify-app-unix", p.item_size, p.items, {}};
      Row lane_shm_row{"plexus-lane-app-shm", p.item_size, p.items, {}};
      Row zmq_row{"zmq-push-pull-ipc", p.item_size, p.items, {}};
      for (int r = 0; r < reps; ++r) {  // interleaved, so load changes hit every row alike
        fast_row.seconds.push_back(run_plexus(dir.path(), p, /*fast=*/true));
        await_row.seconds.push_back(run_plexus(dir.path(), p, /*fast=*/false));
        lane_row.seconds.push_back(run_plexus_oneway(dir.path(), p, OneWay::lane, false));
        notify_row.seconds.push_back(run_plexus_oneway(dir.path(), p, OneWay::notify, false));
        lane_shm_row.seconds.push_back(run_plexus_oneway(dir.path(), p, OneWay::lane, true));
        zmq_row.seconds.push_back(run_zmq(dir.path(), p));
      }
      for (auto* row : {&fast_row, &await_row, &lane_row, &notify_row, &lane_shm_row, &zmq_row}) {
        rows.push_back(*row);
      }
    }
    std::printf("%-26s %9s %9s %13s %10s %9s\n", "stream", "item B", "items", "items/s", "MB/s",
                "vs zmq");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      const auto& zmq = rows[i - i % kRowsPerProfile + kRowsPerProfile - 1];
      std::printf("%-26s %9zu %9llu %13.0f %10.1f %8.2fx\n", r.name.c_str(), r.item_size,
                  static_cast<unsigned long long>(r.items), r.items_per_s(), r.mb_per_s(),
                  r.items_per_s() / zmq.items_per_s());
    }
    std::printf("(median of %d repetitions; a shared machine: compare rows of this run only)\n",
                reps);
    write_json(json_path, rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus_bench_stream: %s\n", e.what());
    return 1;
  }
  return 0;
}
