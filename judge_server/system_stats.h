// CPU and memory use of the machine, as QingdaoU reports them through psutil: `cpu` is
// the percentage of CPU time not idle since the previous sample (psutil.cpu_percent),
// `memory` the percentage of memory not available (psutil.virtual_memory().percent).
// Inside a container both describe the host, as with psutil.
#ifndef JUDGE_SERVER_SYSTEM_STATS_H_
#define JUDGE_SERVER_SYSTEM_STATS_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

#include "absl/base/thread_annotations.h"

namespace judge {

// Jiffies from the "cpu" line of /proc/stat.
struct CpuTimes {
  uint64_t busy = 0;
  uint64_t total = 0;
};
// Busy is everything but idle and iowait; guest time is already inside user and nice.
std::optional<CpuTimes> ParseProcStatCpu(std::string_view proc_stat);
// 0-100; 0 when no time passed.
double CpuPercent(const CpuTimes& before, const CpuTimes& after);

struct MemoryInfo {
  int64_t total = 0;      // bytes
  int64_t available = 0;  // bytes
};
MemoryInfo ParseMeminfo(std::string_view meminfo);
double MemoryPercent(const MemoryInfo& m);  // 0-100

struct SystemSample {
  double cpu_percent = 0;
  double memory_percent = 0;
  MemoryInfo memory;
  double load[3] = {0, 0, 0};
};

// Reads /proc at most once per `min_interval` and otherwise returns the last sample, so
// that a hot path (/ping) stays cheap. CPU use is measured between two reads; the first
// read happens at construction. Thread-safe.
class SystemSampler {
 public:
  explicit SystemSampler(std::chrono::milliseconds min_interval = std::chrono::seconds(1));
  SystemSample Get();

 private:
  const std::chrono::milliseconds min_interval_;
  std::mutex mu_;
  SystemSample last_ ABSL_GUARDED_BY(mu_);
  CpuTimes last_cpu_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_time_ ABSL_GUARDED_BY(mu_);
  bool sampled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace judge

#endif  // JUDGE_SERVER_SYSTEM_STATS_H_
