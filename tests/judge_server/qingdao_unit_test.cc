// Fast tests of what makes judge_server a drop-in judge for QingdaoU OnlineJudge: the
// special judge's parsing, limits and exit-status meaning, QingdaoU's comparison and
// result codes, the test-case layouts, /ping's percentages, and the heartbeat's URL
// handling, body and backoff (one heartbeat against an in-process fake OnlineJudge).
// No root, no judge_server process (qingdao_integration_test has those).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "judge_server/compare.h"
#include "judge_server/heartbeat.h"
#include "judge_server/judge.h"
#include "judge_server/judge_request.h"
#include "judge_server/judge_service.h"
#include "judge_server/router.h"
#include "judge_server/spj.h"
#include "judge_server/system_stats.h"
#include "judge_server/test_case_store.h"
#include "judge_server/verdict.h"
#include "tests/judge_server/fake_online_judge.h"

namespace judge {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

// QingdaoU's C language_config, as its client and OnlineJudge send it.
constexpr const char* kQingdaoC =
    R"("language_config":{"compile":{"src_name":"main.c","exe_name":"main","max_cpu_time":3000,)"
    R"("max_real_time":5000,"max_memory":134217728,"compile_command":"/usr/bin/gcc {src_path} -o )"
    R"({exe_path}"},"run":{"command":"{exe_path}","seccomp_rule":"c_cpp","env":[]}})";

std::string QingdaoBody(const std::string& extra) {
  return std::string("{") + kQingdaoC +
         R"(,"src":"int main(){}","max_cpu_time":1000,"max_memory":134217728,)" + extra + "}";
}

std::string NativeBody(const std::string& extra) {
  return R"({"language":"c","src":"int main(){}","max_cpu_time":1000,"max_memory":134217728,)" +
         extra + "}";
}

TEST(QingdaoRouterTest, CompileSpjRouteAndTokenRules) {
  EXPECT_EQ(ResolveRoute("POST", "/compile_spj"), Route::kCompileSpj);
  EXPECT_EQ(ResolveRoute("GET", "/compile_spj"), Route::kMethodNotAllowed);
  EXPECT_EQ(RouteLabel(Route::kCompileSpj), "/compile_spj");
  EXPECT_TRUE(NeedsToken(Route::kJudge, "POST"));
  EXPECT_TRUE(NeedsToken(Route::kCompileSpj, "POST"));
  EXPECT_TRUE(NeedsToken(Route::kPing, "POST"));
  EXPECT_FALSE(NeedsToken(Route::kPing, "GET"));
  EXPECT_FALSE(NeedsToken(Route::kPing, "HEAD"));
  EXPECT_FALSE(NeedsToken(Route::kMetrics, "GET"));
  EXPECT_FALSE(NeedsToken(Route::kNotFound, "POST"));
}

TEST(QingdaoCompareTest, TrailingWhitespaceAtTheEndOnly) {
  struct Case {
    const char* actual;
    const char* expected;
    bool at_end;
  } cases[] = {
      {"3\n4\n", "3\n4", true},  {"3\n4 \t\r\n\n", "3\n4", true}, {"3 \n4", "3\n4", false},
      {"3\r\n4", "3\n4", false}, {"\n3\n4", "3\n4", false},       {"", "  \n", true},
      {"3\n\n4", "3\n4", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(OutputsMatch(c.actual, c.expected, CompareMode::kIgnoreTrailingWhitespaceAtEnd),
              c.at_end)
        << c.actual;
  }
  // The per-line comparison of the native form accepts what QingdaoU refuses.
  EXPECT_TRUE(OutputsMatch("3 \n4", "3\n4", CompareMode::kIgnoreTrailingWhitespace));
  EXPECT_EQ(StripTrailingWhitespace("a b \v\f\n"), "a b");
}

TEST(QingdaoRequestTest, LanguageConfigSelectsQingdaoForm) {
  auto q = ParseJudgeRequest(QingdaoBody(R"("test_case_id":"normal")"));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(q->qingdao_form);
  EXPECT_EQ(q->compare, CompareMode::kIgnoreTrailingWhitespaceAtEnd);
  auto n = ParseJudgeRequest(NativeBody(R"("test_case_id":"normal")"));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_FALSE(n->qingdao_form);
  EXPECT_EQ(n->compare, CompareMode::kIgnoreTrailingWhitespace);
  auto chosen = ParseJudgeRequest(
      NativeBody(R"("test_case_id":"normal","compare":"ignore_trailing_whitespace_at_end")"));
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->compare, CompareMode::kIgnoreTrailingWhitespaceAtEnd);
}

