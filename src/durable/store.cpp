// DurableStore: opening, queue settings, the clock, ids and stats. Appends are in append.cpp,
// leases and acks in delivery.cpp, dead letters in dead_letters.cpp.
#include "durable/store.hpp"

#include <filesystem>
#include <random>
#include <system_error>

#include <nlohmann/json.hpp>

#include "durable/queue_name.hpp"
#include "durable/schema.hpp"

namespace plexus::durable {
namespace {

std::uint64_t random_u64() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

Result<void> make_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(ec == std::errc::permission_denied || ec == std::errc::read_only_file_system
                          ? StatusCode::permission_denied
                          : StatusCode::unavailable,
                      dir + ": cannot create the data directory: " + ec.message());
  if (!std::filesystem::is_directory(dir, ec))
    return make_error(StatusCode::failed_precondition, dir + ": not a directory");
  return {};
}

}  // namespace

DurableStore::DurableStore(StoreOptions options, std::unique_ptr<Connection> db)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : Clock::steady()),
      steady_anchor_(clock_->now()),
      wall_anchor_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()),
      id_prefix_(random_u64()),
      db_(std::move(db)) {}

DurableStore::~DurableStore() = default;

Result<std::unique_ptr<DurableStore>> DurableStore::open(StoreOptions options) {
  if (options.dir.empty())
    return make_error(StatusCode::invalid_argument, "the durable store needs a data directory");
  if (options.max_group == 0) options.max_group = 1;
  if (auto made = make_directory(options.dir); !made) return tl::unexpected(made.error());
  auto db = Connection::open(options.dir + "/plexus.db");
  if (!db) return tl::unexpected(std::move(db.error()));
  if (auto ready = prepare_database(**db, options.durability); !ready)
    return tl::unexpected(std::move(ready.error()));
  std::unique_ptr<DurableStore> store(new DurableStore(std::move(options), std::move(*db)));
  std::lock_guard lock(store->db_mu_);
  if (auto loaded = store->load_usage(); !loaded) return tl::unexpected(loaded.error());
  if (auto released = store->release_all_leases(); !released)
    return tl::unexpected(released.error());
  return store;
}

std::int64_t DurableStore::now_ms() const {
  return wall_anchor_ms_ +
         std::chrono::duration_cast<std::chrono::milliseconds>(clock_->now() - steady_anchor_)
             .count();
}

Result<void> DurableStore::configure_queue(std::string_view queue, const QueueOptions& options) {
  if (auto ok = validate_name(queue, "queue name"); !ok) return ok;
  std::lock_guard lock(db_mu_);
  queue_options_.insert_or_assign(std::string(queue), options);
  return {};
}

const QueueOptions& DurableStore::queue_options(std::string_view queue) const {
  auto it = queue_options_.find(queue);
  return it == queue_options_.end() ? options_.queue_defaults : it->second;
}

Result<void> DurableStore::load_usage() {
  auto q = db_->use("SELECT queue, count(*), sum(length(payload)) FROM messages GROUP BY queue");
  if (!q) return tl::unexpected(std::move(q.error()));
  usage_.clear();
  for (;;) {
    auto row = q->step("counting the queues");
    if (!row) return tl::unexpected(std::move(row.error()));
    if (!*row) return {};
    usage_[q->text(0)] = QueueUsage{static_cast<std::uint64_t>(q->int64(1)),
                                    static_cast<std::uint64_t>(q->int64(2))};
  }
}

Result<std::size_t> DurableStore::release_all_leases() {
  auto q = db_->use(
      "UPDATE messages SET lease_owner = NULL, lease_deadline = NULL,"
      " history = json_insert(history, '$[#]', json_object('at', ?1, 'reason', 'released_on_open',"
      " 'status', 14, 'message', 'the lease of consumer ' || lease_owner ||"
      " ' ended with the process that had the store open'))"
      " WHERE lease_owner IS NOT NULL");
  if (!q) return tl::unexpected(std::move(q.error()));
  q->bind(1, now_ms());
  if (auto done = q->run("releasing the leases of the previous process"); !done)
    return tl::unexpected(std::move(done.error()));
  return static_cast<std::size_t>(db_->changes());
}

std::string DurableStore::next_id() {
  // 64 random bits per open and a counter: unique across servers and restarts (the chance of
  // two opens drawing the same prefix is 2^-64), and cheap.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  const std::uint64_t parts[2] = {id_prefix_, ++id_counter_};
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 16; ++i) id[p * 16 + i] = kHex[(parts[p] >> (60 - 4 * i)) & 0xf];
  return id;
}

Result<DurableStats> DurableStore::stats() {
  std::lock_guard lock(db_mu_);
  const std::int64_t now = now_ms();
  std::map<std::string, QueueStats, std::less<>> queues;
  {
    auto q = db_->use(
        "SELECT queue, sum(lease_owner IS NULL AND not_before <= ?1),"
        " sum(lease_owner IS NULL AND not_before > ?1), sum(lease_owner IS NOT NULL),"
        " sum(length(payload)),"
        " min(CASE WHEN lease_owner IS NULL AND not_before <= ?1 THEN not_before END)"
        " FROM messages GROUP BY queue");
    if (!q) return tl::unexpected(std::move(q.error()));
    q->bind(1, now);
    for (;;) {
      auto row = q->step("reading queue figures");
      if (!row) return tl::unexpected(std::move(row.error()));
      if (!*row) break;
      QueueStats& s = queues[q->text(0)];
      s.ready = static_cast<std::uint64_t>(q->int64(1));
      s.delayed = static_cast<std::uint64_t>(q->int64(2));
      s.in_flight = static_cast<std::uint64_t>(q->int64(3));
      s.bytes = static_cast<std::uint64_t>(q->int64(4));
      if (!q->is_null(5)) s.oldest_ready_age = std::chrono::milliseconds(now - q->int64(5));
    }
  }
  {
    auto q = db_->use("SELECT queue, count(*), min(dead_at) FROM dead_letters GROUP BY queue");
    if (!q) return tl::unexpected(std::move(q.error()));
    for (;;) {
      auto row = q->step("reading dead-letter figures");
      if (!row) return tl::unexpected(std::move(row.error()));
      if (!*row) break;
      QueueStats& s = queues[q->text(0)];
      s.dead_letters = static_cast<std::uint64_t>(q->int64(1));
      s.oldest_dead_letter_age = std::chrono::milliseconds(now - q->int64(2));
    }
  }
  DurableStats stats;
  for (auto& [name, s] : queues) {
    s.queue = name;
    stats.queues.push_back(std::move(s));
  }
  stats.counters = counters_;
  return stats;
}

std::size_t DurableStore::waiting_appends() const {
  std::lock_guard lock(group_mu_);
  return waiting_.size();
}

}  // namespace plexus::durable
