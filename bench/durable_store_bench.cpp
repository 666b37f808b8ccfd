// Durable appends per second (src/durable/store.hpp): 64 B messages fsync'd one by one
// (every_message), in group commits (append_batch, and append() from several threads), and
// without fsync (none), beside plain SQLite used directly as a queue in the same run: one
// INSERT per transaction and a batch of INSERTs per transaction, both WAL + synchronous=FULL
// on the same disk. Beside them, the same 64 B messages through a spool directory
// (plexus/spool.hpp) end to end: written by a SpoolSender, handled by a SpoolReceiver,
// acknowledged and cleaned up, with an fsync per file and without. Prints a table and writes
// JSON.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "durable/store.hpp"
#include "machine_info.hpp"
#include "plexus/spool.hpp"
#include "scratch_dir.hpp"

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kPayload = 64;
constexpr std::size_t kBatch = 256;
constexpr int kThreads = 4;

struct Row {
  std::string name;
  std::string baseline;  // the row this one is compared with ("" for the baselines)
  std::string what;
  std::size_t messages = 0;
  std::vector<double> seconds;  // one per repetition

  double median_seconds() const {
    auto s = seconds;
    std::sort(s.begin(), s.end());
    return s.empty() ? 0 : s[s.size() / 2];
  }
  double per_s() const { return messages / median_seconds(); }
  double lo() const { return messages / *std::max_element(seconds.begin(), seconds.end()); }
  double hi() const { return messages / *std::min_element(seconds.begin(), seconds.end()); }
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
  const auto start = Clock::now();
  for (std::size_t i = 0; i < messages; ++i) {
    if (auto id = (*sender)->send("task", payload); !id) {
      throw std::runtime_error(id.error().to_string());
    }
  }
  if (!(*sender)->wait_idle(std::chrono::minutes(10))) {
    throw std::runtime_error("spool: messages still pending after 10 minutes");
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  if ((*sender)->stats().acked != messages) throw std::runtime_error("spool: not all acknowledged");
  return s;
}

void write_json(const std::string& path, const std::vector<Row>& rows, int reps) {
  std::ofstream out(path);
  out << "{\n  \"benchmark\": \"durable_store\",\n  \"payload_bytes\": " << kPayload
      << ",\n  \"reps\": " << reps << ",\n  \"machine\": " << machine_json()
      << ",\n  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << "    {\"name\": " << json_quote(r.name) << ", \"baseline\": " << json_quote(r.baseline)
        << ", \"what\": " << json_quote(r.what) << ", \"messages\": " << r.messages
        << ", \"median_seconds\": " << json_number(r.median_seconds())
        << ", \"messages_per_s\": " << json_number(r.per_s())
        << ", \"messages_per_s_lo\": " << json_number(r.lo())
        << ", \"messages_per_s_hi\": " << json_number(r.hi()) << "}"
        << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
}

}  // namespace
}  // namespace plexus_bench

int main(int argc, char** argv) {
  using namespace plexus_bench;
  using plexus::Durability;
  std::string json_path = "bench/results/durable_store.json";
  int reps = 3;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--quick") {
      quick = true;
      reps = 1;
    } else {
      std::fprintf(stderr, "usage: plexus_bench_durable [--quick] [--reps N] [--json PATH]\n");
      return 2;
    }
  }
  // fsync per message costs ~0.1-1 ms: fewer messages there than in the batched rows.
  const std::size_t synced = quick ? 300 : 2'000;
  const std::size_t batched = quick ? 20'000 : 200'000;
  // A spool message is four file operations (message, ack, two removals), each fsync'd file
  // and directory a few ms on a virtual disk: fewer still.
  const std::size_t spooled_synced = quick ? 50 : 300;
  const std::size_t spooled = quick ? 500 : 3'000;
  try {
    ScratchDir dir;  // the run's databases; removed at the end
    std::vector<Row> rows = {
        {"sqlite-insert-per-txn", "", "plain SQLite: 1 INSERT per transaction, FULL", synced, {}},
        {"durable-every-message", "sqlite-insert-per-txn", "append(), fsync each", synced, {}},
        {"sqlite-insert-batch-256",
         "",
         "plain SQLite: 256 INSERTs per transaction, FULL",
         batched,
         {}},
        {"durable-group-commit-batch-256",
         "sqlite-insert-batch-256",
         "append_batch() of 256, one fsync each",
         batched,
         {}},
        {"durable-group-commit-4-threads",
         "sqlite-insert-batch-256",
         "append() from 4 threads, merged commits",
         batched / 4,
         {}},
        {"durable-none",
         "sqlite-insert-batch-256",
         "append() one at a time, no fsync",
         batched / 4,
         {}},
        {"spool-every-message",
         "durable-every-message",
         "spool dir: send, handle, ack, clean up; fsync each file",
         spooled_synced,
         {}},
        {"spool-no-fsync",
         "durable-none",
         "spool dir: send, handle, ack, clean up; no fsync",
         spooled,
         {}},
    };
    const std::vector<std::function<double(std::size_t)>> runs = {
        [&](std::size_t n) { return run_sqlite(dir.path(), n, 1); },
        [&](std::size_t n) { return run_appends(dir.path(), Durability::every_message, n, 1); },
        [&](std::size_t n) { return run_sqlite(dir.path(), n, kBatch); },
        [&](std::size_t n) { return run_batches(dir.path(), n); },
        [&](std::size_t n) {
          return run_appends(dir.path(), Durability::group_commit, n, kThreads);
        },
        [&](std::size_t n) { return run_appends(dir.path(), Durability::none, n, 1); },
        [&](std::size_t n) { return run_spool(dir.path(), n, true); },
        [&](std::size_t n) { return run_spool(dir.path(), n, false); },
    };
    for (int r = 0; r < reps; ++r)  // interleaved, so load changes hit every row alike
      for (std::size_t i = 0; i < rows.size(); ++i)
        rows[i].seconds.push_back(runs[i](rows[i].messages));
    std::printf("%-32s %9s %12s %12s %12s %9s\n", "durable 64 B appends", "messages", "msgs/s",
                "lo", "hi", "vs base");
    for (const auto& r : rows) {
      double ratio = 1;
      for (const auto& b : rows)
        if (b.name == r.baseline) ratio = r.per_s() / b.per_s();
      std::printf("%-32s %9zu %12.0f %12.0f %12.0f %8.2fx\n", r.name.c_str(), r.messages, r.per_s(),
                  r.lo(), r.hi(), ratio);
    }
    std::printf(
        "(median of %d repetitions, lo/hi the slowest and fastest; each row's own empty database "
        "in %s; compare rows of this run only)\n",
        reps, dir.path().c_str());
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
