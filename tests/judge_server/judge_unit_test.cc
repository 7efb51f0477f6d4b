// Fast tests of the judge's pure logic: routing, request validation, verdicts,
// comparison, the compile cache, metrics and ELF inspection. No root, no processes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "judge_server/compare.h"
#include "judge_server/compile_cache.h"
#include "judge_server/files.h"
#include "judge_server/judge.h"
#include "judge_server/judge_request.h"
#include "judge_server/judge_service.h"
#include "judge_server/metrics.h"
#include "judge_server/router.h"
#include "judge_server/test_case_store.h"
#include "judge_server/verdict.h"

namespace judge {
namespace {

using ::testing::HasSubstr;

TEST(RouterTest, ResolvesEveryRouteAndMethod) {
  struct Case {
    const char* method;
    const char* target;
    Route want;
  } cases[] = {
      {"GET", "/ping", Route::kPing},
      {"POST", "/ping", Route::kPing},
      {"HEAD", "/ping", Route::kPing},
      {"GET", "/ping?x=1", Route::kPing},
      {"GET", "/healthz", Route::kHealthz},
      {"GET", "/metrics", Route::kMetrics},
      {"GET", "/languages", Route::kLanguages},
      {"POST", "/judge", Route::kJudge},
      {"GET", "/judge", Route::kMethodNotAllowed},
      {"DELETE", "/ping", Route::kMethodNotAllowed},
      {"GET", "/", Route::kNotFound},
      {"GET", "/pingx", Route::kNotFound},
      {"GET", "/judge/../ping", Route::kNotFound},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ResolveRoute(c.method, c.target), c.want) << c.method << " " << c.target;
  }
  EXPECT_EQ(AllowedMethods("/judge"), "POST");
  EXPECT_EQ(RouteLabel(Route::kNotFound), "other");
  EXPECT_EQ(RouteLabel(Route::kJudge), "/judge");
}

std::string Body(const std::string& extra) {
  return R"({"language":"cpp","src":"int main(){}","max_cpu_time":1000,"max_memory":268435456,)" +
         extra + "}";
}

TEST(JudgeRequestTest, ParsesNativeForm) {
  auto r = ParseJudgeRequest(
      Body(R"("test_case":[{"input":"1 2","output":"3"}],"output":true,"compare":"exact")"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->language->id, "cpp");
  EXPECT_EQ(r->max_cpu_time_ms, 1000);
  EXPECT_EQ(r->max_real_time_ms, 3000);  // three times the CPU limit by default
  EXPECT_EQ(r->max_memory_bytes, 268435456);
  ASSERT_EQ(r->test_cases.size(), 1u);
  EXPECT_EQ(r->test_cases[0].id, "1");
  EXPECT_EQ(r->test_cases[0].expected_output, "3");
  EXPECT_TRUE(r->return_output);
  EXPECT_EQ(r->compare, CompareMode::kExact);
}

TEST(JudgeRequestTest, ParsesQingdaoLanguageConfig) {
  struct Case {
    const char* config;
    const char* want;
  } cases[] = {
      {R"({"compile":{"src_name":"main.c","exe_name":"main"},"run":{"command":"{exe_path}"}})",
       "c"},
      {R"({"compile":{"src_name":"main.cpp","exe_name":"main"},"run":{"command":"{exe_path}"}})",
       "cpp"},
      {R"({"compile":{"src_name":"solution.py","exe_name":"__pycache__/solution.cpython-36.pyc","compile_command":"/usr/bin/python3 -m py_compile {src_path}"},"run":{"command":"/usr/bin/python3 {exe_path}"}})",
       "python3"},
      // QingdaoU's languages.py configs (command strings abridged: never run here).
      {R"({"compile":{"src_name":"Main.java","exe_name":"Main","compile_command":"/usr/bin/javac {src_path} -d {exe_dir}"},"run":{"command":"/usr/bin/java -cp {exe_dir} -XX:MaxRAM={max_memory}k Main"}})",
       "java"},
      {R"({"compile":{"src_name":"main.go","exe_name":"main","compile_command":"/usr/bin/go build -o {exe_path} {src_path}"},"run":{"command":"{exe_path}","env":["GODEBUG=madvdontneed=1"]}})",
       "go"},
      {R"({"compile":{"src_name":"main.js","exe_name":"main.js","compile_command":"/usr/bin/node --check {src_path}"},"run":{"command":"/usr/bin/node {exe_path}"}})",
       "javascript"},
      {R"({"compile":{"src_name":"solution.php","exe_name":"solution.php","compile_command":"/usr/bin/php -l {src_path}"},"run":{"command":"/usr/bin/php {exe_path}"}})",
       "php"},
  };
  for (const Case& c : cases) {
    std::string body =
        std::string(R"({"language_config":)") + c.config +
        R"(,"src":"x","max_cpu_time":1000,"max_memory":33554432,"test_case_id":"aplusb"})";
    auto r = ParseJudgeRequest(body);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->language->id, c.want);
    EXPECT_EQ(r->test_case_id, "aplusb");
  }
}

// QingdaoU's PHP and JavaScript configs have no "compile": the server runs the source as
// run.exe_name with its own interpreter and no compile step, as QingdaoU does.
TEST(JudgeRequestTest, RunOnlyQingdaoConfigsRunTheSourceAsExeName) {
  struct Case {
    const char* config;
    const char* want_id;
    const char* want_file;
  } cases[] = {
      // QingdaoU client/Python/languages.py's shapes.
      {R"({"run":{"exe_name":"solution.php","command":"/usr/bin/php {exe_path}","seccomp_rule":"","env":["LANG=en_US.UTF-8"],"memory_limit_check_only":1}})",
       "php", "solution.php"},
      {R"({"run":{"exe_name":"solution.js","command":"/usr/bin/node {exe_path}","seccomp_rule":"","env":["NO_COLOR=true"],"memory_limit_check_only":1}})",
       "javascript", "solution.js"},
      // No telling extension: the interpreter decides (older OnlineJudge: nodejs).
      {R"({"compile":null,"run":{"exe_name":"solution","command":"/usr/bin/nodejs {exe_path}"}})",
       "javascript", "solution.js"},
      {R"({"run":{"exe_name":"prog","command":"/usr/bin/env php8.2 {exe_path}"}})", "php",
       "solution.php"},
      {R"({"compile":{},"run":{"exe_name":"solution.py","command":"/usr/bin/python3 {exe_path}"}})",
       "python3", "solution.py"},
  };
  for (const Case& c : cases) {
    std::string body =
        std::string(R"({"language_config":)") + c.config +
        R"(,"src":"x","max_cpu_time":1000,"max_memory":33554432,"test_case_id":"a"})";
    auto r = ParseJudgeRequest(body);
    ASSERT_TRUE(r.ok()) << c.config << ": " << r.status();
    EXPECT_EQ(r->language->id, c.want_id) << c.config;
    EXPECT_TRUE(r->language->compile.empty()) << c.config;
    EXPECT_EQ(r->language->exe_name, c.want_file) << c.config;
    EXPECT_EQ(r->language->src_name, c.want_file) << c.config;
    EXPECT_TRUE(r->qingdao_form);
    // The server's own interpreter runs the file, never the client's command.
    const Language& server_side = *FindLanguage(c.want_id);
    EXPECT_EQ(r->language->run, server_side.run);
    EXPECT_THAT(ExpandCommand(r->language->run, *r->language, "/w"),
                ::testing::Contains(std::string("/w/") + c.want_file));
    // A compiled and a run-only program of one source never share a cache entry.
    EXPECT_NE(CompileFingerprint(*r->language), CompileFingerprint(server_side));
  }
  // GET /languages lists each language once, as the server defines it.
  for (const Language& l : Languages()) EXPECT_FALSE(l.compile.empty()) << l.id;

  for (const auto& [config, want] : std::vector<std::pair<std::string, std::string>>{
           {R"({"run":{"exe_name":"main","command":"{exe_path}"}})", "has no 'compile'"},
           {R"({"run":{"exe_name":"solution.rb","command":"/usr/bin/ruby {exe_path}"}})",
            "has no 'compile'"},
           {R"({"run":{"exe_name":"solution.py","command":"/usr/bin/python {exe_path}"}})",
            "Python 2"}}) {
    auto r = ParseJudgeRequest(R"({"language_config":)" + config +
                               R"(,"src":"x","max_cpu_time":1000,"max_memory":33554432,)"
                               R"("test_case_id":"a"})");
    ASSERT_FALSE(r.ok()) << config;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(want)) << config;
  }
}

