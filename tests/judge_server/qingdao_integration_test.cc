// judge_server as QingdaoU OnlineJudge's judge, through a real judge_server process with
// real compilers and QingdaoU's request shapes: special judges (/compile_spj, spj fields,
// spj test-case directories), QingdaoU's comparison and result codes, its error names,
// POST /ping's token, the limits OnlineJudge sends, and the heartbeat to a fake
// OnlineJudge backend. Needs root (submissions and checkers run as unprivileged uids).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>

#include "judge_server/compare.h"
#include "tests/judge_server/fake_online_judge.h"
#include "tests/judge_server/server_process.h"

namespace judge::testing {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

constexpr const char* kAPlusB =
    "#include <stdio.h>\nint main(){int a,b;scanf(\"%d%d\",&a,&b);printf(\"%d\\n\",a+b);"
    "return 0;}";
constexpr const char* kAMinusB =
    "#include <stdio.h>\nint main(){int a,b;scanf(\"%d%d\",&a,&b);printf(\"%d\\n\",a-b);"
    "return 0;}";

// The language_config shape QingdaoU's client and OnlineJudge send for C (the command
// strings only select the language; the server never runs them).
json::object CLanguageConfig() {
  return json::object{
      {"compile",
       json::object{{"src_name", "main.c"},
                    {"exe_name", "main"},
                    {"max_cpu_time", 3000},
                    {"max_real_time", 10000},
                    {"max_memory", 256 << 20},
                    {"compile_command", "/usr/bin/gcc -O2 {src_path} -lm -o {exe_path}"}}},
      {"run", json::object{{"command", "{exe_path}"},
                           {"seccomp_rule",
                            json::object{{"Standard IO", "c_cpp"}, {"File IO", "c_cpp_file_io"}}},
                           {"env", json::array{"LANG=en_US.UTF-8"}}}}};
}

json::object SpjCompileConfig() {
  return json::object{{"src_name", "spj-{spj_version}.c"},
                      {"exe_name", "spj-{spj_version}"},
                      {"max_cpu_time", 3000},
                      {"max_real_time", 10000},
                      {"max_memory", 1 << 30},
                      {"compile_command", "/usr/bin/gcc -O2 {src_path} -lm -o {exe_path}"}};
}

json::object SpjConfig() {
  return json::object{{"exe_name", "spj-{spj_version}"},
                      {"command", "{exe_path} {in_file_path} {user_out_file_path}"},
                      {"seccomp_rule", "c_cpp"}};
}

// Every key QingdaoU's client sends, nulls included.
json::object QingdaoRequest(const std::string& src, const std::string& test_case_id) {
  return json::object{{"language_config", CLanguageConfig()},
                      {"src", src},
                      {"max_cpu_time", 1000},
                      {"max_memory", 128 << 20},
                      {"test_case_id", test_case_id},
                      {"test_case", nullptr},
                      {"spj_version", nullptr},
                      {"spj_config", nullptr},
                      {"spj_compile_config", nullptr},
                      {"spj_src", nullptr},
                      {"output", false}};
}

json::object InlineRequest(const std::string& src, const std::string& input,
                           const std::string& output, bool qingdao_form) {
  json::object r = QingdaoRequest(src, "");
  r["test_case_id"] = nullptr;
  r["test_case"] = json::array{json::object{{"input", input}, {"output", output}}};
  r["output"] = true;
  if (!qingdao_form) {
    r.erase("language_config");
    r["language"] = "c";
  }
  return r;
}

void AddSpj(json::object& r, const std::string& version, const char* source) {
  r["spj_version"] = version;
  r["spj_config"] = SpjConfig();
  if (source != nullptr) {
    r["spj_compile_config"] = SpjCompileConfig();
    r["spj_src"] = source;
  }
}

// Accepts when the user's output is the sum of the two numbers in the input file; reads
// the input from stdin too and insists both agree (QingdaoU gives it both).
constexpr const char* kSumChecker = R"(#include <stdio.h>
int main(int argc, char** argv) {
  if (argc != 3) return 2;
  FILE* in = fopen(argv[1], "r");
  FILE* out = fopen(argv[2], "r");
  long a, b, c, a2, b2;
  if (!in || !out || fscanf(in, "%ld %ld", &a, &b) != 2) return 2;
  if (scanf("%ld %ld", &a2, &b2) != 2 || a2 != a || b2 != b) return 3;
  if (fscanf(out, "%ld", &c) != 1) return 1;
  return a + b == c ? 0 : 1;
})";

