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
  std::string expected_output;
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
};

// Bounds every request is checked against; exceeding one is INVALID_ARGUMENT.
struct RequestBounds {
  int64_t max_source_bytes = 256 << 10;
  int64_t max_cpu_time_ms = 30000;
  int64_t max_real_time_ms = 90000;
  int64_t min_memory_bytes = 16LL << 20;
  int64_t max_memory_bytes = 2048LL << 20;
  int64_t max_output_bytes = 64LL << 20;
  int64_t max_test_cases = 200;
};

// Parses a body. The error message names the offending field and the allowed values.
absl::StatusOr<JudgeRequest> ParseJudgeRequest(std::string_view body,
                                               const RequestBounds& bounds = {});

// True if `id` is safe as a directory name under the test-case root.
bool IsValidTestCaseId(std::string_view id);

}  // namespace judge

#endif  // JUDGE_SERVER_JUDGE_REQUEST_H_
