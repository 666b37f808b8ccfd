// The metrics registry, the log-linear histogram and the Prometheus text format (pure parts).
#include <gtest/gtest.h>

#include <stdexcept>

#include "observe/method_stats.hpp"
#include "observe/metrics.hpp"
#include "observe/prometheus_text.hpp"

namespace plexus::observe {
namespace {

TEST(HistogramTest, BucketsAreContiguousAndHoldTheirValues) {
  EXPECT_EQ(Histogram::bucket_lower(0), 0u);
  for (std::size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::bucket_upper(i) + 1, Histogram::bucket_lower(i + 1)) << "bucket " << i;
    ASSERT_EQ(Histogram::bucket_of(Histogram::bucket_lower(i)), i);
    ASSERT_EQ(Histogram::bucket_of(Histogram::bucket_upper(i)), i);
  }
  // Each bucket is at most 1/8 of its lower bound wide (8 sub-buckets per power of two).
  for (std::size_t i = Histogram::kSub; i + 1 < Histogram::kBuckets; ++i) {
    const auto width = Histogram::bucket_upper(i) - Histogram::bucket_lower(i) + 1;
    ASSERT_LE(width * 8, Histogram::bucket_lower(i)) << "bucket " << i;
  }
  EXPECT_EQ(Histogram::bucket_of(UINT64_MAX), Histogram::kBuckets - 1);
  EXPECT_EQ(Histogram::bucket_of(std::uint64_t{1} << 41), Histogram::kBuckets - 1);
}

TEST(HistogramTest, QuantilesAreWithinTheBucketWidth) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 10000; ++v) h.record(v * 1000);  // 1 us .. 10 ms in ns
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 10000u);
  EXPECT_EQ(s.sum, 1000ull * 10000 * 10001 / 2);
  EXPECT_NEAR(s.quantile(0.50), 5'000'000, 5'000'000 / 16.0);
  EXPECT_NEAR(s.quantile(0.99), 9'900'000, 9'900'000 / 16.0);
  EXPECT_NEAR(s.quantile(0.0), 1000, 1000 / 16.0);
  EXPECT_EQ(Histogram{}.snapshot().quantile(0.5), 0);
  // count_at_most counts whole buckets only: never more than the values really <= the bound.
  EXPECT_LE(s.count_at_most(5'000'000), 5000u);
  EXPECT_GE(s.count_at_most(5'000'000), 5000u - 5000u / 8);
  EXPECT_EQ(s.count_at_most(1e18), 10000u);
}

TEST(RegistryTest, FamiliesAreRegisteredOnceAndChildrenKeepTheirAddress) {
  Registry r;
  auto& a = r.counter("x_total", "help", {"method"});
  auto& b = r.counter("x_total", "other help", {"method"});
  EXPECT_EQ(&a, &b);
  auto& echo = a.with({"echo"});
  EXPECT_EQ(&echo, &b.with({"echo"}));
  echo.inc(3);
  EXPECT_THROW(r.gauge("x_total", "help", {"method"}), std::logic_error);
  EXPECT_THROW(r.counter("x_total", "help", {"other"}), std::logic_error);
  const auto snap = r.collect();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].samples.at(0).value, 3);
}

TEST(RegistryTest, CollectorsWithEqualLabelsAddUpAndCanBeRemoved) {
  Registry r;
  const auto one =
      r.add_collector("open", "h", MetricType::gauge, {"kind"}, [](std::vector<Sample>& out) {
        out.push_back({{"unix"}, 2, {}});
      });
  r.add_collector("open", "h", MetricType::gauge, {"kind"}, [](std::vector<Sample>& out) {
    out.push_back({{"unix"}, 3, {}});
    out.push_back({{"tcp"}, 1, {}});
  });
  auto snap = r.collect();
  ASSERT_EQ(snap.size(), 1u);
  ASSERT_EQ(snap[0].samples.size(), 2u);
  EXPECT_EQ(snap[0].samples[0].value, 5);  // unix: 2 + 3
  r.remove_collector(one);
  snap = r.collect();
  EXPECT_EQ(snap[0].samples[0].value, 3);
}

TEST(RegistryTest, SectionsMergeTheirRowsByKey) {
  Registry r;
  r.add_section("topics", [] { return nlohmann::json::array({{{"topic", "a"}}}); });
  const auto id = r.add_section("topics", [] { return nlohmann::json::array({{{"topic", "b"}}}); });
  EXPECT_EQ(r.sections()["topics"].size(), 2u);
  r.remove_section(id);
  EXPECT_EQ(r.sections()["topics"].size(), 1u);
}

TEST(MethodStatsTest, CountsCallsErrorsByCodeAndLatency) {
  Registry r;
  MethodStats echo(r, "echo");
  echo.record(StatusCode::ok, std::chrono::microseconds(10));
  echo.record(StatusCode::not_found, std::chrono::microseconds(20));
  echo.record(StatusCode::not_found, std::chrono::microseconds(30));
  const auto text = to_prometheus_text(r.collect());
  EXPECT_NE(text.find("plexus_rpc_server_calls_total{method=\"echo\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("plexus_rpc_server_errors_total{method=\"echo\",code=\"not_found\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("plexus_rpc_server_latency_seconds_count{method=\"echo\"} 3\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("plexus_rpc_server_latency_seconds_bucket{method=\"echo\",le=\"2.5e-05\"} 2\n"),
      std::string::npos)
      << text;
}

TEST(PrometheusTextTest, EscapesAndWritesCumulativeBuckets) {
  Registry r;
  r.counter("odd_total", "line one\nback\\slash", {"name"}).with({"a\"b\\c\nd"}).inc();
  auto& h = r.histogram("lat_seconds", "latency", {}, 1e-9, {1e-6, 1e-3});
  h.with().record(500);        // 0.5 us
  h.with().record(2'000'000);  // 2 ms
  auto text = to_prometheus_text(r.collect());
  // The sum is 2000500 ns * 1e-9, whose last digits depend on rounding: checked apart.
  const auto sum_at = text.find("lat_seconds_sum 0.0020");
  ASSERT_NE(sum_at, std::string::npos) << text;
  text.erase(sum_at, text.find('\n', sum_at) + 1 - sum_at);
  EXPECT_EQ(text,
            "# HELP lat_seconds latency\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"1e-06\"} 1\n"
            "lat_seconds_bucket{le=\"0.001\"} 1\n"
            "lat_seconds_bucket{le=\"+Inf\"} 2\n"
            "lat_seconds_count 2\n"
            "# HELP odd_total line one\\nback\\\\slash\n"
            "# TYPE odd_total counter\n"
            "odd_total{name=\"a\\\"b\\\\c\\nd\"} 1\n");
}

}  // namespace
}  // namespace plexus::observe
