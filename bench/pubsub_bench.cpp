// plexus_bench_pubsub: publish/subscribe fan-out, 1 publisher to 1/10/100 subscribers, plexus
// (server-local publisher -> subscriber clients over a Unix socket) beside ZeroMQ PUB/SUB over
// ipc:// in the same run. Per row:
//   throughput  a burst of M messages as fast as the publisher goes; messages delivered per
//               second, counted from the first send to the last delivery at any subscriber;
//   latency     messages paced at a fixed rate; p50/p99 of (delivery - send) from the send
//               timestamp carried in the payload (same process, same steady clock).
// Each fan-out runs --reps times (default 3), ZeroMQ and plexus taking turns, so both see the
// same moments of the shared machine; the table gives medians over repetitions, and "vs zmq"
// the median of the per-repetition ratios with their range and how often plexus was ahead.
// Both systems run lossless here (plexus queues larger than the burst, ZeroMQ HWM 0 = no
// limit; with a finite HWM ZeroMQ PUB drops silently) and use one I/O thread
// per side: plexus a server runtime and a subscriber runtime; ZeroMQ a context per side and a
// receiving thread polling every SUB socket.
#include <zmq.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_report.hpp"
#include "plexus/plexus.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using plexus_bench::median;
constexpr std::size_t kPayload = 64;
constexpr auto kPhaseTimeout = std::chrono::seconds(60);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string make_payload(std::uint64_t seq) {
  std::string p(kPayload, 'x');
  const std::int64_t t = now_ns();
  std::memcpy(p.data(), &seq, 8);
  std::memcpy(p.data() + 8, &t, 8);
  return p;
}

std::int64_t sent_at(const char* data) {
  std::int64_t t;
  std::memcpy(&t, data + 8, 8);
  return t;
}

// Shared by the receivers of one phase: counts deliveries, keeps latency samples.
struct Sink {
  explicit Sink(std::uint64_t expected) : expected(expected) { latencies_ns.reserve(expected); }
  void record(const char* data) {  // one receiving thread at a time (see callers)
    latencies_ns.push_back(now_ns() - sent_at(data));
    if (++count == expected) {
      last_ns = now_ns();
      std::lock_guard lock(mu);
      cv.notify_all();
    }
  }
  bool wait() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kPhaseTimeout, [&] { return count.load() >= expected; });
  }
  std::uint64_t expected;
  std::atomic<std::uint64_t> count{0};
  std::int64_t last_ns = 0;
  std::vector<std::int64_t> latencies_ns;
  std::mutex mu;
  std::condition_variable cv;
};

struct Row {
  std::string system;
  int fanout = 0;
  double msgs_per_s = 0;          // deliveries per second, throughput phase
  double p50_us = 0, p99_us = 0;  // latency phase
  std::string error;
};

double percentile(std::vector<std::int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))]) /
         1000.0;
}

struct Plan {
  std::uint64_t burst;  // messages in the throughput phase
  std::uint64_t paced;  // messages in the latency phase
  std::chrono::microseconds spacing;
};

Plan plan_for(int fanout, bool quick) {
  const std::uint64_t deliveries = quick ? 50000 : 400000;
  return {std::max<std::uint64_t>(1000, deliveries / fanout), quick ? 200u : 1000u,
          std::chrono::microseconds(500)};
}

// Sleeps (not spins) until message i is due: on a 2-core machine a spinning publisher would
// take a core from the I/O threads it is measuring.
void pace(Clock::time_point start, std::uint64_t i, std::chrono::microseconds spacing) {
  std::this_thread::sleep_until(start + spacing * i);
}

// ---- plexus ----------------------------------------------------------------------------------

