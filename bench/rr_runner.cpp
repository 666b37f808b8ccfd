#include "rr_runner.hpp"

#include <iostream>
#include <stdexcept>

namespace plexus_bench {
namespace {

constexpr const char* kNotMeasured = "not measured";

void record(RowSummary& row, const RrResult& result, const RepStats& stats) {
  row.rt_count = result.rt_us.size();
  row.pipelined_calls = result.pipelined_calls;
  row.pipeline_mode = result.pipeline_mode;
  row.reps.push_back(stats);
}

}  // namespace

std::vector<RowSummary> run_rr_cases(const std::vector<RrCase>& cases,
                                     const std::vector<SizeProfile>& profiles,
                                     const RrRunOptions& options) {
  // first_row[s * cases + c]: index of case c's own row at size s; its companions follow it.
  std::vector<RowSummary> rows;
  std::vector<std::size_t> first_row;
  for (const auto& profile : profiles) {
    for (const auto& c : cases) {
      first_row.push_back(rows.size());
      const bool measured = !options.measured || options.measured(c.name, profile.payload_size);
      auto add = [&](const std::string& name) {
        RowSummary row;
        row.case_name = name;
        row.payload_size = profile.payload_size;
        if (!measured) row.error = kNotMeasured;
        rows.push_back(row);
      };
      add(c.name);
      for (const auto& companion : c.companions) add(companion);
    }
  }

  for (int rep = 0; rep < options.repetitions; ++rep) {
    std::cerr << "repetition " << rep + 1 << "/" << options.repetitions << '\n';
    for (std::size_t s = 0; s < profiles.size(); ++s) {
      RrParams params;
      params.payload_size = profiles[s].payload_size;
      params.warmup_count = profiles[s].warmup_count;
      params.rt_count = profiles[s].rt_count;
      params.pipelined_count = profiles[s].pipelined_count;
      params.window = options.window;
      params.scratch_dir = options.scratch_dir;
      for (std::size_t c = 0; c < cases.size(); ++c) {
        const std::size_t first = first_row[s * cases.size() + c];
        const std::size_t count = 1 + cases[c].companions.size();
        if (!rows[first].error.empty()) continue;  // not measured, or broken: do not retry
        try {
          const RrResult result = cases[c].run(params);
          if (result.companions.size() != cases[c].companions.size()) {
            throw std::logic_error("case returned " + std::to_string(result.companions.size()) +
                                   " companion results for " +
                                   std::to_string(cases[c].companions.size()) + " rows");
          }
          record(rows[first], result, summarize(result));
          for (std::size_t k = 1; k < count; ++k) {
            const RrResult& companion = result.companions[k - 1];
            record(rows[first + k], companion, summarize_companion(companion, result));
          }
        } catch (const std::exception& e) {
          for (std::size_t k = 0; k < count; ++k) rows[first + k].error = e.what();
          std::cerr << "  " << cases[c].name << " @ " << payload_label(params.payload_size)
                    << " failed: " << e.what() << '\n';
        }
      }
    }
  }
  std::erase_if(rows, [](const RowSummary& r) { return r.error == kNotMeasured; });
  for (auto& row : rows) row.finalize();
  return rows;
}

}  // namespace plexus_bench