TEST(QingdaoRequestTest, AcceptsOnlineJudgeLimits) {
  auto body = [](int64_t cpu, int64_t memory) {
    return std::string("{") + kQingdaoC + R"(,"src":"x","max_cpu_time":)" + std::to_string(cpu) +
           R"(,"max_memory":)" + std::to_string(memory) + R"(,"test_case_id":"a"})";
  };
  auto small = ParseJudgeRequest(body(1, 1 << 20));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->max_memory_bytes, 1 << 20);
  auto slow = ParseJudgeRequest(body(60000, 10240LL << 20));
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_EQ(slow->max_real_time_ms, 180000);  // QingdaoU's 3 x CPU time
  EXPECT_FALSE(ParseJudgeRequest(body(60001, 1 << 20)).ok());
  EXPECT_FALSE(ParseJudgeRequest(body(1000, (1 << 20) - 1)).ok());
}

TEST(QingdaoRequestTest, SpecialJudgeOnlyWithVersionAndConfig) {
  const std::string config = R"("spj_config":{"exe_name":"spj-{spj_version}","command":"x"})";
  const std::string compile =
      R"("spj_compile_config":{"src_name":"spj-{spj_version}.cpp","exe_name":"spj-{spj_version}"})";
  struct Case {
    std::string extra;
    bool spj;
  } cases[] = {
      // OnlineJudge's ordinary problem, and one whose special judge was switched off.
      {R"("spj_version":"",)" + config + "," + compile + R"(,"spj_src":"int main(){}")", false},
      {R"("spj_version":"abc","spj_config":null,"spj_compile_config":null,"spj_src":"x")", false},
      {R"("spj_version":"abc","spj_config":{})", false},  // empty: false in Python
      {R"("spj_version":null,"spj_config":null,"spj_compile_config":null,"spj_src":null)", false},
      {R"("spj_version":"abc",)" + config, true},
      {R"("spj_version":"abc",)" + config + "," + compile + R"(,"spj_src":"int main(){}")", true},
      {R"("spj_version":"abc","spj_language":"c","spj_src":"int main(){}")", true},
  };
  for (const Case& c : cases) {
    auto r = ParseJudgeRequest(QingdaoBody(R"("test_case_id":"normal",)" + c.extra));
    ASSERT_TRUE(r.ok()) << c.extra << ": " << r.status();
    EXPECT_EQ(r->spj.has_value(), c.spj) << c.extra;
  }
  auto full = ParseJudgeRequest(QingdaoBody(R"("test_case_id":"s","spj_version":"v1",)" + config +
                                            "," + compile + R"(,"spj_src":"int main(){}")"));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->spj->version, "v1");
  EXPECT_EQ(full->spj->language->id, "cpp");
  EXPECT_EQ(full->spj->source, "int main(){}");
  auto by_version =
      ParseJudgeRequest(QingdaoBody(R"("test_case_id":"s","spj_version":"v1",)" + config));
  ASSERT_TRUE(by_version.ok());
  EXPECT_EQ(by_version->spj->language, nullptr);
  EXPECT_FALSE(by_version->spj->source.has_value());
  // A source without a language can only be served by the version (QingdaoU ignores it
  // when the version is compiled).
  auto unnamed = ParseJudgeRequest(QingdaoBody(R"("test_case_id":"s","spj_version":"v1",)" +
                                               config + R"(,"spj_src":"int main(){}")"));
  ASSERT_TRUE(unnamed.ok()) << unnamed.status();
  EXPECT_EQ(unnamed->spj->language, nullptr);
  EXPECT_TRUE(unnamed->spj->source.has_value());

  // Inline cases need no output with a special judge, as in QingdaoU.
  auto inline_spj = ParseJudgeRequest(
      QingdaoBody(R"("spj_version":"v1",)" + config + R"(,"test_case":[{"input":"1 2"}])"));
  ASSERT_TRUE(inline_spj.ok()) << inline_spj.status();
  EXPECT_FALSE(inline_spj->test_cases[0].has_expected_output);

  for (const char* bad :
       {R"("spj_version":"v","spj_language":"python3")",
        R"("spj_version":"v","spj_config":{"a":1},"spj_compile_config":{)"
        R"("src_name":"spj-{spj_version}.java"},"spj_src":"x")",
        R"("spj_version":7,"spj_config":{"a":1})", R"("spj_version":"v","spj_config":"yes")"}) {
    auto r = ParseJudgeRequest(QingdaoBody(std::string(R"("test_case_id":"s",)") + bad));
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("spj")) << bad;
  }
}

