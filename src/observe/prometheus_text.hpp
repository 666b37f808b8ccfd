// The Prometheus text exposition format (version 0.0.4) of a metrics snapshot: HELP and TYPE per
// family, label values escaped, histograms as cumulative _bucket{le=…} series plus _sum and
// _count. Written here because prometheus-cpp is not packaged in Debian 12; the output is checked
// with `promtool check metrics` in tests/integration/observe_test.cpp. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>

#include "observe/metrics.hpp"

namespace plexus::observe {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

std::string to_prometheus_text(const Snapshot& snapshot);

}  // namespace plexus::observe
