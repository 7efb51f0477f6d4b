#include "judge_server/judge_request.h"

#include <boost/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "judge_server/spj.h"

namespace judge {
namespace json = boost::json;
namespace {

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", std::string(field), "' ", std::string(what)));
}

// An integral JSON number, or nullopt with `status` set.
absl::StatusOr<std::optional<int64_t>> OptionalInt(const json::object& o, std::string_view field,
                                                   int64_t min, int64_t max) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return std::optional<int64_t>();
  int64_t n;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    n = static_cast<int64_t>(v->as_uint64());
  } else if (v->is_double() &&
             v->as_double() == static_cast<double>(static_cast<int64_t>(v->as_double()))) {
    n = static_cast<int64_t>(v->as_double());
  } else {
    return Invalid(field, "must be an integer");
  }
  if (n < min || n > max) {
    return Invalid(field, absl::StrCat("is ", n, ", must be between ", min, " and ", max));
  }
  return std::optional<int64_t>(n);
}

absl::StatusOr<int64_t> RequiredInt(const json::object& o, std::string_view field, int64_t min,
                                    int64_t max) {
  auto v = OptionalInt(o, field, min, max);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return Invalid(field, "is required");
  return **v;
}

absl::StatusOr<std::string> RequiredString(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return Invalid(field, "is required");
  if (!v->is_string()) return Invalid(field, "must be a string");
  return std::string(v->as_string());
}

// QingdaoU's io_mode: {"io_mode": "Standard IO"} or {"io_mode": "File IO", "input":
// "input.txt", "output": "output.txt"}.
absl::Status ParseIoMode(const json::object& o, JudgeRequest& r) {
  const json::value* v = o.if_contains("io_mode");
  if (v == nullptr || v->is_null()) return absl::OkStatus();
  if (!v->is_object())
    return Invalid("io_mode", "must be an object such as {\"io_mode\": \"Standard IO\"}");
  const json::object& m = v->as_object();
  const json::value* mode = m.if_contains("io_mode");
  if (mode == nullptr || !mode->is_string())
    return Invalid("io_mode.io_mode", "must be \"Standard IO\" or \"File IO\"");
  if (mode->as_string() == "Standard IO") return absl::OkStatus();
  if (mode->as_string() != "File IO")
    return Invalid("io_mode.io_mode", "must be \"Standard IO\" or \"File IO\"");
  for (auto [field, out] :
       {std::pair<const char*, std::string*>{"input", &r.input_file}, {"output", &r.output_file}}) {
    const json::value* name = m.if_contains(field);
    std::string n = name && name->is_string() ? std::string(name->as_string()) : "";
    // A plain file name in the working directory, nothing that walks out of it.
    if (n.empty() || n.size() > 64 || n == "." || n == ".." ||
        n.find_first_of("/\\\0") != std::string::npos) {
      return Invalid(absl::StrCat("io_mode.", field),
                     "must be a plain file name such as input.txt (at most 64 characters)");
    }
    *out = n;
  }
  if (r.input_file == r.output_file)
    return Invalid("io_mode.output", "must differ from io_mode.input");
  return absl::OkStatus();
}

// Python's truth value, which QingdaoU's server tests its optional fields with.
bool Truthy(const json::value* v) {
  if (v == nullptr || v->is_null()) return false;
  if (v->is_string()) return !v->as_string().empty();
  if (v->is_object()) return !v->as_object().empty();
  if (v->is_array()) return !v->as_array().empty();
  if (v->is_bool()) return v->as_bool();
  if (v->is_int64()) return v->as_int64() != 0;
  if (v->is_uint64()) return v->as_uint64() != 0;
  return v->as_double() != 0;
}

// A language the server knows but whose runtime this installation (or image) lacks.
absl::StatusOr<const Language*> CheckInstalled(std::string_view field, const Language* l) {
  if (Installed(*l)) return l;
  return Invalid(field, absl::StrCat("selects ", l->name,
                                     ", which is not installed on this judge server (its image "
                                     "was built without it: docker/judge_server/build "
                                     "--languages ...); GET /languages lists those served here"));
}

