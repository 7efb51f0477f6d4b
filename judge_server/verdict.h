// Verdicts and how a finished run maps to one.
#ifndef JUDGE_SERVER_VERDICT_H_
#define JUDGE_SERVER_VERDICT_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "judge_server/sandbox.h"

namespace judge {

enum class Verdict {
  kAccepted,
  kWrongAnswer,
  kCompileError,
  kCpuTimeLimitExceeded,
  kRealTimeLimitExceeded,
  kMemoryLimitExceeded,
  kOutputLimitExceeded,
  kRuntimeError,
  kSystemError,
};

// QingdaoU's result codes (-1 WA, 0 AC, 1 CPU TLE, 2 real TLE, 3 MLE, 4 RE, 5 SE),
// plus 6 for OLE and -2 for CE, which QingdaoU reports outside the case list.
int ResultCode(Verdict v);
// The code in QingdaoU's form: as ResultCode, but an output limit is 4 (RE), reported with
// signal 25 (SIGXFSZ) as QingdaoU's Judger gives it, since OnlineJudge reads 6 as PENDING.
int QingdaoResultCode(Verdict v);
inline constexpr int kQingdaoOutputLimitSignal = 25;  // SIGXFSZ
// "AC", "WA", "CE", "TLE", "MLE", "OLE", "RE", "SE" (both TLEs are "TLE").
std::string_view VerdictName(Verdict v);

struct CaseLimits {
  int64_t cpu_time_ms;
  int64_t real_time_ms;
  int64_t memory_bytes;
};

// The verdict of one test case. Resource verdicts win over RE (a program killed by its
// CPU rlimit or by a failed allocation dies by a signal), and RE over the answer check.
Verdict ClassifyRun(const RunResult& run, const CaseLimits& limits, bool output_matches);

// The first case that is not AC decides; all AC is AC. REQUIRES: !cases.empty().
Verdict OverallVerdict(const std::vector<Verdict>& cases);

}  // namespace judge

#endif  // JUDGE_SERVER_VERDICT_H_
