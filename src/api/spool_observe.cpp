#include "api/spool_observe.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "api/fresh_figures.hpp"
#include "transport/spool/spool_census.hpp"

namespace plexus::detail {
namespace {

namespace sp = transport::spool;
using observe::MetricType;
using observe::Sample;

// One scrape reads several families: the census is taken once and shared by those that follow
// within this long.
constexpr auto kCensusFresh = std::chrono::milliseconds(100);

double seconds(std::chrono::milliseconds ms) {
  return std::chrono::duration<double>(ms).count();
}

// The directory's census, taken at most once per kCensusFresh.
using CensusCache = FreshFigures<sp::Census>;

nlohmann::json census_json(const std::optional<sp::Census>& c) {
  if (!c) return nullptr;
  return {
      {"ready", c->ready.count},
      {"waiting", c->waiting.count},
      {"oldest_pending_age_seconds", seconds(std::max(c->ready.oldest_age, c->waiting.oldest_age))},
      {"acks", c->acks.count},
      {"dead_letters", c->errors.count},
      {"oldest_dead_letter_age_seconds", seconds(c->errors.oldest_age)},
      {"temp_files", c->temporary.count},
      {"stale_temp_files", c->stale_temporary}};
}

}  // namespace

struct SpoolMetrics::Source {
  std::mutex mu;
  std::function<SpoolCounts()> read;  // guarded by mu; emptied by ~SpoolMetrics

  std::optional<SpoolCounts> get() {
    std::lock_guard lock(mu);
    if (!read) return std::nullopt;
    return read();
  }
};

struct SpoolMetrics::Directory {
  Directory(observe::Registry& reg, const sp::Layout& layout)
      : registry(reg),
        census(std::make_shared<CensusCache>(
            [layout] { return sp::take_census(layout, std::chrono::system_clock::now()); },
            "spool directory " + layout.root, kCensusFresh)) {
    const std::vector<std::string> labels{layout.root, layout.group};
    auto add = [&](const std::string& name, const std::string& help,
                   std::vector<std::string> label_names,
                   std::function<void(const sp::Census&, std::vector<Sample>&)> fn) {
      collectors.push_back(
          registry.add_collector(name, help, MetricType::gauge, std::move(label_names),
                                 [cache = census, fn = std::move(fn)](std::vector<Sample>& out) {
                                   if (const auto c = cache->get()) fn(*c, out);
                                 }));
    };
    auto with = [labels](std::initializer_list<std::string> more) {
      auto all = labels;
      all.insert(all.end(), more);
      return all;
    };
    add("plexus_spool_pending",
        "Messages in a spool directory's messages/, by state: ready (ID.msg: to be handled, or "
        "handled and not yet cleaned up by the sender), waiting (failed, waiting for their retry)",
        {"dir", "group", "state"}, [with](const sp::Census& c, std::vector<Sample>& out) {
          out.push_back({with({"ready"}), static_cast<double>(c.ready.count), {}});
          out.push_back({with({"waiting"}), static_cast<double>(c.waiting.count), {}});
        });
    add("plexus_spool_oldest_pending_age_seconds",
        "Time since the oldest message file in a spool directory's messages/ was written (0: "
        "none)",
        {"dir", "group"}, [labels](const sp::Census& c, std::vector<Sample>& out) {
          out.push_back({labels, seconds(std::max(c.ready.oldest_age, c.waiting.oldest_age)), {}});
        });
    add("plexus_spool_acks", "Ack files in a spool directory's acks/ the sender has not cleaned up",
        {"dir", "group"}, [labels](const sp::Census& c, std::vector<Sample>& out) {
          out.push_back({labels, static_cast<double>(c.acks.count), {}});
        });
    add("plexus_spool_dead_letters",
        "Files in a spool directory's errors/: dead letters and refused files (reason files not "
        "counted)",
        {"dir", "group"}, [labels](const sp::Census& c, std::vector<Sample>& out) {
          out.push_back({labels, static_cast<double>(c.errors.count), {}});
        });
    add("plexus_spool_dead_letter_oldest_age_seconds",
        "Time since the oldest file in a spool directory's errors/ was last written (0: none)",
        {"dir", "group"}, [labels](const sp::Census& c, std::vector<Sample>& out) {
          out.push_back({labels, seconds(c.errors.oldest_age), {}});
        });
    add("plexus_spool_temp_files",
        "Temporary (.tmp-) files in a spool directory: fresh (writes under way) or stale (left "
        "by a writer that crashed; removed when a sender or receiver starts)",
        {"dir", "group", "state"}, [with](const sp::Census& c, std::vector<Sample>& out) {
          out.push_back(
              {with({"fresh"}), static_cast<double>(c.temporary.count - c.stale_temporary), {}});
          out.push_back({with({"stale"}), static_cast<double>(c.stale_temporary), {}});
        });
  }