TEST(JudgeRequestTest, PythonTwoIsRefusedWithTheReason) {
  auto r = ParseJudgeRequest(
      R"({"language_config":{"compile":{"src_name":"solution.py","exe_name":"solution.pyc"},)"
      R"("run":{"command":"/usr/bin/python {exe_path}"}},"src":"print 1","max_cpu_time":1000,)"
      R"("max_memory":33554432,"test_case_id":"aplusb"})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("Python 2"));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("Debian 12"));
}

TEST(JudgeRequestTest, ParsesFileIoMode) {
  auto r = ParseJudgeRequest(
      R"({"language":"c","src":"x","max_cpu_time":1000,"max_memory":33554432,"test_case_id":"a",)"
      R"("io_mode":{"io_mode":"File IO","input":"input.txt","output":"output.txt"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->input_file, "input.txt");
  EXPECT_EQ(r->output_file, "output.txt");
  for (const char* bad :
       {R"({"io_mode":"File IO","input":"../x","output":"o"})",
        R"({"io_mode":"File IO","input":"a/b","output":"o"})",
        R"({"io_mode":"File IO","input":"same","output":"same"})", R"({"io_mode":"Pipes"})"}) {
    auto bad_request = ParseJudgeRequest(
        std::string(R"({"language":"c","src":"x","max_cpu_time":1000,"max_memory":33554432,)") +
        R"("test_case_id":"a","io_mode":)" + bad + "}");
    EXPECT_FALSE(bad_request.ok()) << bad;
    if (!bad_request.ok()) {
      EXPECT_THAT(std::string(bad_request.status().message()), ::testing::HasSubstr("io_mode"));
    }
  }
}

TEST(JudgeRequestTest, RejectsBadInputNamingTheField) {
  struct Case {
    std::string body;
    std::string message;
  } cases[] = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "JSON object"},
      {R"({"src":"x","max_cpu_time":1000,"max_memory":268435456,"test_case":[]})",
       "'language' is required"},
      {R"({"language":"cobol","src":"x","max_cpu_time":1,"max_memory":268435456,"test_case_id":"a"})",
       "unknown language 'cobol'"},
      {R"({"language_config":{"compile":{"src_name":"Main.kt"}},"src":"x","max_cpu_time":1,"max_memory":268435456,"test_case_id":"a"})",
       "'language_config'"},
      {R"({"language":"c","max_cpu_time":1000,"max_memory":268435456,"test_case_id":"a"})",
       "'src' is required"},
      {R"({"language":"c","src":"","max_cpu_time":1000,"max_memory":268435456,"test_case_id":"a"})",
       "'src' is empty"},
      {R"({"language":"c","src":"x","max_memory":268435456,"test_case_id":"a"})",
       "'max_cpu_time' is required"},
      {R"({"language":"c","src":"x","max_cpu_time":"fast","max_memory":268435456,"test_case_id":"a"})",
       "'max_cpu_time' must be an integer"},
      {R"({"language":"c","src":"x","max_cpu_time":0,"max_memory":268435456,"test_case_id":"a"})",
       "'max_cpu_time' is 0"},
      {R"({"language":"c","src":"x","max_cpu_time":1000,"max_memory":1,"test_case_id":"a"})",
       "'max_memory' is 1, must be between"},
      {R"({"language":"c","src":"x","max_cpu_time":1000,"max_memory":268435456})",
       "'test_case' or 'test_case_id' is required"},
      {Body(R"("test_case":[{"input":"1"}])"), "test_case[0]' field 'output' is required"},
      {Body(R"("test_case":"abc")"), "'test_case' must be a list"},
      {Body(R"("test_case_id":"../etc")"), "'test_case_id' must be a directory name"},
      {Body(R"("test_case_id":"a","test_case":[{"input":"","output":""}])"), "not both"},
      {Body(R"("test_case_id":"a","output":"yes")"), "'output' must be true or false"},
      {Body(R"("test_case_id":"a","compare":"fuzzy")"), "'compare' must be"},
      {Body(R"("test_case_id":"a","spj_version":"1","spj_config":{"exe_name":"spj"},"spj_src":5)"),
       "'spj_src' must be a string"},
  };
  for (const Case& c : cases) {
    auto r = ParseJudgeRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message)) << c.body;
  }
}

