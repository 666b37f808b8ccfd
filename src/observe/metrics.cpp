#include "observe/metrics.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <variant>

namespace plexus::observe {

// ---- histogram -----------------------------------------------------------------------------

std::size_t Histogram::bucket_of(std::uint64_t v) noexcept {
  if (v < kSub) return static_cast<std::size_t>(v);
  const int e = 63 - std::countl_zero(v);  // >= kSubBits
  if (e > kMaxExponent) return kBuckets - 1;
  const auto sub = (v >> (e - kSubBits)) & (kSub - 1);
  return static_cast<std::size_t>(e - kSubBits + 1) * kSub + static_cast<std::size_t>(sub);
}

std::uint64_t Histogram::bucket_lower(std::size_t i) noexcept {
  if (i < kSub) return i;
  const int e = static_cast<int>(i / kSub) + kSubBits - 1;
  const std::uint64_t sub = i % kSub;
  return (std::uint64_t{1} << e) + (sub << (e - kSubBits));
}

std::uint64_t Histogram::bucket_upper(std::size_t i) noexcept {
  if (i + 1 >= kBuckets) return UINT64_MAX;
  return bucket_lower(i + 1) - 1;
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  s.buckets.resize(kBuckets);
  for (std::size_t i = 0; i < kBuckets; ++i) {
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    s.count += s.buckets[i];
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

double HistogramSnapshot::quantile(double q) const {
  if (count == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the value sought, 1-based: the smallest bucket whose running count reaches it.
  const auto rank =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * static_cast<double>(count) + 0.5));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      const double lo = static_cast<double>(Histogram::bucket_lower(i));
      if (i + 1 >= Histogram::kBuckets) return lo;
      return (lo + static_cast<double>(Histogram::bucket_upper(i))) / 2;
    }
  }
  return static_cast<double>(Histogram::bucket_lower(buckets.size() - 1));
}

std::uint64_t HistogramSnapshot::count_at_most(double bound) const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (static_cast<double>(Histogram::bucket_upper(i)) > bound) break;
    n += buckets[i];
  }
  return n;
}

const std::vector<double>& default_latency_bounds() {
  static const std::vector<double> bounds{
      1e-6, 2.5e-6, 5e-6,  10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3,
      5e-3, 10e-3,  25e-3, 50e-3, 0.1,   0.25,  0.5,    1,      2.5,    5,    10};
  return bounds;
}

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

// ---- registry ------------------------------------------------------------------------------

struct Registry::Entry {
  std::string help;
  MetricType type;
  std::vector<std::string> label_names;
  double scale = 1;
  std::vector<double> bounds;
  // The family itself for recorded metrics; monostate for collector-only families.
  std::variant<std::monostate, std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
               std::unique_ptr<HistogramFamily>>
      family;
};

struct Registry::Collector {
  std::uint64_t id;
  std::string name;
  CollectFn collect;
};

