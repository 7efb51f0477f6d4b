// Hostile submissions against a real judge_server: each must get the right verdict,
// leave the server alive, and leave no process of the slot's uids behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/judge_server/server_process.h"

namespace judge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace json = boost::json;

struct Outcome {
  int status = 0;
  std::string verdict;
  json::object reply;
  json::object first_case;
};

class AdversarialTest : public ::testing::Test {
 protected:
  Outcome Submit(const std::string& language, const std::string& source,
                 const std::string& input = "1 2\n", const std::string& expected = "3\n",
                 int64_t cpu_ms = 1000, int64_t memory = 256 << 20,
                 std::function<void(json::object&)> tweak = nullptr) {
    auto request = JudgeRequest(language, source, {{input, expected}}, cpu_ms, memory);
    request["max_output_size"] = 1 << 20;
    if (tweak) tweak(request);
    HttpResponse r = server_->Judge(request);
    Outcome o;
    o.status = r.status;
    if (r.status != 200) return o;
    o.reply = r.Json().as_object();
    o.verdict = std::string(o.reply["verdict"].as_string());
    if (o.reply["data"].is_array()) o.first_case = o.reply["data"].as_array()[0].as_object();
    return o;
  }

  std::string Stdout(const Outcome& o) {
    const json::value* v = o.first_case.if_contains("output");
    return v && v->is_string() ? std::string(v->as_string()) : "";
  }

  void TearDown() override {
    // The server survived and the slots are empty.
    EXPECT_TRUE(server_->Alive());
    EXPECT_EQ(HttpRequest(server_->port(), "GET", "/ping").status, 200);
    EXPECT_THAT(server_->SlotProcesses(), IsEmpty());
    // ... and no compile or run directory outlives its judging.
    for (const auto& slot : std::filesystem::directory_iterator(server_->work_dir())) {
      EXPECT_TRUE(std::filesystem::is_empty(slot.path())) << slot.path();
    }
  }

  std::unique_ptr<ServerProcess> server_ = std::make_unique<ServerProcess>();
};

constexpr const char* kPrintIfDenied = R"(#include <stdio.h>
int main(){ FILE*f=fopen(PATH,"r"); if(!f){puts("3");return 0;} char b[64]={0}; fread(b,1,63,f); printf("LEAK %s\n",b); return 0; })";

std::string WithPath(const std::string& path) {
  return "#define PATH \"" + path + "\"\n" + kPrintIfDenied;
}

TEST_F(AdversarialTest, ForkBombIsTimeLimited) {
  Outcome o = Submit("c", "#include <unistd.h>\nint main(){for(;;)fork();}");
  EXPECT_EQ(o.verdict, "TLE");
}

TEST_F(AdversarialTest, SetsidDoubleForkCpuBurnerIsKilled) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(){
  if(fork()==0){ setsid(); if(fork()==0){ for(;;); } _exit(0); }
  wait(NULL); puts("3"); return 0; })");
  EXPECT_EQ(o.verdict, "AC");
  // TearDown asserts that the burner, reparented away from the run, is gone.
}

TEST_F(AdversarialTest, MallocMemsetBombIsMemoryLimited) {
  Outcome o = Submit("c", R"(#include <stdlib.h>
#include <string.h>
int main(){ for(;;){ char*p=malloc(8<<20); if(!p) return 1; memset(p,7,8<<20);} })",
                     "", "", 1000, 64 << 20);
  EXPECT_EQ(o.verdict, "MLE");
  EXPECT_GT(o.first_case["memory"].to_number<int64_t>(), 64 << 20);
}

TEST_F(AdversarialTest, HugeStaticArrayIsMemoryLimited) {
  Outcome o = Submit("cpp", R"(#include <cstring>
#include <cstdio>
static char a[1 << 30];
int main(){ memset(a, 1, sizeof a); printf("%d\n", a[12345]); })",
                     "", "1\n", 1000, 256 << 20);
  EXPECT_EQ(o.verdict, "MLE");
}

TEST_F(AdversarialTest, SigxcpuHandlerDoesNotSaveAnInfiniteLoop) {
  Outcome o = Submit("c", R"(#include <signal.h>
void ignore(int s){}
int main(){ signal(SIGXCPU, ignore); volatile unsigned long x=0; for(;;) x++; })");
  EXPECT_EQ(o.verdict, "TLE");
  EXPECT_EQ(o.first_case["result"], 1);
}

TEST_F(AdversarialTest, SleepingForeverIsRealTimeLimited) {
  Outcome o = Submit("c", "#include <unistd.h>\nint main(){for(;;)pause();}");
  EXPECT_EQ(o.verdict, "TLE");
  EXPECT_EQ(o.first_case["result"], 2);
}

