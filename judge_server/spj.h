// Special judges (checkers), run the way QingdaoU's JudgeServer runs them: for each case
// the checker gets the case's input file and the program's output file as arguments
// (and the input on stdin); exit status 0 means AC, 1 WA, anything else (a crash, a limit,
// another status) is a system error with Judger's code ERROR_SPJ_ERROR (-11).
//
// A checker is compiled like a submission (same compilers, sandbox and compile cache,
// keyed by its source) and also remembered under its spj_version, so that a judging that
// names only the version finds what POST /compile_spj made. It runs in the sandbox as the
// slot's uid, after the judged program's processes are gone, in a directory that exists
// only for that run.
#ifndef JUDGE_SERVER_SPJ_H_
#define JUDGE_SERVER_SPJ_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "judge_server/languages.h"
#include "judge_server/sandbox.h"
#include "judge_server/verdict.h"

namespace judge {

inline constexpr int kSpjErrorCode = -11;  // QingdaoU Judger's ERROR_SPJ_ERROR

// The language of a checker named like QingdaoU's spj_compile_config.src_name
// ("spj-{spj_version}.c", "spj-{spj_version}.cpp"): C or C++, the languages QingdaoU
// OnlineJudge offers for special judges. Null for anything else.
const Language* SpjLanguageForSrcName(std::string_view src_name);

// A checker's limits, from the judged program's as QingdaoU derives them (3 x CPU time,
// 9 x CPU time of real time, 3 x memory), but at least 1 s of CPU and 256 MB, so that a
// tight problem limit never turns into a checker failure.
CaseLimits SpjLimits(const CaseLimits& program);

// What a checker's run means: AC (exit 0 within its limits), WA (exit 1) or SE.
Verdict SpjVerdict(const RunResult& checker_run, const CaseLimits& spj_limits);

struct SpjRun {
  Verdict verdict = Verdict::kSystemError;  // AC, WA or SE
  // A process of the checker's uid survived the sandbox's cleanup: the slot must not be
  // used again (Judge takes it out of service, as after a program's run).
  bool leftovers_survived = false;
};

// Runs `checker` (an executable) on one case. `dir` is created fresh (owned by root,
// readable by `uid`, writable by no one else) and removed afterwards; the checker reads
// `dir`/input and `dir`/user_output. Errors are the sandbox's own failures; the checker's
// are SE.
absl::StatusOr<SpjRun> RunSpecialJudge(const Sandbox& sandbox, std::string_view checker,
                                       const std::string& dir, uid_t uid, std::string_view input,
                                       std::string_view user_output,
                                       const CaseLimits& program_limits);

}  // namespace judge

#endif  // JUDGE_SERVER_SPJ_H_
