// Durable messages per second, 64 B each, in one run:
//  - the store (src/durable/store.hpp) used directly: fsync'd one by one (every_message), in group
//    commits (append_batch, and append() from several threads), and without fsync (none), beside
//    plain SQLite used directly as a queue: one INSERT per transaction and a batch of INSERTs per
//    transaction, both WAL + synchronous=FULL on the same disk;
//  - end to end through a server (plexus/queue.hpp): an in-process Server with durable queues on
//    a Runtime of its own, a Client on another, over a Unix socket: QueueClient::send_async with a
//    window of messages in flight for each Durability, the blocking send() from 1 and 4 threads,
//    and a Consumer handling what was sent; beside non-durable notify through the same server;
//  - the same workload through NATS JetStream (a file-storage stream on a nats-server started for
//    the run), when nats-server and the NATS C client are installed.
// The spool-directory transport's rows join the end-to-end ones (group "spool", see Row).
// Prints a table and writes JSON (rendered into docs/BENCHMARKS.md by scripts/bench_table.py).
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <semaphore>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "durable/store.hpp"
#include "machine_info.hpp"
#include "plexus/plexus.hpp"
#include "scratch_dir.hpp"
#if PLEXUS_BENCH_NATS
#include "durable_nats_case.hpp"
#endif

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kPayload = 64;
constexpr std::size_t kBatch = 256;
constexpr int kThreads = 4;
// Messages in flight for the windowed senders (QueueClient::send_async, js_PublishAsync);
// --window sets it.
std::size_t window_size = 512;
// Deliveries the server hands the Consumer before it acknowledges any (ConsumerOptions);
// --prefetch sets it.
std::uint32_t prefetch = 256;
// How the I/O threads of the server's and the client's Runtime wait when idle; --idle-wait sets
// it (the default is the Runtime's).
plexus::WaitStrategy idle_wait = plexus::RuntimeOptions{}.idle_wait;

plexus::RuntimeOptions runtime_options() {
  plexus::RuntimeOptions o;
  o.idle_wait = idle_wait;
  return o;
}

// The end-to-end rows (the spool-directory transport's too) compare with this one.
const char* const kGroupCommitRow = "queue-async-group-commit";

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// CPU time of every thread of this process so far (those that exited included).
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Row {
  Row(std::string name_, std::string baseline_, std::string what_, std::size_t messages_,
      std::string group_, std::string durability_)
      : name(std::move(name_)),
        baseline(std::move(baseline_)),
        what(std::move(what_)),
        messages(messages_),
        group(std::move(group_)),
        durability(std::move(durability_)) {}

  std::string name;
  std::string baseline;  // the row this one is compared with ("" for the baselines)
  std::string what;
  std::size_t messages = 0;
  // "store" (the store used directly, and plain SQLite), "end_to_end" (through a server, and the
  // peers' servers) or "spool" (the spool-directory transport: written to the JSON's "spool"
  // list, which scripts/bench_table.py shows with the end-to-end rows).
  std::string group = "store";
  // What a message has survived once its sender is told it is stored.
  std::string durability;
  std::string not_run;  // why the row did not run ("" when it did)
  // Through a server: messages stored per commit (the server's sent / commits counters), one
  // figure per repetition; empty for the other rows.
  std::vector<double> per_commit;
  // CPU time per message of both sides (this process's threads: sender, server, its queue thread;
  // plus a peer's server process), one figure per repetition.
  std::vector<double> cpu_us;
  std::vector<double> seconds;  // one per repetition

  double median_seconds() const {
    auto s = seconds;
    std::sort(s.begin(), s.end());
    return s.empty() ? 0 : s[s.size() / 2];
  }
  bool ran() const { return not_run.empty() && !seconds.empty(); }
  double per_s() const { return ran() ? messages / median_seconds() : 0; }
  double lo() const {
    return ran() ? messages / *std::max_element(seconds.begin(), seconds.end()) : 0;
  }
  double hi() const {
    return ran() ? messages / *std::min_element(seconds.begin(), seconds.end()) : 0;
  }
};

