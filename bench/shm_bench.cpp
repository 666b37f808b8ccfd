// plexus_bench_shm: the shared-memory transport beside its limits, in the same run.
//   Round trips (the request/response harness, rr_case.hpp), 64 B and 1 MiB:
//     raw-unix            length-prefixed ping-pong over a Unix socket (the table's baseline)
//     raw-shm-busypoll    two processes spinning on one shared mapping (the shm limit)
//     plexus-unix         plexus over a Unix socket
//     plexus-shm-spin     plexus over shared memory, both sides spinning
//     plexus-shm-adaptive plexus over shared memory, adaptive spin then eventfd sleep (default)
//     plexus-{unix,shm}-{blocking,callback}
//                         the forms an application's own thread uses: a blocking call() and
//                         call_async with the completion waited for on that thread
//                         (plexus_rr_cases.cpp), beside the I/O-thread rows above
//     plexus-shm-spin-view plexus-shm-spin taking the answers as views (call_async_view): at
//                         1 MiB the answer is read where it lies in the ring, not copied out
//     plexus-shm-lane-*   a message round trip instead of a call: a lane to the server's "ping",
//                         which sends it back on a lane to the client's "pong" (LanePingPong);
//                         what iceoryx (publisher/subscriber on two topics) and the raw rows do.
//                         Both handlers read the payload where it lies in the ring, so at 1 MiB
//                         a lane round trip copies it twice (into each ring), raw-shm-busypoll
//                         three times (in, echo, out) and a call more often (the echo handler's
//                         answer and the client's reply are strings of their own)
//   One-way 64 B messages per second (this file):
//     raw-shm-ring        a fixed-slot SPSC ring in a shared mapping, consumer spinning
//     raw-unix            one send() per message into a Unix socket, reader draining
//     plexus-shm-*        NOTIFY frames, 4096 per window, each window closed by one call;
//                         -batched: gathered into BATCH frames of up to 50 (BatchOptions)
//     plexus-*-lane       the same through a lane (plexus/lane.hpp): LANE_DATA frames
//     plexus-direct-*     a direct channel (plexus/direct.hpp): records written by this thread,
//                         read by a thread of the server's (one_way_direct)
// Prints tables and writes JSON (build/bench-results/shm.json by default).
#include "bench_report.hpp"
#include "rr_case.hpp"
#include "rr_runner.hpp"
#include "scratch_dir.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <future>
#include <iomanip>
#include <iostream>
#include <plexus/plexus.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  bool quick = false;
  std::string json_path = "bench/results/shm.json";
  int repetitions = 3;
  bool one_way_only = false;  // skip the round trips (for profiling the one-way path)
  std::string one_way_case;   // run only this one-way row (empty: all)
  std::string filter;         // round-trip rows whose name contains one of these (comma = or)
};

const std::vector<std::string> kCases = {"raw-unix",
                                         "raw-shm-busypoll",
                                         "plexus-unix",
                                         "plexus-shm-spin",
                                         "plexus-shm-spin-view",
                                         "plexus-shm-adaptive",
                                         "plexus-unix-blocking",
                                         "plexus-unix-blocking-loaned",
                                         "plexus-shm-blocking",
                                         "plexus-shm-blocking-loaned",
                                         "plexus-unix-callback",
                                         "plexus-shm-callback",
                                         "plexus-shm-lane-spin",
                                         "plexus-shm-lane-adaptive",
                                         "plexus-direct-spin",
                                         "plexus-direct-adaptive",
                                         "iceoryx"};

// iceoryx's default memory pools stop below 1 MiB: that row is measured at 64 B only.
bool measured(const std::string& name, std::size_t payload) {
  return name != "iceoryx" || payload <= 64 * 1024;
}

// ---- one-way -------------------------------------------------------------------------------

struct OneWay {
  std::string name;
  double msgs_per_s = 0;
  std::string error;
};

constexpr std::size_t kMsg = 64;

