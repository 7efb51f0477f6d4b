// A log-linear latency histogram (HdrHistogram's idea, small): values in microseconds
// from 1 us to 100 s, each power of two split into 128 linear buckets (< 0.8% error).
// Not thread-safe: each pingload thread records into its own, merged at the end.
#ifndef CLIENTS_PINGLOAD_HISTOGRAM_H_
#define CLIENTS_PINGLOAD_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace musketeer {

class Histogram {
 public:
  static constexpr int kSub = 128;
  static constexpr int kOctaves = 27;  // 2^27 us > 100 s

  void Record(double us) {
    const uint64_t v = static_cast<uint64_t>(std::max(us, 1.0));
    ++counts_[Index(v)];
    ++total_;
    max_ = std::max(max_, us);
    sum_ += us;
  }
  // The value below which `p` percent of the recordings fall (upper edge of its bucket).
  double Percentile(double p) const {
    if (total_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * total_));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= std::max<uint64_t>(rank, 1)) return std::min(UpperEdge(i), max_);
    }
    return max_;
  }
  // Adds every recording of `other` to this one.
  void Merge(const Histogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
  }
  double Max() const { return max_; }
  double Mean() const { return total_ ? sum_ / total_ : 0; }
  uint64_t count() const { return total_; }

 private:
  static size_t Index(uint64_t v) {
    if (v < kSub) return v;
    const int octave = 63 - __builtin_clzll(v) - 6;  // >= 1 for v >= 128
    const uint64_t sub = v >> octave;                // in [64, 128): 64 linear steps per octave
    return std::min<size_t>(static_cast<size_t>(octave) * (kSub / 2) + sub, kSub * kOctaves - 1);
  }
  static double UpperEdge(size_t i) {
    if (i < kSub) return i + 1;
    const size_t octave = (i - kSub) / (kSub / 2) + 1;
    const size_t sub = (i - kSub) % (kSub / 2) + kSub / 2;
    return static_cast<double>((sub + 1) << octave);
  }

  std::array<uint64_t, kSub * kOctaves> counts_{};
  uint64_t total_ = 0;
  double max_ = 0, sum_ = 0;
};

}  // namespace musketeer

#endif  // CLIENTS_PINGLOAD_HISTOGRAM_H_
