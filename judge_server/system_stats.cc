#include "judge_server/system_stats.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace judge {
namespace {

std::string ReadProcFile(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::optional<CpuTimes> ParseProcStatCpu(std::string_view proc_stat) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  absl::string_view line(proc_stat.data(), proc_stat.find('\n') == std::string_view::npos
                                               ? proc_stat.size()
                                               : proc_stat.find('\n'));
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (f.size() < 5 || f[0] != "cpu") return std::nullopt;
  uint64_t v[10] = {};
  for (size_t i = 1; i < f.size() && i <= 10; ++i) {
    if (!absl::SimpleAtoi(f[i], &v[i - 1])) return std::nullopt;
  }
  CpuTimes t;
  for (uint64_t x : v) t.total += x;
  t.total -= v[8] + v[9];  // guest and guest_nice are counted in user and nice already
  const uint64_t idle = v[3] + v[4];
  t.busy = t.total >= idle ? t.total - idle : 0;
  return t;
}

double CpuPercent(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return 0;
  double total = static_cast<double>(after.total - before.total);
  double busy = after.busy >= before.busy ? static_cast<double>(after.busy - before.busy) : 0;
  double p = 100.0 * busy / total;
  return p < 0 ? 0 : (p > 100 ? 100 : p);
}

MemoryInfo ParseMeminfo(std::string_view meminfo) {
  MemoryInfo m;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(meminfo.data(), meminfo.size()), '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kb;
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &kb)) continue;
    if (parts[0] == "MemTotal:") m.total = kb * 1024;
    if (parts[0] == "MemAvailable:") m.available = kb * 1024;
  }
  return m;
}

double MemoryPercent(const MemoryInfo& m) {
  if (m.total <= 0) return 0;
  return 100.0 * static_cast<double>(m.total - m.available) / static_cast<double>(m.total);
}

SystemSampler::SystemSampler(std::chrono::milliseconds min_interval) : min_interval_(min_interval) {
  Get();
}

SystemSample SystemSampler::Get() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (sampled_ && now - last_time_ < min_interval_) return last_;
  std::optional<CpuTimes> cpu = ParseProcStatCpu(ReadProcFile("/proc/stat"));
  if (cpu.has_value()) {
    if (sampled_) last_.cpu_percent = CpuPercent(last_cpu_, *cpu);
    last_cpu_ = *cpu;
  }
  last_.memory = ParseMeminfo(ReadProcFile("/proc/meminfo"));
  last_.memory_percent = MemoryPercent(last_.memory);
  getloadavg(last_.load, 3);
  last_time_ = now;
  sampled_ = true;
  return last_;
}

}  // namespace judge
