#include "judge_server/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "judge_server/sandbox_wire.h"

extern char** environ;

namespace judge {
namespace {

using Clock = std::chrono::steady_clock;

// How long past the run's own wall-clock limit the server waits for the init's report
// before it kills the init itself.
constexpr int64_t kBackstopMillis = 2000;
// At most this much is read from one pipe per wake-up, so that a program that keeps a
// pipe full cannot keep the loop from checking its deadline.
constexpr size_t kReadPerWake = 1 << 20;

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

constexpr const char* kStepNames[] = {
    "nothing",      "setpgid", "unshare",   "private mounts",  "setns(net)",
    "stdio",        "chdir",   "setrlimit", "setuid/setgid",   "open of the executable",
    "no_new_privs", "seccomp", "execve",    "the sandbox init"};

// Reads what is available, at most kReadPerWake. Returns false at end of file.
bool Drain(int fd, std::string& sink, int64_t cap, bool* over_cap) {
  char buf[65536];
  size_t taken = 0;
  while (taken < kReadPerWake) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      taken += n;
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
  return true;
}

// Appends a length-checked block of NUL-terminated strings.
void AppendStrings(std::string& out, const std::vector<std::string>& strings) {
  for (const std::string& s : strings) {
    out.append(s.c_str());  // an embedded NUL would cut it: the spec validates argv/env
    out.push_back('\0');
  }
}

// Moves a descriptor above the init's fixed numbers (0-5), so that posix_spawn's dup2
// actions, applied in order, never overwrite a source that is still to be copied.
int AboveInitFds(int fd) {
  if (fd < 0 || fd > wire::kNetnsFd) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, wire::kNetnsFd + 1);
  close(fd);
  return moved;
}

std::string DefaultInitPath() {
  if (const char* env = getenv("JUDGE_SANDBOX_INIT"); env != nullptr && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / "judge_sandbox_init";
    if (access(beside.c_str(), X_OK) == 0) return beside;
  }
#ifdef JUDGE_SANDBOX_INIT_BUILD_PATH
  return JUDGE_SANDBOX_INIT_BUILD_PATH;
#else
  return "/usr/local/bin/judge_sandbox_init";
#endif
}

// Compiling a filter with libseccomp costs about as much as a whole run: each (profile,
// descriptor number) is compiled once.
absl::StatusOr<const SeccompProgram*> CachedFilter(SeccompProfile profile, int exec_fd) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache = new std::map<std::pair<SeccompProfile, int>, SeccompProgram>();
  absl::MutexLock lock(&mu);
  auto key = std::make_pair(profile, exec_fd);
  if (auto it = cache->find(key); it != cache->end()) return &it->second;
  auto built = SeccompProgram::Build(profile, exec_fd);
  if (!built.ok()) return built.status();
  return &cache->emplace(key, *std::move(built)).first->second;
}

// How long an init may take to say it can take a run: its start (namespaces, mounts)
// or the previous run's cleanup (an unmount).
constexpr int kReadyMillis = 10000;

// One message from an init, without waiting. >0: its size; 0: none there; -1: the init
// closed its end or the socket failed.
ssize_t ReceiveReport(int sock, char* buf, size_t size) {
  while (true) {
    ssize_t n = recv(sock, buf, size, MSG_DONTWAIT);
    if (n > 0) return n;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
  }
}

uint32_t ReportType(const char* buf, ssize_t n) {
  uint32_t type = 0;
  if (n >= static_cast<ssize_t>(sizeof(type))) memcpy(&type, buf, sizeof(type));
  return type;
}

