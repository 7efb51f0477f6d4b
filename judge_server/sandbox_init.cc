// judge_sandbox_init: the parent of one judged process.
//
// Why a separate, static, tiny program: the kernel reports a process's peak memory
// (ru_maxrss) as the maximum over its whole life, including the moment before execve when
// it was still a forked copy of its parent. Forked from judge_server (tens to hundreds of
// MB), an honest A+B would be charged the server's size. Forked from this init (a few
// hundred KB), the program's peak is its own. Being the parent also lets the init watch
// the program's CPU clock, wall clock and resident set from close by, reap everything the
// run left (it is a child subreaper) and report once all of that is done.
//
// Protocol (judge_server/sandbox_wire.h): fds 0-2 are the program's stdio, the spec
// arrives on fd 3, reports leave on fd 4, fd 5 is the empty network namespace. The init
// runs as root and drops to the slot's uid only in the program's process.
//
// Everything here is plain libc: no exceptions, no iostreams, so that the static binary
// stays small (its size is what a program is charged at most).
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "judge_server/sandbox_wire.h"

namespace {

using namespace judge::wire;

struct Spec {
  SpecHeader h;
  sock_filter* filter;
  const char* exec_path;
  const char* cwd;
  char** argv;
  char** envp;
  const char** cover;
  const char** hide;
};

int64_t NowMillis() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ReadAll(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void WriteAll(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Every exchange is a StartReport and an EndReport; a run that never started has pid -1.
void ReportNotStarted(EndReport* end) {
  StartReport none{-1};
  WriteAll(kReportFd, &none, sizeof(none));
  WriteAll(kReportFd, end, sizeof(*end));
}

[[noreturn]] void FailInit(int err) {
  EndReport end{};
  end.setup_step = kStepInit;
  end.setup_errno = err;
  ReportNotStarted(&end);
  _exit(1);
}

// Splits `count` NUL-terminated strings off `*cursor`; false when they run past `end`.
bool TakeStrings(char** cursor, const char* end, uint32_t count, const char** out) {
  for (uint32_t i = 0; i < count; ++i) {
    const char* nul = static_cast<const char*>(memchr(*cursor, '\0', end - *cursor));
    if (nul == nullptr) return false;
    out[i] = *cursor;
    *cursor = const_cast<char*>(nul) + 1;
  }
  out[count] = nullptr;
  return true;
}

bool ReadSpec(Spec* spec) {
  SpecHeader& h = spec->h;
  if (!ReadAll(kSpecFd, &h, sizeof(h)) || h.magic != kSpecMagic) return false;
  if (h.filter_count > 4096 || h.strings_bytes > (1u << 20) || h.argc == 0 || h.argc > 4096 ||
      h.envc > 4096 || h.coverc > 4096 || h.hidec > 64) {
    return false;
  }
  spec->filter = static_cast<sock_filter*>(calloc(h.filter_count + 1, sizeof(sock_filter)));
  char* strings = static_cast<char*>(malloc(h.strings_bytes + 1));
  spec->argv = static_cast<char**>(calloc(h.argc + 1, sizeof(char*)));
  spec->envp = static_cast<char**>(calloc(h.envc + 1, sizeof(char*)));
  spec->cover = static_cast<const char**>(calloc(h.coverc + 1, sizeof(char*)));
  spec->hide = static_cast<const char**>(calloc(h.hidec + 1, sizeof(char*)));
  if (!spec->filter || !strings || !spec->argv || !spec->envp || !spec->cover || !spec->hide) {
    return false;
  }
  if (!ReadAll(kSpecFd, spec->filter, h.filter_count * sizeof(sock_filter)) ||
      !ReadAll(kSpecFd, strings, h.strings_bytes)) {
    return false;
  }
  char* cursor = strings;
  const char* end = strings + h.strings_bytes;
  const char* head[3];
  return TakeStrings(&cursor, end, 2, head) &&
         TakeStrings(&cursor, end, h.argc, const_cast<const char**>(spec->argv)) &&
         TakeStrings(&cursor, end, h.envc, const_cast<const char**>(spec->envp)) &&
         TakeStrings(&cursor, end, h.coverc, spec->cover) &&
         TakeStrings(&cursor, end, h.hidec, spec->hide) &&
         (spec->exec_path = head[0], spec->cwd = head[1], true);
}

// Only ever lowers (containers run without CAP_SYS_RESOURCE); -1 keeps the current
// limit, and for the stack -1 asks for unlimited where the hard limit allows.
bool SetLimit(int resource, int64_t soft, int64_t hard) {
  rlimit current;
  if (getrlimit(resource, &current) != 0) return false;
  rlim_t want_soft = soft < 0 ? RLIM_INFINITY : static_cast<rlim_t>(soft);
  rlim_t want_hard = hard < 0 ? RLIM_INFINITY : static_cast<rlim_t>(hard);
  rlimit rl;
  rl.rlim_max = want_hard < current.rlim_max ? want_hard : current.rlim_max;
  rl.rlim_cur = want_soft < rl.rlim_max ? want_soft : rl.rlim_max;
  return setrlimit(resource, &rl) == 0;
}

struct ChildError {
  int32_t step;
  int32_t err;
};

[[noreturn]] void ChildFail(int fd, SetupStep step) {
  ChildError e{step, errno};
  WriteAll(fd, &e, sizeof(e));
  _exit(127);
}

// True when `path` is `dir` or below it.
bool IsUnder(const char* path, const char* dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

// mkdir -p, as root, inside the run's own tmpfs: traversable, not listable, like the work root.
bool MakePath(const char* path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof(buf)) return false;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0711) != 0 && errno != EEXIST) return false;
    buf[i] = saved;
  }
  return true;
}

