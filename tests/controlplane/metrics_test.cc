// The metrics registry renders Prometheus' text format: families with HELP and TYPE,
// labels escaped, cumulative histogram buckets ending in +Inf, wholesale gauges.
#include "controlplane/telemetry/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace musketeer::telemetry {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, RendersCountersGaugesAndLabelsEscaped) {
  Metrics m;
  m.DescribeCounter("calls_total", "calls by method");
  m.Add("calls_total", {{"method", "/a.B/C"}, {"code", "OK"}});
  m.Add("calls_total", {{"method", "/a.B/C"}, {"code", "OK"}}, 2);
  m.Add("calls_total", {{"method", "say \"hi\"\n\\"}, {"code", "OK"}});
  m.DescribeGauge("in_flight", "calls running");
  m.Add("in_flight", {}, 1);
  m.Add("in_flight", {}, -1);
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("# HELP calls_total calls by method\n# TYPE calls_total counter\n"));
  EXPECT_THAT(text, HasSubstr("calls_total{method=\"/a.B/C\",code=\"OK\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("calls_total{method=\"say \\\"hi\\\"\\n\\\\\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE in_flight gauge\nin_flight 0\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndInInf) {
  Metrics m;
  m.DescribeHistogram("took_seconds", "time");
  m.Observe("took_seconds", {{"m", "x"}}, 0.0001);
  m.Observe("took_seconds", {{"m", "x"}}, 0.003);
  m.Observe("took_seconds", {{"m", "x"}}, 1000);
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("took_seconds_bucket{m=\"x\",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("took_seconds_bucket{m=\"x\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("took_seconds_bucket{m=\"x\",le=\"300\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("took_seconds_bucket{m=\"x\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("took_seconds_count{m=\"x\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("took_seconds_sum{m=\"x\"} 1000.0031\n"));
}

TEST(MetricsTest, SetGaugesReplacesEverySeriesAndCollectorsRunAtRender) {
  Metrics m;
  m.DescribeGauge("tasks", "tasks by state");
  m.SetGauges("tasks", {{{{"state", "running"}}, 3}, {{{"state", "failed"}}, 1}});
  m.SetGauges("tasks", {{{{"state", "running"}}, 4}});
  int runs = 0;
  m.AddCollector([&runs](Metrics& metrics) { metrics.Set("age_seconds", {}, ++runs); });
  std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("tasks{state=\"running\"} 4\n"));
  EXPECT_THAT(text, Not(HasSubstr("failed")));
  EXPECT_THAT(text, HasSubstr("age_seconds 1\n"));
  EXPECT_THAT(m.Render(), HasSubstr("age_seconds 2\n"));
}

TEST(MetricsTest, AFamilyKeepsItsTypeWhateverIsCalledOnIt) {
  Metrics m;
  m.DescribeHistogram("h", "a histogram");
  m.Set("h", {}, 5);  // wrong kind: ignored, the output stays valid
  m.Observe("h", {}, 0.1);
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("h_count 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("\nh 5")));
}

}  // namespace
}  // namespace musketeer::telemetry