// A fixed-slot ring of 64-byte messages; consumer and producer spin.
double one_way_raw_shm(std::uint64_t count) {
  constexpr std::uint64_t kSlots = 4096;
  struct Ring {
    alignas(128) std::atomic<std::uint64_t> head;
    alignas(128) std::atomic<std::uint64_t> tail;
    alignas(128) char slots[kSlots][kMsg];
  };
  void* p = mmap(nullptr, sizeof(Ring), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap");
  auto* ring = new (p) Ring{};
  double seconds = 0;
  {
    ServerProcess consumer([&](const std::function<void()>& ready) {
      ready();
      std::uint64_t tail = 0, sum = 0;
      char msg[kMsg];
      while (tail < count) {
        const std::uint64_t head = ring->head.load(std::memory_order_acquire);
        while (tail < head) {
          std::memcpy(msg, ring->slots[tail % kSlots], kMsg);
          sum += static_cast<unsigned char>(msg[0]);
          ++tail;
        }
        ring->tail.store(tail, std::memory_order_release);
      }
      if (sum == 0) _exit(3);
    });
    char msg[kMsg];
    std::memset(msg, 'x', kMsg);
    const auto start = Clock::now();
    std::uint64_t head = 0, cached_tail = 0;
    while (head < count) {
      if (head - cached_tail == kSlots) {
        do {
          cached_tail = ring->tail.load(std::memory_order_acquire);
        } while (head - cached_tail == kSlots);
      }
      std::memcpy(ring->slots[head % kSlots], msg, kMsg);
      ++head;
      if ((head & 15) == 0 || head == count) ring->head.store(head, std::memory_order_release);
    }
    while (ring->tail.load(std::memory_order_acquire) != count) {
    }
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!consumer.join(5000)) throw std::runtime_error("raw-shm consumer failed");
  }
  munmap(p, sizeof(Ring));
  return static_cast<double>(count) / seconds;
}

double one_way_raw_unix(std::uint64_t count) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
  UniqueFd a(sv[0]), b(sv[1]);
  double seconds = 0;
  {
    ServerProcess reader([&](const std::function<void()>& ready) {
      a.reset();
      ready();
      std::vector<char> buf(256 * 1024);
      std::uint64_t bytes = 0;
      while (bytes < count * kMsg) {
        const ssize_t n = recv(b.get(), buf.data(), buf.size(), 0);
        if (n <= 0) _exit(3);
        bytes += static_cast<std::uint64_t>(n);
      }
      const char ack = 1;
      send_all(b.get(), &ack, 1);
    });
    b.reset();
    char msg[kMsg];
    std::memset(msg, 'x', kMsg);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) send_all(a.get(), msg, kMsg);
    char ack;
    if (recv(a.get(), &ack, 1, 0) != 1) throw std::runtime_error("raw-unix reader failed");
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!reader.join(5000)) throw std::runtime_error("raw-unix reader did not exit");
  }
  return static_cast<double>(count) / seconds;
}

// How the client sends: a NOTIFY per message; NOTIFYs gathered into BATCH frames (BatchOptions:
// up to 50 per frame); or a lane (plexus/lane.hpp: the method bound once, then LANE_DATA).
enum class OneWayApi { notify, batched, lane };