Row run_plexus(int fanout, const Plan& plan, const std::string& dir) {
  Row row;
  row.system = "plexus-unix";
  row.fanout = fanout;
  plexus::Runtime server_rt, sub_rt;
  plexus::ServerOptions so;
  so.listen = {"unix://" + dir + "/pubsub.sock"};
  auto server = plexus::Server::create(server_rt, so);
  if (!server || !(*server)->start()) {
    row.error = "server failed to start";
    return row;
  }
  std::vector<std::unique_ptr<plexus::Client>> clients;
  std::atomic<Sink*> sink{nullptr};
  std::atomic<std::uint64_t> warm{0};
  plexus::SubscribeOptions sub_options;
  sub_options.queue_limit = plan.burst + 16;  // lossless for the burst
  sub_options.policy = plexus::SlowPolicy::block;
  for (int i = 0; i < fanout; ++i) {
    plexus::ClientOptions co;
    co.address = so.listen.front();
    co.reconnect.enabled = false;
    auto c = plexus::Client::connect(sub_rt, co);
    if (!c) {
      row.error = c.error().to_string();
      return row;
    }
    auto id = (*c)->subscribe(
        "bench.>",
        [&sink, &warm](std::string_view topic, std::string_view payload) {
          if (topic == "bench.warm") {
            warm.fetch_add(1);
            return;
          }
          sink.load()->record(payload.data());  // every client runs on sub_rt's one thread
        },
        sub_options);
    if (!id) {
      row.error = id.error().to_string();
      return row;
    }
    clients.push_back(std::move(*c));
  }
  // Subscriptions are acknowledged, so this is only a warm-up of the paths.
  (void)(*server)->publish("bench.warm", make_payload(0));
  while (warm.load() < static_cast<std::uint64_t>(fanout)) std::this_thread::yield();

  Sink burst(plan.burst * fanout);
  sink = &burst;
  const auto t0 = now_ns();
  for (std::uint64_t i = 0; i < plan.burst; ++i) {
    (void)(*server)->publish("bench.data", make_payload(i));
  }
  if (!burst.wait()) {
    row.error = "burst: " + std::to_string(burst.count.load()) + " of " +
                std::to_string(burst.expected) + " delivered";
    return row;
  }
  row.msgs_per_s =
      static_cast<double>(burst.expected) * 1e9 / static_cast<double>(burst.last_ns - t0);

  Sink paced(plan.paced * fanout);
  sink = &paced;
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < plan.paced; ++i) {
    pace(start, i, plan.spacing);
    (void)(*server)->publish("bench.data", make_payload(i));
  }
  if (!paced.wait()) {
    row.error = "paced: " + std::to_string(paced.count.load()) + " delivered";
    return row;
  }
  row.p50_us = percentile(paced.latencies_ns, 0.50);
  row.p99_us = percentile(paced.latencies_ns, 0.99);
  clients.clear();
  (*server)->shutdown(plexus::Millis{0});
  return row;
}

// ---- ZeroMQ ----------------------------------------------------------------------------------

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string(what) + ": " + zmq_strerror(zmq_errno()));
}

