// Test cases stored on disk in QingdaoU's layout: <root>/<test_case_id>/info is JSON
// {"test_case_number": N, "spj": false, "test_cases": {"1": {"input_name": "1.in",
// "output_name": "1.out", "stripped_output_md5": "...", "output_size": 2}}}. A special-judge
// directory ("spj": true) has inputs only. The root should be readable by the server only,
// so that no submission can read the answers.
#ifndef JUDGE_SERVER_TEST_CASE_STORE_H_
#define JUDGE_SERVER_TEST_CASE_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/judge_request.h"

namespace judge {

struct TestCaseSet {
  bool spj = false;  // judged by a checker: the cases have no expected output
  std::vector<TestCase> cases;
};

// Loads the cases of `id`. NOT_FOUND when the directory or a file is missing. An
// ordinary case needs its output file or a stripped_output_md5 (QingdaoU compares only
// that digest); when the file is missing the case has only the digest.
// REQUIRES: IsValidTestCaseId(id).
absl::StatusOr<TestCaseSet> LoadTestCases(const std::string& root, const std::string& id);

}  // namespace judge

#endif  // JUDGE_SERVER_TEST_CASE_STORE_H_
