#include "judge_server/verdict.h"

namespace judge {

int ResultCode(Verdict v) {
  switch (v) {
    case Verdict::kWrongAnswer:
      return -1;
    case Verdict::kAccepted:
      return 0;
    case Verdict::kCpuTimeLimitExceeded:
      return 1;
    case Verdict::kRealTimeLimitExceeded:
      return 2;
    case Verdict::kMemoryLimitExceeded:
      return 3;
    case Verdict::kRuntimeError:
      return 4;
    case Verdict::kSystemError:
      return 5;
    case Verdict::kOutputLimitExceeded:
      return 6;
    case Verdict::kCompileError:
      return -2;
  }
  return 5;
}

int QingdaoResultCode(Verdict v) {
  return v == Verdict::kOutputLimitExceeded ? ResultCode(Verdict::kRuntimeError) : ResultCode(v);
}

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAccepted:
      return "AC";
    case Verdict::kWrongAnswer:
      return "WA";
    case Verdict::kCompileError:
      return "CE";
    case Verdict::kCpuTimeLimitExceeded:
    case Verdict::kRealTimeLimitExceeded:
      return "TLE";
    case Verdict::kMemoryLimitExceeded:
      return "MLE";
    case Verdict::kOutputLimitExceeded:
      return "OLE";
    case Verdict::kRuntimeError:
      return "RE";
    case Verdict::kSystemError:
      return "SE";
  }
  return "SE";
}

Verdict ClassifyRun(const RunResult& run, const CaseLimits& limits, bool output_matches) {
  if (run.output_exceeded) return Verdict::kOutputLimitExceeded;
  if (run.cpu_time_exceeded || run.cpu_time_ms > limits.cpu_time_ms) {
    return Verdict::kCpuTimeLimitExceeded;
  }
  if (run.real_time_exceeded || run.real_time_ms > limits.real_time_ms) {
    return Verdict::kRealTimeLimitExceeded;
  }
  if (run.memory_exceeded || run.memory_bytes > limits.memory_bytes)
    return Verdict::kMemoryLimitExceeded;
  if (run.signal != 0 || run.exit_code != 0) return Verdict::kRuntimeError;
  return output_matches ? Verdict::kAccepted : Verdict::kWrongAnswer;
}

Verdict OverallVerdict(const std::vector<Verdict>& cases) {
  for (Verdict v : cases) {
    if (v != Verdict::kAccepted) return v;
  }
  return Verdict::kAccepted;
}

}  // namespace judge