// A private tmpfs over every world-writable directory (one filesystem, bound to each, so
// that the run's files are capped together and vanish with the namespace), and an empty
// read-only tmpfs over every hidden path. The run's own directory may lie below a covered
// one (the work root defaults to /tmp/judge_server): it is bound back at the same path,
// so that ".." from it leads into the private tmpfs, never to the shared directory below.
bool MountPrivateDirs(const Spec& spec) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  int cwd_fd = open(spec.cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd_fd < 0) return false;
  bool cwd_covered = false;
  char options[64];
  const char* first = nullptr;
  for (int i = 0; spec.cover[i] != nullptr; ++i) {
    struct stat st;
    if (lstat(spec.cover[i], &st) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      // A world-writable file: the run sees /dev/null in its place.
      if (mount("/dev/null", spec.cover[i], nullptr, MS_BIND, nullptr) != 0) return false;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue;
    if (IsUnder(spec.cwd, spec.cover[i])) cwd_covered = true;
    if (first == nullptr) {
      long long kb = spec.h.tmpfs_bytes / 1024 > 0 ? spec.h.tmpfs_bytes / 1024 : 1;
      strcpy(options, "mode=1777,size=");
      char digits[24];
      int n = 0;
      do {
        digits[n++] = static_cast<char>('0' + kb % 10);
        kb /= 10;
      } while (kb > 0);
      size_t len = strlen(options);
      while (n > 0) options[len++] = digits[--n];
      strcpy(options + len, "k");
      if (mount("judge-run", spec.cover[i], "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) {
        return false;
      }
      first = spec.cover[i];
    } else if (mount(first, spec.cover[i], nullptr, MS_BIND, nullptr) != 0) {
      return false;
    }
  }
  if (cwd_covered) {
    char self[64] = "/proc/self/fd/";
    char digits[16];
    int n = 0;
    for (int fd = cwd_fd; fd > 0 || n == 0; fd /= 10)
      digits[n++] = static_cast<char>('0' + fd % 10);
    size_t len = strlen(self);
    while (n > 0) self[len++] = digits[--n];
    self[len] = '\0';
    if (!MakePath(spec.cwd) || mount(self, spec.cwd, nullptr, MS_BIND, nullptr) != 0) {
      return false;
    }
  }
  close(cwd_fd);
  for (int i = 0; spec.hide[i] != nullptr; ++i) {
    struct stat st;
    if (stat(spec.hide[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;  // covered already
    if (mount("judge-hidden", spec.hide[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,mode=0755") != 0) {
      return false;
    }
  }
  return true;
}

// Everything between fork and execve. The init is single-threaded, so allocation would
// be safe here, but nothing needs it.
[[noreturn]] void SetUpAndExec(const Spec& spec, int error_fd) {
  const SpecHeader& h = spec.h;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  if (setpgid(0, 0) != 0) ChildFail(error_fd, kStepProcessGroup);
  if (h.flags & kNamespaces) {
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0) ChildFail(error_fd, kStepNamespaces);
    if (!MountPrivateDirs(spec)) ChildFail(error_fd, kStepMounts);
    if (setns(kNetnsFd, CLONE_NEWNET) != 0) ChildFail(error_fd, kStepNetwork);
  }
  if ((h.flags & kMergeStderr) && dup2(1, 2) < 0) ChildFail(error_fd, kStepStdio);
  // Nothing of the init's survives execve but stdio (the error pipe closes on success).
  syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  if (chdir(spec.cwd) != 0) ChildFail(error_fd, kStepChdir);
  const int64_t cpu_s = (h.cpu_time_ms + 999) / 1000 + 1;  // the init's watchdog is finer
  const int64_t as = (h.flags & kMemoryCheckOnly) ? -2 : h.address_space_bytes;
  if (!SetLimit(RLIMIT_CPU, cpu_s, cpu_s + 1) || (as >= 0 && !SetLimit(RLIMIT_AS, as, as)) ||
      !SetLimit(RLIMIT_STACK, h.stack_bytes, h.stack_bytes) ||
      !SetLimit(RLIMIT_FSIZE, h.file_size_bytes, h.file_size_bytes) ||
      !SetLimit(RLIMIT_NPROC, h.processes, h.processes) || !SetLimit(RLIMIT_CORE, 0, 0) ||
      !SetLimit(RLIMIT_MEMLOCK, 0, 0) || !SetLimit(RLIMIT_MSGQUEUE, 0, 0)) {
    ChildFail(error_fd, kStepLimits);
  }
  if (h.flags & kDropPrivileges) {
    if (setgroups(0, nullptr) != 0 || setresgid(h.gid, h.gid, h.gid) != 0 ||
        setresuid(h.uid, h.uid, h.uid) != 0) {
      ChildFail(error_fd, kStepCredentials);
    }
  }
  // After the credentials change, which clears it: die with the init.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(127);
  if (h.flags & kRunProfile) {
    // The program starts through execveat on a descriptor numbered at or above its open
    // file limit: the filter allows exactly that call, and once the program runs it can
    // never hold such a descriptor again, so it can never execute anything.
    int fd = open(spec.exec_path, O_PATH | O_CLOEXEC);
    if (fd < 0 || dup3(fd, h.exec_fd, O_CLOEXEC) < 0) ChildFail(error_fd, kStepOpenExecutable);
    close(fd);
    if (h.open_files > h.exec_fd) {
      errno = EINVAL;
      ChildFail(error_fd, kStepLimits);
    }
  }
  if (!SetLimit(RLIMIT_NOFILE, h.open_files, h.open_files)) ChildFail(error_fd, kStepLimits);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(error_fd, kStepNoNewPrivs);
  if (h.filter_count > 0) {
    sock_fprog prog{static_cast<unsigned short>(h.filter_count), spec.filter};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
      ChildFail(error_fd, kStepSeccomp);
    }
  }
  if (h.flags & kRunProfile) {
    syscall(SYS_execveat, h.exec_fd, "", spec.argv, spec.envp, AT_EMPTY_PATH);
  } else {
    execve(spec.exec_path, spec.argv, spec.envp);
  }
  ChildFail(error_fd, kStepExec);
}

int64_t CpuMillis(pid_t pid) {
  clockid_t cid;
  timespec ts;
  if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ResidentBytes(pid_t pid) {
  char path[64] = "/proc/";
  char digits[16];
  int n = 0;
  for (pid_t p = pid; p > 0; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
  size_t len = strlen(path);
  while (n > 0) path[len++] = digits[--n];
  strcpy(path + len, "/statm");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t r = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (r <= 0) return 0;
  buf[r] = '\0';
  char* p = strchr(buf, ' ');
  if (p == nullptr) return 0;
  return strtoll(p + 1, nullptr, 10) * sysconf(_SC_PAGESIZE);
}

// Kills whatever the run left and reaps it all. False if something survived.
//
// Why "no children left" means "nothing left": the init is a child subreaper and the
// filter denies setsid/setpgid, so every descendant of the run is in its process group
// and, once its own parent is gone, a child of the init. When waitpid reports no
// children, no descendant exists. (kill's return value cannot tell: kill(-1) succeeds
// as soon as any process exists, permitted or not.)
bool KillLeftovers(pid_t pgid, const SpecHeader& h) {
  const bool by_uid = (h.flags & kDropPrivileges) && h.uid != 0;
  for (int attempt = 0; attempt < 5000; ++attempt) {
    kill(-pgid, SIGKILL);
    if (by_uid && syscall(SYS_setresuid, h.uid, h.uid, 0) == 0) {
      // Belt and braces: as the slot's uid, kill(-1) reaches every process of the slot
      // wherever it is. The saved uid 0 lets the init change back.
      kill(-1, SIGKILL);
      if (syscall(SYS_setresuid, 0, 0, 0) != 0) _exit(2);
    }
    while (true) {
      pid_t r = waitpid(-1, nullptr, WNOHANG);
      if (r > 0) continue;
      if (r < 0 && errno == ECHILD) return true;
      break;
    }
    usleep(100);
  }
  return false;
}

}  // namespace

int main() {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  Spec spec{};
  if (!ReadSpec(&spec)) FailInit(EINVAL);
  close(kSpecFd);
  const SpecHeader& h = spec.h;

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) FailInit(errno);
  const int64_t start = NowMillis();
  pid_t pid = fork();
  if (pid < 0) FailInit(errno);
  if (pid == 0) {
    close(error_pipe[0]);
    SetUpAndExec(spec, error_pipe[1]);
  }
  close(error_pipe[1]);
  // The program holds the only write ends of its output pipes from now on: the server
  // sees end of file exactly when the program (and anything it left) is gone.
  close(0);
  close(1);
  close(2);
  close(kNetnsFd);

  EndReport end{};
  ChildError child_error{};
  ssize_t n;
  while ((n = read(error_pipe[0], &child_error, sizeof(child_error))) < 0 && errno == EINTR) {
  }
  close(error_pipe[0]);
  if (n == sizeof(child_error)) {
    waitpid(pid, nullptr, 0);
    end.setup_step = child_error.step;
    end.setup_errno = child_error.err;
    ReportNotStarted(&end);
    return 0;
  }
  StartReport started{pid};
  WriteAll(kReportFd, &started, sizeof(started));

  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  int64_t peak_resident = 0;
  while (true) {
    const int64_t elapsed = NowMillis() - start;
    const int64_t remaining = h.real_time_ms - elapsed;
    // Every 10 ms: RLIMIT_CPU has a granularity of one second.
    int timeout = static_cast<int>(remaining < 0 ? 0 : remaining > 10 ? 10 : remaining);
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      if (poll(&p, 1, timeout) > 0) break;
    } else {
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
      usleep(1000);
    }
    if (CpuMillis(pid) > h.cpu_time_ms) {
      end.flags |= kCpuExceeded;
      break;
    }
    if (NowMillis() - start > h.real_time_ms) {
      end.flags |= kRealExceeded;
      break;
    }
    if (h.flags & kMemoryCheckOnly) {
      int64_t resident = ResidentBytes(pid);
      if (resident > peak_resident) peak_resident = resident;
      if (resident > h.memory_bytes) {
        end.flags |= kMemoryExceeded;
        break;
      }
    }
  }
  kill(pid, SIGKILL);  // no-op when it already exited; ends it when a limit did
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  end.real_time_ms = NowMillis() - start;
  if (!KillLeftovers(pid, h)) end.flags |= kLeftoversSurvived;
  end.cpu_time_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
                    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
  end.memory_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  if (peak_resident > end.memory_bytes) end.memory_bytes = peak_resident;
  if (WIFEXITED(status)) end.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) end.signal = WTERMSIG(status);
  if (end.signal == SIGXCPU || end.cpu_time_ms > h.cpu_time_ms) end.flags |= kCpuExceeded;
  if (end.real_time_ms > h.real_time_ms) end.flags |= kRealExceeded;
  if ((h.flags & kMemoryCheckOnly) && end.memory_bytes > h.memory_bytes) {
    end.flags |= kMemoryExceeded;
  }
  WriteAll(kReportFd, &end, sizeof(end));
  return 0;
}