TEST(QingdaoRequestTest, EmptyValuesCountAsAbsentLikePython) {
  auto by_id = ParseJudgeRequest(QingdaoBody(R"("test_case_id":"normal","test_case":[])"));
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->test_case_id, "normal");
  auto inline_cases = ParseJudgeRequest(
      QingdaoBody(R"("test_case_id":"","test_case":[{"input":"1","output":"1"}])"));
  ASSERT_TRUE(inline_cases.ok()) << inline_cases.status();
  EXPECT_EQ(inline_cases->test_cases.size(), 1u);
  EXPECT_FALSE(ParseJudgeRequest(QingdaoBody(R"("test_case_id":"","test_case":null)")).ok());
}

TEST(QingdaoRequestTest, ParsesCompileSpj) {
  auto ok = ParseCompileSpjRequest(
      R"({"src":"int main(){return 1;}","spj_version":"2","spj_compile_config":{)"
      R"("src_name":"spj-{spj_version}.c","exe_name":"spj-{spj_version}","max_cpu_time":3000,)"
      R"("max_real_time":5000,"max_memory":1073741824,"compile_command":"gcc"}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version, "2");
  EXPECT_EQ(ok->language->id, "c");
  EXPECT_EQ(ok->source, "int main(){return 1;}");
  struct Case {
    const char* body;
    const char* message;
  } cases[] = {
      {R"({"src":"x","spj_compile_config":{"src_name":"a.c"}})", "'spj_version' is required"},
      {R"({"src":"x","spj_version":"","spj_compile_config":{"src_name":"a.c"}})",
       "'spj_version' is required"},
      {R"({"src":"x","spj_version":"1"})", "'spj_compile_config' is required"},
      {R"({"spj_version":"1","spj_language":"cpp"})", "'src' is required"},
      {R"({"src":"x","spj_version":"1","spj_compile_config":{"exe_name":"a"}})", "src_name"},
      {R"({"src":"x","spj_version":"1","spj_compile_config":{"src_name":"a.py"}})", "C (.c)"},
      {"null", "JSON object"},
  };
  for (const Case& c : cases) {
    auto r = ParseCompileSpjRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message)) << c.body;
  }
}

TEST(QingdaoRequestTest, AnswerMatchesByDigestAndOutputLimitFollowsQingdaoU) {
  TestCase digest_only;
  digest_only.has_expected_output = false;
  digest_only.stripped_output_md5 = Md5Hex("3\n4");
  EXPECT_TRUE(CanCompare(digest_only, CompareMode::kIgnoreTrailingWhitespaceAtEnd));
  EXPECT_FALSE(CanCompare(digest_only, CompareMode::kIgnoreTrailingWhitespace));
  EXPECT_TRUE(AnswerMatches(digest_only, "3\n4\n\n", CompareMode::kIgnoreTrailingWhitespaceAtEnd));
  EXPECT_FALSE(AnswerMatches(digest_only, "3 \n4", CompareMode::kIgnoreTrailingWhitespaceAtEnd));
  // The digest decides even where the output file says otherwise, as in QingdaoU.
  TestCase both;
  both.expected_output = "other";
  both.stripped_output_md5 = Md5Hex("3");
  EXPECT_TRUE(AnswerMatches(both, "3\n", CompareMode::kIgnoreTrailingWhitespaceAtEnd));
  EXPECT_FALSE(AnswerMatches(both, "3\n", CompareMode::kExact));

  JudgeRequest q;
  q.qingdao_form = true;
  TestCase big;
  big.output_size = 10 << 20;
  EXPECT_EQ(CaseOutputLimit(q, big), 20 << 20);  // twice the answer, as QingdaoU allows
  big.output_size = 1 << 20;
  EXPECT_EQ(CaseOutputLimit(q, big), 16 << 20);  // at least QingdaoU's 16 MB
  big.output_size = 1LL << 30;
  EXPECT_EQ(CaseOutputLimit(q, big), RequestBounds().max_output_bytes);
  JudgeRequest native;
  native.max_output_bytes = 1000;
  EXPECT_EQ(CaseOutputLimit(native, big), 1000);
}

