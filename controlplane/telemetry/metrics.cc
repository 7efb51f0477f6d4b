#include "controlplane/telemetry/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace musketeer::telemetry {
namespace {
std::string Escape(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.9g", v);
}

// The labels of a histogram's bucket: the series' own plus le.
std::string WithLe(const std::string& labels, const std::string& le) {
  const std::string pair = absl::StrCat("le=\"", le, "\"");
  if (labels.empty()) return absl::StrCat("{", pair, "}");
  return absl::StrCat(labels.substr(0, labels.size() - 1), ",", pair, "}");
}
}  // namespace

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", labels[i].first, "=\"", Escape(labels[i].second), "\"");
  }
  return out + "}";
}

const std::vector<double>& Metrics::DefaultBounds() {
  static const std::vector<double> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                             5,      10,    30,     60,    300};
  return bounds;
}

void Metrics::Describe(const std::string& name, Type type, const std::string& help) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = type;
  f.help = help;
}
void Metrics::DescribeCounter(const std::string& n, const std::string& h) {
  Describe(n, Type::kCounter, h);
}
void Metrics::DescribeGauge(const std::string& n, const std::string& h) {
  Describe(n, Type::kGauge, h);
}
void Metrics::DescribeHistogram(const std::string& n, const std::string& h) {
  Describe(n, Type::kHistogram, h);
}

Metrics::Series* Metrics::Find(const std::string& name, Type type, const Labels& labels) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(name, Family{type, "", {}}).first;  // undeclared: no HELP line
  }
  if (it->second.type != type) return nullptr;  // a programming error; never corrupt output
  Series& s = it->second.series[RenderLabels(labels)];
  if (type == Type::kHistogram && s.buckets.empty())
    s.buckets.assign(DefaultBounds().size() + 1, 0);
  return &s;
}

void Metrics::Add(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  const Type type = it != families_.end() && it->second.type == Type::kGauge ? Type::kGauge
                                                                            : Type::kCounter;
  if (Series* s = Find(name, type, labels)) s->value += by;
}

void Metrics::Set(const std::string& gauge, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  if (Series* s = Find(gauge, Type::kGauge, labels)) s->value = value;
}

void Metrics::SetGauges(const std::string& gauge,
                        const std::vector<std::pair<Labels, double>>& series) {
  std::lock_guard lock(mu_);
  auto it = families_.find(gauge);
  if (it != families_.end() && it->second.type == Type::kGauge) it->second.series.clear();
  for (const auto& [labels, value] : series) {
    if (Series* s = Find(gauge, Type::kGauge, labels)) s->value = value;
  }
}

void Metrics::Observe(const std::string& histogram, const Labels& labels, double seconds) {
  std::lock_guard lock(mu_);
  Series* s = Find(histogram, Type::kHistogram, labels);
  if (s == nullptr) return;
  const auto& bounds = DefaultBounds();
  size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  ++s->buckets[i];
  s->sum += seconds;
  ++s->count;
}

void Metrics::AddCollector(std::function<void(Metrics&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::Render() {
  std::vector<std::function<void(Metrics&)>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c(*this);
  std::lock_guard lock(mu_);
  std::string out;
  const auto& bounds = DefaultBounds();
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ",
                    f.type == Type::kCounter ? "counter"
                    : f.type == Type::kGauge ? "gauge"
                                             : "histogram",
                    "\n");
    for (const auto& [labels, s] : f.series) {
      if (f.type != Type::kHistogram) {
        absl::StrAppend(&out, name, labels, " ", Number(s.value), "\n");
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += s.buckets[i];
        absl::StrAppend(&out, name, "_bucket",
                        WithLe(labels, i < bounds.size() ? Number(bounds[i]) : "+Inf"), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", labels, " ", Number(s.sum), "\n");
      absl::StrAppend(&out, name, "_count", labels, " ", s.count, "\n");
    }
  }
  return out;
}

}  // namespace musketeer::telemetry