// The one-way rows' server child: a runtime of one I/O thread and a server on `listen_address`
// whose handlers `setup` registers, plus "bye"; sends its address up `wr`, signals ready, and
// returns once the client said bye and the server has shut down.
void serve_one_way(const std::string& listen_address, UniqueFd& wr,
                   const std::function<void()>& ready,
                   const std::function<void(plexus::Server&)>& setup) {
  plexus::Runtime runtime(plexus::RuntimeOptions{1});
  std::promise<void> bye;
  auto said = bye.get_future();
  plexus::ServerOptions o;
  o.listen = {listen_address};
  o.metrics = false;
  auto server = plexus::Server::create(runtime, std::move(o));
  if (!server) _exit(4);
  setup(**server);
  (*server)->handle("bye", [&, once = false](plexus::CallContext&, std::string_view) mutable {
    if (!std::exchange(once, true)) bye.set_value();
    return plexus::Result<std::string>(std::string());
  });
  if (!(*server)->start()) _exit(5);
  const std::string line = (*server)->addresses().at(0) + "\n";
  if (write(wr.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(6);
  ready();
  said.wait();
  (*server)->shutdown(plexus::Millis{1000});
}

// The parent's side of serve_one_way's pipe: the server's address.
std::string read_address(UniqueFd& rd, UniqueFd& wr) {
  wr.reset();
  std::string address;
  for (char c; read(rd.get(), &c, 1) == 1 && c != '\n';) address += c;
  return address;
}

double one_way_plexus(std::uint64_t count, const std::string& listen_address, OneWayApi api) {
  setenv("PLEXUS_LOG", "warn", 0);
  int fds[2];
  if (pipe(fds) != 0) throw_errno("pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  ServerProcess server([&](const std::function<void()>& ready) {
    std::uint64_t received = 0;  // the server's one I/O thread is the only writer
    serve_one_way(listen_address, wr, ready, [&](plexus::Server& s) {
      s.handle("sink", [&](plexus::CallContext&, std::string_view) {
        ++received;
        return plexus::Result<std::string>(std::string());
      });
      s.handle("count", [&](plexus::CallContext&, std::string_view) {
        return plexus::Result<std::string>(std::to_string(received));
      });
    });
  });
  const std::string address = read_address(rd, wr);

  double seconds = 0;
  {
    plexus::Runtime runtime(plexus::RuntimeOptions{1});
    plexus::ClientOptions co;
    co.address = address;
    co.reconnect.enabled = false;
    co.batching.enabled = api == OneWayApi::batched;
    auto client = plexus::Client::connect(runtime, co);
    if (!client) throw std::runtime_error("connect: " + client.error().to_string());
    plexus::Client& c = **client;
    constexpr std::uint64_t kWindow = 4096;
    std::promise<std::string> done;
    std::uint64_t sent = 0;
    const std::string payload(kMsg, 'x');
    auto lane = c.open_lane("sink");
    if (!lane) throw std::runtime_error("open_lane: " + lane.error().to_string());
    std::function<void()> step = [&] {
      const std::uint64_t n = std::min(kWindow, count - sent);
      for (std::uint64_t i = 0; i < n; ++i) {
        const bool ok = api == OneWayApi::lane ? lane->send(payload).has_value()
                                               : c.notify("sink", payload).has_value();
        if (!ok) {
          done.set_value("send failed");
          return;
        }
      }
      sent += n;
      c.call_async("count", "", {}, [&](plexus::Result<std::string> r) {
        if (!r) {
          done.set_value(r.error().to_string());
        } else if (sent == count) {
          done.set_value(*r);
        } else {
          step();
        }
      });
    };
    const auto start = Clock::now();
    asio::post(runtime.executor(), step);
    auto f = done.get_future();
    if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      throw std::runtime_error("plexus one-way stalled");
    }
    const auto got = f.get();
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (got != std::to_string(count)) throw std::runtime_error("server received " + got);
    (void)c.call("bye", "");
    c.close();
  }
  if (!server.join(5000)) throw std::runtime_error("plexus server did not exit cleanly");
  return static_cast<double>(count) / seconds;
}

// A direct channel (plexus/direct.hpp): this thread stages `count` 64 B messages (published an
// eighth of the ring at a time, waiting for room when it is full); a thread of the server's
// receives them and, at the last, sends back how many it got. The server's I/O thread only serves
// the opening call.
double one_way_direct(std::uint64_t count, const std::string& listen_address,
                      plexus::WaitStrategy wait) {
  setenv("PLEXUS_LOG", "warn", 0);
  int fds[2];
  if (pipe(fds) != 0) throw_errno("pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  plexus::DirectOptions options;
  options.wait = wait;
  ServerProcess server([&](const std::function<void()>& ready) {
    std::thread sink;  // joined after the server has shut down
    serve_one_way(listen_address, wr, ready, [&](plexus::Server& s) {
      plexus::handle_direct(
          s, "sink.direct",
          [&](plexus::CallContext&, plexus::DirectChannel ch) {
            sink = std::thread([ch, count]() mutable {
              std::uint64_t received = 0;
              while (received < count && ch.receive()) ++received;
              (void)ch.send(std::to_string(received));
              (void)ch.receive();  // until the client closes
            });
          },
          options);
    });
    if (sink.joinable()) sink.join();
  });
  const std::string address = read_address(rd, wr);

  double seconds = 0;
  {
    plexus::Runtime runtime(plexus::RuntimeOptions{1});
    plexus::ClientOptions co;
    co.address = address;
    co.reconnect.enabled = false;
    auto client = plexus::Client::connect(runtime, co);
    if (!client) throw std::runtime_error("connect: " + client.error().to_string());
    auto ch = plexus::open_direct(**client, "sink.direct", options);
    if (!ch) throw std::runtime_error("open_direct: " + ch.error().to_string());
    const std::string payload(kMsg, 'x');
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      if (auto ok = ch->stage(payload, std::chrono::seconds(30)); !ok) {
        throw std::runtime_error("direct send: " + ok.error().to_string());
      }
    }
    ch->flush();
    auto got = ch->receive(std::chrono::seconds(60));
    if (!got) throw std::runtime_error("direct one-way stalled: " + got.error().to_string());
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (*got != std::to_string(count))
      throw std::runtime_error("server received " + std::string(*got));
    ch->close();
    (void)(*client)->call("bye", "");
    (*client)->close();
  }
  if (!server.join(5000)) throw std::runtime_error("plexus server did not exit cleanly");
  return static_cast<double>(count) / seconds;
}