// Accepts only when it runs as the slot's uid range and can change neither file.
std::string IsolationChecker(uid_t base, int slots) {
  return "#include <stdio.h>\n#include <unistd.h>\nint main(int argc, char** argv) {\n"
         "  long u = (long)getuid();\n  if (u == 0 || u < " +
         std::to_string(base) + "L || u >= " + std::to_string(base + slots) +
         "L) return 4;\n"
         "  if (fopen(argv[1], \"a\") || fopen(argv[2], \"a\")) return 5;\n"
         "  FILE* f = fopen(\"planted\", \"w\");\n  if (f) return 6;\n  return 0;\n}\n";
}

class QingdaoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string("/tmp/qingdao_cases_" + std::to_string(getpid()));
    auto write = [](const std::string& path, const std::string& text) {
      std::filesystem::create_directories(std::filesystem::path(*root_ + "/" + path).parent_path());
      std::ofstream(*root_ + "/" + path) << text;
    };
    // The directories of QingdaoU's own tests, rebuilt: an ordinary case with its digest,
    // a special-judge case (input only), and a case with only the digest.
    write("normal/info", R"({"test_case_number": 1, "spj": false, "test_cases": {"1": {)"
                         R"("stripped_output_md5": "eccbc87e4b5ce2fe28308fd9f2a7baf3", )"
                         R"("output_size": 2, "input_name": "1.in", "input_size": 4, )"
                         R"("output_name": "1.out"}}})");
    write("normal/1.in", "1 2\n");
    write("normal/1.out", "3\n");
    write("spj/info", R"({"test_case_number": 2, "spj": true, "test_cases": {)"
                      R"("1": {"input_name": "1.in", "input_size": 4}, )"
                      R"("2": {"input_name": "2.in", "input_size": 6}}})");
    write("spj/1.in", "1 2\n");
    write("spj/2.in", "10 20\n");
    write("md5only/info", R"({"spj": false, "test_cases": {"1": {"stripped_output_md5": )"
                          R"("eccbc87e4b5ce2fe28308fd9f2a7baf3", "input_name": "1.in", )"
                          R"("output_name": "1.out"}}})");
    write("md5only/1.in", "1 2\n");
    std::filesystem::permissions(*root_, std::filesystem::perms::owner_all);
    server_ = new ServerProcess({"--test-case-dir", *root_});
  }
  static void TearDownTestSuite() {
    delete server_;
    std::filesystem::remove_all(*root_);
    delete root_;
  }

  static HttpResponse Post(const std::string& path, const json::object& body) {
    return HttpRequest(
        server_->port(), "POST", path, json::serialize(body),
        {{"X-Judge-Server-Token", TokenHeader()}, {"Content-Type", "application/json"}});
  }
  static json::object Judge(const json::object& request) {
    HttpResponse r = Post("/judge", request);
    EXPECT_EQ(r.status == 200 || r.status >= 400, true);
    return r.Json().as_object();
  }
  static json::object FirstCase(json::object reply) {
    if (!reply["err"].is_null()) return json::object{{"reply", reply}};
    return reply["data"].as_array()[0].as_object();
  }

  static std::string* root_;
  static ServerProcess* server_;
};
std::string* QingdaoTest::root_ = nullptr;
ServerProcess* QingdaoTest::server_ = nullptr;

