// A spool sender's or receiver's metrics (SpoolOptions::runtime), in the runtime's registry, so
// that every Server on it exports them. Private to src/api.
//
// Per sender or receiver (role: sender | receiver), read from its counters at scrape time:
//
//   plexus_spool_messages_total{dir,group,role,outcome}          counter; outcome, sender:
//       sent | acked | retried | dead_lettered | adopted; receiver: delivered | redelivered |
//       acked | failed | duplicate | corrupt
//   plexus_spool_stale_temp_files_removed_total{dir,group,role}  counter
//
// Per directory (once however many senders and receivers of it the process has), from its
// listings (transport/spool/spool_census.hpp), read at most once per scrape:
//
//   plexus_spool_pending{dir,group,state}                 gauge (state: ready | waiting)
//   plexus_spool_oldest_pending_age_seconds{dir,group}    gauge (0: none)
//   plexus_spool_acks{dir,group}                          gauge, acks not yet cleaned up
//   plexus_spool_dead_letters{dir,group}                  gauge, files in errors/
//   plexus_spool_dead_letter_oldest_age_seconds{dir,group}  gauge (0: none)
//   plexus_spool_temp_files{dir,group,state}              gauge (state: fresh | stale)
//
// and one row per sender or receiver in the "spools" section (status page, plexus.stats).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "observe/metrics.hpp"
#include "transport/spool/spool_layout.hpp"

namespace plexus::detail {

// A sender's or receiver's counters now.
struct SpoolCounts {
  std::vector<std::pair<std::string_view, std::uint64_t>> outcomes;  // outcome label, count
  std::uint64_t stale_temp_files_removed = 0;
};

class SpoolMetrics {
 public:
  // Registers the families above for one sender or receiver of `layout`; `read` gives its
  // counters (called on a scraping thread, until ~SpoolMetrics begins).
  SpoolMetrics(observe::Registry& registry, const transport::spool::Layout& layout,
               std::string role, std::function<SpoolCounts()> read);
  // Removes them; `read` is not called once it has returned.
  ~SpoolMetrics();
  SpoolMetrics(const SpoolMetrics&) = delete;
  SpoolMetrics& operator=(const SpoolMetrics&) = delete;

  struct Source;     // what the collectors read, shared with them
  struct Directory;  // the per-directory gauges, shared by the endpoints of one directory

 private:
  observe::Registry& registry_;
  std::shared_ptr<Source> source_;
  std::shared_ptr<Directory> directory_;
  std::vector<std::uint64_t> collectors_;
  std::vector<std::uint64_t> sections_;
};

}  // namespace plexus::detail