Row run_zmq(int fanout, const Plan& plan, const std::string& dir) {
  Row row;
  row.system = "zmq-ipc";
  row.fanout = fanout;
  void* pub_ctx = zmq_ctx_new();
  void* sub_ctx = zmq_ctx_new();
  void* pub = zmq_socket(pub_ctx, ZMQ_PUB);
  std::vector<void*> subs;
  const std::string endpoint = "ipc://" + dir + "/zmq-pubsub.ipc";
  const int hwm = 0;  // no limit: lossless for the burst, as the plexus rows
  const int linger = 0;
  try {
    check(zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm), "SNDHWM");
    check(zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger), "LINGER");
    check(zmq_bind(pub, endpoint.c_str()), "bind");
    for (int i = 0; i < fanout; ++i) {
      void* s = zmq_socket(sub_ctx, ZMQ_SUB);
      subs.push_back(s);
      check(zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm), "RCVHWM");
      check(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), "LINGER");
      check(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "bench.", 6), "SUBSCRIBE");
      check(zmq_connect(s, endpoint.c_str()), "connect");
    }
    std::atomic<Sink*> sink{nullptr};
    std::atomic<bool> stop{false};
    std::vector<bool> warmed(fanout, false);
    std::atomic<int> warm_count{0};
    // The receiving thread: polls every SUB socket; topic frame then payload frame.
    std::thread receiver([&] {
      std::vector<zmq_pollitem_t> items(fanout);
      for (int i = 0; i < fanout; ++i) items[i] = {subs[i], 0, ZMQ_POLLIN, 0};
      char topic[64];
      char payload[kPayload];
      while (!stop.load()) {
        if (zmq_poll(items.data(), fanout, 100) <= 0) continue;
        for (int i = 0; i < fanout; ++i) {
          if (!(items[i].revents & ZMQ_POLLIN)) continue;
          while (true) {
            const int tn = zmq_recv(subs[i], topic, sizeof topic, ZMQ_DONTWAIT);
            if (tn < 0) break;
            const int pn = zmq_recv(subs[i], payload, sizeof payload, 0);
            if (pn < 16) continue;
            if (std::string_view(topic, std::min<int>(tn, sizeof topic)) == "bench.warm") {
              if (!warmed[i]) {
                warmed[i] = true;
                warm_count.fetch_add(1);
              }
              continue;
            }
            if (auto* s = sink.load()) s->record(payload);
          }
        }
      }
    });
    auto send = [&](const char* topic, const std::string& p) {
      zmq_send(pub, topic, std::strlen(topic), ZMQ_SNDMORE);
      zmq_send(pub, p.data(), p.size(), 0);
    };
    // Slow joiner: subscriptions reach the PUB asynchronously; warm up until all have one.
    const auto warm_deadline = Clock::now() + std::chrono::seconds(10);
    while (warm_count.load() < fanout && Clock::now() < warm_deadline) {
      send("bench.warm", make_payload(0));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (warm_count.load() < fanout) row.error = "subscribers did not join";
    if (row.error.empty()) {
      Sink burst(plan.burst * fanout);
      sink = &burst;
      const auto t0 = now_ns();
      for (std::uint64_t i = 0; i < plan.burst; ++i) send("bench.data", make_payload(i));
      if (!burst.wait()) {
        row.error = "burst: " + std::to_string(burst.count.load()) + " of " +
                    std::to_string(burst.expected) + " delivered";
      } else {
        row.msgs_per_s =
            static_cast<double>(burst.expected) * 1e9 / static_cast<double>(burst.last_ns - t0);
      }
      if (row.error.empty()) {
        Sink paced(plan.paced * fanout);
        sink = &paced;
        const auto start = Clock::now();
        for (std::uint64_t i = 0; i < plan.paced; ++i) {
          pace(start, i, plan.spacing);
          send("bench.data", make_payload(i));
        }
        if (!paced.wait()) {
          row.error = "paced: " + std::to_string(paced.count.load()) + " delivered";
        } else {
          row.p50_us = percentile(paced.latencies_ns, 0.50);
          row.p99_us = percentile(paced.latencies_ns, 0.99);
        }
      }
      sink = nullptr;
    }
    stop = true;
    receiver.join();
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  for (void* s : subs) zmq_close(s);
  zmq_close(pub);
  zmq_ctx_term(sub_ctx);
  zmq_ctx_term(pub_ctx);
  return row;
}

// One system at one fan-out over all repetitions: medians of each figure; the first error wins.
Row median_row(const std::vector<Row>& reps) {
  Row m = reps.front();
  std::vector<double> rate, p50, p99;
  for (const auto& r : reps) {
    if (!r.error.empty()) return r;
    rate.push_back(r.msgs_per_s);
    p50.push_back(r.p50_us);
    p99.push_back(r.p99_us);
  }
  m.msgs_per_s = median(rate);
  m.p50_us = median(p50);
  m.p99_us = median(p99);
  return m;
}

struct Versus {  // plexus/ZeroMQ delivered/s, per repetition
  double median = 0, lo = 0, hi = 0;
  int ahead = 0, reps = 0;
};

Versus versus(const std::vector<Row>& zmq, const std::vector<Row>& plexus) {
  std::vector<double> ratios;
  Versus v;
  for (std::size_t i = 0; i < zmq.size() && i < plexus.size(); ++i) {
    if (!zmq[i].error.empty() || !plexus[i].error.empty() || zmq[i].msgs_per_s <= 0) continue;
    ratios.push_back(plexus[i].msgs_per_s / zmq[i].msgs_per_s);
    v.ahead += ratios.back() > 1;
  }
  v.reps = static_cast<int>(ratios.size());
  if (ratios.empty()) return v;
  v.median = median(ratios);
  v.lo = *std::min_element(ratios.begin(), ratios.end());
  v.hi = *std::max_element(ratios.begin(), ratios.end());
  return v;
}

