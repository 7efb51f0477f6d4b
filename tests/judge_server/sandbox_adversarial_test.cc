// Hostile submissions against a real judge_server: each must get the right verdict,
// leave the server alive, and leave no process of the slot's uids behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
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
    // ... and no compile or run directory outlives its judging ...
    EXPECT_EQ(server_->Exec("find " + server_->work_dir() + " -mindepth 2 2>/dev/null"), "");
    // ... and the host holds nothing of the slots: no IPC object, no file in a shared dir.
    EXPECT_THAT(SlotIpcObjects(), IsEmpty());
    EXPECT_THAT(SlotFilesInSharedDirs(), IsEmpty());
  }

  bool IsSlotUid(uid_t uid) const {
    return uid >= server_->uid_base() && uid < server_->uid_base() + 64;
  }

  // Lines of /proc/sysvipc/{shm,msg,sem} (of the server's IPC namespace) owned by a
  // slot uid.
  std::vector<std::string> SlotIpcObjects() const {
    std::vector<std::string> found;
    for (const char* kind : {"shm", "msg", "sem"}) {
      std::istringstream in(server_->Exec(std::string("cat /proc/sysvipc/") + kind));
      std::string line;
      std::getline(in, line);  // header: the uid column is named "uid"
      std::istringstream header(line);
      std::vector<std::string> columns{std::istream_iterator<std::string>(header), {}};
      auto uid_col = std::find(columns.begin(), columns.end(), "uid") - columns.begin();
      while (std::getline(in, line)) {
        std::istringstream row(line);
        std::vector<std::string> cells{std::istream_iterator<std::string>(row), {}};
        if (uid_col < static_cast<long>(cells.size()) &&
            IsSlotUid(static_cast<uid_t>(std::stoul(cells[uid_col])))) {
          found.push_back(std::string(kind) + ": " + line);
        }
      }
    }
    return found;
  }

  std::vector<std::string> SlotFilesInSharedDirs() const {
    std::vector<std::string> found;
    std::istringstream in(server_->Exec(
        "find /tmp /var/tmp /dev/shm /run/lock -mindepth 1 -maxdepth 1 -printf '%U %p\\n' "
        "2>/dev/null"));
    std::string uid, path;
    while (in >> uid >> path) {
      if (IsSlotUid(static_cast<uid_t>(std::stoul(uid)))) found.push_back(path);
    }
    return found;
  }

  // Kills every sandbox init of this server (one per slot that has run something) with
  // SIGKILL; returns how many there were.
  int KillInits() const {
    std::string killed = server_->Exec(
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = judge_sandbox_i ] && "
        "[ \"$(cut -d\" \" -f4 $p/stat 2>/dev/null)\" = " +
        std::to_string(server_->pid()) + " ] && kill -9 ${p#/proc/} && echo k; done");
    return static_cast<int>(std::count(killed.begin(), killed.end(), 'k'));
  }

  std::unique_ptr<ServerProcess> server_ = std::make_unique<ServerProcess>();
};

constexpr const char* kAPlusB =
    "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a+b);}";

// Prints 3 only from inside a run's private tmpfs (namespaces mode).
constexpr const char* kInPrivateTmp = R"(#include <stdio.h>
#include <string.h>
int main(){ FILE*f=fopen("/proc/self/mounts","r"); char l[4096]; int in=0;
  while(fgets(l,sizeof l,f)) if(strncmp(l,"judge-run /tmp tmpfs ",21)==0) in=1;
  puts(in?"3":"outside"); return 0; })";

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