TEST(JudgeRequestTest, BoundsSourceAndCaseCount) {
  RequestBounds bounds;
  bounds.max_source_bytes = 4;
  bounds.max_test_cases = 1;
  EXPECT_FALSE(ParseJudgeRequest(Body(R"("test_case_id":"a")"), bounds).ok());
  bounds.max_source_bytes = 1 << 20;
  auto r = ParseJudgeRequest(
      Body(R"("test_case":[{"input":"","output":""},{"input":"","output":""}])"), bounds);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("at most 1"));
}

TEST(VerdictTest, ClassifiesRunsInPriorityOrder) {
  const CaseLimits limits{1000, 3000, 64 << 20};
  auto run = [](auto mutate) {
    RunResult r;
    r.cpu_time_ms = 10;
    r.real_time_ms = 20;
    r.memory_bytes = 1 << 20;
    mutate(r);
    return r;
  };
  struct Case {
    RunResult run;
    bool match;
    Verdict want;
  } cases[] = {
      {run([](RunResult&) {}), true, Verdict::kAccepted},
      {run([](RunResult&) {}), false, Verdict::kWrongAnswer},
      {run([](RunResult& r) { r.exit_code = 1; }), true, Verdict::kRuntimeError},
      {run([](RunResult& r) { r.signal = 11; }), false, Verdict::kRuntimeError},
      {run([](RunResult& r) { r.cpu_time_ms = 1001; }), true, Verdict::kCpuTimeLimitExceeded},
      {run([](RunResult& r) {
         r.cpu_time_exceeded = true;
         r.signal = 9;
       }),
       false, Verdict::kCpuTimeLimitExceeded},
      {run([](RunResult& r) {
         r.real_time_exceeded = true;
         r.signal = 9;
       }),
       false, Verdict::kRealTimeLimitExceeded},
      {run([](RunResult& r) {
         r.memory_bytes = 65 << 20;
         r.signal = 11;
       }),
       false, Verdict::kMemoryLimitExceeded},
      {run([](RunResult& r) {
         r.output_exceeded = true;
         r.signal = 9;
         r.cpu_time_ms = 5000;
       }),
       false, Verdict::kOutputLimitExceeded},
  };
  for (const Case& c : cases) EXPECT_EQ(ClassifyRun(c.run, limits, c.match), c.want);
}