// A fresh directory per run, so every run starts from an empty database.
std::string fresh_dir(const std::string& root) {
  static int n = 0;
  const std::string dir = root + "/run" + std::to_string(++n);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

// Plain SQLite as a queue: the same settings the store uses (WAL, exclusive lock, FULL), one
// table, `per_txn` INSERTs per transaction.
double run_sqlite(const std::string& root, std::size_t messages, std::size_t per_txn) {
  sqlite3* db = nullptr;
  check(sqlite3_open((fresh_dir(root) + "/raw.db").c_str(), &db), db, "open");
  check(sqlite3_exec(db,
                     "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
                     " PRAGMA synchronous=FULL;"
                     " CREATE TABLE q (seq INTEGER PRIMARY KEY, queue TEXT, payload BLOB)",
                     nullptr, nullptr, nullptr),
        db, "setup");
  sqlite3_stmt* insert = nullptr;
  check(sqlite3_prepare_v2(db, "INSERT INTO q (queue, payload) VALUES ('bench', ?1)", -1, &insert,
                           nullptr),
        db, "prepare");
  const std::string payload(kPayload, 'p');
  const auto start = Clock::now();
  for (std::size_t done = 0; done < messages;) {
    check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    for (std::size_t i = 0; i < per_txn && done < messages; ++i, ++done) {
      sqlite3_bind_blob(insert, 1, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
      check(sqlite3_step(insert), db, "insert");
      sqlite3_reset(insert);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return s;
}

std::unique_ptr<plexus::durable::DurableStore> open_store(const std::string& root,
                                                          plexus::Durability d) {
  plexus::durable::StoreOptions o;
  o.dir = fresh_dir(root);
  o.durability = d;
  o.queue_defaults.max_messages = 100'000'000;
  o.queue_defaults.max_bytes = 1ull << 40;
  auto store = plexus::durable::DurableStore::open(o);
  if (!store) throw std::runtime_error(store.error().to_string());
  return std::move(*store);
}

plexus::NewMessage message() {
  plexus::NewMessage m;
  m.queue = "bench";
  m.payload = std::string(kPayload, 'p');
  return m;
}

// append() one at a time from `threads` threads.
double run_appends(const std::string& root, plexus::Durability d, std::size_t messages,
                   int threads) {
  auto store = open_store(root, d);
  const auto m = message();
  std::mutex mu;
  std::string error;  // guarded by mu: the first failure, rethrown after the join
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      const auto n = static_cast<std::size_t>(threads);
      const std::size_t mine = messages / n + (static_cast<std::size_t>(t) < messages % n);
      for (std::size_t i = 0; i < mine; ++i) {
        if (auto a = store->append(m); !a) {
          std::lock_guard lock(mu);
          if (error.empty()) error = a.error().to_string();
          return;
        }
      }
    });
  for (auto& w : workers) w.join();
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!error.empty()) throw std::runtime_error(error);
  return s;
}

double run_batches(const std::string& root, std::size_t messages) {
  auto store = open_store(root, plexus::Durability::group_commit);
  const std::vector<plexus::NewMessage> batch(kBatch, message());
  const auto start = Clock::now();
  for (std::size_t done = 0; done < messages; done += kBatch) {
    const std::size_t n = std::min(kBatch, messages - done);
    if (auto a = store->append_batch(std::span(batch).first(n)); !a)
      throw std::runtime_error(a.error().to_string());
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `messages` through a spool directory, end to end: the time from the first send until the
// sender has read every ack and removed every file (the receiver runs in this process, on its
// own watcher thread; the sender's watcher reads the acks).
double run_spool(const std::string& root, std::size_t messages, bool sync) {
  plexus::SpoolOptions o;
  o.sync = sync;
  const std::string dir = fresh_dir(root) + "/group";
  auto receiver = plexus::SpoolReceiver::create(dir, o);
  if (!receiver) throw std::runtime_error(receiver.error().to_string());
  (void)(*receiver)->on_any([](const plexus::SpoolMessage&) -> plexus::Result<void> { return {}; });
  if (auto started = (*receiver)->start(); !started) {
    throw std::runtime_error(started.error().to_string());
  }
  auto sender = plexus::SpoolSender::create(dir, o);
  if (!sender) throw std::runtime_error(sender.error().to_string());
  const std::string payload(kPayload, 'p');
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < messages; ++i) {
    if (auto id = (*sender)->send("task", payload); !id) {
      throw std::runtime_error(id.error().to_string());
    }
  }
  if (!(*sender)->wait_idle(std::chrono::minutes(10))) {
    throw std::runtime_error("spool: messages still pending after 10 minutes");
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if ((*sender)->stats().acked != messages) throw std::runtime_error("spool: not all acknowledged");
  return s;
}

// ---- end to end, through a server ------------------------------------------------------------

template <typename T>
T unwrap(plexus::Result<T> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().to_string());
  return std::move(*r);
}

// A Server keeping durable queues (its own Runtime, its own empty data directory) on a Unix
// socket, and a connected Client on another Runtime: the two sides of a local IPC, in one
// process.
class QueueBench {
 public:
  QueueBench(const std::string& root, plexus::Durability d) {
    const std::string dir = fresh_dir(root);
    address_ = "unix://" + dir + "/q.sock";
    plexus::ServerOptions so;
    so.listen = {address_};
    so.durable.data_dir = dir + "/data";
    so.durable.durability = d;
    so.durable.queue_defaults.max_messages = 100'000'000;
    so.durable.queue_defaults.max_bytes = 1ull << 40;
    server_ = unwrap(plexus::Server::create(server_runtime_, so), "Server::create");
    server_->handle("bench.sink",
                    [this](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                      if (sunk_.fetch_add(1, std::memory_order_relaxed) + 1 == sink_target_)
                        sunk_all_.set_value();
                      return std::string();
                    });
    if (auto s = server_->start(); !s) throw std::runtime_error(s.error().to_string());
    client_ = connect();
  }
  ~QueueBench() {
    for (auto& c : clients_) c->close();
    client_->close();
    server_->shutdown(plexus::Millis{1000});
  }

  std::unique_ptr<plexus::Client> connect() {
    plexus::ClientOptions co;
    co.address = address_;
    co.reconnect.enabled = false;
    return unwrap(plexus::Client::connect(client_runtime_, co), "Client::connect");
  }
  plexus::Client& client() { return *client_; }
  plexus::Client& another_client() { return *clients_.emplace_back(connect()); }

  // Counts the notifies "bench.sink" receives; wait_sunk() returns once `n` have arrived.
  void expect_sunk(std::size_t n) { sink_target_ = n; }
  void wait_sunk() {
    if (sunk_all_.get_future().wait_for(std::chrono::seconds(120)) != std::future_status::ready)
      throw std::runtime_error("notify: " + std::to_string(sunk_.load()) + " arrived");
  }

 private:
  plexus::Runtime server_runtime_{runtime_options()};
  plexus::Runtime client_runtime_{runtime_options()};
  std::string address_;
  std::unique_ptr<plexus::Server> server_;
  std::unique_ptr<plexus::Client> client_;
  std::vector<std::unique_ptr<plexus::Client>> clients_;
  std::atomic<std::size_t> sunk_{0};
  std::atomic<std::size_t> sink_target_{0};
  std::promise<void> sunk_all_;
};

constexpr std::ptrdiff_t kMaxWindow = 1 << 20;

// send_async() with at most `window` messages waiting for their answer; returns once the last
// is stored (answered).
void send_windowed(plexus::QueueClient& queues, std::size_t messages, std::size_t window) {
  // Shared with the answers, which may still arrive after a timeout here.
  struct State {
    explicit State(std::size_t window) : room(static_cast<std::ptrdiff_t>(window)) {}
    std::counting_semaphore<kMaxWindow> room;
    std::atomic<std::size_t> answered{0};
    std::mutex mu;
    std::string error;  // guarded by mu: the first failure
    std::promise<void> all;
  };
  auto state = std::make_shared<State>(window);
  auto all = state->all.get_future();
  for (std::size_t i = 0; i < messages; ++i) {
    state->room.acquire();
    queues.send_async(message(), [state, messages](plexus::Result<plexus::Appended> r) {
      if (!r) {
        std::lock_guard lock(state->mu);
        if (state->error.empty()) state->error = r.error().to_string();
      }
      state->room.release();
      if (state->answered.fetch_add(1) + 1 == messages) state->all.set_value();
    });
  }
  if (all.wait_for(std::chrono::seconds(120)) != std::future_status::ready)
    throw std::runtime_error("send_async: " + std::to_string(state->answered.load()) + " answered");
  std::lock_guard lock(state->mu);
  if (!state->error.empty()) throw std::runtime_error("send_async: " + state->error);
}

// Messages per commit on the server so far: how well its group commit merged the sends.
double per_commit(plexus::QueueClient& queues) {
  const auto c = unwrap(queues.stats(), "stats").counters;
  return c.commits ? static_cast<double>(c.sent) / static_cast<double>(c.commits) : 0;
}

double run_queue_async(const std::string& root, plexus::Durability d, std::size_t messages,
                       std::vector<double>& merged) {
  QueueBench bench(root, d);
  plexus::QueueClient queues(bench.client());
  const auto start = Clock::now();
  send_windowed(queues, messages, window_size);
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  merged.push_back(per_commit(queues));
  return s;
}

// The blocking send() from `threads` threads, one client shared by them.
double run_queue_send(const std::string& root, std::size_t messages, int threads,
                      std::vector<double>& merged) {
  QueueBench bench(root, plexus::Durability::group_commit);
  plexus::QueueClient queues(bench.client());
  std::mutex mu;
  std::string error;  // guarded by mu
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      const auto n = static_cast<std::size_t>(threads);
      const std::size_t mine = messages / n + (static_cast<std::size_t>(t) < messages % n);
      for (std::size_t i = 0; i < mine; ++i) {
        if (auto r = queues.send(message()); !r) {
          std::lock_guard lock(mu);
          if (error.empty()) error = r.error().to_string();
          return;
        }
      }
    });
  for (auto& w : workers) w.join();
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!error.empty()) throw std::runtime_error("send: " + error);
  merged.push_back(per_commit(queues));
  return s;
}