// The stack is memory like any other: recursion without end grows it past the memory
// limit (as QingdaoU's Judger, a SIGSEGV past the limit is MLE).
TEST_F(AdversarialTest, InfiniteRecursionIsMemoryLimited) {
  Outcome o = Submit("c",
                     "int f(volatile int n){volatile char pad[64]; pad[0]=n; return "
                     "f(n+1)+pad[0];}\nint main(){return f(0);}",
                     "1 2\n", "3\n", 2000, 64 << 20);
  EXPECT_EQ(o.verdict, "MLE");
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
  EXPECT_EQ(o.verdict, "AC");  // writing there works during the run ...
  // ... and nothing stays.
  EXPECT_EQ(server_->Exec("ls -d " + marker + " " + shm + " 2>/dev/null"), "");
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

// ---- The attack review's classes (issue 9): each reproduced with our own program ----

TEST_F(AdversarialTest, ThreadsFloodingStderrCannotEscapeTheWallClock) {
  const auto start = std::chrono::steady_clock::now();
  Outcome o =
      Submit("cpp", R"(#include <thread>
#include <vector>
#include <unistd.h>
int main(){ static char b[65536]; std::vector<std::thread> t;
  for (int i = 0; i < 8; i++) t.emplace_back([]{ for(;;) { (void)!write(2, b, sizeof b); } });
  for (;;) pause(); })",
             "", "3\n", 1000, 256 << 20, [](json::object& r) { r["max_real_time"] = 1000; });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(o.verdict, "TLE");
  // The judging (compile included) ends near its limit, not after the writers tire.
  EXPECT_LT(seconds, 15.0);
  EXPECT_LE(o.first_case["real_time"].to_number<int64_t>(), 1500);
}

TEST_F(AdversarialTest, ChildProcessesCannotBeCreated) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <spawn.h>
extern char **environ;
int main(){ int made = 0;
  for (int i = 0; i < 6; i++) { pid_t p = fork(); if (p == 0) { char* m = malloc(100<<20); memset(m, 1, 100<<20); pause(); } if (p > 0) made++; }
  pid_t p; char* argv[] = {"true", 0};
  if (posix_spawn(&p, "/bin/true", 0, 0, argv, environ) == 0) made++;
  if (vfork() == 0) _exit(0);
  printf("%d\n", made); return 0; })",
                     "", "0\n", 1000, 64 << 20);
  EXPECT_EQ(o.verdict, "AC") << "no fork, posix_spawn or vfork may succeed";
}

TEST_F(AdversarialTest, MemoryOfAllThreadsCountsTogether) {
  // Six threads try to touch 20 MB each at a 64 MB limit: either they cannot get it, or
  // the verdict is MLE; never 120 MB held with an AC.
  Outcome o = Submit("cpp", R"(#include <thread>
#include <vector>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <cstdio>
int main(){ std::atomic<int> mb{0}; std::vector<std::thread> t;
  for (int i = 0; i < 6; i++) t.emplace_back([&]{ char* m = (char*)malloc(20<<20); if (m) { memset(m, 1, 20<<20); mb += 20; } });
  for (auto& x : t) x.join(); printf("%d\n", mb.load()); })",
                     "", "", 2000, 64 << 20, [](json::object& r) { r["output"] = true; });
  if (o.verdict != "MLE") {
    EXPECT_LE(std::stoi(Stdout(o)), 64) << o.verdict;
    EXPECT_LE(o.first_case["memory"].to_number<int64_t>(), 64 << 20);
  }
}

TEST_F(AdversarialTest, CpuOfAllThreadsCountsTogether) {
  Outcome o = Submit("cpp", R"(#include <thread>
#include <vector>
#include <cstdio>
int main(){ std::vector<std::thread> t;
  for (int i = 0; i < 8; i++) t.emplace_back([]{ volatile unsigned long x = 0; for (;;) x++; });
  for (auto& x : t) x.join(); })",
                     "", "3\n", 1000, 256 << 20);
  EXPECT_EQ(o.verdict, "TLE");
  // The CPU limit, unless a loaded machine let the wall clock (3x) run out first.
  if (o.first_case["result"] == 1) {
    EXPECT_GE(o.first_case["cpu_time"].to_number<int64_t>(), 1000);
  }
}

TEST_F(AdversarialTest, BusyThreadsInOneSlotDoNotTurnTheOtherSlotsHonestRunIntoTle) {
  server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"--slots", "2"});
  auto hog = std::async(std::launch::async, [&] {
    return Submit("cpp", R"(#include <thread>
#include <vector>
int main(){ std::vector<std::thread> t;
  for (int i = 0; i < 60; i++) t.emplace_back([]{ volatile unsigned long x = 0; for (;;) x++; });
  for (auto& x : t) x.join(); })",
                  "", "3\n", 1000, 256 << 20);
  });
  server_->WaitForRunning(1);
  // About 300 ms of CPU, honest, with the usual 3x wall-clock allowance.
  Outcome o = Submit("c", R"(#include <stdio.h>
int main(){ volatile unsigned long x = 0; for (unsigned long i = 0; i < 300000000UL; i++) x += i; puts("3"); return 0; })",
                     "", "3\n", 2000, 64 << 20);
  EXPECT_EQ(o.verdict, "AC");
  EXPECT_EQ(hog.get().verdict, "TLE");
}