TEST_F(QingdaoTest, CompileSpjThenJudgeByVersionOnly) {
  HttpResponse compiled =
      Post("/compile_spj", json::object{{"src", kSumChecker},
                                        {"spj_version", "v1"},
                                        {"spj_compile_config", SpjCompileConfig()}});
  ASSERT_EQ(compiled.status, 200) << compiled.body;
  EXPECT_TRUE(compiled.Json().as_object()["err"].is_null()) << compiled.body;
  EXPECT_EQ(compiled.Json().as_object()["data"], "success");

  // OnlineJudge may judge with the version alone once the checker is compiled.
  json::object right = QingdaoRequest(kAPlusB, "spj");
  AddSpj(right, "v1", nullptr);
  json::object reply = Judge(right);
  ASSERT_TRUE(reply["err"].is_null()) << json::serialize(reply);
  for (const auto& c : reply["data"].as_array()) {
    EXPECT_EQ(c.as_object().at("result"), 0) << json::serialize(reply);
    EXPECT_EQ(c.as_object().at("error"), 0);
    EXPECT_TRUE(c.as_object().at("output_md5").is_null());  // QingdaoU gives none with spj
  }
  json::object wrong = QingdaoRequest(kAMinusB, "spj");
  AddSpj(wrong, "v1", nullptr);
  reply = Judge(wrong);
  ASSERT_TRUE(reply["err"].is_null()) << json::serialize(reply);
  EXPECT_EQ(reply["data"].as_array()[0].as_object()["result"], -1);
  EXPECT_EQ(reply["verdict"], "WA");
}

TEST_F(QingdaoTest, SpjSourceWithTheJudgingAndInlineCases) {
  json::object r = QingdaoRequest(kAPlusB, "spj");
  AddSpj(r, "from-src", kSumChecker);
  EXPECT_EQ(Judge(r)["verdict"], "AC");
  // Inline cases under a special judge need no output, as in QingdaoU.
  json::object inline_cases = InlineRequest(kAPlusB, "", "", true);
  inline_cases["test_case"] =
      json::array{json::object{{"input", "5 6\n"}}, json::object{{"input", "7 8\n"}}};
  AddSpj(inline_cases, "from-src", kSumChecker);
  json::object reply = Judge(inline_cases);
  ASSERT_TRUE(reply["err"].is_null()) << json::serialize(reply);
  EXPECT_EQ(reply["verdict"], "AC") << json::serialize(reply);
  EXPECT_EQ(reply["data"].as_array().size(), 2u);
}

TEST_F(QingdaoTest, CheckerRunsAsTheSlotUidAndCannotWrite) {
  json::object r = QingdaoRequest(kAPlusB, "spj");
  const std::string checker = IsolationChecker(server_->uid_base(), server_->slots());
  AddSpj(r, "isolation", checker.c_str());
  json::object reply = Judge(r);
  EXPECT_EQ(reply["verdict"], "AC") << json::serialize(reply);
  EXPECT_THAT(server_->SlotProcesses(), ::testing::IsEmpty());
}

TEST_F(QingdaoTest, FailingCheckerIsSystemErrorWithSpjErrorCode) {
  for (const char* checker : {"int main(){return 2;}", "#include <stdlib.h>\nint main(){abort();}",
                              "int main(){for(;;);}"}) {
    json::object r = QingdaoRequest(kAPlusB, "spj");
    AddSpj(r, std::string("bad-") + std::to_string(std::hash<std::string>()(checker)), checker);
    r["max_cpu_time"] = 100;  // the looping checker gets 3 x, at least 1 s
    json::object c = FirstCase(Judge(r));
    EXPECT_EQ(c["result"], 5) << checker << ": " << json::serialize(c);
    EXPECT_EQ(c["error"], -11) << checker;
  }
}