TEST_F(AdversarialTest, ReadingPastEndOfStdinDoesNotHang) {
  Outcome o = Submit("c", R"(#include <stdio.h>
int main(){ int x, n=0; while(scanf("%d",&x)==1) n++; printf("%d\n", n); getchar(); getchar(); return 0; })",
                     "1 2\n", "2\n");
  EXPECT_EQ(o.verdict, "AC");
  EXPECT_LT(o.first_case["real_time"].to_number<int64_t>(), 2000);
}

TEST_F(AdversarialTest, ProgramIgnoringLargeStdinDoesNotBlockTheServer) {
  Outcome o = Submit("c", "#include <stdio.h>\nint main(){puts(\"3\");return 0;}",
                     std::string(4 << 20, '7'), "3\n");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, UnboundedStdoutIsOutputLimited) {
  Outcome o =
      Submit("c", "#include <stdio.h>\nint main(){for(;;)fputs(\"xxxxxxxxxxxxxxxx\",stdout);}");
  EXPECT_EQ(o.verdict, "OLE");
}

TEST_F(AdversarialTest, UnboundedStderrIsCappedAndTimeLimited) {
  Outcome o =
      Submit("c", "#include <stdio.h>\nint main(){for(;;)fputs(\"eeeeeeeeeeeeeeee\",stderr);}");
  EXPECT_EQ(o.verdict, "TLE");
}

TEST_F(AdversarialTest, InfiniteRecursionIsRuntimeError) {
  Outcome o = Submit("c",
                     "int f(volatile int n){volatile char pad[64]; pad[0]=n; return "
                     "f(n+1)+pad[0];}\nint main(){return f(0);}");
  EXPECT_EQ(o.verdict, "RE");
  EXPECT_EQ(o.first_case["signal"], 11);
}

TEST_F(AdversarialTest, DeepLegitimateRecursionPasses) {
  Outcome o = Submit("c", R"(#include <stdio.h>
long f(int n){ volatile char pad[32]; pad[0]=1; if(n==0) return 0; return f(n-1)+pad[0]; }
int main(){ printf("%ld\n", f(1000000)); return 0; })",
                     "", "1000000\n");
  EXPECT_EQ(o.verdict, "AC") << o.first_case["signal"];
}

TEST_F(AdversarialTest, ThousandThreadsAreRefused) {
  Outcome o = Submit("cpp", R"(#include <thread>
#include <vector>
#include <cstdio>
int main(){ std::vector<std::thread> t; for(int i=0;i<1000;i++) t.emplace_back([]{ volatile int x=0; x++; });
  for(auto&x:t) x.join(); puts("3"); })");
  EXPECT_EQ(o.verdict, "RE");
}

TEST_F(AdversarialTest, CannotReadShadow) {
  Outcome o = Submit("c", WithPath("/etc/shadow"));
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, CannotReadInitEnvironment) {
  Outcome o = Submit("c", WithPath("/proc/1/environ"));
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, CannotReadServerEnvironmentOrToken) {
  Outcome o = Submit("c", WithPath("/proc/" + std::to_string(server_->pid()) + "/environ"));
  EXPECT_EQ(o.verdict, "AC");
  Outcome env = Submit("c", R"(#include <stdio.h>
#include <stdlib.h>
int main(){ puts(getenv("JUDGE_TOKEN") ? "LEAK" : "3"); return 0; })");
  EXPECT_EQ(env.verdict, "AC");
}

TEST_F(AdversarialTest, CannotReadTestAnswers) {
  std::string root = "/tmp/judge_answers_" + std::to_string(getpid());
  std::filesystem::create_directories(root + "/p1");
  std::ofstream(root + "/p1/info")
      << R"({"test_cases":{"1":{"input_name":"1.in","output_name":"1.out"}}})";
  std::ofstream(root + "/p1/1.in") << "";
  std::ofstream(root + "/p1/1.out") << "3\n";
  chmod(root.c_str(), 0700);
  server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"--test-case-dir", root});
  auto tweak = [](json::object& r) {
    r.erase("test_case");
    r["test_case_id"] = "p1";
  };
  Outcome o = Submit("c", WithPath(root + "/p1/1.out"), "", "", 1000, 256 << 20, tweak);
  EXPECT_EQ(o.verdict, "AC");
  std::filesystem::remove_all(root);
}

TEST_F(AdversarialTest, CannotReachAnotherRunsDirectory) {
  server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"--slots", "2"});
  // One judging holds a slot while the other probes both slots' run directories.
  auto sleeper = std::async(std::launch::async, [&] {
    return Submit(
        "c", "#include <unistd.h>\n#include <stdio.h>\nint main(){usleep(1500000);puts(\"3\");}");
  });
  server_->WaitForRunning(1);
  const std::string w = server_->work_dir();
  Outcome o = Submit("c", "#define W \"" + w + R"("
#include <stdio.h>
#include <dirent.h>
#include <unistd.h>
int main(){
  int readable = 0;
  if (access(W "/slot-0/run/main", R_OK) == 0) readable++;
  if (access(W "/slot-1/run/main", R_OK) == 0) readable++;
  printf("%d %s\n", readable, opendir(W) ? "listed" : "nolist");
  return 0; })",
                     "", "1 nolist\n");
  EXPECT_EQ(o.verdict, "AC") << "only its own executable is visible";
  EXPECT_EQ(sleeper.get().verdict, "AC");
}