TEST(VerdictTest, CodesAndNamesFollowQingdaoU) {
  EXPECT_EQ(ResultCode(Verdict::kWrongAnswer), -1);
  EXPECT_EQ(ResultCode(Verdict::kAccepted), 0);
  EXPECT_EQ(ResultCode(Verdict::kCpuTimeLimitExceeded), 1);
  EXPECT_EQ(ResultCode(Verdict::kRealTimeLimitExceeded), 2);
  EXPECT_EQ(ResultCode(Verdict::kMemoryLimitExceeded), 3);
  EXPECT_EQ(ResultCode(Verdict::kRuntimeError), 4);
  EXPECT_EQ(ResultCode(Verdict::kSystemError), 5);
  EXPECT_EQ(ResultCode(Verdict::kOutputLimitExceeded), 6);
  EXPECT_EQ(VerdictName(Verdict::kRealTimeLimitExceeded), "TLE");
  EXPECT_EQ(OverallVerdict({Verdict::kAccepted, Verdict::kWrongAnswer, Verdict::kRuntimeError}),
            Verdict::kWrongAnswer);
  EXPECT_EQ(OverallVerdict({Verdict::kAccepted, Verdict::kAccepted}), Verdict::kAccepted);
}

TEST(CompareTest, ExactAndTrailingWhitespace) {
  struct Case {
    const char* actual;
    const char* expected;
    bool exact;
    bool relaxed;
  } cases[] = {
      {"3\n", "3\n", true, true},
      {"3", "3\n", false, true},
      {"3  \n\n\n", "3", false, true},
      {"1 2 \r\n3\t\n", "1 2\n3", false, true},
      {"1  2\n", "1 2\n", false, false},  // inner whitespace matters
      {" 3\n", "3\n", false, false},      // leading whitespace matters
      {"3\n\n4", "3\n4", false, false},   // blank lines inside matter
      {"", "", true, true},
      {"\n\n", "", false, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(OutputsMatch(c.actual, c.expected, CompareMode::kExact), c.exact) << c.actual;
    EXPECT_EQ(OutputsMatch(c.actual, c.expected, CompareMode::kIgnoreTrailingWhitespace), c.relaxed)
        << c.actual;
  }
}

TEST(CompareTest, DigestsMatchKnownValues) {
  EXPECT_EQ(Md5Hex("3"), "eccbc87e4b5ce2fe28308fd9f2a7baf3");
  EXPECT_EQ(StrippedOutputMd5("3 \n\n"), "eccbc87e4b5ce2fe28308fd9f2a7baf3");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

TEST(CompileCacheTest, EvictsLeastRecentlyUsedByCountAndBytes) {
  CompileCache cache(2, 100);
  auto p = [](size_t n) {
    auto c = std::make_shared<CompiledProgram>();
    c->program.assign(n, 'x');
    return c;
  };
  cache.Insert("a", p(10));
  cache.Insert("b", p(10));
  ASSERT_NE(cache.Find("a"), nullptr);  // a is now the most recent
  cache.Insert("c", p(10));
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("a"), nullptr);
  cache.Insert("big", p(95));  // pushes everything else out by bytes
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("big"), nullptr);
  cache.Insert("huge", p(1000));  // larger than the cache: not kept
  EXPECT_EQ(cache.Find("huge"), nullptr);
}

