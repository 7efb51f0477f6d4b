// Test cases stored on disk in QingdaoU's layout: <root>/<test_case_id>/info is JSON
// {"test_case_number": N, "spj": false, "test_cases": {"1": {"input_name": "1.in",
// "output_name": "1.out", ...}}}. The root should be readable by the server only, so
// that no submission can read the answers.
#ifndef JUDGE_SERVER_TEST_CASE_STORE_H_
#define JUDGE_SERVER_TEST_CASE_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/judge_request.h"

namespace judge {

// Loads the cases of `id`. NOT_FOUND when the directory or a file is missing.
// REQUIRES: IsValidTestCaseId(id).
absl::StatusOr<std::vector<TestCase>> LoadTestCases(const std::string& root, const std::string& id);

}  // namespace judge

#endif  // JUDGE_SERVER_TEST_CASE_STORE_H_