// A zombie with no live thread left: it holds no memory or files and runs no code, it
// only waits for its parent (PID 1 once its init is gone, which may reap it late).
bool IsDead(const std::filesystem::path& proc_dir) {
  std::ifstream in(proc_dir / "stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  if (state != 'Z' && state != 'X') return false;
  std::error_code ec;
  int tasks = 0;
  for (auto it = std::filesystem::directory_iterator(proc_dir / "task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++tasks;
  }
  return !ec && tasks <= 1;
}

}  // namespace

const std::vector<std::string>& SharedWritableDirs() {
  static const std::vector<std::string>* dirs =
      new std::vector<std::string>{"/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"};
  return *dirs;
}

std::vector<std::string> FindSharedWritable() {
  std::vector<std::string> found = SharedWritableDirs();
  auto known = [&](const std::string& p) {
    return std::find(found.begin(), found.end(), p) != found.end();
  };
  // Breadth first from /, only through directories others may enter (a slot uid is
  // "other" to every file it did not make), never through links; /proc, /sys and /dev
  // hold no files a run could leave data in beyond the fixed list, /usr only what the
  // packages installed.
  std::vector<std::string> queue = {"/"};
  size_t seen = 0;
  for (size_t i = 0; i < queue.size() && seen < 500000; ++i) {
    DIR* d = opendir(queue[i].c_str());
    if (d == nullptr) continue;
    while (dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      ++seen;
      std::string path =
          queue[i] == "/" ? "/" + std::string(e->d_name) : queue[i] + "/" + e->d_name;
      if (path == "/proc" || path == "/sys" || path == "/dev" || path == "/usr" || known(path)) {
        continue;  // /usr: packaged files only, and the bulk of the tree
      }
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) continue;
      const bool writable = (st.st_mode & S_IWOTH) != 0;
      if (found.size() >= 1000) break;  // a filesystem this open is a misconfiguration
      if (S_ISDIR(st.st_mode)) {
        if (writable) {
          found.push_back(path);  // covered whole: nothing below it needs a look
        } else if (st.st_mode & S_IXOTH) {
          queue.push_back(path);
        }
      } else if (S_ISREG(st.st_mode) && writable) {
        found.push_back(path);
      }
    }
    closedir(d);
  }
  return found;
}

std::string_view Sandbox::mode_name() const {
  return mode_ == SandboxMode::kNamespaces ? "namespaces" : "restricted";
}

bool Sandbox::KillAllOf(uid_t uid) {
  if (geteuid() != 0 || uid == 0) return true;
  // Only after the init itself was killed (its survivors went to PID 1): find them by uid
  // in /proc, since kill(-1)'s result says nothing about whom it reached.
  for (int attempt = 0; attempt < 200; ++attempt) {
    bool found = false;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename();
      if (name.empty() || !isdigit(static_cast<unsigned char>(name[0]))) continue;
      struct stat st;
      if (stat(it->path().c_str(), &st) != 0 || st.st_uid != uid) continue;
      if (IsDead(it->path())) continue;
      found = true;
      kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
    }
    if (!found) return true;
    usleep(1000);
  }
  return false;
}

struct Sandbox::Zygote {
  absl::Mutex mu;  // held for a whole run: one run at a time per uid
  pid_t pid ABSL_GUARDED_BY(mu) = -1;
  int sock ABSL_GUARDED_BY(mu) = -1;
  bool ready ABSL_GUARDED_BY(mu) = false;  // its ReadyReport was read, no run sent since
  SandboxMode mode ABSL_GUARDED_BY(mu) = SandboxMode::kRestricted;

  // Kills the init (a run in progress dies with it: the program's parent-death signal)
  // and reaps it.
  void Stop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    CloseFd(sock);
    if (pid > 0) {
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pid = -1;
    ready = false;
  }
};

Sandbox::Sandbox(std::string init_path, std::vector<std::string> hidden,
                 std::vector<std::string> cover, int netns_fd, SandboxMode mode)
    : init_path_(std::move(init_path)),
      hidden_(std::move(hidden)),
      cover_(std::move(cover)),
      netns_fd_(netns_fd),
      mode_(mode) {}

Sandbox::Zygote& Sandbox::ZygoteOf(uid_t uid) const {
  absl::MutexLock lock(&zygotes_mu_);
  std::unique_ptr<Zygote>& z = zygotes_[uid];
  if (z == nullptr) z = std::make_unique<Zygote>();
  return *z;
}

void Sandbox::StopInit(uid_t uid) const {
  Zygote& z = ZygoteOf(uid);
  absl::MutexLock lock(&z.mu);
  z.Stop();
}

