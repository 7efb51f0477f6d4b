// Sandbox overhead: the same binary (static, or the judge's A+B) run N times with a bare fork/exec/wait4 and
// with judge::Sandbox::Run (rlimits, uid drop, NO_NEW_PRIVS, seccomp, pipes, watchdog,
// uid sweep). The two alternate run by run, so that both see the same load on a shared
// machine; bare_us and sandbox_us are medians (means beside them), after 10 runs of
// each to warm up (the slot's sandbox init starts at its first run). Then each kind runs
// N times back to back (the old form of this benchmark): *_back_to_back_us are those
// means, where a sandboxed run also waits for the cleanup of the one before. Prints one
// JSON object.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "judge_server/sandbox.h"

namespace {
double Micros(auto&& body) {
  auto start = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sandbox_bench BINARY [RUNS]\n");
    return 2;
  }
  const std::string binary = argv[1];
  const int runs = argc > 2 ? atoi(argv[2]) : 500;
  auto bare_run = [&] {
    pid_t pid = fork();
    if (pid == 0) {
      // No input, and its output nowhere (this program prints JSON): as a judged run's.
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      execl(binary.c_str(), binary.c_str(), nullptr);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
  };
  judge::SandboxOptions options;
  options.probe_uid = 399998;
  if (argc > 3) {
    options.mode = std::string(argv[3]) == "restricted" ? judge::SandboxMode::kRestricted
                                                        : judge::SandboxMode::kNamespaces;
  }
  auto sandbox = judge::Sandbox::Create(options);
  if (!sandbox.ok()) {
    fprintf(stderr, "%s\n", std::string(sandbox.status().message()).c_str());
    return 1;
  }
  judge::RunSpec spec;
  spec.argv = {binary};
  spec.env = {"PATH=/usr/bin:/bin"};
  // The binary's own directory, as a judged program's (namespaces mode shows a run only
  // its own directory below /tmp).
  spec.cwd = binary.substr(0, binary.rfind('/'));
  spec.uid = spec.gid = 399999;
  bool failed = false;
  auto boxed_run = [&] {
    auto r = (*sandbox)->Run(spec);
    if (!r.ok() || r->exit_code != 0) failed = true;
  };
  for (int i = 0; i < 10; ++i) {
    bare_run();
    boxed_run();
  }
  std::vector<double> bare, boxed;
  for (int i = 0; i < runs; ++i) {
    bare.push_back(Micros(bare_run));
    boxed.push_back(Micros(boxed_run));
  }
  double bare_b2b = Micros([&] {
                      for (int i = 0; i < runs; ++i) bare_run();
                    }) /
                    runs;
  double boxed_b2b = Micros([&] {
                       for (int i = 0; i < runs; ++i) boxed_run();
                     }) /
                     runs;
  if (failed) {
    fprintf(stderr, "sandboxed run failed\n");
    return 1;
  }
  const double bare_median = Median(bare), boxed_median = Median(boxed);
  printf(
      "{\"runs\": %d, \"mode\": \"%s\", \"bare_us\": %.1f, \"sandbox_us\": %.1f, "
      "\"overhead_us\": %.1f, \"bare_mean_us\": %.1f, \"sandbox_mean_us\": %.1f, "
      "\"bare_back_to_back_us\": %.1f, \"sandbox_back_to_back_us\": %.1f}\n",
      runs, std::string((*sandbox)->mode_name()).c_str(), bare_median, boxed_median,
      boxed_median - bare_median, Mean(bare), Mean(boxed), bare_b2b, boxed_b2b);
  return 0;
}