TEST_F(QingdaoTest, SpjErrorsUseQingdaoNames) {
  HttpResponse broken =
      Post("/compile_spj", json::object{{"src", "int main( {"},
                                        {"spj_version", "broken"},
                                        {"spj_compile_config", SpjCompileConfig()}});
  EXPECT_EQ(broken.Json().as_object()["err"], "SPJCompileError") << broken.body;
  EXPECT_THAT(broken.body, HasSubstr("error"));

  json::object r = QingdaoRequest(kAPlusB, "spj");
  AddSpj(r, "broken", "int main( {");
  EXPECT_EQ(Judge(r)["err"], "SPJCompileError");

  json::object never = QingdaoRequest(kAPlusB, "spj");
  AddSpj(never, "never-compiled", nullptr);
  json::object reply = Judge(never);
  EXPECT_EQ(reply["err"], "JudgeClientError");
  EXPECT_THAT(std::string(reply["data"].as_string()), HasSubstr("/compile_spj"));
  // A source without its language: only a checker already compiled under the version serves.
  never["spj_src"] = kSumChecker;
  reply = Judge(never);
  EXPECT_EQ(reply["err"], "JudgeClientError");
  EXPECT_THAT(std::string(reply["data"].as_string()), HasSubstr("spj_compile_config"));
  json::object known = QingdaoRequest(kAPlusB, "spj");
  AddSpj(known, "v-known", kSumChecker);
  EXPECT_EQ(Judge(known)["verdict"], "AC");
  known["spj_compile_config"] = nullptr;
  known["spj_src"] = "int main( {";  // ignored: the version is compiled
  EXPECT_EQ(Judge(known)["verdict"], "AC");

  // A special-judge directory judged without a checker.
  reply = Judge(QingdaoRequest(kAPlusB, "spj"));
  EXPECT_EQ(reply["err"], "JudgeClientError");
  EXPECT_THAT(std::string(reply["data"].as_string()), HasSubstr("spj_version"));

  HttpResponse bad = Post("/compile_spj", json::object{{"src", "x"}, {"spj_version", "1"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Json().as_object()["err"], "JudgeClientError");
}

TEST_F(QingdaoTest, OrdinaryProblemsWithLeftoverSpjFieldsJudgeNormally) {
  // OnlineJudge sends spj_version "" for imported problems, and keeps the old version
  // with spj_config null once the special judge is switched off.
  json::object empty_version = QingdaoRequest(kAPlusB, "normal");
  empty_version["spj_version"] = "";
  empty_version["spj_config"] = SpjConfig();
  empty_version["spj_compile_config"] = SpjCompileConfig();
  empty_version["spj_src"] = "int main( {";
  EXPECT_EQ(Judge(empty_version)["verdict"], "AC");
  json::object switched_off = QingdaoRequest(kAPlusB, "normal");
  switched_off["spj_version"] = "old-version";
  EXPECT_EQ(Judge(switched_off)["verdict"], "AC");
}

TEST_F(QingdaoTest, ComparesLikeQingdaoUInItsFormOnly) {
  const char* spaced = "#include <stdio.h>\nint main(){printf(\"3 \\n4\\n\");}";
  json::object q = FirstCase(Judge(InlineRequest(spaced, "", "3\n4", true)));
  EXPECT_EQ(q["result"], -1) << json::serialize(q);
  EXPECT_EQ(q["output_md5"], json::string(Md5Hex("3 \n4")));
  EXPECT_EQ(FirstCase(Judge(InlineRequest(spaced, "", "3\n4", false)))["result"], 0);

  const char* trailing = "#include <stdio.h>\nint main(){printf(\"3\\n4  \\n\\n\\n\");}";
  EXPECT_EQ(FirstCase(Judge(InlineRequest(trailing, "", "3\n4", true)))["result"], 0);
  EXPECT_EQ(FirstCase(Judge(InlineRequest(trailing, "", "3\n4", false)))["result"], 0);

  // QingdaoU's Judger writes stderr into the output file.
  const char* noisy =
      "#include <stdio.h>\nint main(){fprintf(stderr,\"debug\\n\");fflush(stderr);"
      "printf(\"3\\n\");}";
  q = FirstCase(Judge(InlineRequest(noisy, "", "3", true)));
  EXPECT_EQ(q["result"], -1);
  EXPECT_EQ(q["output"], "debug\n3\n");
  json::object n = FirstCase(Judge(InlineRequest(noisy, "", "3", false)));
  EXPECT_EQ(n["result"], 0);
  EXPECT_EQ(n["output"], "3\n");
}

TEST_F(QingdaoTest, DigestOnlyCasesNeedQingdaoComparison) {
  json::object q = Judge(QingdaoRequest(kAPlusB, "md5only"));
  EXPECT_EQ(q["verdict"], "AC") << json::serialize(q);
  EXPECT_EQ(FirstCase(q)["output_md5"], "eccbc87e4b5ce2fe28308fd9f2a7baf3");
  json::object native = QingdaoRequest(kAPlusB, "md5only");
  native.erase("language_config");
  native["language"] = "c";
  json::object reply = Judge(native);
  EXPECT_EQ(reply["err"], "JudgeClientError");
  EXPECT_THAT(std::string(reply["data"].as_string()), HasSubstr("stripped_output_md5"));
}

TEST_F(QingdaoTest, OutputLimitIsRuntimeErrorWithSigxfszAndNoDigests) {
  const char* flood = "#include <stdio.h>\nint main(){for(;;)puts(\"0123456789abcdef\");}";
  json::object q = Judge(QingdaoRequest(flood, "normal"));
  json::object c = FirstCase(q);
  EXPECT_EQ(c["result"], 4) << json::serialize(c);
  EXPECT_EQ(c["signal"], 25);
  EXPECT_EQ(c["verdict"], "OLE");
  EXPECT_TRUE(c["output_md5"].is_null());
  json::object native = InlineRequest(flood, "", "3", false);
  native["max_output_size"] = 1 << 20;
  EXPECT_EQ(FirstCase(Judge(native))["result"], 6);

  struct Case {
    const char* src;
    std::vector<int> results;
  } unfinished[] = {
      {"int main(){volatile unsigned long x=0;for(;;)x++;}", {1, 2}},
      {"#include <stdlib.h>\n#include <string.h>\nint main(){for(;;){char*p=malloc(1<<20);"
       "if(!p)return 1;memset(p,1,1<<20);}}",
       {3}},
      {"#include <stdio.h>\nint main(){puts(\"3\");volatile int*p=0;*p=1;}", {4}},
  };
  for (const Case& u : unfinished) {
    json::object r = QingdaoRequest(u.src, "normal");
    r["max_memory"] = 32 << 20;
    c = FirstCase(Judge(r));
    EXPECT_THAT(u.results, ::testing::Contains(c["result"].to_number<int>())) << json::serialize(c);
    EXPECT_TRUE(c["output_md5"].is_null()) << json::serialize(c);
  }
}

TEST_F(QingdaoTest, OnlineJudgeLimitsGetVerdictsNotRefusals) {
  json::object tiny = QingdaoRequest(kAPlusB, "normal");
  tiny["max_memory"] = 1 << 20;  // OnlineJudge's smallest: 1 MB
  HttpResponse r = Post("/judge", tiny);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(FirstCase(r.Json().as_object())["result"], 3) << r.body;
  json::object slow = QingdaoRequest(kAPlusB, "normal");
  slow["max_cpu_time"] = 60000;  // its largest
  slow["max_memory"] = 1024LL << 20;
  r = Post("/judge", slow);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().as_object()["verdict"], "AC");
}

// QingdaoU's PHP and JavaScript configs have no "compile": the source is written as
// run.exe_name and run, so a syntax error is a runtime error (4), not CompileError.
TEST_F(QingdaoTest, RunOnlyPhpAndJavaScriptConfigsJudgeAsQingdaoU) {
  struct Case {
    const char* exe_name;
    const char* command;
    const char* interpreter;
    const char* a_plus_b;
    const char* broken;
  } cases[] = {
      {"solution.php", "/usr/bin/php {exe_path}", "/usr/bin/php",
       "<?php $v=array_map('intval',preg_split('/\\s+/',trim(file_get_contents('php://stdin'))));"
       "echo $v[0]+$v[1],\"\\n\";",
       "<?php echo (;"},
      {"solution.js", "/usr/bin/node {exe_path}", "/usr/bin/node",
       "const v=require('fs').readFileSync(0,'utf8').trim().split(/\\s+/).map(Number);"
       "console.log(v[0]+v[1]);",
       "function ("},
  };
  for (const Case& c : cases) {
    if (access(c.interpreter, X_OK) != 0) {
      ADD_FAILURE() << c.interpreter << " is not installed here";
      continue;
    }
    json::object config{{"run", json::object{{"exe_name", c.exe_name},
                                             {"command", c.command},
                                             {"seccomp_rule", ""},
                                             {"env", json::array{"LANG=en_US.UTF-8"}},
                                             {"memory_limit_check_only", 1}}}};
    json::object request = QingdaoRequest(c.a_plus_b, "normal");
    request["language_config"] = config;
    // An interpreter's start (node's above all) on a machine busy with other tests: the
    // case is the config's language, not the limits (a flaky failure seen at 1 s).
    request["max_cpu_time"] = 10000;
    json::object reply = Judge(request);
    ASSERT_TRUE(reply["err"].is_null()) << c.exe_name << ": " << json::serialize(reply);
    EXPECT_EQ(FirstCase(reply)["result"], 0) << json::serialize(reply);
    EXPECT_EQ(FirstCase(reply)["output_md5"], "eccbc87e4b5ce2fe28308fd9f2a7baf3");

    request["src"] = c.broken;
    reply = Judge(request);
    ASSERT_TRUE(reply["err"].is_null()) << c.exe_name << ": " << json::serialize(reply);
    EXPECT_EQ(FirstCase(reply)["result"], 4) << json::serialize(reply);
  }
}

TEST_F(QingdaoTest, ErrorNamesAndTokens) {
  const int port = server_->port();
  for (const auto& [method, path, status] :
       std::vector<std::tuple<std::string, std::string, int>>{{"GET", "/nope", 404},
                                                              {"POST", "/nope", 404},
                                                              {"GET", "/", 404},
                                                              {"GET", "/judge", 405},
                                                              {"GET", "/compile_spj", 405}}) {
    HttpResponse r = HttpRequest(port, method, path, "", {{"X-Judge-Server-Token", TokenHeader()}});
    EXPECT_EQ(r.status, status) << method << " " << path;
    json::object reply = r.Json().as_object();
    EXPECT_EQ(reply["err"], "InvalidRequest") << method << " " << path;
    if (status == 404) {  // QingdaoU's exact data; the explanation is in a field of ours
      EXPECT_EQ(reply["data"], "404") << method << " " << path;
      EXPECT_THAT(std::string(reply["message"].as_string()), HasSubstr("no such path"));
    }
  }
  for (const char* path : {"/ping", "/judge", "/compile_spj"}) {
    for (const std::map<std::string, std::string>& headers :
         std::vector<std::map<std::string, std::string>>{
             {}, {{"X-Judge-Server-Token", Sha256Hex("wrong token")}}}) {
      HttpResponse r = HttpRequest(port, "POST", path, "{}", headers);
      EXPECT_EQ(r.status, 401) << path;
      json::object reply = r.Json().as_object();
      EXPECT_EQ(reply["err"], "TokenVerificationFailed") << path;
      EXPECT_EQ(reply["data"], "invalid token") << path;  // QingdaoU's string
      EXPECT_THAT(std::string(reply["message"].as_string()), HasSubstr("X-Judge-Server-Token"));
    }
  }
  HttpResponse pong =
      HttpRequest(port, "POST", "/ping", "", {{"X-Judge-Server-Token", TokenHeader()}});
  EXPECT_TRUE(pong.Json().as_object()["err"].is_null());
  EXPECT_EQ(pong.Json().as_object()["data"].as_object()["action"], "pong");
  HttpResponse open = HttpRequest(port, "GET", "/ping");  // the load-test probe stays open
  ASSERT_EQ(open.status, 200);
  json::object data = open.Json().as_object()["data"].as_object();
  for (const char* field : {"cpu", "memory"}) {
    double v = data[field].to_number<double>();
    EXPECT_GE(v, 0) << field;
    EXPECT_LE(v, 100) << field;
  }
  EXPECT_EQ(HttpRequest(port, "POST", "/judge", "{oops", {{"X-Judge-Server-Token", TokenHeader()}})
                .Json()
                .as_object()["err"],
            "JudgeClientError");
  json::object missing = Judge(QingdaoRequest(kAPlusB, "no_such_case"));
  EXPECT_EQ(missing["err"], "JudgeClientError");
  EXPECT_EQ(Judge(QingdaoRequest("int main( {", "normal"))["err"], "CompileError");
}

// --- the heartbeat, against a fake OnlineJudge backend ---

// The fake backend listens on the host's loopback, which a server inside a container
// (JUDGE_TEST_IMAGE) cannot reach; qingdao_client_test.py's fake_online_judge.py and the
// demo's e2e cover containers.
class QingdaoHeartbeatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* image = getenv("JUDGE_TEST_IMAGE"); image != nullptr && *image) {
      GTEST_SKIP() << "the fake OnlineJudge is on the host's loopback";
    }
  }
};