absl::Status Sandbox::Start(Zygote& z, SandboxMode mode) const {
  wire::ZygoteConfig c{};
  c.magic = wire::kConfigMagic;
  c.flags = mode == SandboxMode::kNamespaces ? static_cast<uint32_t>(wire::kZygoteNamespaces) : 0u;
  std::string strings;
  AppendStrings(strings, cover_);
  AppendStrings(strings, hidden_);
  c.strings_bytes = static_cast<uint32_t>(strings.size());
  c.coverc = static_cast<uint32_t>(cover_.size());
  c.hidec = static_cast<uint32_t>(hidden_.size());
  std::string config(reinterpret_cast<const char*>(&c), sizeof(c));
  config += strings;
  if (config.size() > wire::kMaxConfigBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: ", cover_.size(),
                     " world-writable paths to cover are too many to hand to the init; make fewer "
                     "files and directories world-writable"));
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("sandbox: socketpair: ", strerror(errno)));
  }
  sv[0] = AboveInitFds(sv[0]);
  sv[1] = AboveInitFds(sv[1]);
  // Room for the config in one message (root may raise the buffer past wmem_max).
  const int sndbuf = 2 * wire::kMaxConfigBytes;
  if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0) {
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] { posix_spawn_file_actions_destroy(&actions); };
  for (int fd = 0; fd < 3; ++fd) {
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, sv[1], wire::kControlFd);
  if (mode == SandboxMode::kNamespaces) {
    posix_spawn_file_actions_adddup2(&actions, netns_fd_, wire::kNetnsFd);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&] { posix_spawnattr_destroy(&attr); };
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* init_argv[] = {const_cast<char*>("judge_sandbox_init"), nullptr};
  char* init_env[] = {nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, init_path_.c_str(), &actions, &attr, init_argv, init_env);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return absl::ResourceExhaustedError(
        absl::StrCat("sandbox: cannot start ", init_path_, ": ", strerror(rc)));
  }
  z.pid = pid;
  z.sock = sv[0];
  z.mode = mode;
  z.ready = false;
  if (send(z.sock, config.data(), config.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(config.size())) {
    absl::Status failed =
        absl::InternalError(absl::StrCat("sandbox: cannot configure the init: ", strerror(errno)));
    z.Stop();
    return failed;
  }
  return absl::OkStatus();
}

