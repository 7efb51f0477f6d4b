// The judge server as a real process with real compilers: every verdict in C, C++ and
// Python 3, the HTTP API's errors, the queue bound, test_case_id, graceful shutdown.
// Needs root (submissions run as unprivileged uids).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/judge_server/server_process.h"

namespace judge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace json = boost::json;

struct VerdictCase {
  std::string name;
  std::string language;
  std::string verdict;
  std::string source;
  int result = 0;  // QingdaoU result code of the first case
};

// Each program reads "a b" and should print a+b.
std::vector<VerdictCase> VerdictCases() {
  return {
      {"C_AC", "c", "AC",
       "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld "
       "%ld\",&a,&b);printf(\"%ld\\n\",a+b);return 0;}",
       0},
      {"C_WA", "c", "WA",
       "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld "
       "%ld\",&a,&b);printf(\"%ld\\n\",a-b);return 0;}",
       -1},
      {"C_CE", "c", "CE", "int main(){ return missing; }", 0},
      {"C_TLE", "c", "TLE", "int main(){volatile unsigned long x=0;for(;;)x++;}", 1},
      {"C_MLE", "c", "MLE",
       "#include <stdlib.h>\n#include <string.h>\nint "
       "main(){for(;;){char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}}",
       3},
      {"C_OLE", "c", "OLE",
       "#include <stdio.h>\nint main(){for(;;)puts(\"spam spam spam spam spam\");}", 6},
      {"C_RE", "c", "RE", "int main(){volatile int*p=0;*p=1;return 0;}", 4},
      {"Cpp_AC", "cpp", "AC",
       "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}", 0},
      {"Cpp_WA", "cpp", "WA", "#include <iostream>\nint main(){std::cout<<42<<std::endl;}", -1},
      {"Cpp_CE", "cpp", "CE", "#include <iostream>\nint main(){ std::cout << undefined_thing; }",
       0},
      {"Cpp_TLE", "cpp", "TLE", "int main(){volatile unsigned long x=0;while(true)x++;}", 1},
      {"Cpp_MLE", "cpp", "MLE",
       "#include <vector>\n#include <cstdio>\nint main(){std::vector<std::vector<char>> "
       "v;for(;;)v.emplace_back(1<<20,'x');}",
       3},
      {"Cpp_OLE", "cpp", "OLE",
       "#include <iostream>\nint main(){for(;;)std::cout<<\"0123456789\\n\";}", 6},
      {"Cpp_RE", "cpp", "RE",
       "#include <stdexcept>\nint main(){throw std::runtime_error(\"boom\");}", 4},
      {"Python_AC", "python3", "AC", "a, b = map(int, input().split())\nprint(a + b)\n", 0},
      {"Python_WA", "python3", "WA", "print(0)\n", -1},
      {"Python_CE", "python3", "CE", "def broken(:\n    pass\n", 0},
      {"Python_TLE", "python3", "TLE", "x = 0\nwhile True:\n    x += 1\n", 1},
      {"Python_MLE", "python3", "MLE",
       "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n", 3},
      {"Python_OLE", "python3", "OLE", "while True:\n    print('spam' * 20)\n", 6},
      {"Python_RE", "python3", "RE", "raise SystemExit(3)\n", 4},
      {"Java_AC", "java", "AC",
       "import java.util.*;\npublic class Main{public static void main(String[] a){Scanner s=new "
       "Scanner(System.in);long x=s.nextLong(),y=s.nextLong();System.out.println(x+y);}}",
       0},
      {"Java_WA", "java", "WA",
       "public class Main{public static void main(String[] a){System.out.println(0);}}", -1},
      {"Java_CE", "java", "CE", "public class Main{public static void main(String[] a){x}}", 0},
      {"Java_TLE", "java", "TLE",
       "public class Main{public static void main(String[] a){long x=0;while(true)x++;}}", 1},
      {"Java_RE", "java", "RE",
       "public class Main{public static void main(String[] a){throw new RuntimeException();}}", 4},
      {"Go_AC", "go", "AC",
       "package main\nimport \"fmt\"\nfunc main(){var a,b int;fmt.Scan(&a,&b);fmt.Println(a+b)}",
       0},
      {"Go_WA", "go", "WA", "package main\nimport \"fmt\"\nfunc main(){fmt.Println(0)}", -1},
      {"Go_CE", "go", "CE", "package main\nfunc main(){ undefinedThing() }", 0},
      {"Go_TLE", "go", "TLE", "package main\nfunc main(){x:=0;for{x++}}", 1},
      {"Go_MLE", "go", "MLE",
       "package main\nvar keep [][]byte\nfunc main(){for{b:=make([]byte,1<<20);for i:=range "
       "b{b[i]=1};keep=append(keep,b)}}",
       3},
      {"Go_RE", "go", "RE", "package main\nfunc main(){panic(\"boom\")}", 4},
      {"JavaScript_AC", "javascript", "AC",
       "const v=require('fs').readFileSync(0,'utf8').trim().split(/\\s+/).map(Number);"
       "console.log(v[0]+v[1]);",
       0},
      {"JavaScript_WA", "javascript", "WA", "console.log(0);", -1},
      {"JavaScript_CE", "javascript", "CE", "function (", 0},
      {"JavaScript_TLE", "javascript", "TLE", "let x=0; for(;;) x++;", 1},
      {"JavaScript_MLE", "javascript", "MLE", "const k=[]; for(;;) k.push(Buffer.alloc(1<<20, 1));",
       3},
      {"JavaScript_RE", "javascript", "RE", "throw new Error('boom');", 4},
      {"Php_AC", "php", "AC",
       "<?php $v=array_map('intval',preg_split('/\\s+/',trim(file_get_contents('php://"
       "stdin'))));echo $v[0]+$v[1],\"\\n\";",
       0},
      {"Php_WA", "php", "WA", "<?php echo 0, \"\\n\";", -1},
      {"Php_CE", "php", "CE", "<?php echo (;", 0},
      {"Php_TLE", "php", "TLE", "<?php $x=0; while(true) $x++;", 1},
      {"Php_MLE", "php", "MLE", "<?php $k=[]; while(true) $k[]=str_repeat('x', 1<<20);", 3},
      {"Php_RE", "php", "RE", "<?php exit(3);", 4},
  };
}