TEST(QingdaoVerdictTest, OutputLimitIsRuntimeErrorInQingdaoForm) {
  EXPECT_EQ(QingdaoResultCode(Verdict::kOutputLimitExceeded), 4);
  EXPECT_EQ(ResultCode(Verdict::kOutputLimitExceeded), 6);
  for (Verdict v : {Verdict::kAccepted, Verdict::kWrongAnswer, Verdict::kCpuTimeLimitExceeded,
                    Verdict::kRealTimeLimitExceeded, Verdict::kMemoryLimitExceeded,
                    Verdict::kRuntimeError, Verdict::kSystemError}) {
    EXPECT_EQ(QingdaoResultCode(v), ResultCode(v));
    EXPECT_NE(QingdaoResultCode(v), 6);
  }
  EXPECT_EQ(kQingdaoOutputLimitSignal, SIGXFSZ);
}

TEST(SpjTest, LanguageLimitsAndExitStatus) {
  EXPECT_EQ(SpjLanguageForSrcName("spj-{spj_version}.c")->id, "c");
  EXPECT_EQ(SpjLanguageForSrcName("spj-abc.cpp")->id, "cpp");
  EXPECT_EQ(SpjLanguageForSrcName("spj.CC")->id, "cpp");
  EXPECT_EQ(SpjLanguageForSrcName("spj.py"), nullptr);
  EXPECT_EQ(SpjLanguageForSrcName("spj"), nullptr);

  CaseLimits l = SpjLimits({2000, 6000, 512LL << 20});
  EXPECT_EQ(l.cpu_time_ms, 6000);    // 3 x
  EXPECT_EQ(l.real_time_ms, 18000);  // 9 x the program's CPU time
  EXPECT_EQ(l.memory_bytes, 1536LL << 20);
  CaseLimits floor = SpjLimits({1, 3, 1 << 20});
  EXPECT_EQ(floor.cpu_time_ms, 1000);
  EXPECT_EQ(floor.memory_bytes, 256LL << 20);

  auto run = [](int exit_code, int signal, int64_t cpu_ms = 5, int64_t memory = 1 << 20) {
    RunResult r;
    r.exit_code = exit_code;
    r.signal = signal;
    r.cpu_time_ms = cpu_ms;
    r.memory_bytes = memory;
    return r;
  };
  struct Case {
    RunResult run;
    Verdict want;
  } cases[] = {
      {run(0, 0), Verdict::kAccepted},
      {run(1, 0), Verdict::kWrongAnswer},
      {run(2, 0), Verdict::kSystemError},
      {run(255, 0), Verdict::kSystemError},
      {run(0, SIGSEGV), Verdict::kSystemError},
      {run(0, SIGABRT), Verdict::kSystemError},
      {run(1, 0, 999999), Verdict::kSystemError},        // over its time: not a verdict
      {run(0, 0, 5, 4LL << 30), Verdict::kSystemError},  // over its memory
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SpjVerdict(c.run, l), c.want) << c.run.exit_code << " " << c.run.signal;
  }
  RunResult timed_out = run(0, SIGKILL);
  timed_out.real_time_exceeded = true;
  EXPECT_EQ(SpjVerdict(timed_out, l), Verdict::kSystemError);
}

class QingdaoStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/qingdao_cases_" + std::to_string(getpid());
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(root_ + "/" + path).parent_path());
    std::ofstream(root_ + "/" + path) << text;
  }
  std::string root_;
};

