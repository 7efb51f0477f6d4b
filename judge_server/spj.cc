#include "judge_server/spj.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "judge_server/files.h"

namespace judge {
namespace {

constexpr int64_t kMinCpuMs = 1000;
constexpr int64_t kMinMemoryBytes = 256LL << 20;

// Owned by root, readable (and for the checker executable, runnable) by the slot's group,
// writable by no one else: the checker cannot change its inputs or leave files behind.
absl::Status WriteFile(const std::string& path, std::string_view data, mode_t mode, gid_t gid) {
  return WriteNewFile(path, data, mode, 0, gid);
}

}  // namespace

const Language* SpjLanguageForSrcName(std::string_view src_name) {
  std::string name = absl::AsciiStrToLower(std::string(src_name));
  if (absl::EndsWith(name, ".c")) return FindLanguage("c");
  for (const char* ext : {".cpp", ".cc", ".cxx", ".c++"}) {
    if (absl::EndsWith(name, ext)) return FindLanguage("cpp");
  }
  return nullptr;
}

CaseLimits SpjLimits(const CaseLimits& program) {
  CaseLimits l;
  l.cpu_time_ms = std::max(kMinCpuMs, program.cpu_time_ms * 3);
  l.real_time_ms = l.cpu_time_ms * 3;
  l.memory_bytes = std::max(kMinMemoryBytes, program.memory_bytes * 3);
  return l;
}

Verdict SpjVerdict(const RunResult& run, const CaseLimits& limits) {
  switch (ClassifyRun(run, limits, /*output_matches=*/true)) {
    case Verdict::kAccepted:
      return Verdict::kAccepted;
    case Verdict::kRuntimeError:
      // Judger reports a nonzero exit as RE; QingdaoU reads exit status 1 as WA.
      return run.signal == 0 && run.exit_code == 1 ? Verdict::kWrongAnswer : Verdict::kSystemError;
    default:
      return Verdict::kSystemError;
  }
}

absl::StatusOr<SpjRun> RunSpecialJudge(const Sandbox& sandbox, std::string_view checker,
                                       const std::string& dir, uid_t uid, std::string_view input,
                                       std::string_view user_output,
                                       const CaseLimits& program_limits) {
  // Nothing but root writes in `dir` (the checker cannot), so removing it is safe.
  if (absl::Status made = FreshDir(dir, 0750, 0, uid); !made.ok()) return made;
  absl::Cleanup remove = [&dir] { RemoveTree(dir).IgnoreError(); };
  const std::string exe = dir + "/spj", in = dir + "/input", out = dir + "/user_output";
  absl::Status s = WriteFile(exe, checker, 0550, uid);
  if (s.ok()) s = WriteFile(in, input, 0440, uid);
  if (s.ok()) s = WriteFile(out, user_output, 0440, uid);
  if (!s.ok()) return s;

  const CaseLimits limits = SpjLimits(program_limits);
  RunSpec spec;
  spec.argv = {exe, in, out};
  spec.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "HOME=" + dir};
  spec.cwd = dir;
  spec.stdin_data = std::string(input);
  spec.uid = uid;
  spec.gid = uid;
  spec.profile = SeccompProfile::kRun;
  spec.merge_stderr = true;  // QingdaoU sends both to one file it never reads
  spec.limits.cpu_time_ms = limits.cpu_time_ms;
  spec.limits.real_time_ms = limits.real_time_ms;
  spec.limits.memory_bytes = limits.memory_bytes;
  spec.limits.address_space_bytes = limits.memory_bytes * 2;
  spec.limits.stack_bytes = 128LL << 20;  // as QingdaoU gives it
  spec.limits.stdout_bytes = 16LL << 20;
  auto run = sandbox.Run(spec);
  if (!run.ok()) return run.status();
  return SpjRun{SpjVerdict(*run, limits), run->leftovers_survived};
}

}  // namespace judge
