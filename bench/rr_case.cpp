#include "rr_case.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace plexus_bench {
namespace {

// Function-local static: registrars in other translation units may run
// before any namespace-scope object of this file is initialized.
std::vector<RrCase>& registry() {
  static std::vector<RrCase> cases;
  return cases;
}

std::vector<RrFigure>& figure_registry() {
  static std::vector<RrFigure> figures;
  return figures;
}

}  // namespace

void register_rr_figure(RrFigure figure) {
  if (figure.name.empty() || !figure.measure) {
    throw std::logic_error("bad rr figure: '" + figure.name + "'");
  }
  figure_registry().push_back(std::move(figure));
}

std::vector<RrFigure> registered_rr_figures() {
  std::vector<RrFigure> figures = figure_registry();
  std::sort(figures.begin(), figures.end(),
            [](const RrFigure& a, const RrFigure& b) { return a.name < b.name; });
  return figures;
}

void register_rr_case(RrCase rr_case) {
  auto& cases = registry();
  const bool duplicate = std::any_of(cases.begin(), cases.end(),
                                     [&](const RrCase& c) { return c.name == rr_case.name; });
  // Static initializers cannot report errors usefully later; fail loudly now.
  if (duplicate || rr_case.name.empty() || !rr_case.run) {
    throw std::logic_error("bad or duplicate rr case: '" + rr_case.name + "'");
  }
  cases.push_back(std::move(rr_case));
}

std::vector<RrCase> registered_rr_cases() {
  std::vector<RrCase> cases = registry();
  std::sort(cases.begin(), cases.end(), [](const RrCase& a, const RrCase& b) {
    const auto rank = [](const std::string& name) {
      return name == kBaselineCase ? 0 : name == kBusyPollBaselineCase ? 1 : 2;
    };
    if (rank(a.name) != rank(b.name)) return rank(a.name) < rank(b.name);
    return a.name < b.name;
  });
  return cases;
}

bool matches_filter(const std::string& name, const std::string& filter) {
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = std::min(filter.find(',', begin), filter.size());
    if (name.find(filter.substr(begin, end - begin)) != std::string::npos) return true;
    if (end == filter.size()) return false;
    begin = end + 1;
  }
}

}  // namespace plexus_bench