TEST_F(QingdaoStoreTest, LoadsSpecialJudgeAndDigestOnlyCases) {
  // QingdaoU's own layouts: a special-judge directory has inputs only.
  Write("spj/info",
        R"({"test_case_number": 1, "spj": true, "test_cases": {"1": {"input_name": "1.in", )"
        R"("input_size": 4}}})");
  Write("spj/1.in", "1 2\n");
  auto spj = LoadTestCases(root_, "spj");
  ASSERT_TRUE(spj.ok()) << spj.status();
  EXPECT_TRUE(spj->spj);
  ASSERT_EQ(spj->cases.size(), 1u);
  EXPECT_EQ(spj->cases[0].input, "1 2\n");
  EXPECT_FALSE(spj->cases[0].has_expected_output);

  // QingdaoU reads only the digest: the output file may be absent.
  Write("md5/info",
        R"({"spj": false, "test_cases": {"1": {"stripped_output_md5": )"
        R"("eccbc87e4b5ce2fe28308fd9f2a7baf3", "output_size": 2, "input_name": "1.in", )"
        R"("output_name": "1.out"}}})");
  Write("md5/1.in", "1 2\n");
  auto md5 = LoadTestCases(root_, "md5");
  ASSERT_TRUE(md5.ok()) << md5.status();
  EXPECT_FALSE(md5->spj);
  EXPECT_FALSE(md5->cases[0].has_expected_output);
  EXPECT_EQ(md5->cases[0].stripped_output_md5, "eccbc87e4b5ce2fe28308fd9f2a7baf3");
  EXPECT_EQ(md5->cases[0].output_size, 2);
  Write("md5/1.out", "3\n");
  md5 = LoadTestCases(root_, "md5");
  ASSERT_TRUE(md5.ok());
  EXPECT_TRUE(md5->cases[0].has_expected_output);
  EXPECT_EQ(md5->cases[0].expected_output, "3\n");

  // An ordinary case with neither is refused, naming what is missing.
  Write("bad/info", R"({"spj": false, "test_cases": {"1": {"input_name": "1.in"}}})");
  Write("bad/1.in", "1");
  auto bad = LoadTestCases(root_, "bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("stripped_output_md5"));
}

TEST(QingdaoRenderTest, ResultCodesDigestsAndSpecialJudgeErrors) {
  JudgeOutcome o;
  o.verdict = Verdict::kOutputLimitExceeded;
  auto add = [&o](Verdict v, std::string md5, int signal = 0, int error = 0) {
    CaseResult c;
    c.test_case = std::to_string(o.cases.size() + 1);
    c.verdict = v;
    c.output_md5 = std::move(md5);
    c.run.signal = signal;
    c.error = error;
    o.cases.push_back(c);
  };
  add(Verdict::kOutputLimitExceeded, "", SIGKILL);
  add(Verdict::kAccepted, "eccbc87e4b5ce2fe28308fd9f2a7baf3");
  add(Verdict::kWrongAnswer, "c4ca4238a0b923820dcc509a6f75849b");
  add(Verdict::kCpuTimeLimitExceeded, "stale", SIGKILL);
  add(Verdict::kMemoryLimitExceeded, "stale");
  add(Verdict::kRuntimeError, "stale", SIGSEGV);
  add(Verdict::kSystemError, "", 0, kSpjErrorCode);
  add(Verdict::kWrongAnswer, "");  // judged by a checker: no digest

  auto q = json::parse(RenderOutcome(o, false, "h", /*qingdao_form=*/true)).as_object();
  json::array cases = q["data"].as_array();
  EXPECT_EQ(cases[0].as_object()["result"], 4);
  EXPECT_EQ(cases[0].as_object()["signal"], 25);
  EXPECT_EQ(cases[0].as_object()["verdict"], "OLE");
  EXPECT_EQ(cases[1].as_object()["output_md5"], "eccbc87e4b5ce2fe28308fd9f2a7baf3");
  EXPECT_EQ(cases[2].as_object()["output_md5"], "c4ca4238a0b923820dcc509a6f75849b");
  for (int i : {0, 3, 4, 5, 6, 7}) {
    EXPECT_TRUE(cases[i].as_object()["output_md5"].is_null()) << i;
  }
  EXPECT_EQ(cases[6].as_object()["result"], 5);
  EXPECT_EQ(cases[6].as_object()["error"], -11);
  EXPECT_EQ(cases[1].as_object()["error"], 0);
  EXPECT_EQ(q["verdict"], "OLE");

  auto n = json::parse(RenderOutcome(o, false, "h")).as_object();
  EXPECT_EQ(n["data"].as_array()[0].as_object()["result"], 6);
  EXPECT_EQ(n["data"].as_array()[0].as_object()["signal"], SIGKILL);

  JudgeOutcome spj_ce;
  spj_ce.spj_compile_error = true;
  spj_ce.compile_message = "spj.c:1: error";
  auto e = json::parse(RenderOutcome(spj_ce, false, "h", true)).as_object();
  EXPECT_EQ(e["err"], "SPJCompileError");
  EXPECT_EQ(e["data"], "spj.c:1: error");
}

TEST(SystemStatsTest, PercentagesLikePsutil) {
  auto a = ParseProcStatCpu("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n");
  auto b = ParseProcStatCpu("cpu  250 0 100 900 50 0 0 0 0 0\n");
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->total, 1000u);
  EXPECT_EQ(a->busy, 150u);  // idle and iowait are not busy
  EXPECT_DOUBLE_EQ(CpuPercent(*a, *b), 200.0 * 100 / 300);
  EXPECT_EQ(CpuPercent(*b, *a), 0);  // no time passed (or a counter reset)
  // Guest time is already inside user time.
  auto g = ParseProcStatCpu("cpu  100 0 0 100 0 0 0 0 60 0");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->total, 200u);
  EXPECT_FALSE(ParseProcStatCpu("intr 1 2 3").has_value());

  MemoryInfo m = ParseMeminfo("MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable:    250 kB\n");
  EXPECT_EQ(m.total, 1000 * 1024);
  EXPECT_EQ(m.available, 250 * 1024);
  EXPECT_DOUBLE_EQ(MemoryPercent(m), 75.0);
  EXPECT_EQ(MemoryPercent(MemoryInfo{}), 0);

  SystemSampler sampler(std::chrono::milliseconds(0));
  SystemSample s = sampler.Get();
  EXPECT_GE(s.cpu_percent, 0);
  EXPECT_LE(s.cpu_percent, 100);
  EXPECT_GT(s.memory_percent, 0);
  EXPECT_LE(s.memory_percent, 100);
}