absl::StatusOr<const Language*> ResolveLanguage(const json::object& o) {
  if (const json::value* v = o.if_contains("language"); v != nullptr && !v->is_null()) {
    if (!v->is_string()) return Invalid("language", "must be a string such as \"cpp\"");
    const Language* l = FindLanguage(v->as_string());
    if (l == nullptr) {
      return Invalid("language", absl::StrCat("names unknown language '",
                                              std::string(v->as_string()).substr(0, 40),
                                              "'; GET /languages lists those served here"));
    }
    return CheckInstalled("language", l);
  }
  const json::value* config = o.if_contains("language_config");
  if (config == nullptr || config->is_null()) {
    return Invalid("language", "is required (or QingdaoU's 'language_config')");
  }
  if (!config->is_object()) return Invalid("language_config", "must be an object");
  auto string_in = [&](std::string_view section, std::string_view field) {
    const json::value* v = config->as_object().if_contains(section);
    if (v == nullptr || !v->is_object()) return std::string();
    const json::value* s = v->as_object().if_contains(field);
    return s != nullptr && s->is_string() ? std::string(s->as_string()) : std::string();
  };
  const std::string run_command = string_in("run", "command");
  std::string why;
  // As QingdaoU: without a (truthy) compile section the source is run as run.exe_name.
  if (!Truthy(config->as_object().if_contains("compile"))) {
    const std::string exe_name = string_in("run", "exe_name");
    const Language* l = LanguageForQingdaoRunOnlyConfig(exe_name, run_command, &why);
    if (l != nullptr) return CheckInstalled("language_config", l);
    if (!why.empty()) return Invalid("language_config", why);
    return Invalid(
        "language_config",
        absl::StrCat("has no 'compile' and selects no language this judge runs "
                     "(run.exe_name '",
                     exe_name.substr(0, 40), "', run.command '", run_command.substr(0, 60),
                     "'): a run-only config names a .php, .js or .py exe_name, or "
                     "php, node or python3 in its command; GET /languages lists "
                     "those served here"));
  }
  const std::string src_name = string_in("compile", "src_name");
  const Language* l = LanguageForQingdaoConfig(src_name, run_command, &why);
  if (l == nullptr) {
    if (!why.empty()) return Invalid("language_config", why);
    return Invalid("language_config", absl::StrCat("selects no language this judge has (src_name '",
                                                   src_name.substr(0, 40),
                                                   "'); GET /languages lists those served here"));
  }
  return CheckInstalled("language_config", l);
}

// With a special judge the outputs are not needed (QingdaoU ignores them).
absl::Status ParseTestCases(const json::value& v, int64_t max_cases, JudgeRequest& out) {
  if (!v.is_array()) return Invalid("test_case", "must be a list of {\"input\", \"output\"}");
  const json::array& cases = v.as_array();
  if (cases.empty()) return Invalid("test_case", "is empty; give at least one case");
  if (static_cast<int64_t>(cases.size()) > max_cases) {
    return Invalid("test_case", absl::StrCat("has ", cases.size(), " cases, at most ", max_cases));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string field = absl::StrCat("test_case[", i, "]");
    if (!cases[i].is_object()) return Invalid(field, "must be an object");
    const json::object& c = cases[i].as_object();
    TestCase tc;
    tc.id = absl::StrCat(i + 1);
    auto in = RequiredString(c, "input");
    if (!in.ok()) return Invalid(field, std::string(in.status().message()));
    tc.input = *std::move(in);
    if (out.spj.has_value()) {
      tc.has_expected_output = false;
    } else {
      auto expected = RequiredString(c, "output");
      if (!expected.ok()) return Invalid(field, std::string(expected.status().message()));
      tc.expected_output = *std::move(expected);
      tc.output_size = static_cast<int64_t>(tc.expected_output.size());
    }
    out.test_cases.push_back(std::move(tc));
  }
  return absl::OkStatus();
}