  ~Directory() {
    for (const auto id : collectors) registry.remove_collector(id);
  }

  observe::Registry& registry;
  std::shared_ptr<CensusCache> census;
  std::vector<std::uint64_t> collectors;
};

namespace {

// The directories with gauges, per registry: a directory's are registered once, however many
// senders and receivers of it the process has, and removed with the last of them.
std::mutex g_directories_mu;
std::map<std::pair<const observe::Registry*, std::string>, std::weak_ptr<SpoolMetrics::Directory>>
    g_directories;  // guarded by g_directories_mu

std::shared_ptr<SpoolMetrics::Directory> directory_of(observe::Registry& registry,
                                                      const sp::Layout& layout) {
  std::lock_guard lock(g_directories_mu);
  std::erase_if(g_directories, [](const auto& entry) { return entry.second.expired(); });
  auto& slot = g_directories[{&registry, layout.root}];
  auto directory = slot.lock();
  if (!directory) {
    directory = std::make_shared<SpoolMetrics::Directory>(registry, layout);
    slot = directory;
  }
  return directory;
}

}  // namespace

SpoolMetrics::SpoolMetrics(observe::Registry& registry, const sp::Layout& layout, std::string role,
                           std::function<SpoolCounts()> read)
    : registry_(registry),
      source_(std::make_shared<Source>()),
      directory_(directory_of(registry, layout)) {
  source_->read = std::move(read);
  const std::string dir = layout.root;
  const std::string group = layout.group;
  collectors_.push_back(registry_.add_collector(
      "plexus_spool_messages_total",
      "Spool messages by what happened to them, counted by a sender (sent, acked, retried, "
      "dead_lettered, adopted) or a receiver (delivered, redelivered, acked, failed, duplicate, "
      "corrupt) since it was created",
      MetricType::counter, {"dir", "group", "role", "outcome"},
      [source = source_, dir, group, role](std::vector<Sample>& out) {
        const auto counts = source->get();
        if (!counts) return;
        for (const auto& [outcome, n] : counts->outcomes) {
          out.push_back({{dir, group, role, std::string(outcome)}, static_cast<double>(n), {}});
        }
      }));
  collectors_.push_back(registry_.add_collector(
      "plexus_spool_stale_temp_files_removed_total",
      "Temporary files a crashed writer left in a spool directory, removed when a sender or "
      "receiver started",
      MetricType::counter, {"dir", "group", "role"},
      [source = source_, dir, group, role](std::vector<Sample>& out) {
        const auto counts = source->get();
        if (!counts) return;
        out.push_back(
            {{dir, group, role}, static_cast<double>(counts->stale_temp_files_removed), {}});
      }));
  sections_.push_back(registry_.add_section(
      "spools", [source = source_, census = directory_->census, dir, group, role] {
        auto rows = nlohmann::json::array();
        const auto counts = source->get();
        if (!counts) return rows;
        auto row = nlohmann::json{{"dir", dir}, {"group", group}, {"role", role}};
        auto outcomes = nlohmann::json::object();
        for (const auto& [outcome, n] : counts->outcomes) outcomes[std::string(outcome)] = n;
        row["messages"] = std::move(outcomes);
        row["stale_temp_files_removed"] = counts->stale_temp_files_removed;
        row["directory"] = census_json(census->get());
        rows.push_back(std::move(row));
        return rows;
      }));
}

SpoolMetrics::~SpoolMetrics() {
  for (const auto id : collectors_) registry_.remove_collector(id);
  for (const auto id : sections_) registry_.remove_section(id);
  // A scrape that copied the collectors before their removal may still run them: it finds no
  // `read` once this returns.
  std::lock_guard lock(source_->mu);
  source_->read = nullptr;
}

}  // namespace plexus::detail