absl::Status Sandbox::MakeReady(Zygote& z, SandboxMode mode) const {
  if (z.pid > 0 && z.mode != mode) z.Stop();
  if (z.pid > 0 && z.ready) {
    // Idle since its report: anything on the socket now means it died (or misbehaves).
    pollfd p{z.sock, POLLIN, 0};
    if (poll(&p, 1, 0) != 0) z.Stop();
  }
  // A running init that does not become ready is replaced once; a fresh one that does not
  // is an error.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = z.pid < 0;
    if (fresh) {
      if (absl::Status s = Start(z, mode); !s.ok()) return s;
    }
    if (z.ready) return absl::OkStatus();
    const Clock::time_point start = Clock::now();
    absl::Status failed;
    while (true) {
      pollfd p{z.sock, POLLIN, 0};
      int64_t left = kReadyMillis - MillisSince(start);
      if (left <= 0) {
        failed = absl::DeadlineExceededError("sandbox: the init did not become ready in time");
        break;
      }
      if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
        failed = absl::InternalError(absl::StrCat("sandbox: poll: ", strerror(errno)));
        break;
      }
      char buf[sizeof(wire::EndReport)];
      ssize_t n = ReceiveReport(z.sock, buf, sizeof(buf));
      if (n == 0) continue;
      if (n < 0) {
        failed = absl::UnavailableError("sandbox: the init exited");
        break;
      }
      wire::ReadyReport ready;
      if (ReportType(buf, n) != wire::kReady || n != sizeof(ready)) {
        failed = absl::InternalError("sandbox: the init sent an unexpected message");
        break;
      }
      memcpy(&ready, buf, sizeof(ready));
      if (ready.setup_step != wire::kStepNone) {
        int step = std::clamp<int>(ready.setup_step, 0, std::size(kStepNames) - 1);
        failed = absl::InternalError(absl::StrCat("sandbox: the init's ", kStepNames[step],
                                                  " failed: ", strerror(ready.setup_errno)));
        break;
      }
      z.ready = true;
      return absl::OkStatus();
    }
    z.Stop();
    if (fresh) return failed;
  }
  return absl::InternalError("sandbox: the init could not be started");
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(const SandboxOptions& options) {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "judge_server must run as root: every submission runs as an unprivileged uid of its "
        "slot, and only root can switch to it");
  }
  std::string init = options.init_path.empty() ? DefaultInitPath() : options.init_path;
  if (options.probe_uid == 0) {
    return absl::InvalidArgumentError("sandbox: a probe uid of the judge's own range is needed");
  }
  if (access(init.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the sandbox init ", init,
                     " is missing: install judge_sandbox_init beside judge_server or set "
                     "JUDGE_SANDBOX_INIT"));
  }
  // One empty network namespace for all runs (no run can open a socket anyway): joining
  // it costs half of making one per run. Made from a short-lived thread so the server
  // keeps its own network.
  int netns_fd = -1;
  std::thread([&netns_fd] {
    if (unshare(CLONE_NEWNET) == 0) {
      netns_fd = AboveInitFds(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    }
  }).join();
  std::unique_ptr<Sandbox> sandbox(new Sandbox(init, options.hidden_paths, FindSharedWritable(),
                                               netns_fd, SandboxMode::kRestricted));

  // Namespaces where they work: prove it with a real run of /bin/true.
  bool namespaces = false;
  if (netns_fd >= 0 && options.mode != SandboxMode::kRestricted) {
    RunSpec probe;
    probe.argv = {"/bin/true"};
    probe.cwd = "/";
    probe.uid = probe.gid = options.probe_uid;
    auto r = sandbox->RunIn(probe, SandboxMode::kNamespaces);
    sandbox->StopInit(probe.uid);  // the probe's uid serves no slot
    namespaces = r.ok() && r->exit_code == 0 && r->signal == 0;
    if (!namespaces && options.mode == SandboxMode::kNamespaces) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox mode namespaces was asked for but does not work here (",
                       r.ok() ? "the probe failed" : r.status().message(),
                       "): run as root on the host or in a container with CAP_SYS_ADMIN"));
    }
  }
  if (namespaces) {
    sandbox->mode_ = SandboxMode::kNamespaces;
    return sandbox;
  }
  // Restricted: no directory may be writable by the slot uids.
  for (const std::string& dir : sandbox->cover_) {
    struct stat st;
    if (lstat(dir.c_str(), &st) != 0 || (st.st_mode & S_IWOTH) == 0) continue;
    if (!options.close_shared_dirs) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no mount namespaces here and ", dir,
          " is world-writable: a run could leave files for the next one. Run judge_server "
          "as root with CAP_SYS_ADMIN (on the host, or a container with --cap-add "
          "SYS_ADMIN), or, where the filesystem is the judge's own (its image sets "
          "JUDGE_CLOSE_SHARED_DIRS=1), let it close such directories"));
    }
    // Inside its own container the server owns the filesystem: close the directory.
    if (chmod(dir.c_str(), (st.st_mode & 07777) & ~(S_IWOTH | S_IWGRP)) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot make ", dir, " unwritable for runs: ", strerror(errno)));
    }
  }
  for (const std::string& dir : options.hidden_paths) {
    struct stat st;
    if (stat(dir.c_str(), &st) == 0 && (st.st_mode & (S_IROTH | S_IXOTH)) != 0 &&
        chmod(dir.c_str(), st.st_mode & 0700) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is readable by runs and cannot be closed: ", strerror(errno)));
    }
  }
  return sandbox;
}

Sandbox::~Sandbox() {
  absl::MutexLock lock(&zygotes_mu_);
  for (auto& [uid, z] : zygotes_) {
    absl::MutexLock zl(&z->mu);
    z->Stop();
  }
  if (netns_fd_ >= 0) close(netns_fd_);
}

