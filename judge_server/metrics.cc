#include "judge_server/metrics.h"

#include "absl/strings/str_cat.h"

namespace judge {

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  std::lock_guard lock(mu_);
  ++counts_[i];
  sum_ += seconds;
}

void Histogram::Render(absl::string_view name, std::string& out) const {
  std::lock_guard lock(mu_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", kBounds[i], "\"} ", cumulative, "\n");
  }
  cumulative += counts_[kBounds.size()];
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", cumulative, "\n", name, "_sum ", sum_, "\n",
                  name, "_count ", cumulative, "\n");
}

void Metrics::CountRequest(Route route, int status) {
  size_t i = 0;
  while (i + 1 < kStatuses.size() && kStatuses[i] != status) ++i;
  requests_[static_cast<int>(route)][i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountVerdict(Verdict v) {
  std::lock_guard lock(mu_);
  ++verdicts_[std::string(VerdictName(v))];
}

void Metrics::CountCacheLookup(bool hit) {
  std::lock_guard lock(mu_);
  ++(hit ? cache_hits_ : cache_misses_);
}

std::string Metrics::Render(int64_t running, int64_t queued, int64_t slots) const {
  std::string out;
  {
    std::lock_guard lock(mu_);
    out +=
        "# HELP judge_http_requests_total HTTP requests by route and status.\n"
        "# TYPE judge_http_requests_total counter\n";
    for (int r = 0; r < kRoutes; ++r) {
      for (size_t s = 0; s < kStatuses.size(); ++s) {
        uint64_t n = requests_[r][s].load(std::memory_order_relaxed);
        if (n == 0) continue;
        std::string status = kStatuses[s] ? std::to_string(kStatuses[s]) : "other";
        absl::StrAppend(&out, "judge_http_requests_total{route=\"",
                        std::string(RouteLabel(static_cast<Route>(r))), "\",status=\"", status,
                        "\"} ", n, "\n");
      }
    }
    out +=
        "# HELP judge_verdicts_total Judgings by overall verdict.\n"
        "# TYPE judge_verdicts_total counter\n";
    for (const auto& [verdict, n] : verdicts_) {
      absl::StrAppend(&out, "judge_verdicts_total{verdict=\"", verdict, "\"} ", n, "\n");
    }
    absl::StrAppend(&out,
                    "# HELP judge_compile_cache_lookups_total Compile cache lookups by result.\n"
                    "# TYPE judge_compile_cache_lookups_total counter\n"
                    "judge_compile_cache_lookups_total{result=\"hit\"} ",
                    cache_hits_, "\n", "judge_compile_cache_lookups_total{result=\"miss\"} ",
                    cache_misses_, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP judge_queue_depth Judgings waiting for a slot.\n"
                  "# TYPE judge_queue_depth gauge\njudge_queue_depth ",
                  queued, "\n",
                  "# HELP judge_running Judgings running now.\n"
                  "# TYPE judge_running gauge\njudge_running ",
                  running, "\n",
                  "# HELP judge_slots Judge slots (concurrent judgings) in service.\n"
                  "# TYPE judge_slots gauge\njudge_slots ",
                  slots, "\n",
                  "# HELP judge_slots_out_of_service Slots taken out of service after a failed "
                  "cleanup.\n# TYPE judge_slots_out_of_service gauge\njudge_slots_out_of_service ",
                  slots_out_of_service_.load(), "\n",
                  "# HELP judge_http_connections_shed_total Idle keep-alive connections closed "
                  "to admit new ones at the connection cap or the fd limit.\n"
                  "# TYPE judge_http_connections_shed_total counter\n"
                  "judge_http_connections_shed_total ",
                  connections_shed_.load(std::memory_order_relaxed), "\n");
  out +=
      "# HELP judge_compile_seconds Compile wall time.\n# TYPE judge_compile_seconds histogram\n";
  compile_seconds_.Render("judge_compile_seconds", out);
  out +=
      "# HELP judge_run_seconds Wall time of one test-case run.\n# TYPE judge_run_seconds "
      "histogram\n";
  run_seconds_.Render("judge_run_seconds", out);
  out +=
      "# HELP judge_phase_seconds_total Wall time of judgings by phase (summed over slots).\n"
      "# TYPE judge_phase_seconds_total counter\n";
  static constexpr const char* kPhases[] = {"parse",   "queue", "compile", "prepare",
                                            "run",     "check", "cleanup", "render"};
  static_assert(std::size(kPhases) == static_cast<size_t>(Phase::kCount));
  for (size_t i = 0; i < std::size(kPhases); ++i) {
    absl::StrAppend(&out, "judge_phase_seconds_total{phase=\"", kPhases[i], "\"} ",
                    phase_ns_[i].load(std::memory_order_relaxed) / 1e9, "\n");
  }
  return out;
}

}  // namespace judge