class VerdictTest : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(VerdictTest, JudgesToExpectedVerdict) {
  const VerdictCase& c = GetParam();
  ServerProcess server;
  auto request =
      JudgeRequest(c.language, c.source, {{"1 2\n", "3\n"}, {"40 2\n", "42\n"}}, 1000, 64 << 20);
  request["max_output_size"] = 1 << 20;
  HttpResponse r = server.Judge(request);
  ASSERT_EQ(r.status, 200) << r.body;
  json::object reply = r.Json().as_object();
  EXPECT_EQ(reply["verdict"], json::string(c.verdict)) << r.body;
  EXPECT_FALSE(reply["hostname"].as_string().empty());
  if (c.verdict == "CE") {
    EXPECT_EQ(reply["err"], "CompileError");
    EXPECT_FALSE(reply["data"].as_string().empty());
    // Diagnostics never show the server's directories.
    EXPECT_THAT(std::string(reply["data"].as_string()),
                ::testing::Not(HasSubstr(server.work_dir())));
  } else {
    ASSERT_TRUE(reply["err"].is_null()) << r.body;
    json::array cases = reply["data"].as_array();
    ASSERT_EQ(cases.size(), 2u);
    json::object first = cases[0].as_object();
    if (c.verdict == "TLE") {
      // A busy machine may starve the loop of CPU until the wall-clock limit (result 2)
      // comes before the CPU limit (result 1); both are time limits.
      EXPECT_THAT(first["result"].to_number<int>(), ::testing::AnyOf(1, 2)) << r.body;
    } else {
      EXPECT_EQ(first["result"].to_number<int>(), c.result) << r.body;
    }
    EXPECT_EQ(first["test_case"], "1");
    for (const char* field :
         {"cpu_time", "real_time", "memory", "signal", "exit_code", "error", "output_md5"}) {
      EXPECT_TRUE(first.contains(field)) << field;
    }
    if (c.verdict == "AC") {
      EXPECT_EQ(first["output_md5"], "eccbc87e4b5ce2fe28308fd9f2a7baf3");
    }
  }
  EXPECT_TRUE(server.Alive());
  EXPECT_THAT(server.SlotProcesses(), ::testing::IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(AllLanguages, VerdictTest, ::testing::ValuesIn(VerdictCases()),
                         [](const auto& info) { return info.param.name; });

TEST(JudgeHttpTest, PingHealthzLanguagesMetrics) {
  ServerProcess server;
  HttpResponse ping = HttpRequest(server.port(), "GET", "/ping");
  ASSERT_EQ(ping.status, 200);
  json::object p = ping.Json().as_object();
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(p["hostname"], host);
  for (const char* field : {"judger_version", "cpu_core", "load", "memory_total",
                            "memory_available", "running", "queued", "uptime_seconds"}) {
    EXPECT_TRUE(p.contains(field)) << field;
  }
  EXPECT_EQ(p["data"].as_object()["action"], "pong");
  // POST /ping is QingdaoU's heartbeat and, as there, needs the token.
  EXPECT_EQ(HttpRequest(server.port(), "POST", "/ping").status, 401);
  EXPECT_EQ(
      HttpRequest(server.port(), "POST", "/ping", "{}", {{"X-Judge-Server-Token", TokenHeader()}})
          .status,
      200);
  EXPECT_EQ(HttpRequest(server.port(), "GET", "/healthz").status, 200);
  HttpResponse langs = HttpRequest(server.port(), "GET", "/languages");
  EXPECT_THAT(langs.body, HasSubstr("\"python3\""));
  EXPECT_THAT(langs.body, HasSubstr("\"cpp\""));
  HttpResponse metrics = HttpRequest(server.port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr("judge_http_requests_total{route=\"/ping\",status=\"200\"} 2"));
  EXPECT_THAT(metrics.body, HasSubstr("judge_queue_depth 0"));
}

TEST(JudgeHttpTest, ErrorsHaveStatusAndMessage) {
  ServerProcess server;
  auto good = JudgeRequest("c", "int main(){}", {{"", ""}});
  HttpResponse r = HttpRequest(server.port(), "POST", "/judge", json::serialize(good));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Json().as_object()["err"], "TokenVerificationFailed");
  r = HttpRequest(server.port(), "POST", "/judge", json::serialize(good),
                  {{"X-Judge-Server-Token", std::string(64, 'a')}});
  EXPECT_EQ(r.status, 401);
  r = HttpRequest(server.port(), "POST", "/judge", "{oops",
                  {{"X-Judge-Server-Token", TokenHeader()}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("not valid JSON"));
  auto bad = JudgeRequest("brainfuck", "+", {{"", ""}});
  r = server.Judge(bad);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("unknown language 'brainfuck'"));
  EXPECT_EQ(HttpRequest(server.port(), "GET", "/nope").status, 404);
  r = HttpRequest(server.port(), "GET", "/judge");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["Allow"], "POST");
  // Past the body limit: 413 as soon as the headers announce it, and the server carries on.
  r = HttpRequest(
      server.port(), "POST", "/judge", "",
      {{"X-Judge-Server-Token", TokenHeader()}, {"Content-Length", std::to_string(9 << 20)}});
  EXPECT_EQ(r.status, 413);
  auto missing = JudgeRequest("c", "int main(){}", {{"", ""}});
  missing.erase("test_case");
  missing["test_case_id"] = "no_such_problem";
  r = server.Judge(missing);
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("no_such_problem"));
  EXPECT_EQ(HttpRequest(server.port(), "GET", "/ping").status, 200);
}

