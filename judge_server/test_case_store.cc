#include "judge_server/test_case_store.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace judge {
namespace json = boost::json;
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("test case file missing: ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool IsPlainName(std::string_view name) {
  return !name.empty() && name.find('/') == std::string_view::npos && name != "." && name != "..";
}

}  // namespace

absl::StatusOr<TestCaseSet> LoadTestCases(const std::string& root, const std::string& id) {
  const std::string dir = absl::StrCat(root, "/", id);
  auto info_text = ReadFile(dir + "/info");
  if (!info_text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("test_case_id '", id, "' has no info file under the test-case root"));
  }
  boost::system::error_code ec;
  json::value info = json::parse(*info_text, ec);
  const json::value* cases =
      info.is_object() ? info.as_object().if_contains("test_cases") : nullptr;
  if (ec || cases == nullptr || !cases->is_object()) {
    return absl::FailedPreconditionError(
        absl::StrCat("test_case_id '", id, "': info is not valid"));
  }
  TestCaseSet set;
  if (const json::value* spj = info.as_object().if_contains("spj"); spj && spj->is_bool()) {
    set.spj = spj->as_bool();
  }
  std::vector<TestCase>& out = set.cases;
  for (const auto& [key, value] : cases->as_object()) {
    const json::object* c = value.if_object();
    const json::value* in_name = c ? c->if_contains("input_name") : nullptr;
    const json::value* out_name = c ? c->if_contains("output_name") : nullptr;
    const json::value* md5 = c ? c->if_contains("stripped_output_md5") : nullptr;
    const bool has_out_name =
        out_name && out_name->is_string() && IsPlainName(out_name->as_string());
    const bool has_md5 = md5 && md5->is_string() && md5->as_string().size() == 32;
    if (!in_name || !in_name->is_string() || !IsPlainName(in_name->as_string()) ||
        (!set.spj && !has_out_name && !has_md5)) {
      return absl::FailedPreconditionError(
          absl::StrCat("test_case_id '", id, "': case ", std::string(key),
                       set.spj ? " lacks input_name"
                               : " lacks input_name, or both output_name and stripped_output_md5"));
    }
    TestCase tc;
    tc.id = std::string(key);
    auto input = ReadFile(absl::StrCat(dir, "/", std::string(in_name->as_string())));
    if (!input.ok()) return input.status();
    tc.input = *std::move(input);
    tc.has_expected_output = false;
    if (!set.spj) {
      if (has_md5) tc.stripped_output_md5 = std::string(md5->as_string());
      if (has_out_name) {
        auto expected = ReadFile(absl::StrCat(dir, "/", std::string(out_name->as_string())));
        if (expected.ok()) {
          tc.expected_output = *std::move(expected);
          tc.has_expected_output = true;
          tc.output_size = static_cast<int64_t>(tc.expected_output.size());
        } else if (!has_md5) {
          return expected.status();
        }
      }
      if (const json::value* size = c->if_contains("output_size"); size && size->is_int64()) {
        tc.output_size = size->as_int64();
      }
    }
    out.push_back(std::move(tc));
  }
  if (out.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("test_case_id '", id, "' has no cases"));
  }
  // "1", "2", ..., "10" in numeric order where the ids are numbers.
  std::sort(out.begin(), out.end(), [](const TestCase& a, const TestCase& b) {
    int x, y;
    if (absl::SimpleAtoi(a.id, &x) && absl::SimpleAtoi(b.id, &y)) return x < y;
    return a.id < b.id;
  });
  return set;
}

}  // namespace judge
