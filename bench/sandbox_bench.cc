// Sandbox overhead: the same static binary run N times with a bare fork/exec/wait4 and
// with judge::Sandbox::Run (rlimits, uid drop, NO_NEW_PRIVS, seccomp, pipes, watchdog,
// uid sweep). Prints one JSON object.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "judge_server/sandbox.h"

namespace {
double MicrosPerRun(int n, auto&& body) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) body();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
             .count() /
         n;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sandbox_bench STATIC_BINARY [RUNS]\n");
    return 2;
  }
  const std::string binary = argv[1];
  const int runs = argc > 2 ? atoi(argv[2]) : 500;
  double bare = MicrosPerRun(runs, [&] {
    pid_t pid = fork();
    if (pid == 0) {
      execl(binary.c_str(), binary.c_str(), nullptr);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
  });
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
  double boxed = MicrosPerRun(runs, [&] {
    auto r = (*sandbox)->Run(spec);
    if (!r.ok() || r->exit_code != 0) failed = true;
  });
  if (failed) {
    fprintf(stderr, "sandboxed run failed\n");
    return 1;
  }
  printf(
      "{\"runs\": %d, \"mode\": \"%s\", \"bare_us\": %.1f, \"sandbox_us\": %.1f, "
      "\"overhead_us\": %.1f}\n",
      runs, std::string((*sandbox)->mode_name()).c_str(), bare, boxed, boxed - bare);
  return 0;
}