// QingdaoU's io_mode "File IO": the program reads input.txt and writes output.txt in its
// working directory; that file is its output, stdout is not judged.
TEST(JudgeHttpTest, FileIoReadsAndWritesTheNamedFiles) {
  ServerProcess server;
  auto file_io = [](json::object& r) {
    r["io_mode"] =
        json::object{{"io_mode", "File IO"}, {"input", "input.txt"}, {"output", "output.txt"}};
  };
  auto request = JudgeRequest("c", R"(#include <stdio.h>
int main(){ FILE* in = fopen("input.txt", "r"); FILE* out = fopen("output.txt", "w");
  long a, b; if (!in || !out || fscanf(in, "%ld %ld", &a, &b) != 2) return 1;
  fprintf(out, "%ld\n", a + b); puts("stdout is not judged"); return 0; })",
                              {{"1 2\n", "3\n"}, {"40 2\n", "42\n"}});
  file_io(request);
  json::object reply = server.Judge(request).Json().as_object();
  EXPECT_EQ(reply["verdict"], "AC") << json::serialize(reply);
  // Writing only to stdout is a wrong answer in File IO, and no other file can be made.
  auto stdout_only = JudgeRequest("c", R"(#include <stdio.h>
int main(){ FILE* other = fopen("other.txt", "w"); puts(other ? "made" : "3"); return 0; })",
                                  {{"1 2\n", "3\n"}});
  file_io(stdout_only);
  reply = server.Judge(stdout_only).Json().as_object();
  EXPECT_EQ(reply["verdict"], "WA") << json::serialize(reply);
}

