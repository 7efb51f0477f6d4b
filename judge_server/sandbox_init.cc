// judge_sandbox_init: the parent of every judged process of one judge slot.
//
// Why a separate, static, tiny program: the kernel reports a process's peak memory
// (ru_maxrss) as the maximum over its whole life, including the moment before execve when
// it was still a forked copy of its parent. Forked from judge_server (tens to hundreds of
// MB), an honest A+B would be charged the server's size. Forked from this init (a few
// hundred KB, the same after any number of runs: everything per run is in static
// storage), the program's peak is its own. Being the parent also lets the init watch the
// program's CPU clock, wall clock and resident set from close by, reap everything the run
// left (it is a child subreaper) and report once all of that is done.
//
// Why one init per slot for many runs (a zygote) instead of one per run: starting a
// process costs an exec, and a mount namespace copied from the host costs a copy of all
// its mounts (about 60 here). The init makes its own mount namespace once, and each run
// costs one tmpfs mount and one unmount in it.
//
// Protocol (judge_server/sandbox_wire.h): the socket to the server is fd 3, fd 5 the empty
// network namespace. The init runs as root and drops to the slot's uid only in the
// program's process.
//
// Isolation in namespaces mode, and why it is as strong as a namespace per run:
// - Mounts: at start the init unshares its mount namespace (made private, so nothing
//   propagates to or from the host), covers the hidden paths with an empty read-only
//   tmpfs and world-writable files with /dev/null, and puts one empty read-only "base"
//   tmpfs over every world-writable directory, as one peer group (the first mounted and
//   made shared, the others bind mounts of it). Per run, a fresh size-capped tmpfs is
//   mounted on the first; mount propagation puts it over every other one, so that the
//   run sees one private filesystem wherever it could write. Once the run and everything
//   it left are gone, that tmpfs is unmounted (propagation removes it everywhere), and
//   the init checks that every covered directory shows the empty base again before it
//   takes another run; if not, it exits (the server starts a fresh init). Runs cannot
//   change mounts themselves (no CAP_SYS_ADMIN, and the filter denies mount calls), so
//   between runs the namespace is exactly as the init made it.
// - IPC: a new IPC namespace before each run, never used by anything before; the old one
//   disappears with the run's last process.
// - Network: the init joins the empty network namespace once; runs inherit it.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "judge_server/sandbox_wire.h"