std::vector<OneWay> run_one_way(bool quick, const std::string& only, const std::string& dir) {
  const std::uint64_t raw_count = quick ? 1'000'000 : 20'000'000;
  const std::uint64_t count = quick ? 200'000 : 2'000'000;
  const std::uint64_t lane_count = quick ? 1'000'000 : 10'000'000;
  std::vector<OneWay> rows;
  auto measure = [&](const std::string& name, const std::function<double()>& fn) {
    if (!only.empty() && name != only) return;
    OneWay row;
    row.name = name;
    try {
      row.msgs_per_s = fn();
    } catch (const std::exception& e) {
      row.error = e.what();
    }
    rows.push_back(row);
  };
  measure("raw-shm-ring", [&] { return one_way_raw_shm(raw_count); });
  measure("raw-unix", [&] { return one_way_raw_unix(count); });
  const std::string unix_address = "unix://" + dir + "/ow-unix.sock";
  const std::string spin_address = "unix://" + dir + "/ow-spin.sock?shm=1&shm_wait=spin";
  const std::string adaptive_address = "unix://" + dir + "/ow-adaptive.sock?shm=1";
  measure("plexus-unix", [&] { return one_way_plexus(count, unix_address, OneWayApi::notify); });
  measure("plexus-shm-spin",
          [&] { return one_way_plexus(count, spin_address, OneWayApi::notify); });
  measure("plexus-shm-adaptive",
          [&] { return one_way_plexus(count, adaptive_address, OneWayApi::notify); });
  measure("plexus-shm-spin-batched",
          [&] { return one_way_plexus(count, spin_address, OneWayApi::batched); });
  measure("plexus-unix-lane",
          [&] { return one_way_plexus(lane_count, unix_address, OneWayApi::lane); });
  measure("plexus-shm-spin-lane",
          [&] { return one_way_plexus(lane_count, spin_address, OneWayApi::lane); });
  measure("plexus-shm-adaptive-lane",
          [&] { return one_way_plexus(lane_count, adaptive_address, OneWayApi::lane); });
  const std::string direct_address = "unix://" + dir + "/ow-direct.sock";
  measure("plexus-direct-spin",
          [&] { return one_way_direct(lane_count, direct_address, plexus::WaitStrategy::spin); });
  measure("plexus-direct-adaptive", [&] {
    return one_way_direct(lane_count, direct_address, plexus::WaitStrategy::adaptive);
  });
  return rows;
}

// ---- driver ----------------------------------------------------------------------------------