TEST(HeartbeatTest, ParsesBackendUrls) {
  struct Case {
    const char* url;
    const char* host;
    const char* port;
    const char* target;
  } ok[] = {
      {"http://backend:80/api/judge_server_heartbeat", "backend", "80",
       "/api/judge_server_heartbeat"},
      {"http://oj-backend:8000/api/judge_server_heartbeat/", "oj-backend", "8000",
       "/api/judge_server_heartbeat/"},
      {"HTTP://10.0.0.2", "10.0.0.2", "80", "/"},
      {"http://[fd00::1]:8080/hb?x=1", "fd00::1", "8080", "/hb?x=1"},
      {"http://h?x", "h", "80", "/?x"},
  };
  for (const Case& c : ok) {
    auto u = ParseHttpUrl(c.url);
    ASSERT_TRUE(u.ok()) << c.url << ": " << u.status();
    EXPECT_EQ(u->host, c.host);
    EXPECT_EQ(u->port, c.port);
    EXPECT_EQ(u->target, c.target);
  }
  struct Bad {
    const char* url;
    const char* message;
  } bad[] = {
      {"https://oj/api/", "https is not supported"},
      {"backend:80/api", "not an http:// URL"},
      {"http://:80/", "names no host"},
      {"http://h:0/", "port must be"},
      {"http://h:99999/", "port must be"},
      {"http://u:p@h/", "user information"},
      {"http://[fd00::1/", "unclosed"},
  };
  for (const Bad& b : bad) {
    auto u = ParseHttpUrl(b.url);
    ASSERT_FALSE(u.ok()) << b.url;
    EXPECT_THAT(std::string(u.status().message()), HasSubstr(b.message)) << b.url;
  }
}

TEST(HeartbeatTest, ServiceUrlTemplatesNameEachReplica) {
  EXPECT_EQ(ExpandServiceUrl("http://{ip}:8090", "10.0.1.7", "a1b2c3", 8090),
            "http://10.0.1.7:8090");
  EXPECT_EQ(ExpandServiceUrl("http://{hostname}:{port}/", "10.0.1.7", "a1b2c3", 12358),
            "http://a1b2c3:12358/");
  EXPECT_EQ(ExpandServiceUrl("http://{ip}:{port}", "fd00::7", "h", 8090), "http://[fd00::7]:8090");
  EXPECT_EQ(ExpandServiceUrl("http://judge-server:8080", "10.0.1.7", "h", 1),
            "http://judge-server:8080");
  EXPECT_TRUE(CheckServiceUrlTemplate("http://{ip}:{port}").ok());
  EXPECT_TRUE(CheckServiceUrlTemplate("http://{hostname}:8090/").ok());
  auto unknown = CheckServiceUrlTemplate("http://{address}:8090");
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("unknown placeholder"));
  EXPECT_FALSE(CheckServiceUrlTemplate("{ip}:8090").ok());
}