// The checker's language: the native spj_language, or QingdaoU's
// spj_compile_config.src_name ("spj-{spj_version}.c"). Null when neither is given.
absl::StatusOr<const Language*> SpjLanguage(const json::object& o) {
  if (const json::value* v = o.if_contains("spj_language"); Truthy(v)) {
    const Language* l = v->is_string() ? FindLanguage(v->as_string()) : nullptr;
    if (l == nullptr || !l->native) {
      return Invalid("spj_language", "must be \"c\" or \"cpp\"");
    }
    return l;
  }
  const json::value* config = o.if_contains("spj_compile_config");
  if (!Truthy(config)) return nullptr;
  if (!config->is_object()) return Invalid("spj_compile_config", "must be an object");
  const json::value* src_name = config->as_object().if_contains("src_name");
  if (src_name == nullptr || !src_name->is_string()) {
    return Invalid("spj_compile_config", "needs src_name, such as \"spj-{spj_version}.c\"");
  }
  const Language* l = SpjLanguageForSrcName(src_name->as_string());
  if (l == nullptr) {
    return Invalid("spj_compile_config",
                   absl::StrCat("src_name '", std::string(src_name->as_string()),
                                "' names no checker language here; special judges are "
                                "C (.c) or C++ (.cpp)"));
  }
  return l;
}

absl::StatusOr<std::string> SpjVersion(const json::object& o) {
  const json::value* v = o.if_contains("spj_version");
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return Invalid("spj_version", "must be a string");
  if (v->as_string().size() > 128) return Invalid("spj_version", "is longer than 128 characters");
  return std::string(v->as_string());
}

absl::StatusOr<std::optional<std::string>> SpjSource(const json::object& o, int64_t max_bytes) {
  const json::value* v = o.if_contains("spj_src");
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return Invalid("spj_src", "must be a string");
  if (static_cast<int64_t>(v->as_string().size()) > max_bytes) {
    return Invalid("spj_src",
                   absl::StrCat("is ", v->as_string().size(), " bytes, at most ", max_bytes));
  }
  if (v->as_string().empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::string(v->as_string()));
}

// QingdaoU judges with a checker only when spj_version and spj_config are both set;
// OnlineJudge sends spj_version "" for ordinary problems and keeps an old version with
// spj_config null once the special judge is switched off.
absl::Status ParseSpj(const json::object& o, const RequestBounds& b, JudgeRequest& r) {
  auto version = SpjVersion(o);
  if (!version.ok()) return version.status();
  const json::value* config = o.if_contains("spj_config");
  if (Truthy(config) && !config->is_object()) return Invalid("spj_config", "must be an object");
  if (version->empty() || !(Truthy(config) || Truthy(o.if_contains("spj_language")))) {
    return absl::OkStatus();
  }
  SpjRequest spj;
  spj.version = *std::move(version);
  auto language = SpjLanguage(o);
  if (!language.ok()) return language.status();
  spj.language = *language;
  auto source = SpjSource(o, b.max_source_bytes);
  if (!source.ok()) return source.status();
  spj.source = *std::move(source);
  r.spj = std::move(spj);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SpjRequest> ParseCompileSpjRequest(std::string_view body, const RequestBounds& b) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("body is not valid JSON: ", ec.message()));
  if (!root.is_object()) return absl::InvalidArgumentError("body must be a JSON object");
  const json::object& o = root.as_object();
  SpjRequest spj;
  auto version = SpjVersion(o);
  if (!version.ok()) return version.status();
  if (version->empty()) return Invalid("spj_version", "is required");
  spj.version = *std::move(version);
  auto language = SpjLanguage(o);
  if (!language.ok()) return language.status();
  if (*language == nullptr) {
    return Invalid("spj_compile_config", "is required (or the native 'spj_language')");
  }
  spj.language = *language;
  auto src = RequiredString(o, "src");
  if (!src.ok()) return src.status();
  if (src->empty()) return Invalid("src", "is empty");
  if (static_cast<int64_t>(src->size()) > b.max_source_bytes) {
    return Invalid("src", absl::StrCat("is ", src->size(), " bytes, at most ", b.max_source_bytes));
  }
  spj.source = *std::move(src);
  return spj;
}

bool CanCompare(const TestCase& tc, CompareMode mode) {
  return tc.has_expected_output ||
         (mode == CompareMode::kIgnoreTrailingWhitespaceAtEnd && !tc.stripped_output_md5.empty());
}

bool AnswerMatches(const TestCase& tc, std::string_view output, CompareMode mode) {
  if (mode == CompareMode::kIgnoreTrailingWhitespaceAtEnd && !tc.stripped_output_md5.empty()) {
    return ConstantTimeEquals(StrippedOutputMd5(output),
                              absl::AsciiStrToLower(tc.stripped_output_md5));
  }
  return OutputsMatch(output, tc.expected_output, mode);
}