TEST_F(AdversarialTest, CannotConnectToTheServer) {
  std::string port = std::to_string(server_->port());
  Outcome o = Submit("c", "#define PORT " + port + R"(
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
int main(){
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int s6 = socket(AF_INET6, SOCK_STREAM, 0);
  int raw = socket(AF_PACKET, SOCK_RAW, 0);
  if (s < 0 && s6 < 0 && raw < 0) { puts("3"); return 0; }
  struct sockaddr_in a; memset(&a,0,sizeof a); a.sin_family=AF_INET; a.sin_port=htons(PORT);
  a.sin_addr.s_addr=htonl(0x7f000001);
  printf("connect=%d\n", connect(s,(struct sockaddr*)&a,sizeof a)); return 0; })");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, PythonCannotOpenInetSockets) {
  Outcome o = Submit("python3", R"(import socket
try:
    socket.create_connection(("127.0.0.1", 8090), timeout=1)
    print("connected")
except PermissionError:
    print(3)
)");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, IoUringIsBlocked) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(){ char params[120]; memset(params,0,sizeof params);
  long fd = syscall(425 /* io_uring_setup */, 8, params);
  puts(fd < 0 ? "3" : "io_uring open"); return 0; })");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, NamespacesAndPtraceAreBlocked) {
  Outcome o = Submit("c", R"(#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/mount.h>
int main(){
  int escaped = unshare(CLONE_NEWUSER) == 0 || unshare(CLONE_NEWNET) == 0 ||
                ptrace(PTRACE_ATTACH, 1, 0, 0) == 0 || mount("none", "/tmp", "tmpfs", 0, 0) == 0;
  puts(escaped ? "escaped" : "3"); return 0; })");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, ExecveOfAShellKillsTheProgram) {
  Outcome o = Submit("c", R"(#include <unistd.h>
#include <stdio.h>
int main(){ execl("/bin/sh", "sh", "-c", "echo 3", (char*)0); puts("exec failed"); return 0; })");
  EXPECT_EQ(o.verdict, "RE");
  EXPECT_EQ(o.first_case["signal"], 31);  // SIGSYS from the filter
}

TEST_F(AdversarialTest, CannotPlantSymlinksWhereTheServerWorks) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <unistd.h>
int main(){
  int planted = symlink("/etc/shadow", "output") == 0 || symlink("/etc/shadow", "main.out") == 0 ||
                unlink("main") == 0;
  puts(planted ? "planted" : "3"); return 0; })");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, FilesLeftInTmpDoNotOutliveTheRun) {
  const std::string marker = "/tmp/judge_leak_" + std::to_string(getpid());
  const std::string shm = "/dev/shm/judge_leak_" + std::to_string(getpid());
  Outcome o = Submit("c", "#define A \"" + marker + "\"\n#define B \"" + shm + R"("
#include <stdio.h>
int main(){ FILE* a = fopen(A, "w"); FILE* b = fopen(B, "w");
  if (a) fputs("answers", a); if (b) fputs("answers", b); puts(a && b ? "3" : "no tmp"); return 0; })");
  EXPECT_EQ(o.verdict, "AC");                     // writing there works during the run ...
  EXPECT_FALSE(std::filesystem::exists(marker));  // ... and nothing stays
  EXPECT_FALSE(std::filesystem::exists(shm));
}

TEST_F(AdversarialTest, IncludingShadowIsACompileErrorWithoutItsContents) {
  Outcome o = Submit("c", "#include \"/etc/shadow\"\nint main(){}");
  EXPECT_EQ(o.verdict, "CE");
  EXPECT_THAT(std::string(o.reply["data"].as_string()), ::testing::Not(HasSubstr("root:")));
}

TEST_F(AdversarialTest, IncludingDevRandomIsACompileError) {
  Outcome o = Submit("c", "#include </dev/random>\nint main(){}");
  EXPECT_EQ(o.verdict, "CE");
}

TEST_F(AdversarialTest, KillMinusOneHurtsNothingButItself) {
  auto bystander = std::async(std::launch::async, [&] {
    return Submit(
        "c", "#include <unistd.h>\n#include <stdio.h>\nint main(){usleep(700000);puts(\"3\");}");
  });
  Outcome o = Submit("c", R"(#include <signal.h>
#include <stdio.h>
int main(){ kill(-1, SIGKILL); puts("3"); return 0; })");
  EXPECT_NE(o.verdict, "SE");
  EXPECT_EQ(bystander.get().verdict, "AC");
}

}  // namespace
}  // namespace judge::testing