std::string Hostname() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

TEST_F(QingdaoHeartbeatTest, ReportsQingdaoFieldsAndAUrlThatJudges) {
  FakeOnlineJudge backend("hb-token");
  // QingdaoU's variable names: TOKEN, BACKEND_URL, SERVICE_URL.
  ServerProcess server({"--heartbeat-interval", "0.2"}, {{"TOKEN", "hb-token"},
                                                         {"BACKEND_URL", backend.url()},
                                                         {"SERVICE_URL", "http://{ip}:{port}"}});
  ASSERT_TRUE(backend.WaitFor(2, std::chrono::seconds(20)));
  for (RecordedHeartbeat& h : backend.heartbeats()) {
    EXPECT_EQ(h.target, FakeOnlineJudge::kPath);
    EXPECT_EQ(h.headers["x-judge-server-token"], Sha256Hex("hb-token"));
    EXPECT_EQ(h.headers["content-type"], "application/json");
    EXPECT_EQ(h.json["action"], "heartbeat");
    EXPECT_EQ(h.json["hostname"], json::string(Hostname()));
    EXPECT_EQ(h.json["service_url"],
              json::string("http://127.0.0.1:" + std::to_string(server.port())));
    EXPECT_TRUE(h.json["judger_version"].is_string());
    EXPECT_GE(h.json["cpu_core"].to_number<int>(), 1);
    for (const char* field : {"cpu", "memory"}) {
      double v = h.json[field].to_number<double>();
      EXPECT_GE(v, 0) << field;
      EXPECT_LE(v, 100) << field;
    }
  }
  // The URL it reports judges.
  std::string url = std::string(backend.heartbeats()[0].json["service_url"].as_string());
  int port = std::stoi(url.substr(url.rfind(':') + 1));
  HttpResponse r =
      HttpRequest(port, "POST", "/judge",
                  json::serialize(json::object{
                      {"language_config", CLanguageConfig()},
                      {"src", kAPlusB},
                      {"max_cpu_time", 1000},
                      {"max_memory", 128 << 20},
                      {"test_case", json::array{json::object{{"input", "1 2"}, {"output", "3"}}}}}),
                  {{"X-Judge-Server-Token", Sha256Hex("hb-token")}});
  EXPECT_EQ(r.Json().as_object()["verdict"], "AC") << r.body;
}