absl::StatusOr<RunResult> Sandbox::Run(const RunSpec& spec) const { return RunIn(spec, mode_); }

absl::StatusOr<RunResult> Sandbox::RunIn(const RunSpec& spec, SandboxMode mode) const {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return absl::InvalidArgumentError("sandbox: argv[0] must be an absolute path");
  }
  if (spec.uid == 0 || spec.gid == 0) {
    return absl::FailedPreconditionError("sandbox: refusing to run a submission as root");
  }
  const RunLimits& l = spec.limits;
  // The program's binary goes at the descriptor number equal to its open-file limit: the
  // first it can never hold itself. Below the server's own limit, which may be low.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const int64_t open_files =
      std::clamp<int64_t>(l.open_files, 4, static_cast<int64_t>(nofile.rlim_cur) - 1);
  const int exec_fd = static_cast<int>(open_files);
  auto filter = CachedFilter(spec.profile, exec_fd);
  if (!filter.ok()) return filter.status();

  wire::SpecHeader h{};
  h.magic = wire::kSpecMagic;
  h.flags = wire::kDropPrivileges;
  if (l.memory_check_only) h.flags |= wire::kMemoryCheckOnly;
  if (spec.profile == SeccompProfile::kRun) h.flags |= wire::kRunProfile;
  if (spec.merge_stderr) h.flags |= wire::kMergeStderr;
  h.cpu_time_ms = l.cpu_time_ms;
  h.real_time_ms = l.real_time_ms;
  h.memory_bytes = l.memory_bytes;
  h.address_space_bytes = l.address_space_bytes;
  h.stack_bytes = l.stack_bytes;
  h.file_size_bytes = l.file_size_bytes;
  h.open_files = open_files;
  h.processes = l.processes;
  h.tmpfs_bytes = l.tmpfs_bytes;
  h.uid = spec.uid;
  h.gid = spec.gid;
  h.exec_fd = exec_fd;
  h.filter_count = static_cast<uint32_t>((*filter)->code().size());
  std::string strings;
  AppendStrings(strings, {spec.argv[0], spec.cwd});
  AppendStrings(strings, spec.argv);
  AppendStrings(strings, spec.env);
  h.strings_bytes = static_cast<uint32_t>(strings.size());
  h.argc = static_cast<uint32_t>(spec.argv.size());
  h.envc = static_cast<uint32_t>(spec.env.size());
  std::string message(reinterpret_cast<const char*>(&h), sizeof(h));
  message.append(reinterpret_cast<const char*>((*filter)->code().data()),
                 (*filter)->code().size() * sizeof(sock_filter));
  message += strings;
  if (message.size() > wire::kMaxMessageBytes) {
    return absl::InvalidArgumentError("sandbox: command line and environment are too large");
  }

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  absl::Cleanup close_all = [&] {
    for (int* p : {in, out, err}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("sandbox: pipe: ", strerror(errno)));
  }

  Zygote& z = ZygoteOf(spec.uid);
  absl::MutexLock zygote_lock(&z.mu);
  // The spec and the program's stdio go in one message. An init found dead at this point
  // ran nothing of this run: it is replaced once.
  for (int attempt = 0;; ++attempt) {
    if (absl::Status s = MakeReady(z, mode); !s.ok()) return s;
    iovec iov{message.data(), message.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(3 * sizeof(int));
    const int stdio[3] = {in[0], out[1], err[1]};
    memcpy(CMSG_DATA(c), stdio, sizeof(stdio));
    if (sendmsg(z.sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(message.size())) break;
    const int send_errno = errno;
    z.Stop();
    if (attempt > 0) {
      return absl::InternalError(
          absl::StrCat("sandbox: cannot hand the run to the init: ", strerror(send_errno)));
    }
  }
  z.ready = false;
  // The backstop counts from here: waiting for the init to be ready is not the run's time.
  const Clock::time_point start = Clock::now();
  // The init (and the program it forks) hold these ends now.
  CloseFd(in[0]);
  CloseFd(out[1]);
  CloseFd(err[1]);
  for (int fd : {in[1], out[0], err[0]}) fcntl(fd, F_SETFL, O_NONBLOCK);

  RunResult result;
  size_t written = 0;
  if (spec.stdin_data.empty()) CloseFd(in[1]);
  bool ended = false, init_gone = false;
  wire::EndReport end{};
  bool out_open = true, err_open = true, killed_program = false;
  pid_t program = -1;
  const int64_t backstop = l.real_time_ms + kBackstopMillis;
  while ((!ended && !init_gone) || out_open || err_open) {
    // Once the init has reported the end, every writer of the pipes is dead: what is left
    // in them is finite. Only a survivor (which the init reports) could keep them open.
    if ((ended || init_gone) && MillisSince(start) > backstop + 200) break;
    pollfd fds[4];
    int nfds = 0;
    const bool reports = !ended && !init_gone;
    if (reports) fds[nfds++] = {z.sock, POLLIN, 0};
    if (out_open) fds[nfds++] = {out[0], POLLIN, 0};
    if (err_open) fds[nfds++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[nfds++] = {in[1], POLLOUT, 0};
    int64_t remaining = backstop - MillisSince(start);
    int ready = poll(fds, nfds, static_cast<int>(std::clamp<int64_t>(remaining, 0, 100)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < nfds && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (reports && fds[i].fd == z.sock) {
        char buf[sizeof(wire::EndReport)];
        ssize_t n;
        while (!ended && (n = ReceiveReport(z.sock, buf, sizeof(buf))) != 0) {
          const uint32_t type = n > 0 ? ReportType(buf, n) : 0;
          if (type == wire::kStarted && n == sizeof(wire::StartReport)) {
            wire::StartReport s;
            memcpy(&s, buf, sizeof(s));
            program = s.pid;
          } else if (type == wire::kEnded && n == sizeof(wire::EndReport)) {
            memcpy(&end, buf, sizeof(end));
            ended = true;
          } else {
            init_gone = true;  // closed, failed, or spoke out of turn: not to be trusted
            break;
          }
        }
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
    if (init_gone && z.pid > 0) {
      // Its program dies with it (parent-death signal), the rest of its process group
      // here; whatever else is left of the uid, KillAllOf finds below.
      if (program > 0) kill(-program, SIGKILL);
      z.Stop();
    }
    if (result.output_exceeded && program > 0 && !killed_program) {
      kill(program, SIGKILL);  // the init sees it end and reports
      killed_program = true;
    }
    if (!ended && !init_gone && MillisSince(start) > backstop) {
      // The init did not report in time: end it and everything of the slot's uid.
      if (program > 0) kill(-program, SIGKILL);
      z.Stop();
      result.real_time_exceeded = true;
      break;
    }
  }
  const int64_t real_time_ms = MillisSince(start);

  if (!ended) {
    // The init died without its report (killed by the backstop, or crashed).
    z.Stop();
    result.leftovers_survived = !KillAllOf(spec.uid);
    if (!result.real_time_exceeded) {
      return absl::InternalError("sandbox: the init ended without a report");
    }
    result.real_time_ms = real_time_ms;
    return result;
  }
  if (end.setup_step != wire::kStepNone) {
    int step = std::clamp<int>(end.setup_step, 0, std::size(kStepNames) - 1);
    return absl::InternalError(
        absl::StrCat("sandbox: ", kStepNames[step], " failed: ", strerror(end.setup_errno)));
  }
  result.exit_code = end.exit_code;
  result.signal = end.signal;
  result.cpu_time_ms = end.cpu_time_ms;
  result.real_time_ms = end.real_time_ms;
  result.memory_bytes = end.memory_bytes;
  result.cpu_time_exceeded = end.flags & wire::kCpuExceeded;
  result.real_time_exceeded = end.flags & wire::kRealExceeded;
  result.memory_exceeded = end.flags & wire::kMemoryExceeded;
  result.leftovers_survived = end.flags & wire::kLeftoversSurvived;
  return result;
}

}  // namespace judge
