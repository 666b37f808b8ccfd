// The metrics registry: counters, gauges and log-linear histograms in labelled families.
// A family is registered once (by name; registering it again returns the same family) and a
// labelled child is looked up once; the caller keeps the reference, so the hot path is one
// relaxed atomic add with no lookup and no lock. Values computed when read (connections open,
// memory, the state of something another module owns) come from collectors.
//
// Ownership: the Runtime owns one Registry; families, children and their addresses live as long
// as it. Threading: everything is thread-safe; recording never blocks. Errors: registering a
// name again with another type or other label names throws std::logic_error (a programming
// error, caught at startup).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace plexus::observe {

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Counts of one Histogram read at one moment, with quantiles.
struct HistogramSnapshot {
  std::vector<std::uint64_t> buckets;  // one count per Histogram bucket
  std::uint64_t count = 0;
  std::uint64_t sum = 0;  // in recorded units
  // The q-quantile (0..1) in recorded units: the middle of the bucket holding it; 0 if empty.
  // Accurate to the bucket width, at most 1/16 of the value either way.
  double quantile(double q) const;
  // How many recorded values are certainly <= bound (whole buckets only).
  std::uint64_t count_at_most(double bound) const;
};

// HdrHistogram-like log-linear buckets over non-negative integers (latencies in nanoseconds):
// exact below 8, then 8 buckets per power of two, up to 2^40 (values above land in the last
// bucket). 312 atomic counts; recording is two relaxed adds.
class Histogram {
 public:
  static constexpr int kSubBits = 3;
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  static constexpr int kMaxExponent = 40;
  static constexpr std::size_t kBuckets = (kMaxExponent - kSubBits + 1) * kSub + kSub;

  static std::size_t bucket_of(std::uint64_t v) noexcept;
  static std::uint64_t bucket_lower(std::size_t i) noexcept;  // smallest value in bucket i
  static std::uint64_t bucket_upper(std::size_t i) noexcept;  // largest value in bucket i

  void record(std::uint64_t v) noexcept {
    buckets_[bucket_of(v)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }
  HistogramSnapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> sum_{0};
};

enum class MetricType { counter, gauge, histogram };
std::string_view to_string(MetricType type);

// One labelled value of a family, as read.
struct Sample {
  std::vector<std::string> label_values;  // in the family's label-name order
  double value = 0;                       // counters and gauges
  HistogramSnapshot histogram;            // histograms
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::counter;
  std::vector<std::string> label_names;
  // Histograms: exported value = recorded value * scale (ns -> s: 1e-9), and the `le` bounds
  // (in exported units) of the Prometheus buckets.
  double scale = 1;
  std::vector<double> bounds;
  std::vector<Sample> samples;
};

using Snapshot = std::vector<FamilySnapshot>;  // sorted by name

// Latency bounds in seconds for the Prometheus export: 1 us to 10 s.
const std::vector<double>& default_latency_bounds();

// A family of children of one metric type, one per label-value tuple. with() takes a lock and
// may allocate: call it once and keep the reference (stable for the registry's lifetime).
template <typename Metric>
class Family {
 public:
  Metric& with(const std::vector<std::string>& label_values = {}) {
    std::lock_guard lock(mu_);
    auto& slot = children_[label_values];
    if (!slot) slot = std::make_unique<Metric>();
    return *slot;
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [labels, metric] : children_) fn(labels, *metric);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // guarded by mu_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& counter(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help,
                     std::vector<std::string> label_names = {});
  // `scale` and `bounds`: see FamilySnapshot (defaults: nanoseconds exported as seconds).
  HistogramFamily& histogram(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names = {}, double scale = 1e-9,
                             std::vector<double> bounds = default_latency_bounds());

  // A family whose samples `collect` computes at read time (counter or gauge). Several
  // collectors may feed one family (two servers in one process): samples with equal labels are
  // added. Returns an id for remove_collector; the owner of what `collect` reads must remove it
  // before that goes away. `collect` runs on the reading thread, without registry locks held.
  using CollectFn = std::function<void(std::vector<Sample>& out)>;
  std::uint64_t add_collector(const std::string& name, const std::string& help, MetricType type,
                              std::vector<std::string> label_names, CollectFn collect);
  void remove_collector(std::uint64_t id);

  // Sections of the status page and of the JSON snapshot ("topics", "breakers", "caches"…):
  // each returns a JSON array of rows. Same lifetime rule as collectors.
  using SectionFn = std::function<nlohmann::json()>;
  std::uint64_t add_section(const std::string& key, SectionFn section);
  void remove_section(std::uint64_t id);
  // Every section's rows merged per key.
  nlohmann::json sections() const;

  Snapshot collect() const;

 private:
  struct Entry;
  struct Collector;
  struct Section;
  Entry& find_or_add(const std::string& name, const std::string& help, MetricType type,
                     std::vector<std::string> label_names);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;  // guarded by mu_
  std::vector<std::shared_ptr<Collector>> collectors_;     // guarded by mu_
  std::vector<std::shared_ptr<Section>> sections_;         // guarded by mu_
  std::uint64_t next_id_ = 1;                              // guarded by mu_
};

// A generic JSON form of a snapshot: {name: {type, help, samples: [{labels:{…}, value} |
// {labels, count, sum, p50, p90, p99}]}} with histogram values in exported units.
nlohmann::json to_json(const Snapshot& snapshot);

}  // namespace plexus::observe