TEST_F(AdversarialTest, MemoryIsTheProgramsOwnWhateverTheServersSize) {
  // Four 40 MB executables in the compile cache make the server large ...
  for (int i = 0; i < 4; ++i) {
    Outcome big = Submit("c",
                         "char a[40<<20] = {" + std::to_string(i + 1) +
                             "};\n#include <stdio.h>\nint main(){puts(\"3\"); return a[5];}",
                         "", "3\n", 1000, 256 << 20);
    ASSERT_EQ(big.verdict, "AC");
  }
  // ... and an honest A+B at 16 MB is still AC, charged a few MB at most.
  Outcome o = Submit("c", R"(#include <stdio.h>
int main(){ int a, b; scanf("%d %d", &a, &b); printf("%d\n", a + b); return 0; })",
                     "1 2\n", "3\n", 1000, 16 << 20);
  EXPECT_EQ(o.verdict, "AC");
  EXPECT_LT(o.first_case["memory"].to_number<int64_t>(), 4 << 20);
}

TEST_F(AdversarialTest, MemoryVerdictMatchesTheProgramsPeak) {
  // 48 MB touched: reported within a few MB of that, whatever else is going on.
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(){ char* m = malloc(48<<20); memset(m, 1, 48<<20); puts("3"); return m[7] - 1; })",
                     "", "3\n", 1000, 128 << 20);
  EXPECT_EQ(o.verdict, "AC");
  const int64_t memory = o.first_case["memory"].to_number<int64_t>();
  EXPECT_GE(memory, 48 << 20);
  EXPECT_LT(memory, 51 << 20);
}

TEST_F(AdversarialTest, SysvIpcIsDenied) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
#include <sys/sem.h>
int main(){ int made = 0;
  if (shmget(IPC_PRIVATE, 96<<20, IPC_CREAT|0666) >= 0) made++;
  if (shmget(0x4a554447, 4096, IPC_CREAT|0666) >= 0) made++;
  if (msgget(IPC_PRIVATE, IPC_CREAT|0666) >= 0) made++;
  if (semget(IPC_PRIVATE, 1, IPC_CREAT|0666) >= 0) made++;
  printf("%d\n", made); return 0; })",
                     "", "0\n");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, NothingWrittenToSharedDirsReachesTheNextRunOrCompile) {
  // One run writes everywhere it might; the next run and the next compile look for it.
  Outcome writer = Submit("c", R"(#include <stdio.h>
int main(){ const char* paths[] = {"/tmp/x", "/var/tmp/x", "/dev/shm/x", "/run/lock/x", 0};
  int wrote = 0; for (int i = 0; paths[i]; i++) { FILE* f = fopen(paths[i], "w"); if (f) { fputs("SECRET", f); fclose(f); wrote++; } }
  printf("%d\n", wrote >= 0 ? 3 : 0); return 0; })",
                          "", "3\n");
  EXPECT_EQ(writer.verdict, "AC");
  Outcome reader = Submit("c", R"(#include <stdio.h>
int main(){ const char* paths[] = {"/tmp/x", "/var/tmp/x", "/dev/shm/x", "/run/lock/x", 0};
  int seen = 0; for (int i = 0; paths[i]; i++) { FILE* f = fopen(paths[i], "r"); if (f) { seen++; fclose(f); } }
  printf("%d\n", seen); return 0; })",
                          "", "0\n");
  EXPECT_EQ(reader.verdict, "AC");
  Outcome include = Submit("c", "#include \"/run/lock/x\"\nint main(){}");
  EXPECT_EQ(include.verdict, "CE");
  EXPECT_THAT(std::string(include.reply["data"].as_string()), ::testing::Not(HasSubstr("SECRET")));
}

