#include "judge_server/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace judge {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// What the child reports through the error pipe when it cannot reach execve.
struct ChildError {
  int step;
  int err;
};
constexpr const char* kSteps[] = {"setpgid", "setns",  "dup2",       "chdir",   "setrlimit",
                                  "setgid",  "setuid", "nonewprivs", "seccomp", "execve"};

[[noreturn]] void ChildFail(int fd, int step) {
  ChildError e{step, errno};
  (void)!write(fd, &e, sizeof(e));
  _exit(127);
}

// Only ever lowers: containers run without CAP_SYS_RESOURCE. A value of -1 keeps
// the current limit.
bool SetLimit(int resource, int64_t soft, int64_t hard) {
  if (soft < 0) return true;
  rlimit current;
  if (getrlimit(resource, &current) != 0) return false;
  rlimit rl;
  rl.rlim_max = std::min<rlim_t>(current.rlim_max, static_cast<rlim_t>(hard));
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(soft));
  return setrlimit(resource, &rl) == 0;
}

// Everything between fork and execve: only async-signal-safe calls, no allocation.
[[noreturn]] void RunChild(const RunSpec& spec, char* const* argv, char* const* envp,
                           const char* exec_path, const SeccompProgram& filter, int netns_fd,
                           bool drop_privileges, int in_fd, int out_fd, int err_fd, int report_fd) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // SIGPIPE was ignored
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (setpgid(0, 0) != 0) ChildFail(report_fd, 0);
  if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) ChildFail(report_fd, 1);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
      dup2(spec.merge_stderr ? out_fd : err_fd, 2) < 0) {
    ChildFail(report_fd, 2);
  }
  // Nothing of the server's survives execve (the report pipe closes on success).
  syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  if (chdir(spec.cwd.c_str()) != 0) ChildFail(report_fd, 3);
  const RunLimits& l = spec.limits;
  int64_t cpu_s = (l.cpu_time_ms + 999) / 1000 + 1;  // the parent's watchdog is finer
  if (!SetLimit(RLIMIT_CPU, cpu_s, cpu_s + 1) ||
      !SetLimit(RLIMIT_AS, l.address_space_bytes, l.address_space_bytes) ||
      !SetLimit(RLIMIT_STACK, l.stack_bytes, l.stack_bytes) ||
      !SetLimit(RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes) ||
      !SetLimit(RLIMIT_NOFILE, l.open_files, l.open_files) ||
      !SetLimit(RLIMIT_NPROC, l.processes, l.processes) || !SetLimit(RLIMIT_CORE, 0, 0) ||
      !SetLimit(RLIMIT_MEMLOCK, 0, 0) || !SetLimit(RLIMIT_MSGQUEUE, 0, 0)) {
    ChildFail(report_fd, 4);
  }
  if (drop_privileges) {
    if (setgroups(0, nullptr) != 0 || setresgid(spec.gid, spec.gid, spec.gid) != 0) {
      ChildFail(report_fd, 5);
    }
    if (setresuid(spec.uid, spec.uid, spec.uid) != 0) ChildFail(report_fd, 6);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(report_fd, 7);
  if (filter.Install() != 0) ChildFail(report_fd, 8);
  execve(exec_path, argv, envp);
  ChildFail(report_fd, 9);
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Reads what is available without blocking. Returns false at end of file.
bool Drain(int fd, std::string& sink, int64_t cap, bool* over_cap) {
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      int64_t room = cap - static_cast<int64_t>(sink.size());
      if (n > room) {
        if (room > 0) sink.append(buf, room);
        if (over_cap != nullptr) *over_cap = true;
      } else {
        sink.append(buf, n);
      }
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN;  // other errors end the stream like EOF
  }
}

int64_t ProcessCpuMillis(pid_t pid) {
  clockid_t cid;
  timespec ts;
  if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create() {
  // Orphans of a run (double forks) become the server's children instead of init's,
  // so that the server can reap them: an init that does not reap would otherwise
  // collect zombies that count against the slot's process limit.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // One empty network namespace for all runs: joining it (setns) costs half of making
  // a new one per run. Made from a short-lived thread so the server keeps its network.
  int netns_fd = -1;
  std::thread([&netns_fd] {
    if (unshare(CLONE_NEWNET) == 0)
      netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  }).join();
  return std::unique_ptr<Sandbox>(new Sandbox(netns_fd, geteuid() == 0));
}

Sandbox::~Sandbox() {
  if (netns_fd_ >= 0) close(netns_fd_);
}

void Sandbox::RemoveFilesOf(uid_t uid) const {
  if (!is_root_ || uid == 0) return;
  // The world-writable places a run can write to: what it left there could carry data to
  // its next run (or fill the disk). Top-level entries it owns go; links are not followed.
  for (const char* dir : {"/tmp", "/var/tmp", "/dev/shm"}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      struct stat st;
      if (lstat(it->path().c_str(), &st) == 0 && st.st_uid == uid) {
        std::error_code ignored;
        std::filesystem::remove_all(it->path(), ignored);
      }
    }
  }
}