TEST(LanguagesTest, FindsByIdAliasAndExpandsCommands) {
  ASSERT_NE(FindLanguage("C++"), nullptr);
  EXPECT_EQ(FindLanguage("C++")->id, "cpp");
  EXPECT_EQ(FindLanguage("py3")->id, "python3");
  EXPECT_EQ(FindLanguage("js")->id, "javascript");
  EXPECT_EQ(FindLanguage("kotlin"), nullptr);
  auto cmd = ExpandCommand(FindLanguage("cpp")->compile, *FindLanguage("cpp"), "/w");
  EXPECT_THAT(cmd, ::testing::Contains("/w/main.cpp"));
  EXPECT_THAT(cmd, ::testing::Contains("/w/main"));
  EXPECT_NE(CompileFingerprint(*FindLanguage("c")), CompileFingerprint(*FindLanguage("cpp")));
}

TEST(MetricsTest, RendersPrometheusText) {
  Metrics m;
  m.CountRequest(Route::kPing, 200);
  m.CountRequest(Route::kPing, 200);
  m.CountRequest(Route::kNotFound, 404);
  m.CountVerdict(Verdict::kAccepted);
  m.compile_seconds().Observe(0.3);
  m.run_seconds().Observe(20);
  std::string text = m.Render(1, 2, 4);
  EXPECT_THAT(text, HasSubstr("judge_http_connections_shed_total 0\n"));
  m.CountConnectionShed();
  text = m.Render(1, 2, 4);
  EXPECT_THAT(text, HasSubstr("judge_http_connections_shed_total 1\n"));
  EXPECT_THAT(text, HasSubstr("judge_http_requests_total{route=\"/ping\",status=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("judge_http_requests_total{route=\"other\",status=\"404\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("judge_verdicts_total{verdict=\"AC\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("judge_queue_depth 2\n"));
  EXPECT_THAT(text, HasSubstr("judge_running 1\n"));
  EXPECT_THAT(text, HasSubstr("judge_compile_seconds_bucket{le=\"0.25\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("judge_compile_seconds_bucket{le=\"0.5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("judge_run_seconds_bucket{le=\"10\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("judge_run_seconds_bucket{le=\"+Inf\"} 1\n"));
}

TEST(ElfTest, SumsLoadableSegmentsOfARealBinary) {
  std::ifstream in("/proc/self/exe", std::ios::binary);
  std::string self((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GT(ElfStaticMemory(self), 4096);
  EXPECT_EQ(ElfStaticMemory("#!/bin/sh\n"), 0);
  EXPECT_EQ(ElfStaticMemory(self.substr(0, 70)), 0);  // header only, no segments readable
}

TEST(RenderOutcomeTest, KeepsQingdaoEnvelope) {
  JudgeOutcome ce;
  ce.verdict = Verdict::kCompileError;
  ce.compile_message = "main.cpp:1: error";
  auto v = boost::json::parse(RenderOutcome(ce, false, "node1")).as_object();
  EXPECT_EQ(v["err"], "CompileError");
  EXPECT_EQ(v["data"], "main.cpp:1: error");
  EXPECT_EQ(v["hostname"], "node1");
  EXPECT_EQ(v["verdict"], "CE");

  JudgeOutcome ok;
  ok.verdict = Verdict::kAccepted;
  CaseResult c;
  c.test_case = "1";
  c.verdict = Verdict::kAccepted;
  c.run.stdout_data = "3\n";
  ok.cases.push_back(c);
  v = boost::json::parse(RenderOutcome(ok, true, "node1")).as_object();
  EXPECT_TRUE(v["err"].is_null());
  EXPECT_EQ(v["data"].as_array()[0].as_object()["result"], 0);
  EXPECT_EQ(v["data"].as_array()[0].as_object()["output"], "3\n");
}

TEST(TestCaseStoreTest, LoadsQingdaoLayoutInNumericOrder) {
  std::string root = ::testing::TempDir() + "/cases";
  std::filesystem::create_directories(root + "/ab");
  std::ofstream(root + "/ab/info") << R"({"test_case_number":2,"spj":false,"test_cases":{
      "10":{"input_name":"10.in","output_name":"10.out"},
      "2":{"input_name":"2.in","output_name":"2.out"}}})";
  std::ofstream(root + "/ab/2.in") << "1 1";
  std::ofstream(root + "/ab/2.out") << "2";
  std::ofstream(root + "/ab/10.in") << "5 5";
  std::ofstream(root + "/ab/10.out") << "10";
  auto cases = LoadTestCases(root, "ab");
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->cases.size(), 2u);
  EXPECT_FALSE(cases->spj);
  EXPECT_EQ(cases->cases[0].id, "2");
  EXPECT_EQ(cases->cases[1].expected_output, "10");
  EXPECT_EQ(LoadTestCases(root, "missing").status().code(), absl::StatusCode::kNotFound);
  std::ofstream(root + "/ab/info")
      << R"({"test_cases":{"1":{"input_name":"../../x","output_name":"1.out"}}})";
  EXPECT_FALSE(LoadTestCases(root, "ab").ok());
}

}  // namespace
}  // namespace judge

namespace judge {
namespace {

TEST(TokenFileTest, TheTokenIsTheFileWithoutTrailingWhitespace) {
  const std::string dir = ::testing::TempDir() + "/token-file-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tok") << "s3cret value\r\n";
  auto token = ReadTokenFile(dir + "/tok");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret value");
  std::ofstream(dir + "/blank") << " \n";
  EXPECT_THAT(std::string(ReadTokenFile(dir + "/blank").status().message()),
              ::testing::HasSubstr("is empty"));
  EXPECT_THAT(std::string(ReadTokenFile(dir + "/missing").status().message()),
              ::testing::HasSubstr(dir + "/missing"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace judge