// With "output": true the judge keeps no more output than one reply may carry.
TEST(JudgeHttpTest, ReturnedOutputIsCappedAcrossCases) {
  ServerProcess server({"--max-reply-output", "1048576"});
  auto request = JudgeRequest("c", R"(#include <stdio.h>
#include <string.h>
int main(){ static char b[600000]; memset(b, 'x', sizeof b); fwrite(b, 1, sizeof b, stdout); return 0; })",
                              {{"", "x"}, {"", "x"}, {"", "x"}, {"", "x"}});
  request["output"] = true;
  request["max_output_size"] = 1 << 20;
  json::object reply = server.Judge(request).Json().as_object();
  ASSERT_TRUE(reply["data"].is_array()) << json::serialize(reply).substr(0, 300);
  json::array cases = reply["data"].as_array();
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(cases[0].as_object()["output_truncated"], false);
  EXPECT_EQ(cases[3].as_object()["output_truncated"], true);
  EXPECT_EQ(reply["output_truncated"], true);
  size_t total = 0;
  for (auto& c : cases) total += c.as_object()["output"].as_string().size();
  EXPECT_LE(total, 1048576u);
}

TEST(JudgeHttpTest, CompileCacheHitsOnResubmission) {
  ServerProcess server;
  auto req = JudgeRequest("cpp", "#include <cstdio>\nint main(){puts(\"3\");}", {{"", "3"}});
  HttpResponse first = server.Judge(req);
  HttpResponse second = server.Judge(req);
  EXPECT_EQ(first.Json().as_object()["compile_cache_hit"], false);
  EXPECT_EQ(second.Json().as_object()["compile_cache_hit"], true);
  EXPECT_EQ(second.Json().as_object()["verdict"], "AC");
  const std::string metrics = HttpRequest(server.port(), "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("judge_compile_cache_lookups_total{result=\"hit\"} 1"));
  // Where the judgings' time went, by phase: every phase is listed, and the runs took some.
  for (const char* phase :
       {"parse", "queue", "compile", "prepare", "run", "check", "cleanup", "render"}) {
    EXPECT_THAT(metrics, HasSubstr(absl::StrCat("judge_phase_seconds_total{phase=\"", phase, "\"}")))
        << phase;
  }
  EXPECT_THAT(metrics, Not(HasSubstr("judge_phase_seconds_total{phase=\"run\"} 0\n")));
}