struct Registry::Section {
  std::uint64_t id;
  std::string key;
  SectionFn rows;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::find_or_add(const std::string& name, const std::string& help,
                                       MetricType type, std::vector<std::string> label_names) {
  auto& slot = entries_[name];
  if (!slot) {
    slot = std::make_unique<Entry>();
    slot->help = help;
    slot->type = type;
    slot->label_names = std::move(label_names);
    return *slot;
  }
  if (slot->type != type || slot->label_names != label_names) {
    throw std::logic_error("metric " + name + " registered again with another type or labels");
  }
  return *slot;
}

CounterFamily& Registry::counter(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  auto& e = find_or_add(name, help, MetricType::counter, std::move(label_names));
  if (std::holds_alternative<std::monostate>(e.family)) {
    e.family = std::make_unique<CounterFamily>();
  }
  return *std::get<std::unique_ptr<CounterFamily>>(e.family);
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  auto& e = find_or_add(name, help, MetricType::gauge, std::move(label_names));
  if (std::holds_alternative<std::monostate>(e.family)) {
    e.family = std::make_unique<GaugeFamily>();
  }
  return *std::get<std::unique_ptr<GaugeFamily>>(e.family);
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help,
                                     std::vector<std::string> label_names, double scale,
                                     std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& e = find_or_add(name, help, MetricType::histogram, std::move(label_names));
  if (std::holds_alternative<std::monostate>(e.family)) {
    e.scale = scale;
    e.bounds = std::move(bounds);
    e.family = std::make_unique<HistogramFamily>();
  }
  return *std::get<std::unique_ptr<HistogramFamily>>(e.family);
}

std::uint64_t Registry::add_collector(const std::string& name, const std::string& help,
                                      MetricType type, std::vector<std::string> label_names,
                                      CollectFn collect) {
  if (type == MetricType::histogram) {
    throw std::logic_error("collector " + name + ": histograms are recorded, not collected");
  }
  std::lock_guard lock(mu_);
  find_or_add(name, help, type, std::move(label_names));
  const auto id = next_id_++;
  collectors_.push_back(std::make_shared<Collector>(Collector{id, name, std::move(collect)}));
  return id;
}

void Registry::remove_collector(std::uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(collectors_, [id](const auto& c) { return c->id == id; });
}

std::uint64_t Registry::add_section(const std::string& key, SectionFn section) {
  std::lock_guard lock(mu_);
  const auto id = next_id_++;
  sections_.push_back(std::make_shared<Section>(Section{id, key, std::move(section)}));
  return id;
}

void Registry::remove_section(std::uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(sections_, [id](const auto& s) { return s->id == id; });
}

nlohmann::json Registry::sections() const {
  std::vector<std::shared_ptr<Section>> sections;
  {
    std::lock_guard lock(mu_);
    sections = sections_;
  }
  auto out = nlohmann::json::object();
  for (const auto& s : sections) {
    auto rows = s->rows();
    auto& merged = out[s->key];
    if (merged.is_null()) merged = nlohmann::json::array();
    for (auto& row : rows) merged.push_back(std::move(row));
  }
  return out;
}

Snapshot Registry::collect() const {
  Snapshot out;
  std::vector<std::shared_ptr<Collector>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
    for (const auto& [name, e] : entries_) {
      FamilySnapshot f{name, e->help, e->type, e->label_names, e->scale, e->bounds, {}};
      std::visit(
          [&f](const auto& family) {
            using T = std::decay_t<decltype(family)>;
            if constexpr (std::is_same_v<T, std::unique_ptr<CounterFamily>>) {
              family->for_each([&f](const auto& labels, const Counter& c) {
                f.samples.push_back(Sample{labels, static_cast<double>(c.value()), {}});
              });
            } else if constexpr (std::is_same_v<T, std::unique_ptr<GaugeFamily>>) {
              family->for_each([&f](const auto& labels, const Gauge& g) {
                f.samples.push_back(Sample{labels, static_cast<double>(g.value()), {}});
              });
            } else if constexpr (std::is_same_v<T, std::unique_ptr<HistogramFamily>>) {
              family->for_each([&f](const auto& labels, const Histogram& h) {
                f.samples.push_back(Sample{labels, 0, h.snapshot()});
              });
            }
          },
          e->family);
      out.push_back(std::move(f));
    }
  }
  // Collectors run without the lock: they may take their owners' locks.
  for (const auto& c : collectors) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& f) { return f.name == c->name; });
    if (it == out.end()) continue;
    std::vector<Sample> samples;
    c->collect(samples);
    for (auto& s : samples) {
      auto same = std::find_if(it->samples.begin(), it->samples.end(),
                               [&](const Sample& x) { return x.label_values == s.label_values; });
      if (same != it->samples.end()) {
        same->value += s.value;
      } else {
        it->samples.push_back(std::move(s));
      }
    }
  }
  // A family nobody feeds (its only collector was removed) is left out.
  std::erase_if(out, [](const FamilySnapshot& f) { return f.samples.empty(); });
  return out;
}

nlohmann::json to_json(const Snapshot& snapshot) {
  auto out = nlohmann::json::object();
  for (const auto& f : snapshot) {
    auto samples = nlohmann::json::array();
    for (const auto& s : f.samples) {
      auto labels = nlohmann::json::object();
      for (std::size_t i = 0; i < f.label_names.size() && i < s.label_values.size(); ++i) {
        labels[f.label_names[i]] = s.label_values[i];
      }
      if (f.type == MetricType::histogram) {
        const auto& h = s.histogram;
        samples.push_back({{"labels", labels},
                           {"count", h.count},
                           {"sum", static_cast<double>(h.sum) * f.scale},
                           {"p50", h.quantile(0.50) * f.scale},
                           {"p90", h.quantile(0.90) * f.scale},
                           {"p99", h.quantile(0.99) * f.scale}});
      } else {
        samples.push_back({{"labels", labels}, {"value", s.value}});
      }
    }
    out[f.name] = {{"type", to_string(f.type)}, {"help", f.help}, {"samples", samples}};
  }
  return out;
}

}  // namespace plexus::observe
