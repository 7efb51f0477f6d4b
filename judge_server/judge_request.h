// A judge request, parsed and validated from the JSON body of POST /judge.
//
// Two forms are accepted: the native one ("language": "cpp") and QingdaoU JudgeServer's
// ("language_config": {...}), which selects a server-side language by its file names.
#ifndef JUDGE_SERVER_JUDGE_REQUEST_H_
#define JUDGE_SERVER_JUDGE_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/compare.h"
#include "judge_server/languages.h"

namespace judge {

struct TestCase {
  std::string id;  // "1", "2", ... as in QingdaoU replies
  std::string input;
  // The expected output; empty and has_expected_output false for special-judge cases and
  // for test_case_id cases that give only a stripped_output_md5 (QingdaoU reads no more).
  std::string expected_output;
  bool has_expected_output = true;
  // QingdaoU's stripped_output_md5 from the info file; empty when the info has none.
  std::string stripped_output_md5;
  int64_t output_size = 0;  // info's output_size, else the expected output's size
};

// A special judge (checker) named by a request: QingdaoU's spj_version, spj_config,
// spj_compile_config and spj_src, or the native spj_language.
struct SpjRequest {
  std::string version;                 // never empty
  const Language* language = nullptr;  // null: only a checker compiled before can serve
  // With a language, the checker is compiled from (or found in the cache by) its source;
  // without, found by version only.
  std::optional<std::string> source;  // spj_src
};

struct JudgeRequest {
  const Language* language = nullptr;
  std::string source;
  int64_t max_cpu_time_ms = 1000;
  int64_t max_real_time_ms = 3000;
  int64_t max_memory_bytes = 256LL << 20;
  int64_t max_output_bytes = 16LL << 20;
  std::vector<TestCase> test_cases;         // inline cases
  std::optional<std::string> test_case_id;  // or a directory under the test-case root
  bool return_output = false;
  CompareMode compare = CompareMode::kIgnoreTrailingWhitespace;
  // Sent with language_config, as QingdaoU's clients do: the program's stderr is part of
  // its output, outputs compare as QingdaoU does (whitespace at the end only), and the
  // output limit is result 4 with signal 25 (SIGXFSZ) instead of code 6.
  bool qingdao_form = false;
  // QingdaoU's io_mode "File IO": the program reads input_file and writes output_file in
  // its working directory (plain names); its stdout is not judged. Empty: standard IO.
  std::string input_file;
  std::string output_file;
  // Set when spj_version is not empty and spj_config is a non-empty object (or
  // spj_language is given): QingdaoU judges everything else normally.
  std::optional<SpjRequest> spj;
};

// Bounds every request is checked against; exceeding one is INVALID_ARGUMENT. They admit
// whatever QingdaoU OnlineJudge sends (time limits up to 60 s, memory from 1 MB up to the
// 10 GB its problem import allows); a program that needs more gets a verdict.
struct RequestBounds {
  int64_t max_source_bytes = 256 << 10;
  int64_t max_cpu_time_ms = 60000;
  int64_t max_real_time_ms = 180000;  // QingdaoU gives 3 x the CPU time
  int64_t min_memory_bytes = 1LL << 20;
  int64_t max_memory_bytes = 10240LL << 20;
  int64_t max_output_bytes = 64LL << 20;
  int64_t max_test_cases = 200;
};

// Parses a body. The error message names the offending field and the allowed values.
absl::StatusOr<JudgeRequest> ParseJudgeRequest(std::string_view body,
                                               const RequestBounds& bounds = {});

// Parses the body of POST /compile_spj: {"src", "spj_version", "spj_compile_config"}
// (QingdaoU) or {"src", "spj_version", "spj_language"}. The result has a language and a
// source.
absl::StatusOr<SpjRequest> ParseCompileSpjRequest(std::string_view body,
                                                  const RequestBounds& bounds = {});

// True if `id` is safe as a directory name under the test-case root.
bool IsValidTestCaseId(std::string_view id);

// Whether a program's complete output answers `test_case` under `mode`. With
// kIgnoreTrailingWhitespaceAtEnd a case's stripped_output_md5 decides when it has one, as
// in QingdaoU. REQUIRES: CanCompare(test_case, mode).
bool AnswerMatches(const TestCase& test_case, std::string_view output, CompareMode mode);
bool CanCompare(const TestCase& test_case, CompareMode mode);

// The stdout cap of one case: the request's, or in QingdaoU's form what QingdaoU allows
// (twice the expected output, at least the request's cap), bounded by `bounds`.
int64_t CaseOutputLimit(const JudgeRequest& request, const TestCase& test_case,
                        const RequestBounds& bounds = {});

}  // namespace judge

#endif  // JUDGE_SERVER_JUDGE_REQUEST_H_