int run(const Options& opts) {
  std::vector<RrCase> cases;
  for (const auto& name : kCases) {
    for (auto& c : registered_rr_cases()) {
      if (c.name == name && matches_filter(c.name, opts.filter)) cases.push_back(c);
    }
  }
  const std::vector<SizeProfile> profiles =
      opts.quick ? std::vector<SizeProfile>{{64, 200, 2000, 2000}, {1 << 20, 5, 50, 50}}
                 : std::vector<SizeProfile>{{64, 2000, 20000, 50000}, {1 << 20, 20, 300, 300}};
  const ScratchDir scratch;
  const auto start = Clock::now();
  RrRunOptions run_options;
  run_options.repetitions = opts.repetitions;
  run_options.window = 64;
  run_options.scratch_dir = scratch.path();
  run_options.measured = measured;
  const std::vector<RowSummary> rows =
      opts.one_way_only ? std::vector<RowSummary>{} : run_rr_cases(cases, profiles, run_options);
  const auto one_way = run_one_way(opts.quick, opts.one_way_case, scratch.path());

  RunInfo info;
  info.quick = opts.quick;
  info.repetitions = opts.repetitions;
  info.window = 64;
  info.filter = "shm";
  info.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "shared memory: round trips, " << opts.repetitions << " repetition(s), "
            << std::fixed << std::setprecision(1) << info.wall_seconds << " s\n"
            << std::defaultfloat;
  print_table(std::cout, rows);

  const RowSummary* raw_shm = nullptr;
  for (const auto& r : rows) {
    if (r.case_name == "raw-shm-busypoll" && r.payload_size == 64) raw_shm = &r;
  }
  std::cout
      << "\n64 B round trip p50 vs raw-shm-busypoll, and 1 MiB round trip (2 MiB moved / p50):\n";
  for (const auto& r : rows) {
    if (!r.error.empty() || r.reps.empty()) continue;
    if (r.payload_size == 64 && raw_shm) {
      std::cout << "  " << std::left << std::setw(26) << r.case_name << std::right << std::fixed
                << std::setprecision(2) << std::setw(6) << r.p50_us << " us  "
                << r.p50_us / raw_shm->p50_us << "x raw-shm\n";
    } else if (r.payload_size == (1u << 20)) {
      std::cout << "  " << std::left << std::setw(26) << r.case_name << std::right << std::fixed
                << std::setprecision(2) << std::setw(6) << 2.0 * (1 << 20) / (r.p50_us * 1e3)
                << " GB/s at 1 MiB (p50 " << std::setprecision(1) << r.p50_us << " us)\n";
    }
  }
  std::cout << "\none-way 64 B messages:\n";
  for (const auto& o : one_way) {
    std::cout << "  " << std::left << std::setw(25) << o.name << std::right;
    if (o.error.empty()) {
      std::cout << std::fixed << std::setprecision(2) << o.msgs_per_s / 1e6 << " M msgs/s\n";
    } else {
      std::cout << "FAILED: " << o.error << '\n';
    }
  }
  std::cout << std::defaultfloat;
  write_json(opts.json_path, rows, info);
  {
    std::ofstream out(opts.json_path + ".one_way.json");
    out << "[";
    for (std::size_t i = 0; i < one_way.size(); ++i) {
      out << (i ? "," : "") << "{\"case\":\"" << one_way[i].name
          << "\",\"msgs_per_s\":" << one_way[i].msgs_per_s
          << ",\"ok\":" << (one_way[i].error.empty() ? "true" : "false") << "}";
    }
    out << "]\n";
  }
  std::cout << "json: " << opts.json_path << " and " << opts.json_path << ".one_way.json\n";
  bool failed = false;
  for (const auto& r : rows) failed |= !r.error.empty();
  for (const auto& o : one_way) failed |= !o.error.empty();
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  plexus_bench::Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      opts.quick = true;
      opts.repetitions = 1;
    } else if (arg == "--json" && i + 1 < argc) {
      opts.json_path = argv[++i];
    } else if (arg == "--one-way-only") {
      opts.one_way_only = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') opts.one_way_case = argv[++i];
    } else if (arg == "--reps" && i + 1 < argc) {
      opts.repetitions = std::atoi(argv[++i]);
    } else if (arg == "--filter" && i + 1 < argc) {
      opts.filter = argv[++i];
    } else {
      std::cerr
          << "usage: plexus_bench_shm [--quick] [--one-way-only [CASE]] [--json PATH] [--reps N]\n"
             "                        [--filter SUBSTR[,SUBSTR...]]\n";
      return 2;
    }
  }
  try {
    return plexus_bench::run(opts);
  } catch (const std::exception& e) {
    std::cerr << "plexus_bench_shm: " << e.what() << '\n';
    return 1;
  }
}
