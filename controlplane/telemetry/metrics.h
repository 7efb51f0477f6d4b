// musketeerd's metrics in Prometheus' text format (served at /metrics on the HTTP listener
// and by Session.GetMetrics): counters, gauges and histograms with labels, kept in one
// registry that the daemon creates and hands to the parts that count (the gRPC interceptor,
// the engine clients, the live view).
// Families are declared once (Describe*) and series made on first use. Gauges that
// describe the cluster as a whole (tasks by state) are replaced wholesale (SetGauges), so
// that a state nothing is in any more disappears instead of keeping its last value.
// Thread-safe: a mutex per registry; each update is a map lookup (microseconds), so it may
// sit on every call's path.
#ifndef CONTROLPLANE_TELEMETRY_METRICS_H_
#define CONTROLPLANE_TELEMETRY_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"

namespace musketeer::telemetry {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Histogram bounds in seconds: from a read served by the view (sub-millisecond) to a
  // deploy that waits for its tasks (minutes).
  static const std::vector<double>& DefaultBounds();

  void DescribeCounter(const std::string& name, const std::string& help);
  void DescribeGauge(const std::string& name, const std::string& help);
  void DescribeHistogram(const std::string& name, const std::string& help);

  // A counter, or a gauge kept by increments (in flight: +1, then -1).
  void Add(const std::string& name, const Labels& labels, double by = 1);
  void Set(const std::string& gauge, const Labels& labels, double value);
  // Replaces every series of `gauge` with these.
  void SetGauges(const std::string& gauge, const std::vector<std::pair<Labels, double>>& series);
  void Observe(const std::string& histogram, const Labels& labels, double seconds);

  // Called at every Render, before it, to set gauges read from elsewhere (an age).
  void AddCollector(std::function<void(Metrics&)> collector);

  std::string Render();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    double value = 0;                // counter, gauge
    std::vector<uint64_t> buckets;   // histogram: per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    Type type;
    std::string help;
    std::map<std::string, Series> series;  // by rendered labels: {a="x",b="y"}
  };
  void Describe(const std::string& name, Type type, const std::string& help);
  Series* Find(const std::string& name, Type type, const Labels& labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(Metrics&)>> collectors_ ABSL_GUARDED_BY(mu_);
};

// "{a=\"x\",b=\"y\"}" with Prometheus' escaping; "" without labels.
std::string RenderLabels(const Labels& labels);

}  // namespace musketeer::telemetry

#endif  // CONTROLPLANE_TELEMETRY_METRICS_H_