TEST(HeartbeatTest, BodyRepliesAndBackoff) {
  SystemSample s;
  s.cpu_percent = 12.5;
  s.memory_percent = 40.25;
  auto body =
      json::parse(HeartbeatBody(s, 4, "a1b2c3", "0.1.0", "http://10.0.1.7:8090")).as_object();
  EXPECT_EQ(body.size(), 7u);
  EXPECT_EQ(body["hostname"], "a1b2c3");
  EXPECT_EQ(body["judger_version"], "0.1.0");
  EXPECT_EQ(body["cpu_core"], 4);
  EXPECT_EQ(body["cpu"], 12.5);
  EXPECT_EQ(body["memory"], 40.25);
  EXPECT_EQ(body["action"], "heartbeat");
  EXPECT_EQ(body["service_url"], "http://10.0.1.7:8090");

  EXPECT_TRUE(CheckBackendReply(200, R"({"error": null, "data": null})").ok());
  auto refused = CheckBackendReply(200, R"({"error": "error", "data": "Invalid token"})");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("JUDGE_SERVER_TOKEN"));
  EXPECT_THAT(std::string(CheckBackendReply(200, R"({"error": "invalid-cpu", "data": "cpu: )"
                                                 R"(Ensure this value is less than or equal )"
                                                 R"(to 100."})")
                              .message()),
              HasSubstr("cpu: Ensure"));
  EXPECT_FALSE(CheckBackendReply(404, "<html>Not Found</html>").ok());
  EXPECT_FALSE(CheckBackendReply(200, R"({"data": 1})").ok());

  using std::chrono::milliseconds;
  EXPECT_EQ(HeartbeatDelay(0, milliseconds(3000), milliseconds(30000)), milliseconds(3000));
  EXPECT_EQ(HeartbeatDelay(1, milliseconds(3000), milliseconds(30000)), milliseconds(6000));
  EXPECT_EQ(HeartbeatDelay(3, milliseconds(3000), milliseconds(30000)), milliseconds(24000));
  EXPECT_EQ(HeartbeatDelay(4, milliseconds(3000), milliseconds(30000)), milliseconds(30000));
  EXPECT_EQ(HeartbeatDelay(1000, milliseconds(3000), milliseconds(30000)), milliseconds(30000));
}

TEST(HeartbeatTest, BeatsToAFakeOnlineJudge) {
  testing::FakeOnlineJudge backend("secret");
  HeartbeatOptions options;
  options.backend_url = backend.url();
  options.service_url = "http://{ip}:{port}/";
  options.token = "secret";
  options.hostname = "replica-1";
  options.port = 8090;
  options.version = "0.1.0";
  auto heartbeat = Heartbeat::Create(options);
  ASSERT_TRUE(heartbeat.ok()) << heartbeat.status();
  ASSERT_TRUE((*heartbeat)->BeatOnce().ok());
  auto beats = backend.heartbeats();
  ASSERT_EQ(beats.size(), 1u);
  EXPECT_EQ(beats[0].target, testing::FakeOnlineJudge::kPath);
  EXPECT_EQ(beats[0].headers["x-judge-server-token"], Sha256Hex("secret"));
  EXPECT_EQ(beats[0].headers["content-type"], "application/json");
  EXPECT_EQ(beats[0].json["service_url"], "http://127.0.0.1:8090/");
  EXPECT_EQ(beats[0].json["hostname"], "replica-1");

  options.token = "wrong";
  auto wrong = Heartbeat::Create(options);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->BeatOnce().code(), absl::StatusCode::kPermissionDenied);

  backend.Pause();
  EXPECT_EQ((*heartbeat)->BeatOnce().code(), absl::StatusCode::kUnavailable);
  backend.Resume();
  EXPECT_TRUE((*heartbeat)->BeatOnce().ok());

  options.backend_url = "https://oj/api/";
  EXPECT_FALSE(Heartbeat::Create(options).ok());
  options.backend_url = backend.url();
  options.service_url = "http://{nope}:1";
  EXPECT_FALSE(Heartbeat::Create(options).ok());
}

}  // namespace
}  // namespace judge
