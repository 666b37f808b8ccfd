// The durable queues' observability (issue 24): the plexus_queue_* and plexus_dead_letter*
// families, the "queues" status-page section and the `durable` member of plexus.stats, all read
// from QueueService::stats() at scrape time. Registered only by a server that keeps queues.
//
//   plexus_queue_messages{queue,state}                gauge (state: ready | delayed | in_flight)
//   plexus_queue_bytes{queue}                         gauge, payload bytes of those messages
//   plexus_queue_oldest_ready_age_seconds{queue}      gauge (0: nothing ready)
//   plexus_dead_letters{queue}                        gauge
//   plexus_dead_letter_oldest_age_seconds{queue}      gauge (0: none)
//   plexus_queue_sent_total, _acked_total, _retried_total, _dead_lettered_total,
//   _redelivered_total, _duplicates_dropped_total, plexus_queue_commits_total   counters
//
// One scrape reads many families: the store's figures (two SQL aggregates under the store's
// lock) are read once and shared by the families that follow within kQueueFiguresFresh.
#include <chrono>

#include "api/durable_json.hpp"
#include "api/fresh_figures.hpp"
#include "api/server_impl.hpp"

namespace plexus {
namespace {

using observe::MetricType;
using observe::Sample;

constexpr auto kQueueFiguresFresh = std::chrono::milliseconds(100);

double age_seconds(std::chrono::milliseconds ms) {
  return std::chrono::duration<double>(ms).count();
}

}  // namespace

// The store's figures, read at most once per kQueueFiguresFresh.
class QueueFigures : public detail::FreshFigures<DurableStats> {
 public:
  explicit QueueFigures(std::shared_ptr<detail::QueueService> service)
      : FreshFigures([service = std::move(service)] { return service->stats(); },
                     "the durable queues' figures", kQueueFiguresFresh) {}
};

void Server::Impl::init_queue_metrics() {
  if (!queues_) return;
  observe_.queue_figures = std::make_shared<QueueFigures>(queues_);
  auto& reg = observe_.registry;
  auto figures = observe_.queue_figures;
  auto add = [this, &reg](const std::string& name, const std::string& help, MetricType type,
                          std::vector<std::string> labels, observe::Registry::CollectFn fn) {
    observe_.collectors.push_back(
        reg.add_collector(name, help, type, std::move(labels), std::move(fn)));
  };
  // A family with one sample per queue, `value` reading it from the queue's figures.
  auto per_queue = [figures](double (*value)(const QueueStats&)) {
    return [figures, value](std::vector<Sample>& out) {
      const auto stats = figures->get();
      if (!stats) return;
      for (const auto& q : stats->queues) out.push_back({{q.queue}, value(q), {}});
    };
  };
  auto counter = [figures](std::uint64_t DurableCounters::*field) {
    return [figures, field](std::vector<Sample>& out) {
      const auto stats = figures->get();
      if (!stats) return;
      out.push_back({{}, static_cast<double>(stats->counters.*field), {}});
    };
  };

  add("plexus_queue_messages",
      "Messages on a durable queue now, by state: ready (deliverable now), delayed (waiting for "
      "their delay or retry backoff), in_flight (delivered, not yet acknowledged)",
      MetricType::gauge, {"queue", "state"}, [figures](std::vector<Sample>& out) {
        const auto stats = figures->get();
        if (!stats) return;
        for (const auto& q : stats->queues) {
          out.push_back({{q.queue, "ready"}, static_cast<double>(q.ready), {}});
          out.push_back({{q.queue, "delayed"}, static_cast<double>(q.delayed), {}});
          out.push_back({{q.queue, "in_flight"}, static_cast<double>(q.in_flight), {}});
        }
      });
  add("plexus_queue_bytes", "Payload bytes of the messages on a durable queue now",
      MetricType::gauge, {"queue"},
      per_queue([](const QueueStats& q) { return static_cast<double>(q.bytes); }));
  add("plexus_queue_oldest_ready_age_seconds",
      "How long the longest-waiting ready message of a durable queue has been ready (0: none)",
      MetricType::gauge, {"queue"},
      per_queue([](const QueueStats& q) { return age_seconds(q.oldest_ready_age); }));
  add("plexus_dead_letters", "Dead letters kept from a durable queue (plexus dlq list)",
      MetricType::gauge, {"queue"},
      per_queue([](const QueueStats& q) { return static_cast<double>(q.dead_letters); }));
  add("plexus_dead_letter_oldest_age_seconds",
      "Age of the oldest dead letter of a durable queue (0: none)", MetricType::gauge, {"queue"},
      per_queue([](const QueueStats& q) { return age_seconds(q.oldest_dead_letter_age); }));
  add("plexus_queue_sent_total",
      "Messages stored on durable queues since the server started (duplicates not counted)",
      MetricType::counter, {}, counter(&DurableCounters::sent));
  add("plexus_queue_acked_total", "Durable messages acknowledged by their consumer",
      MetricType::counter, {}, counter(&DurableCounters::acked));
  add("plexus_queue_retried_total",
      "Failed deliveries (handler error, ACK timeout, consumer gone) put back on their queue",
      MetricType::counter, {}, counter(&DurableCounters::retried));
  add("plexus_queue_dead_lettered_total",
      "Durable messages moved to the dead letters after their last retry", MetricType::counter, {},
      counter(&DurableCounters::dead_lettered));
  add("plexus_queue_redelivered_total", "Deliveries of a durable message delivered before",
      MetricType::counter, {}, counter(&DurableCounters::redelivered));
  add("plexus_queue_duplicates_dropped_total",
      "Sends of a message id the server had stored already (a sender's resend), not stored again",
      MetricType::counter, {}, counter(&DurableCounters::duplicates_dropped));
  add("plexus_queue_commits_total",
      "Transactions that stored sent messages (group commit: fewer than the messages)",
      MetricType::counter, {}, counter(&DurableCounters::commits));

  observe_.sections.push_back(reg.add_section("queues", [figures] {
    auto rows = nlohmann::json::array();
    const auto stats = figures->get();
    if (!stats) return rows;
    for (const auto& q : stats->queues) {
      rows.push_back({{"queue", q.queue},
                      {"ready", q.ready},
                      {"delayed", q.delayed},
                      {"in_flight", q.in_flight},
                      {"bytes", q.bytes},
                      {"oldest_ready_age_seconds", age_seconds(q.oldest_ready_age)},
                      {"dead_letters", q.dead_letters},
                      {"oldest_dead_letter_age_seconds", age_seconds(q.oldest_dead_letter_age)}});
    }
    return rows;
  }));
}

nlohmann::json Server::Impl::durable_json() const {
  if (!observe_.queue_figures) return nullptr;
  auto j = nlohmann::json::object();
  if (const auto stats = observe_.queue_figures->get()) j = detail::to_json(*stats);
  j["data_dir"] = options_.durable.data_dir;
  j["durability"] = std::string(to_string(options_.durable.durability));
  return j;
}

}  // namespace plexus
