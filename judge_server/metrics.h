// Counters and histograms of the judge server, rendered as Prometheus text.
// Thread-safe: every method may be called from any thread.
#ifndef JUDGE_SERVER_METRICS_H_
#define JUDGE_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "judge_server/router.h"
#include "judge_server/verdict.h"

namespace judge {

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A cumulative histogram with fixed bounds in seconds.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1,    2.5,   10};
  void Observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name`.
  void Render(absl::string_view name, std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size() + 1> counts_ ABSL_GUARDED_BY(mu_) = {};
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
};

// Where a judging's wall time goes, in order: the request's parse, its wait for a slot, the
// compile (a cache lookup when cached), the run directory's setup, the test-case runs in the
// sandbox, the answers' checks, the cleanup and the reply's rendering. What a client waits
// beyond their sum is HTTP and its own side.
enum class Phase { kParse, kQueue, kCompile, kPrepare, kRun, kCheck, kCleanup, kRender, kCount };

class Metrics {
 public:
  // Lock-free: it is on every request's path.
  void CountRequest(Route route, int status);
  void CountVerdict(Verdict v);
  void CountCacheLookup(bool hit);
  // A slot whose cleanup failed and that takes no more judgings.
  void CountSlotOutOfService() { slots_out_of_service_.fetch_add(1); }
  // An idle keep-alive connection closed to make room for a new one (fd limit or cap).
  void CountConnectionShed() { connections_shed_.fetch_add(1, std::memory_order_relaxed); }
  Histogram& compile_seconds() { return compile_seconds_; }
  Histogram& run_seconds() { return run_seconds_; }
  // Lock-free: called several times per test case.
  void AddPhase(Phase phase, double seconds) {
    phase_ns_[static_cast<int>(phase)].fetch_add(static_cast<uint64_t>(seconds * 1e9),
                                                 std::memory_order_relaxed);
  }

  std::string Render(int64_t running, int64_t queued, int64_t slots) const;

 private:
  static constexpr std::array<int, 10> kStatuses = {200, 400, 401, 404, 405,
                                                    413, 422, 500, 503, 0 /* other */};
  static constexpr int kRoutes = static_cast<int>(Route::kMethodNotAllowed) + 1;
  std::array<std::array<std::atomic<uint64_t>, kStatuses.size()>, kRoutes> requests_ = {};
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> verdicts_ ABSL_GUARDED_BY(mu_);
  uint64_t cache_hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cache_misses_ ABSL_GUARDED_BY(mu_) = 0;
  Histogram compile_seconds_;
  Histogram run_seconds_;
  std::atomic<uint64_t> slots_out_of_service_ = 0;
  std::atomic<uint64_t> connections_shed_ = 0;
  std::array<std::atomic<uint64_t>, static_cast<int>(Phase::kCount)> phase_ns_ = {};
};

}  // namespace judge

#endif  // JUDGE_SERVER_METRICS_H_
