// The judge core: compile (through the cache), run every test case in the sandbox,
// compare, and decide verdicts.
//
// Each judging runs in one slot. A slot owns an unprivileged uid/gid (uid_base + slot)
// and a directory under the work root; no two judgings share a slot at once. A slot
// whose cleanup fails (a process of its uid survives, its directory cannot be removed)
// is taken out of service, never reused dirty.
// Thread-safety: Judge() may be called concurrently for distinct slots.
#ifndef JUDGE_SERVER_JUDGE_H_
#define JUDGE_SERVER_JUDGE_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/compile_cache.h"
#include "judge_server/judge_request.h"
#include "judge_server/metrics.h"
#include "judge_server/sandbox.h"
#include "judge_server/verdict.h"

namespace judge {

struct JudgeOptions {
  std::string work_root = "/tmp/judge_server";
  std::string test_case_root = "/var/lib/judge_server/test_cases";
  uid_t uid_base = 0;  // 0: pick a random range of 64 so that two servers never share uids
  int slots = 1;       // at most 63: uid_base + 63 is the sandbox's probe identity
  std::optional<SandboxMode> sandbox_mode;  // unset: the strongest that works here
  // Program output kept for one reply with "output": true, all cases together; past it
  // only the start of each output is kept (the reply marks it).
  size_t max_kept_output = 16 << 20;
  bool close_shared_dirs = false;  // see SandboxOptions
  size_t cache_entries = 256;
  size_t cache_bytes = 256 << 20;
};

struct CaseResult {
  std::string test_case;
  Verdict verdict = Verdict::kSystemError;
  RunResult run;
  std::string output_md5;         // empty unless the program ran to its end and was compared
  int error = 0;                  // Judger's error code: kSpjErrorCode when the checker failed
  bool output_truncated = false;  // run.stdout_data keeps only the start of the output
};

struct JudgeOutcome {
  Verdict verdict = Verdict::kSystemError;
  std::string compile_message;     // set for CE (and for spj_compile_error)
  absl::Status error;              // not OK when no case could run (verdict SE)
  bool spj_compile_error = false;  // the special judge did not compile (verdict SE)
  bool cache_hit = false;
  std::vector<CaseResult> cases;
};

class Judge {
 public:
  static absl::StatusOr<std::unique_ptr<Judge>> Create(const JudgeOptions& options,
                                                       Metrics& metrics);
  Judge(const Judge&) = delete;
  Judge& operator=(const Judge&) = delete;

  JudgeOutcome Run(const JudgeRequest& request, int slot);

  // Compiles a special judge (spj.h) and remembers it under its version, for POST
  // /compile_spj. Null with *error set when the compile could not run; a program with
  // ok false (and the compiler's message) when the source does not compile.
  // REQUIRES: spj.language and spj.source are set.
  std::shared_ptr<const CompiledProgram> CompileSpj(const SpjRequest& spj, int slot,
                                                    absl::Status* error);

  const Sandbox& sandbox() const { return *sandbox_; }
  uid_t SlotUid(int slot) const { return options_.uid_base + slot; }
  bool SlotInService(int slot) const { return !out_of_service_[slot].load(); }

 private:
  Judge(JudgeOptions options, std::unique_ptr<Sandbox> sandbox, Metrics& metrics)
      : options_(std::move(options)),
        sandbox_(std::move(sandbox)),
        metrics_(metrics),
        cache_(options_.cache_entries, options_.cache_bytes),
        spj_versions_(256, options_.cache_bytes) {}

  std::shared_ptr<const CompiledProgram> Compile(const Language& language,
                                                 const std::string& source, int slot,
                                                 absl::Status* error, bool* cache_hit);
  std::string SlotDir(int slot) const;
  // Removes what a compile or run left; on any failure the slot goes out of service.
  void CleanUp(int slot, const std::string& dir, bool leftovers_survived);
  // The checker a judging names: compiled from spj_src, or found by spj_version.
  absl::StatusOr<std::shared_ptr<const CompiledProgram>> FindOrCompileSpj(const SpjRequest& spj,
                                                                          int slot);
  // Decides AC or WA (or SE for a failed checker) for a case that ran to its end.
  void CheckAnswer(const JudgeRequest& request, const TestCase& test_case,
                   const CompiledProgram* checker, int slot, CaseResult& result);

  const JudgeOptions options_;
  const std::unique_ptr<Sandbox> sandbox_;
  Metrics& metrics_;
  CompileCache cache_;
  std::atomic<bool> out_of_service_[64] = {};
  CompileCache spj_versions_;  // checkers by "spj_version"; the programs are shared with cache_
};

// Memory an ELF executable needs before it runs: the sum of its loadable segments
// (code, data and the zero-filled bss of static arrays). 0 when it is not ELF64.
int64_t ElfStaticMemory(std::string_view binary);

}  // namespace judge

#endif  // JUDGE_SERVER_JUDGE_H_