TEST_F(QingdaoHeartbeatTest, HostnameTemplate) {
  FakeOnlineJudge backend("t");
  ServerProcess server({"--heartbeat-interval", "0.2"},
                       {{"JUDGE_TOKEN", "t"},
                        {"BACKEND_URL", backend.url()},
                        {"SERVICE_URL", "http://{hostname}:{port}/"}});
  ASSERT_TRUE(backend.WaitFor(1, std::chrono::seconds(20)));
  EXPECT_EQ(backend.heartbeats()[0].json["service_url"],
            json::string("http://" + Hostname() + ":" + std::to_string(server.port()) + "/"));
}

TEST_F(QingdaoHeartbeatTest, RefusalsAndOutagesAreNeverFatal) {
  FakeOnlineJudge backend("the-real-token");
  backend.Pause();  // down before the server starts
  ServerProcess wrong_token({"--heartbeat-interval", "0.2"},
                            {{"TOKEN", "another-token"}, {"BACKEND_URL", backend.url()}});
  ServerProcess right_token({"--heartbeat-interval", "0.2"},
                            {{"TOKEN", "the-real-token"}, {"BACKEND_URL", backend.url()}});
  // Both keep trying with backoff; once the backend is back, both reach it (one refused).
  backend.Resume();
  auto from = [&backend](const std::string& token) {
    int n = 0;
    for (auto& h : backend.heartbeats()) n += h.headers["x-judge-server-token"] == Sha256Hex(token);
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((from("another-token") < 2 || from("the-real-token") < 1) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(from("another-token"), 2);  // refused, and still trying
  EXPECT_GE(from("the-real-token"), 1);
  EXPECT_TRUE(wrong_token.Alive());
  EXPECT_TRUE(right_token.Alive());
  EXPECT_EQ(HttpRequest(wrong_token.port(), "GET", "/ping").status, 200);
}

TEST_F(QingdaoHeartbeatTest, BadConfigurationStopsAtStart) {
  EXPECT_THROW(ServerProcess({}, {{"JUDGE_TOKEN", "t"}, {"BACKEND_URL", "https://oj/api/"}}),
               std::runtime_error);
  EXPECT_THROW(ServerProcess({}, {{"JUDGE_TOKEN", "t"},
                                  {"BACKEND_URL", "http://127.0.0.1:1/"},
                                  {"SERVICE_URL", "http://{address}:8090"}}),
               std::runtime_error);
}

}  // namespace
}  // namespace judge::testing