namespace {

using namespace judge::wire;

constexpr int kMaxStrings = 4096;
constexpr int kMaxCovers = 2048;
constexpr int kMaxHidden = 64;

struct Spec {
  SpecHeader h;
  const sock_filter* filter;
  const char* exec_path;
  const char* cwd;
  char** argv;
  char** envp;
};

// What the init was configured with at start, and what it made of it.
struct Zygote {
  bool namespaces = false;
  const char* cover[kMaxCovers + 1];
  const char* hide[kMaxHidden + 1];
  int coverc = 0;
  int hidec = 0;
  // Per cover: a directory (covered by the base peer group) or not (a file, or missing).
  bool cover_is_dir[kMaxCovers];
  // Per covered directory: the directory as the host has it (O_PATH), opened before it was
  // covered, so that a run's own directory below it can be bound back.
  int host_fd[kMaxCovers];
  const char* first = nullptr;   // the first covered directory: where runs mount their tmpfs
  dev_t base_dev = 0;            // the empty base tmpfs every covered directory shows between runs
  dev_t hidden_dev[kMaxHidden];  // per hidden path: the tmpfs covering it, 0 if none
  pid_t self = 0;
};

// Per-run storage is static: the init's resident set, which a forked program starts
// with, stays what it was however many runs the init serves.
alignas(8) char g_config[kMaxConfigBytes];
alignas(8) char g_message[kMaxMessageBytes];
sock_filter g_filter[kMaxMessageBytes / sizeof(sock_filter) + 1];
char* g_argv[kMaxStrings + 1];
char* g_envp[kMaxStrings + 1];
Zygote g_zygote;

int64_t NowMillis() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// One whole message to the server. A lost server ends the init (nothing to report to).
void Send(const void* buf, size_t n) {
  while (true) {
    ssize_t w = send(kControlFd, buf, n, MSG_NOSIGNAL);
    if (w == static_cast<ssize_t>(n)) return;
    if (w < 0 && errno == EINTR) continue;
    _exit(3);
  }
}

void SendEnd(EndReport* end) {
  end->type = kEnded;
  Send(end, sizeof(*end));
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

bool ReadConfig(Zygote* z) {
  ssize_t n;
  while ((n = recv(kControlFd, g_config, sizeof(g_config), MSG_TRUNC)) < 0 && errno == EINTR) {
  }
  ZygoteConfig c;
  if (n < static_cast<ssize_t>(sizeof(c)) || n > static_cast<ssize_t>(sizeof(g_config))) {
    return false;
  }
  memcpy(&c, g_config, sizeof(c));
  if (c.magic != kConfigMagic || c.coverc > kMaxCovers || c.hidec > kMaxHidden ||
      c.strings_bytes != n - sizeof(c)) {
    return false;
  }
  z->namespaces = (c.flags & kZygoteNamespaces) != 0;
  z->coverc = static_cast<int>(c.coverc);
  z->hidec = static_cast<int>(c.hidec);
  char* cursor = g_config + sizeof(c);
  const char* end = g_config + n;
  return TakeStrings(&cursor, end, c.coverc, z->cover) &&
         TakeStrings(&cursor, end, c.hidec, z->hide);
}

// Receives the next run's spec and its stdin, stdout and stderr. 0: the server closed
// the socket; -1: a malformed message; 1: a run to serve.
int ReceiveSpec(Spec* spec, int stdio[3]) {
  iovec iov{g_message, sizeof(g_message)};
  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  while ((n = recvmsg(kControlFd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n == 0) return 0;
  if (n < 0) return -1;
  int received = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (received < 3) {
        stdio[received++] = fd;
      } else {
        close(fd);
      }
    }
  }
  SpecHeader& h = spec->h;
  bool ok = received == 3 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
            n >= static_cast<ssize_t>(sizeof(h));
  if (ok) {
    memcpy(&h, g_message, sizeof(h));
    ok = h.magic == kSpecMagic && h.argc > 0 && h.argc <= kMaxStrings && h.envc <= kMaxStrings &&
         sizeof(h) + static_cast<size_t>(h.filter_count) * sizeof(sock_filter) + h.strings_bytes ==
             static_cast<size_t>(n);
  }
  if (ok) {
    memcpy(g_filter, g_message + sizeof(h), h.filter_count * sizeof(sock_filter));
    spec->filter = g_filter;
    char* cursor = g_message + sizeof(h) + h.filter_count * sizeof(sock_filter);
    const char* end = g_message + n;
    const char* head[3];
    spec->argv = g_argv;
    spec->envp = g_envp;
    ok = TakeStrings(&cursor, end, 2, head) &&
         TakeStrings(&cursor, end, h.argc, const_cast<const char**>(g_argv)) &&
         TakeStrings(&cursor, end, h.envc, const_cast<const char**>(g_envp));
    spec->exec_path = head[0];
    spec->cwd = head[1];
  }
  if (!ok) {
    for (int i = 0; i < received; ++i) close(stdio[i]);
    return -1;
  }
  return 1;
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
  ssize_t ignored = write(fd, &e, sizeof(e));
  (void)ignored;
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

// Appends the decimal digits of `v` to `out`.
void AppendNumber(char* out, long long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  size_t len = strlen(out);
  while (n > 0) out[len++] = digits[--n];
  out[len] = '\0';
}

dev_t DevOf(const char* path) {
  struct stat st;
  return lstat(path, &st) == 0 ? st.st_dev : 0;
}

// An empty read-only tmpfs over a hidden directory that is not covered (yet). A hidden
// path below a covered directory is not there for runs at all.
bool HideHiddenPaths(Zygote* z) {
  for (int i = 0; i < z->hidec; ++i) {
    struct stat st;
    if (stat(z->hide[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (z->hidden_dev[i] != 0 && st.st_dev == z->hidden_dev[i]) continue;
    // Not ours: the first time, or the directory was replaced since.
    if (mount("judge-hidden", z->hide[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,mode=0755") != 0) {
      return false;
    }
    z->hidden_dev[i] = DevOf(z->hide[i]);
  }
  return true;
}

// The init's own namespaces, once (see the top of this file). Returns the failed step.
SetupStep SetUpZygote(Zygote* z) {
  if (!z->namespaces) return kStepNone;
  if (unshare(CLONE_NEWNS) != 0) return kStepNamespaces;
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kStepMounts;
  if (setns(kNetnsFd, CLONE_NEWNET) != 0) return kStepNetwork;
  close(kNetnsFd);
  for (int i = 0; i < z->coverc; ++i) {
    struct stat st;
    z->host_fd[i] = -1;
    z->cover_is_dir[i] = lstat(z->cover[i], &st) == 0 && S_ISDIR(st.st_mode);
    if (z->cover_is_dir[i]) {
      z->host_fd[i] = open(z->cover[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (z->host_fd[i] < 0) return kStepMounts;
    } else if (S_ISREG(st.st_mode) &&
               mount("/dev/null", z->cover[i], nullptr, MS_BIND, nullptr) != 0) {
      // A world-writable file: runs see /dev/null in its place.
      return kStepMounts;
    }
  }
  for (int i = 0; i < z->coverc; ++i) {
    if (!z->cover_is_dir[i]) continue;
    if (z->first == nullptr) {
      z->first = z->cover[i];
      if (mount("judge-base", z->first, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=4k,mode=0755") != 0 ||
          mount(nullptr, z->first, nullptr, MS_SHARED, nullptr) != 0) {
        return kStepMounts;
      }
    } else if (mount(z->first, z->cover[i], nullptr, MS_BIND, nullptr) != 0) {
      return kStepMounts;
    }
  }
  if (z->first != nullptr) {
    z->base_dev = DevOf(z->first);
    for (int i = 0; i < z->coverc; ++i) {
      if (z->cover_is_dir[i] && DevOf(z->cover[i]) != z->base_dev) {
        errno = EXDEV;
        return kStepMounts;
      }
    }
  }
  if (!HideHiddenPaths(z)) return kStepMounts;
  return kStepNone;
}

// The run's private tmpfs over every covered directory, its own directory bound back at
// the same path when it lies below one (so that ".." from it leads into the private
// tmpfs, never to the shared directory below), and the hidden paths checked. Sets
// *mounted once there is something for CleanUpRun to remove.
bool MountRunDirs(Zygote* z, const Spec& spec, bool* mounted) {
  if (z->first == nullptr) return HideHiddenPaths(z);
  int cwd_fd = -1;
  for (int i = 0; i < z->coverc && cwd_fd < 0; ++i) {
    if (!z->cover_is_dir[i] || !IsUnder(spec.cwd, z->cover[i])) continue;
    const char* rel = spec.cwd + strlen(z->cover[i]);
    while (*rel == '/') ++rel;
    cwd_fd = openat(z->host_fd[i], *rel ? rel : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd_fd < 0) return false;
  }
  char options[64] = "mode=1777,size=";
  AppendNumber(options, spec.h.tmpfs_bytes / 1024 > 0 ? spec.h.tmpfs_bytes / 1024 : 1);
  strcat(options, "k");
  bool ok = mount("judge-run", z->first, "tmpfs", MS_NOSUID | MS_NODEV, options) == 0;
  *mounted = ok;
  if (ok) {
    // Propagation put the tmpfs over every covered directory. Each copy is made private,
    // so that the bind below stays where it is made instead of propagating to the others
    // (the unmount still propagates: that goes by the base's peer group).
    const dev_t run_dev = DevOf(z->first);
    for (int i = 0; i < z->coverc && ok; ++i) {
      if (!z->cover_is_dir[i]) continue;
      if (DevOf(z->cover[i]) != run_dev) {
        errno = EXDEV;
        ok = false;
      } else {
        ok = mount(nullptr, z->cover[i], nullptr, MS_PRIVATE, nullptr) == 0;
      }
    }
  }
  if (ok && cwd_fd >= 0) {
    char self[64] = "/proc/self/fd/";
    AppendNumber(self, cwd_fd);
    ok = MakePath(spec.cwd) && mount(self, spec.cwd, nullptr, MS_BIND, nullptr) == 0;
  }
  if (cwd_fd >= 0) close(cwd_fd);
  return ok && HideHiddenPaths(z);
}

// Removes the run's tmpfs (and with it the bind of its directory) from every covered
// directory. False unless every one shows the empty base again.
bool CleanUpRun(Zygote* z) {
  if (umount2(z->first, MNT_DETACH) != 0) return false;
  for (int i = 0; i < z->coverc; ++i) {
    if (z->cover_is_dir[i] && DevOf(z->cover[i]) != z->base_dev) return false;
  }
  return true;
}

// Everything between fork and execve. The init is single-threaded, so allocation would
// be safe here, but nothing needs it.
[[noreturn]] void SetUpAndExec(const Spec& spec, const int stdio[3], pid_t init, int error_fd) {
  const SpecHeader& h = spec.h;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  if (setpgid(0, 0) != 0) ChildFail(error_fd, kStepProcessGroup);
  if (dup2(stdio[0], 0) < 0 || dup2(stdio[1], 1) < 0 || dup2(stdio[2], 2) < 0 ||
      ((h.flags & kMergeStderr) && dup2(1, 2) < 0)) {
    ChildFail(error_fd, kStepStdio);
  }
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
  if (getppid() != init) _exit(127);
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
    sock_fprog prog{static_cast<unsigned short>(h.filter_count),
                    const_cast<sock_filter*>(spec.filter)};
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
  AppendNumber(path, pid);
  strcat(path, "/statm");
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
// Why "no children left" means "nothing left": the init is a child subreaper, has no
// children but the run's, and the filter denies setsid/setpgid, so every descendant of
// the run is in its process group and, once its own parent is gone, a child of the init.
// When waitpid reports no children, no descendant exists. (kill's return value cannot
// tell: kill(-1) succeeds as soon as any process exists, permitted or not.)
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

// True when the server has closed its end (or sent something out of turn): the run is
// to be ended and the init to exit.
bool ServerGone(short revents) { return (revents & (POLLIN | POLLHUP | POLLERR)) != 0; }

// One run: fork the program, watch it, reap everything, report. Returns false when the
// server went away meanwhile (the run is over and reaped either way).
bool ServeRun(const Zygote& z, const Spec& spec, int stdio[3]) {
  const SpecHeader& h = spec.h;
  EndReport end{};
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    for (int i = 0; i < 3; ++i) close(stdio[i]);
    end.setup_step = kStepInit;
    end.setup_errno = errno;
    SendEnd(&end);
    return true;
  }
  const int64_t start = NowMillis();
  pid_t pid = fork();
  if (pid == 0) {
    close(error_pipe[0]);
    SetUpAndExec(spec, stdio, z.self, error_pipe[1]);
  }
  const int fork_errno = errno;
  // The program holds the only write ends of its output pipes from now on: the server
  // sees end of file exactly when the program (and anything it left) is gone.
  for (int i = 0; i < 3; ++i) close(stdio[i]);
  close(error_pipe[1]);
  if (pid < 0) {
    close(error_pipe[0]);
    end.setup_step = kStepInit;
    end.setup_errno = fork_errno;
    SendEnd(&end);
    return true;
  }

  ChildError child_error{};
  ssize_t n;
  while ((n = read(error_pipe[0], &child_error, sizeof(child_error))) < 0 && errno == EINTR) {
  }
  close(error_pipe[0]);
  if (n == sizeof(child_error)) {
    KillLeftovers(pid, h);
    end.setup_step = child_error.step;
    end.setup_errno = child_error.err;
    SendEnd(&end);
    return true;
  }
  StartReport started{kStarted, pid};
  Send(&started, sizeof(started));

  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  int64_t peak_resident = 0;
  bool server_gone = false;
  while (true) {
    const int64_t elapsed = NowMillis() - start;
    const int64_t remaining = h.real_time_ms - elapsed;
    // Every 10 ms: RLIMIT_CPU has a granularity of one second.
    int timeout = static_cast<int>(remaining < 0 ? 0 : remaining > 10 ? 10 : remaining);
    pollfd p[2] = {{kControlFd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int ready = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? timeout : 1);
    if (ready > 0 && ServerGone(p[0].revents)) {
      server_gone = true;
      break;
    }
    if (pidfd >= 0) {
      if (ready > 0 && p[1].revents != 0) break;
    } else {
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
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
  if (pidfd >= 0) close(pidfd);
  kill(pid, SIGKILL);  // no-op when it already exited; ends it when a limit did
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  end.real_time_ms = NowMillis() - start;
  if (!KillLeftovers(pid, h)) end.flags |= kLeftoversSurvived;
  if (server_gone) return false;
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
  SendEnd(&end);
  // Whatever survived could reach the next run: this init takes no more.
  return (end.flags & kLeftoversSurvived) == 0;
}

void SendReady(SetupStep step, int err) {
  ReadyReport ready{kReady, step, err};
  Send(&ready, sizeof(ready));
}

}  // namespace

int main() {
  // No PR_SET_PDEATHSIG: it fires when the server *thread* that started the init ends,
  // and any thread may start a slot's init. The init ends when the server's end of the
  // socket closes instead, which happens when the server exits however it exits.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  Zygote& z = g_zygote;
  z.self = getpid();
  if (!ReadConfig(&z) || chdir("/") != 0) {
    SendReady(kStepInit, EINVAL);
    return 1;
  }
  if (SetupStep step = SetUpZygote(&z); step != kStepNone) {
    SendReady(step, errno);
    return 1;
  }
  while (true) {
    // Every run gets an IPC namespace nothing has used before.
    if (z.namespaces && unshare(CLONE_NEWIPC) != 0) {
      SendReady(kStepNamespaces, errno);
      return 1;
    }
    SendReady(kStepNone, 0);
    Spec spec{};
    int stdio[3];
    int got = ReceiveSpec(&spec, stdio);
    if (got <= 0) return got == 0 ? 0 : 1;
    bool mounted = false;
    if (z.namespaces && !MountRunDirs(&z, spec, &mounted)) {
      EndReport end{};
      end.setup_step = kStepMounts;
      end.setup_errno = errno;
      for (int i = 0; i < 3; ++i) close(stdio[i]);
      SendEnd(&end);
      if (mounted && !CleanUpRun(&z)) return 1;
      continue;
    }
    const bool serving = ServeRun(z, spec, stdio);
    if (mounted && !CleanUpRun(&z)) return 1;
    if (!serving) return 1;
  }
}