void write_json(const std::string& path, const std::vector<Row>& rows,
                const std::vector<Versus>& vs, bool quick, int reps) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path);
  out << "{\n  \"benchmark\": \"pubsub_fanout\",\n  \"quick\": " << (quick ? "true" : "false")
      << ",\n  \"repetitions\": " << reps << ",\n  \"payload_bytes\": " << kPayload
      << ",\n  \"hardware_threads\": " << std::thread::hardware_concurrency()
      << ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << "    {\"system\": \"" << r.system << "\", \"fanout\": " << r.fanout
        << ", \"msgs_per_s\": " << r.msgs_per_s << ", \"p50_us\": " << r.p50_us
        << ", \"p99_us\": " << r.p99_us << ", \"error\": \"" << r.error << "\"";
    if (r.system != "zmq-ipc") {
      const Versus& v = vs[i / 2];
      out << ", \"vs_zmq\": {\"median\": " << v.median << ", \"min\": " << v.lo
          << ", \"max\": " << v.hi << ", \"ahead\": " << v.ahead << ", \"reps\": " << v.reps << "}";
    }
    out << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // no per-connection info lines in the table
  bool quick = false;
  int reps = 3;
  int only_fanout = 0;  // 0: 1, 10 and 100
  bool plexus_only = false;
  std::string json = "bench/results/pubsub.json";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else if (a == "--reps" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--plexus-only") {
      plexus_only = true;  // to profile plexus alone; no ratios
    } else if (a == "--fanout" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      only_fanout = std::atoi(argv[++i]);  // e.g. to profile one row
    } else {
      std::cerr << "usage: plexus_bench_pubsub [--quick] [--reps N] [--fanout N] [--plexus-only]\n"
                   "                           [--json PATH]\n";
      return 2;
    }
  }
  char tmpl[] = "/tmp/plexus-pubsub-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  std::vector<Row> rows;
  std::vector<Versus> vs;
  std::printf(
      "pub/sub fan-out, %zu-byte messages, 1 publisher, medians of %d repetition(s) (%u hardware "
      "threads; shared machine: compare rows of the same run)\n",
      kPayload, reps, std::thread::hardware_concurrency());
  std::printf("%-12s %6s %14s %10s %10s  %s\n", "system", "subs", "delivered/s", "p50 us", "p99 us",
              "vs zmq (range, reps ahead)");
  for (int fanout : {1, 10, 100}) {
    if (only_fanout != 0 && fanout != only_fanout) continue;
    const Plan plan = plan_for(fanout, quick);
    std::vector<Row> z, p;
    for (int rep = 0; rep < reps; ++rep) {
      if (!plexus_only) z.push_back(run_zmq(fanout, plan, dir));
      p.push_back(run_plexus(fanout, plan, dir));
    }
    const Row zm =
        z.empty() ? Row{"zmq-ipc", fanout, 0, 0, 0, "not run (--plexus-only)"} : median_row(z);
    const Row pm = median_row(p);
    const Versus v = versus(z, p);
    for (const Row* r : {&zm, &pm}) {
      if (!r->error.empty()) {
        std::printf("%-12s %6d  error: %s\n", r->system.c_str(), r->fanout, r->error.c_str());
        continue;
      }
      std::printf("%-12s %6d %14.0f %10.1f %10.1f", r->system.c_str(), r->fanout, r->msgs_per_s,
                  r->p50_us, r->p99_us);
      if (r == &pm) {
        std::printf("  %.2fx (%.2f-%.2f, %d of %d)", v.median, v.lo, v.hi, v.ahead, v.reps);
      }
      std::printf("\n");
    }
    std::fflush(stdout);
    rows.push_back(zm);
    rows.push_back(pm);
    vs.push_back(v);
  }
  write_json(json, rows, vs, quick, reps);
  std::filesystem::remove_all(dir);
  std::printf("JSON: %s\n", json.c_str());
  return 0;
}