TEST(JudgeHttpTest, TestCaseIdReadsQingdaoLayoutAndReturnsOutput) {
  std::string root = "/tmp/judge_cases_" + std::to_string(getpid());
  std::filesystem::create_directories(root + "/aplusb");
  std::ofstream(root + "/aplusb/info") << R"({"test_case_number":2,"spj":false,"test_cases":{
    "1":{"input_name":"1.in","output_name":"1.out"},"2":{"input_name":"2.in","output_name":"2.out"}}})";
  std::ofstream(root + "/aplusb/1.in") << "1 2\n";
  std::ofstream(root + "/aplusb/1.out") << "3\n";
  std::ofstream(root + "/aplusb/2.in") << "3 4\n";
  std::ofstream(root + "/aplusb/2.out") << "7\n";
  chmod(root.c_str(), 0700);
  {
    ServerProcess server({"--test-case-dir", root});
    // QingdaoU's own request shape.
    json::object req{
        {"language_config",
         json::object{{"compile", json::object{{"src_name", "main.c"}, {"exe_name", "main"}}},
                      {"run", json::object{{"command", "{exe_path}"}}}}},
        {"src",
         "#include <stdio.h>\nint main(){int a,b;scanf(\"%d%d\",&a,&b);printf(\"%d\\n\",a+b);}"},
        {"max_cpu_time", 1000},
        {"max_memory", 128 << 20},
        {"test_case_id", "aplusb"},
        {"output", true}};
    HttpResponse r = server.Judge(req);
    ASSERT_EQ(r.status, 200) << r.body;
    json::object reply = r.Json().as_object();
    EXPECT_EQ(reply["verdict"], "AC") << r.body;
    EXPECT_EQ(reply["data"].as_array()[1].as_object()["output"], "7\n");
  }
  std::filesystem::remove_all(root);
}

TEST(JudgeHttpTest, FullQueueAnswers503WithRetryAfter) {
  ServerProcess server({"--slots", "1", "--queue", "0"});
  auto slow =
      JudgeRequest("c", "#include <unistd.h>\nint main(){sleep(2);return 0;}", {{"", ""}}, 1000);
  slow["max_real_time"] = 4000;
  auto pending = std::async(std::launch::async, [&] { return server.Judge(slow); });
  server.WaitForRunning(1);  // the slow judging holds a slot
  HttpResponse busy = server.Judge(JudgeRequest("c", "int main(){}", {{"", ""}}));
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.headers["Retry-After"], "1");
  EXPECT_EQ(busy.Json().as_object()["err"], "ServerBusy");
  EXPECT_EQ(pending.get().Json().as_object()["verdict"], "AC");
}

TEST(JudgeHttpTest, SigtermFinishesRunningJudgingThenExits) {
  ServerProcess server({"--slots", "1"});
  auto slow = JudgeRequest(
      "c", "#include <stdio.h>\n#include <unistd.h>\nint main(){usleep(800000);puts(\"3\");}",
      {{"", "3"}}, 1000);
  auto pending = std::async(std::launch::async, [&] { return server.Judge(slow); });
  server.WaitForRunning(1);  // the slow judging holds a slot
  int status = server.Terminate();
  HttpResponse r = pending.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json().as_object()["verdict"], "AC") << r.body;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(JudgeHttpTest, ConnectionHeaderFollowsKeepAlive) {
  ServerProcess server;
  // (wrk in bench/run drives many requests per connection; here the header contract.)
  HttpResponse r = HttpRequest(server.port(), "GET", "/ping", "", {{"Connection", "keep-alive"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("Connection"), 0u);  // HTTP/1.1 default: keep-alive
  r = HttpRequest(server.port(), "GET", "/ping", "", {{"Connection", "close"}});
  EXPECT_EQ(r.headers["Connection"], "close");
}

}  // namespace
}  // namespace judge::testing