TEST_F(AdversarialTest, AnyWorldWritableDirectoryIsCoveredToo) {
  if (server_->in_container()) GTEST_SKIP() << "the directory is made on the host";
  // A world-writable directory beyond the usual ones (as php's session directory), made
  // before the server starts: its scan finds it.
  const std::string dir = "/srv/judge_open_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  chmod(dir.c_str(), 01777);
  server_ = std::make_unique<ServerProcess>();
  const std::string define = "#define D \"" + dir + "/x\"\n";
  Outcome writer = Submit("c", define + R"(#include <stdio.h>
int main(){ FILE* f = fopen(D, "w"); if (f) { fputs("SECRET", f); fclose(f); } puts("3"); return 0; })");
  Outcome reader = Submit("c", define + R"(#include <stdio.h>
int main(){ FILE* f = fopen(D, "r"); printf("%d\n", f != 0); return 0; })",
                          "", "0\n");
  EXPECT_EQ(writer.verdict, "AC");
  EXPECT_EQ(reader.verdict, "AC");
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST_F(AdversarialTest, DeepTreesInTmpDoNotSurvive) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(){ if (chdir("/tmp") != 0) { puts("3"); return 0; }
  for (int i = 0; i < 25000; i++) { if (mkdir("d", 0700) != 0 || chdir("d") != 0) break; }
  puts("3"); return 0; })",
                     "", "3\n", 3000, 256 << 20);
  EXPECT_EQ(o.verdict, "AC");
  Outcome next = Submit("c", R"(#include <stdio.h>
#include <sys/stat.h>
int main(){ struct stat st; printf("%d\n", stat("/tmp/d", &st) == 0); return 0; })",
                        "", "0\n");
  EXPECT_EQ(next.verdict, "AC");
}

TEST_F(AdversarialTest, FilesInSharedDirsCannotHoldMoreThanTheRunsCap) {
  // 320 MB into /dev/shm at a 128 MB limit: the writes stop at the run's small tmpfs (or
  // fail at once where nothing is writable), and the memory is gone after the run.
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <string.h>
#include <signal.h>
int main(){ static char b[1<<20]; memset(b, 7, sizeof b); long mb = 0; signal(SIGXFSZ, SIG_IGN);
  FILE* f = fopen("/dev/shm/big", "w");
  for (int i = 0; f && i < 320; i++) { if (fwrite(b, 1, sizeof b, f) != sizeof b || fflush(f) != 0) break; mb++; }
  printf("%s\n", mb <= 16 ? "3" : "too much"); return 0; })",
                     "", "3\n", 3000, 128 << 20);
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, RunsCannotTalkThroughAnyUnixSocket) {
  Outcome o = Submit("c", R"(#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <string.h>
int main(){ int s = socket(AF_UNIX, SOCK_STREAM, 0); int d = socket(AF_UNIX, SOCK_DGRAM, 0);
  int n = socket(AF_NETLINK, SOCK_RAW, 0);
  printf("%d\n", (s >= 0) + (d >= 0) + (n >= 0)); return 0; })",
                     "", "0\n");
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, ExecOfAnotherBinaryThroughAnyDescriptorKillsTheProgram) {
  // The filter allows one execveat on one descriptor number, which the program cannot
  // hold: not by dup2 (above its open-file limit), not by raising that limit.
  Outcome o = Submit("c", R"(#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
int main(){ int fd = open("/bin/true", O_PATH);
  struct rlimit rl = {4096, 4096}; int raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
  int high = 0; for (int n = 64; n < 1024; n++) if (dup2(fd, n) == n) high++;
  fprintf(stderr, "raised %d high %d\\n", raised, high);
  char* argv[] = {"true", 0}; char* envp[] = {0};
  for (int n = 3; n < 64; n++) { dup2(fd, n); syscall(SYS_execveat, n, "", argv, envp, AT_EMPTY_PATH); }
  puts("still here"); return 0; })");
  EXPECT_EQ(o.verdict, "RE");
  EXPECT_EQ(o.first_case["signal"], 31);  // SIGSYS
}