void Sandbox::KillLeftovers(pid_t pgid, uid_t uid) const {
  // The filter denies setsid and setpgid, so every descendant stays in the run's
  // process group, double-forked orphans included.
  kill(-pgid, SIGKILL);
  if (is_root_ && uid != 0 && syscall(SYS_setresuid, uid, uid, 0) == 0) {
    // Belt and braces: kill(-1) as the slot's uid reaches every process of the slot,
    // whatever group it is in. The raw syscall changes only this thread's credentials;
    // the saved uid 0 lets it change back.
    kill(-1, SIGKILL);
    if (syscall(SYS_setresuid, 0, 0, 0) != 0) abort();  // never judge on with wrong creds
  }
  // The server is a child subreaper, so the run's orphans are its children now: reap
  // exactly this group (other slots' groups are left alone) until it is gone. Bounded,
  // in case something forked between kill and wait.
  for (int attempt = 0; attempt < 2000; ++attempt) {
    while (waitpid(-pgid, nullptr, WNOHANG) > 0) {
    }
    if (kill(-pgid, SIGKILL) != 0 && errno == ESRCH) return;
    usleep(100);
  }
}

absl::StatusOr<RunResult> Sandbox::Run(const RunSpec& spec) const {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return absl::InvalidArgumentError("sandbox: argv[0] must be an absolute path");
  }
  if (is_root_ && spec.uid == 0) {
    return absl::FailedPreconditionError("sandbox: refusing to run a submission as root");
  }
  const char* exec_path = spec.argv[0].c_str();
  auto filter = SeccompProgram::Build(spec.profile, exec_path);
  if (!filter.ok()) return filter.status();
  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  absl::Cleanup close_all = [&] {
    for (int* p : {in, out, err, report}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
      pipe2(report, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("sandbox: pipe: ", strerror(errno)));
  }

  const Clock::time_point start = Clock::now();
  pid_t pid = fork();
  if (pid < 0)
    return absl::ResourceExhaustedError(absl::StrCat("sandbox: fork: ", strerror(errno)));
  if (pid == 0) {
    RunChild(spec, argv.data(), envp.data(), exec_path, *filter, netns_fd_, is_root_, in[0], out[1],
             err[1], report[1]);
  }
  CloseFd(in[0]);
  CloseFd(out[1]);
  CloseFd(err[1]);
  CloseFd(report[1]);

  auto reap = [&](RunResult* result) {
    int status = 0;
    rusage ru{};
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    const int64_t real_time_ms = MillisSince(start);
    KillLeftovers(pid, spec.uid);
    RemoveFilesOf(spec.uid);  // after the reap: no writer of the run is left
    if (result == nullptr) return;
    result->real_time_ms = real_time_ms;
    result->cpu_time_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
                          (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    result->memory_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
    if (WIFEXITED(status)) result->exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result->signal = WTERMSIG(status);
  };

  ChildError child_error{};
  ssize_t n;
  while ((n = read(report[0], &child_error, sizeof(child_error))) < 0 && errno == EINTR) {
  }
  if (n == sizeof(child_error)) {
    reap(nullptr);
    return absl::InternalError(absl::StrCat("sandbox: ", kSteps[child_error.step],
                                            " failed: ", strerror(child_error.err)));
  }

  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  absl::Cleanup close_pidfd = [&] { CloseFd(pidfd); };
  for (int fd : {in[1], out[0], err[0]}) fcntl(fd, F_SETFL, O_NONBLOCK);

  RunResult result;
  size_t written = 0;
  if (spec.stdin_data.empty()) CloseFd(in[1]);
  bool out_open = true, err_open = true, exited = false;
  const RunLimits& l = spec.limits;
  while (!exited) {
    pollfd fds[4];
    int nfds = 0;
    fds[nfds++] = {pidfd, POLLIN, 0};
    if (out_open) fds[nfds++] = {out[0], POLLIN, 0};
    if (err_open) fds[nfds++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[nfds++] = {in[1], POLLOUT, 0};
    int64_t remaining = l.real_time_ms - MillisSince(start);
    // Wake at least every 20 ms to check the CPU clock (RLIMIT_CPU has 1 s granularity).
    int timeout = static_cast<int>(std::clamp<int64_t>(remaining, 0, 20));
    if (pidfd < 0) timeout = std::min(timeout, 1);  // no pidfd: poll for exit instead
    int ready = poll(fds, nfds, timeout);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < nfds && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == pidfd) {
        exited = true;
      } else if (fds[i].fd == out[0]) {
        out_open = Drain(out[0], result.stdout_data, l.stdout_bytes, &result.output_exceeded);
      } else if (fds[i].fd == err[0]) {
        err_open = Drain(err[0], result.stderr_data, l.stderr_bytes, nullptr);
      } else if (fds[i].fd == in[1]) {
        ssize_t w = write(in[1], spec.stdin_data.data() + written,
                          std::min<size_t>(spec.stdin_data.size() - written, 65536));
        if (w > 0) written += w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == spec.stdin_data.size()) {
          CloseFd(in[1]);  // done, or the program closed its end (EPIPE)
        }
      }
    }
    if (pidfd < 0) {
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
        exited = true;
      }
    }
    if (exited) break;
    if (result.output_exceeded) break;
    if (ProcessCpuMillis(pid) > l.cpu_time_ms) {
      result.cpu_time_exceeded = true;
      break;
    }
    if (MillisSince(start) > l.real_time_ms) {
      result.real_time_exceeded = true;
      break;
    }
  }
  if (!exited) kill(-pid, SIGKILL);
  reap(&result);
  // Every writer is dead now: take what is left in the pipes.
  if (out_open) Drain(out[0], result.stdout_data, l.stdout_bytes, &result.output_exceeded);
  if (err_open) Drain(err[0], result.stderr_data, l.stderr_bytes, nullptr);
  if (result.signal == SIGXCPU || result.cpu_time_ms > l.cpu_time_ms) {
    result.cpu_time_exceeded = true;
  }
  if (result.real_time_ms > l.real_time_ms) result.real_time_exceeded = true;
  return result;
}

}  // namespace judge