int64_t CaseOutputLimit(const JudgeRequest& r, const TestCase& tc, const RequestBounds& b) {
  if (!r.qingdao_form) return r.max_output_bytes;
  return std::min(b.max_output_bytes, std::max(r.max_output_bytes, 2 * tc.output_size));
}

bool IsValidTestCaseId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

absl::StatusOr<JudgeRequest> ParseJudgeRequest(std::string_view body, const RequestBounds& b) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("body is not valid JSON: ", ec.message()));
  if (!root.is_object()) return absl::InvalidArgumentError("body must be a JSON object");
  const json::object& o = root.as_object();

  JudgeRequest r;
  auto language = ResolveLanguage(o);
  if (!language.ok()) return language.status();
  r.language = *language;
  const json::value* native_language = o.if_contains("language");
  r.qingdao_form = native_language == nullptr || native_language->is_null();
  if (r.qingdao_form) r.compare = CompareMode::kIgnoreTrailingWhitespaceAtEnd;

  auto src = RequiredString(o, "src");
  if (!src.ok()) return src.status();
  if (src->empty()) return Invalid("src", "is empty");
  if (static_cast<int64_t>(src->size()) > b.max_source_bytes) {
    return Invalid("src", absl::StrCat("is ", src->size(), " bytes, at most ", b.max_source_bytes));
  }
  r.source = *std::move(src);

  auto cpu = RequiredInt(o, "max_cpu_time", 1, b.max_cpu_time_ms);
  if (!cpu.ok()) return cpu.status();
  r.max_cpu_time_ms = *cpu;
  auto real = OptionalInt(o, "max_real_time", 1, b.max_real_time_ms);
  if (!real.ok()) return real.status();
  r.max_real_time_ms = real->value_or(std::min(b.max_real_time_ms, r.max_cpu_time_ms * 3));
  auto memory = RequiredInt(o, "max_memory", b.min_memory_bytes, b.max_memory_bytes);
  if (!memory.ok()) return memory.status();
  r.max_memory_bytes = *memory;
  auto output = OptionalInt(o, "max_output_size", 1, b.max_output_bytes);
  if (!output.ok()) return output.status();
  r.max_output_bytes = output->value_or(r.max_output_bytes);

  if (auto s = ParseIoMode(o, r); !s.ok()) return s;
  if (const json::value* v = o.if_contains("output"); v && !v->is_null()) {
    if (!v->is_bool()) return Invalid("output", "must be true or false");
    r.return_output = v->as_bool();
  }
  if (const json::value* v = o.if_contains("compare"); v && !v->is_null()) {
    if (v->is_string() && v->as_string() == "exact") {
      r.compare = CompareMode::kExact;
    } else if (v->is_string() && v->as_string() == "ignore_trailing_whitespace") {
      r.compare = CompareMode::kIgnoreTrailingWhitespace;
    } else if (v->is_string() && v->as_string() == "ignore_trailing_whitespace_at_end") {
      r.compare = CompareMode::kIgnoreTrailingWhitespaceAtEnd;
    } else {
      return Invalid("compare",
                     "must be \"exact\", \"ignore_trailing_whitespace\" or "
                     "\"ignore_trailing_whitespace_at_end\"");
    }
  }
  if (auto s = ParseSpj(o, b, r); !s.ok()) return s;

  // Empty values count as absent, as in QingdaoU (its Go client sends "test_case_id": "").
  const json::value* inline_cases = o.if_contains("test_case");
  const json::value* case_id = o.if_contains("test_case_id");
  bool has_id = Truthy(case_id);
  bool has_inline = inline_cases && !inline_cases->is_null() && !(has_id && !Truthy(inline_cases));
  if (has_inline == has_id) {
    return Invalid("test_case", "or 'test_case_id' is required, and not both");
  }
  if (has_inline) {
    if (auto s = ParseTestCases(*inline_cases, b.max_test_cases, r); !s.ok()) return s;
  } else {
    if (!case_id->is_string() || !IsValidTestCaseId(case_id->as_string())) {
      return Invalid("test_case_id", "must be a directory name of letters, digits, '-', '_', '.'");
    }
    r.test_case_id = std::string(case_id->as_string());
  }
  return r;
}

}  // namespace judge