TEST_F(AdversarialTest, CompileErrorsAreNotCached) {
  auto cache_hits = [&] {
    std::string m = HttpRequest(server_->port(), "GET", "/metrics").body;
    const std::string key = "judge_compile_cache_lookups_total{result=\"hit\"} ";
    auto at = m.find(key);
    return at == std::string::npos ? -1 : std::stoi(m.substr(at + key.size()));
  };
  Outcome first = Submit("c", "int main(){ return x; }");
  const int hits = cache_hits();
  Outcome second = Submit("c", "int main(){ return x; }");
  EXPECT_EQ(first.verdict, "CE");
  EXPECT_EQ(second.verdict, "CE");
  EXPECT_EQ(cache_hits(), hits);
}

TEST_F(AdversarialTest, ManyThreadsFitWithABigMemoryLimit) {
  Outcome o = Submit("cpp", R"(#include <thread>
#include <vector>
#include <atomic>
#include <cstdio>
int main(){ std::atomic<int> n{0}; std::vector<std::thread> t;
  for (int i = 0; i < 32; i++) t.emplace_back([&]{ n++; });
  for (auto& x : t) x.join(); printf("%d\n", n.load()); })",
                     "", "32\n", 2000, 256 << 20);
  EXPECT_EQ(o.verdict, "AC");
}

TEST_F(AdversarialTest, KilledInitFailsItsRunAndTheSlotRecovers) {
  const std::string spin = "int main(){for(;;);}";
  ASSERT_EQ(Submit("c", spin, "", "", 100).verdict, "TLE");  // compiled and cached
  auto spinner = std::async(std::launch::async, [&] { return Submit("c", spin, "", "", 3000); });
  // Once a process of the slot runs, it is the program (the compile is cached).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->SlotProcesses().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(server_->SlotProcesses().empty());
  EXPECT_GE(KillInits(), 1);
  Outcome o = spinner.get();
  EXPECT_EQ(o.verdict, "SE") << "a run whose init died is not judged";
  EXPECT_THAT(server_->SlotProcesses(), IsEmpty()) << "the program died with its init";
  EXPECT_THAT(HttpRequest(server_->port(), "GET", "/metrics").body,
              HasSubstr("\njudge_slots_out_of_service 0\n"))
      << "nothing of the run survived: the slot stays in service";
  // The slot starts a fresh init, and its runs are contained as before.
  EXPECT_EQ(Submit("c", kAPlusB).verdict, "AC");
  EXPECT_EQ(Submit("c", kInPrivateTmp).verdict, "AC");
}

TEST_F(AdversarialTest, KilledIdleInitIsReplaced) {
  ASSERT_EQ(Submit("c", kAPlusB).verdict, "AC");
  EXPECT_GE(KillInits(), 1);
  EXPECT_EQ(Submit("c", kAPlusB).verdict, "AC");
  EXPECT_EQ(Submit("c", kInPrivateTmp).verdict, "AC") << "the fresh init's run is contained";
}

TEST_F(AdversarialTest, EveryRunGetsAFreshPrivateTmp) {
  // Many runs through one init: each sees its own empty tmpfs, never the last one's.
  auto request = JudgeRequest("c", R"(#include <stdio.h>
#include <dirent.h>
#include <string.h>
int main(){ int n=0; const char* d[]={"/tmp","/var/tmp","/dev/shm","/run/lock"};
  for(int i=0;i<4;i++){ char p[64]; snprintf(p,64,"%s/mark-%d",d[i],i);
    FILE*f=fopen(p,"r"); if(f){n++;fclose(f);} f=fopen(p,"w"); if(f) fclose(f); }
  printf("%d\n",n); return 0; })",
                              std::vector<std::pair<std::string, std::string>>(20, {"", "0\n"}));
  HttpResponse r = server_->Judge(request);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json().as_object()["verdict"], "AC") << r.body;
}

TEST_F(AdversarialTest, SandboxModeIsReported) {
  json::object ping = HttpRequest(server_->port(), "GET", "/ping").Json().as_object();
  ASSERT_TRUE(ping.contains("sandbox"));
  EXPECT_EQ(ping["sandbox"], "namespaces");  // root on the host: the strongest mode
}

}  // namespace
}  // namespace judge::testing