// `messages` sent first (not timed), then a Consumer on another client handles them all: the
// time from its start() until the server counts the last acknowledgement.
double run_queue_consume(const std::string& root, std::size_t messages) {
  QueueBench bench(root, plexus::Durability::group_commit);
  plexus::QueueClient queues(bench.client());
  send_windowed(queues, messages, window_size);
  plexus::ConsumerOptions co;
  co.queue = "bench";
  co.prefetch = prefetch;
  // Declared before the consumer, whose handler uses them until it is destroyed.
  std::atomic<std::size_t> handled{0};
  std::promise<void> all;
  auto consumer = unwrap(plexus::Consumer::create(bench.another_client(), co), "Consumer");
  consumer->on_any([&](const plexus::Delivery&) -> plexus::Result<void> {
    if (handled.fetch_add(1) + 1 == messages) all.set_value();
    return {};
  });
  const auto start = Clock::now();
  if (auto s = consumer->start(); !s)
    throw std::runtime_error("Consumer::start: " + s.error().to_string());
  if (all.get_future().wait_for(std::chrono::seconds(120)) != std::future_status::ready)
    throw std::runtime_error("consume: " + std::to_string(handled.load()) + " handled");
  // The last acknowledgements are on their way: poll the server's counter (benchmarks may poll).
  for (const auto deadline = Clock::now() + std::chrono::seconds(30);;) {
    auto st = unwrap(queues.stats(), "stats");
    if (st.counters.acked >= messages) break;
    if (Clock::now() > deadline)
      throw std::runtime_error("consume: " + std::to_string(st.counters.acked) + " acknowledged");
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  consumer->stop();
  return s;
}

// Non-durable: notify() to a handler that counts, until it has seen them all.
double run_notify(const std::string& root, std::size_t messages) {
  QueueBench bench(root, plexus::Durability::none);
  bench.expect_sunk(messages);
  const std::string payload(kPayload, 'p');
  const auto start = Clock::now();
  for (std::size_t i = 0; i < messages; ++i) {
    if (auto r = bench.client().notify("bench.sink", payload); !r)
      throw std::runtime_error("notify: " + r.error().to_string());
  }
  bench.wait_sunk();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void write_row(std::ostream& out, const Row& r) {
  out << "    {\"name\": " << json_quote(r.name) << ", \"group\": " << json_quote(r.group)
      << ", \"baseline\": " << json_quote(r.baseline) << ", \"what\": " << json_quote(r.what)
      << ", \"durability\": " << json_quote(r.durability) << ", \"messages\": " << r.messages;
  if (!r.ran()) {
    out << ", \"not_run\": " << json_quote(r.not_run.empty() ? "no repetitions" : r.not_run) << "}";
    return;
  }
  out << ", \"median_seconds\": " << json_number(r.median_seconds())
      << ", \"messages_per_s\": " << json_number(r.per_s())
      << ", \"messages_per_s_lo\": " << json_number(r.lo())
      << ", \"messages_per_s_hi\": " << json_number(r.hi());
  if (!r.cpu_us.empty()) out << ", \"cpu_us_per_message\": " << json_number(median(r.cpu_us));
  if (!r.per_commit.empty())
    out << ", \"messages_per_commit\": " << json_number(median(r.per_commit));
  out << "}";
}

// "rows": the store's, the end-to-end and the peers' rows; "spool": the spool-directory
// transport's rows (group "spool"), in the same format, compared with kGroupCommitRow.
void write_json(const std::string& path, const std::vector<Row>& rows, int reps) {
  std::ofstream out(path);
  out << "{\n  \"benchmark\": \"durable_store\",\n  \"payload_bytes\": " << kPayload
      << ",\n  \"reps\": " << reps << ",\n  \"window\": " << window_size
      << ",\n  \"prefetch\": " << prefetch << ",\n  \"machine\": " << machine_json();
  for (const bool spool : {false, true}) {
    out << ",\n  \"" << (spool ? "spool" : "rows") << "\": [";
    const char* sep = "\n";
    for (const auto& r : rows) {
      if ((r.group == "spool") != spool) continue;
      out << sep;
      write_row(out, r);
      sep = ",\n";
    }
    out << "\n  ]";
  }
  out << "\n}\n";
}

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  using namespace plexus_bench;
  using plexus::Durability;
  // No per-connection info lines between the table's rows.
  if (!std::getenv("PLEXUS_LOG")) plexus::set_log_level(plexus::LogLevel::warn);
  std::string json_path = "bench/results/durable_store.json";
  int reps = 3;
  bool quick = false;
  std::string only;  // run the rows whose name contains this (all when empty)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--window" && i + 1 < argc) {
      window_size = static_cast<std::size_t>(
          std::clamp<long>(std::atol(argv[++i]), 1, static_cast<long>(kMaxWindow)));
    } else if (a == "--prefetch" && i + 1 < argc) {
      prefetch = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--idle-wait" && i + 1 < argc) {
      const std::string w = argv[++i];
      if (w != "adaptive" && w != "block" && w != "spin") {
        std::fprintf(stderr, "--idle-wait takes adaptive, block or spin\n");
        return 2;
      }
      idle_wait = w == "block"  ? plexus::WaitStrategy::block
                  : w == "spin" ? plexus::WaitStrategy::spin
                                : plexus::WaitStrategy::adaptive;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--quick") {
      quick = true;
      reps = 1;
    } else {
      std::fprintf(stderr,
                   "usage: plexus_bench_durable [--quick] [--reps N] [--json PATH] [--only "
                   "SUBSTRING] [--window N] [--prefetch N] [--idle-wait adaptive|block|spin]\n");
      return 2;
    }
  }
  // fsync per message costs ~0.1-1 ms: fewer messages there than in the batched rows.
  const std::size_t synced = quick ? 300 : 2'000;
  const std::size_t batched = quick ? 20'000 : 200'000;
  // Through the server: every_message and a blocking sender wait for an fsync per message, as
  // the store's every_message does; the windowed senders run at tens of thousands per second.
  const std::size_t e2e = quick ? 10'000 : 50'000;
  const std::size_t e2e_synced = synced;
  // What a message has survived when its sender is told it is stored (Row::durability; the
  // levels are explained beside the table in docs/BENCHMARKS.md).
  const std::string fsync_each = "fsync per message";
  const std::string fsync_shared = "fsync, shared by a group";
  const std::string no_fsync = "page cache, no fsync";
  const std::string window = std::to_string(window_size);
  try {
    ScratchDir dir;  // the run's databases; removed at the end
    struct Entry {
      Entry(Row r, std::function<double(std::size_t)> f, bool p = false)
          : row(std::move(r)), run(std::move(f)), peer(p) {}
      Row row;
      std::function<double(std::size_t)> run;
      bool peer;  // a failure marks the row not run instead of failing the benchmark
    };
    const auto& root = dir.path();
    std::map<std::string, std::vector<double>> merged;  // Row::per_commit by row name
    double child_cpu = 0;  // CPU seconds of a peer's server process during the run
    std::vector<Entry> entries = {
        {{"sqlite-insert-per-txn", "", "plain SQLite: 1 INSERT per transaction, FULL", synced,
          "store", "fsync per transaction"},
         [&](std::size_t n) { return run_sqlite(root, n, 1); }},
        {{"durable-every-message", "sqlite-insert-per-txn", "append(), fsync each", synced, "store",
          fsync_each},
         [&](std::size_t n) { return run_appends(root, Durability::every_message, n, 1); }},
        {{"sqlite-insert-batch-256", "", "plain SQLite: 256 INSERTs per transaction, FULL", batched,
          "store", "fsync per transaction"},
         [&](std::size_t n) { return run_sqlite(root, n, kBatch); }},
        {{"durable-group-commit-batch-256", "sqlite-insert-batch-256",
          "append_batch() of 256, one fsync each", batched, "store", fsync_shared},
         [&](std::size_t n) { return run_batches(root, n); }},
        {{"durable-group-commit-4-threads", "sqlite-insert-batch-256",
          "append() from 4 threads, merged commits", synced * 10, "store", fsync_shared},
         [&](std::size_t n) { return run_appends(root, Durability::group_commit, n, kThreads); }},
        {{"durable-none", "sqlite-insert-batch-256", "append() one at a time, no fsync",
          batched / 4, "store", no_fsync},
         [&](std::size_t n) { return run_appends(root, Durability::none, n, 1); }},

        {{kGroupCommitRow, "",
          "server, Durability::group_commit: QueueClient::send_async, " + window + " in flight",
          e2e, "end_to_end", fsync_shared},
         [&](std::size_t n) {
           return run_queue_async(root, Durability::group_commit, n, merged[kGroupCommitRow]);
         }},
        {{"queue-async-every-message", kGroupCommitRow,
          "server, Durability::every_message: send_async, " + window + " in flight", e2e_synced,
          "end_to_end", fsync_each},
         [&](std::size_t n) {
           return run_queue_async(root, Durability::every_message, n,
                                  merged["queue-async-every-message"]);
         }},
        {{"queue-async-none", kGroupCommitRow,
          "server, Durability::none: send_async, " + window + " in flight", e2e, "end_to_end",
          no_fsync},
         [&](std::size_t n) {
           return run_queue_async(root, Durability::none, n, merged["queue-async-none"]);
         }},
        {{"queue-send-group-commit-1-thread", kGroupCommitRow,
          "server, group_commit: blocking QueueClient::send() from 1 thread", e2e_synced,
          "end_to_end", fsync_shared},
         [&](std::size_t n) {
           return run_queue_send(root, n, 1, merged["queue-send-group-commit-1-thread"]);
         }},
        {{"queue-send-group-commit-4-threads", kGroupCommitRow,
          "server, group_commit: blocking send() from 4 threads, one client", e2e_synced * 2,
          "end_to_end", fsync_shared},
         [&](std::size_t n) {
           return run_queue_send(root, n, kThreads, merged["queue-send-group-commit-4-threads"]);
         }},
        {{"queue-consume-group-commit", kGroupCommitRow,
          "server, group_commit: a Consumer (prefetch " + std::to_string(prefetch) +
              ") handles messages sent before; until the server has the last ack",
          e2e / 2, "end_to_end", "sent: fsync, shared; acks: batched commits"},
         [&](std::size_t n) { return run_queue_consume(root, n); }},
        {{"notify-not-durable", kGroupCommitRow,
          "same server, Client::notify() to a handler that counts, until it saw them all", e2e * 2,
          "end_to_end", "not stored"},
         [&](std::size_t n) { return run_notify(root, n); }},
    };
    // nats-server 2.9's file store writes each message to the stream's file (write(2), flushed
    // in place) before the PubAck and fsyncs every 2 minutes on a timer (stream.go sets
    // SyncInterval = 2 min; the sync_interval option arrived in 2.10): survives kill -9 of
    // nats-server, not an OS crash.
    const std::string jetstream_durability = "page cache, fsync every 2 min";
    Row js_async{"jetstream-async",
                 kGroupCommitRow,
                 "NATS JetStream, file-storage stream: js_PublishAsync, " + window +
                     " in flight, until every PubAck",
                 e2e,
                 "end_to_end",
                 jetstream_durability};
    Row js_sync{"jetstream-sync-1-thread",
                kGroupCommitRow,
                "NATS JetStream, file-storage stream: js_Publish, 1 thread, each waits its PubAck",
                e2e_synced,
                "end_to_end",
                jetstream_durability};
#if PLEXUS_BENCH_NATS
    entries.push_back(
        {js_async,
         [&](std::size_t n) { return run_jetstream(root, n, kPayload, window_size, child_cpu); },
         true});
    entries.push_back(
        {js_sync, [&](std::size_t n) { return run_jetstream(root, n, kPayload, 0, child_cpu); },
         true});
#else
    js_async.not_run = js_sync.not_run =
        "not built: nats-server and the NATS C client (Debian: nats-server libnats-dev, which "
        "scripts/install-deps.sh installs) were missing when the build was configured";
    entries.push_back({js_async, nullptr, true});
    entries.push_back({js_sync, nullptr, true});
#endif
    // The spool-directory transport (include/plexus/spool.hpp): the JSON's "spool" list. A spool
    // message is four file operations (message, ack, two removals), each fsync'd file and
    // directory a few ms on a virtual disk: fewer messages still.
    const std::size_t spooled_synced = quick ? 50 : 300;
    const std::size_t spooled = quick ? 500 : 3'000;
    entries.push_back({{"spool-every-message", kGroupCommitRow,
                        "spool directory: send, handle, ack, clean up; fsync each file and "
                        "directory",
                        spooled_synced, "spool", fsync_each},
                       [&](std::size_t n) { return run_spool(root, n, true); }});
    entries.push_back(
        {{"spool-no-fsync", kGroupCommitRow,
          "spool directory: send, handle, ack, clean up; no fsync", spooled, "spool", no_fsync},
         [&](std::size_t n) { return run_spool(root, n, false); }});

    if (!only.empty())
      std::erase_if(entries,
                    [&](const Entry& e) { return e.row.name.find(only) == std::string::npos; });
    for (int r = 0; r < reps; ++r)  // interleaved, so load changes hit every row alike
      for (auto& e : entries) {
        if (!e.run || !e.row.not_run.empty()) continue;
        try {
          child_cpu = 0;
          const double cpu_before = process_cpu_seconds();
          e.row.seconds.push_back(e.run(e.row.messages));
          e.row.cpu_us.push_back((process_cpu_seconds() - cpu_before + child_cpu) * 1e6 /
                                 static_cast<double>(e.row.messages));
        } catch (const std::exception& ex) {
          if (!e.peer) throw;
          e.row.not_run = std::string("failed: ") + ex.what();
        }
      }
    std::vector<Row> rows;
    for (auto& e : entries) {
      e.row.per_commit = merged[e.row.name];
      rows.push_back(std::move(e.row));
    }
    std::printf("%-34s %9s %10s %10s %10s %8s %10s %10s\n", "durable 64 B messages", "messages",
                "msgs/s", "lo", "hi", "vs base", "CPU us/msg", "per commit");
    for (const auto& r : rows) {
      if (!r.ran()) {
        std::printf("%-34s not run: %s\n", r.name.c_str(), r.not_run.c_str());
        continue;
      }
      double ratio = 1;
      for (const auto& b : rows)
        if (b.name == r.baseline && b.ran()) ratio = r.per_s() / b.per_s();
      std::printf("%-34s %9zu %10.0f %10.0f %10.0f %7.2fx %10.1f", r.name.c_str(), r.messages,
                  r.per_s(), r.lo(), r.hi(), ratio, median(r.cpu_us));
      if (!r.per_commit.empty()) std::printf(" %10.1f", median(r.per_commit));
      std::printf("\n");
    }
    std::printf(
        "(median of %d repetitions, lo/hi the slowest and fastest; each row's own empty database "
        "in %s; store rows compare with their plain-SQLite baseline, end-to-end rows with %s; "
        "compare rows of this run only)\n",
        reps, dir.path().c_str(), kGroupCommitRow);
    std::filesystem::create_directories(std::filesystem::path(json_path).parent_path().empty()
                                            ? "."
                                            : std::filesystem::path(json_path).parent_path());
    write_json(json_path, rows, reps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus_bench_durable: %s\n", e.what());
    return 1;
  }
  return 0;
}
