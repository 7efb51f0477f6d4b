#include "judge_server/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
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
      found = true;
      kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
    }
    if (!found) return true;
    usleep(1000);
  }
  return false;
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
  if (mode == SandboxMode::kNamespaces) h.flags |= wire::kNamespaces;
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
  AppendStrings(strings, cover_);
  AppendStrings(strings, hidden_);
  h.strings_bytes = static_cast<uint32_t>(strings.size());
  h.argc = static_cast<uint32_t>(spec.argv.size());
  h.envc = static_cast<uint32_t>(spec.env.size());
  h.coverc = static_cast<uint32_t>(cover_.size());
  h.hidec = static_cast<uint32_t>(hidden_.size());
  std::string message(reinterpret_cast<const char*>(&h), sizeof(h));
  message.append(reinterpret_cast<const char*>((*filter)->code().data()),
                 (*filter)->code().size() * sizeof(sock_filter));
  message += strings;
  // The whole spec goes into the pipe before the init starts: it must fit its buffer.
  if (message.size() > 60000) {
    return absl::InvalidArgumentError("sandbox: command line and environment are too large");
  }

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, spec_pipe[2] = {-1, -1},
      report[2] = {-1, -1};
  absl::Cleanup close_all = [&] {
    for (int* p : {in, out, err, spec_pipe, report}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
      pipe2(spec_pipe, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("sandbox: pipe: ", strerror(errno)));
  }
  for (int* p : {in, out, err, spec_pipe, report}) {
    p[0] = AboveInitFds(p[0]);
    p[1] = AboveInitFds(p[1]);
  }
  if (write(spec_pipe[1], message.data(), message.size()) != static_cast<ssize_t>(message.size())) {
    return absl::InternalError(absl::StrCat("sandbox: spec pipe: ", strerror(errno)));
  }
  CloseFd(spec_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] { posix_spawn_file_actions_destroy(&actions); };
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_adddup2(&actions, spec_pipe[0], wire::kSpecFd);
  posix_spawn_file_actions_adddup2(&actions, report[1], wire::kReportFd);
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

  const Clock::time_point start = Clock::now();
  pid_t init_pid = -1;
  if (int rc = posix_spawn(&init_pid, init_path_.c_str(), &actions, &attr, init_argv, init_env);
      rc != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sandbox: cannot start ", init_path_, ": ", strerror(rc)));
  }
  CloseFd(in[0]);
  CloseFd(out[1]);
  CloseFd(err[1]);
  CloseFd(spec_pipe[0]);
  CloseFd(report[1]);
  for (int fd : {in[1], out[0], err[0], report[0]}) fcntl(fd, F_SETFL, O_NONBLOCK);

  RunResult result;
  size_t written = 0;
  if (spec.stdin_data.empty()) CloseFd(in[1]);
  std::string reports;  // StartReport, then EndReport
  bool out_open = true, err_open = true, report_open = true, killed_program = false;
  pid_t program = -1;
  const int64_t backstop = l.real_time_ms + kBackstopMillis;
  while (report_open || out_open || err_open) {
    // Once the init has reported the end, every writer of the pipes is dead: what is left
    // in them is finite. Only a survivor (which the init reports) could keep them open.
    if (!report_open && MillisSince(start) > backstop + 200) break;
    pollfd fds[4];
    int nfds = 0;
    if (report_open) fds[nfds++] = {report[0], POLLIN, 0};
    if (out_open) fds[nfds++] = {out[0], POLLIN, 0};
    if (err_open) fds[nfds++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[nfds++] = {in[1], POLLOUT, 0};
    int64_t remaining = backstop - MillisSince(start);
    int ready = poll(fds, nfds, static_cast<int>(std::clamp<int64_t>(remaining, 0, 100)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < nfds && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == report[0]) {
        report_open = Drain(report[0], reports, 1024, nullptr);
        if (program < 0 && reports.size() >= sizeof(wire::StartReport)) {
          wire::StartReport s;
          memcpy(&s, reports.data(), sizeof(s));
          program = s.pid;
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
    if (result.output_exceeded && program > 0 && !killed_program) {
      kill(program, SIGKILL);  // the init sees it end and reports
      killed_program = true;
    }
    if (report_open && MillisSince(start) > backstop) {
      // The init did not report in time: end it and everything of the slot's uid.
      kill(init_pid, SIGKILL);
      if (program > 0) kill(-program, SIGKILL);
      result.real_time_exceeded = true;
      break;
    }
  }
  int status = 0;
  while (waitpid(init_pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int64_t real_time_ms = MillisSince(start);

  constexpr size_t kFull = sizeof(wire::StartReport) + sizeof(wire::EndReport);
  if (reports.size() < kFull) {
    // The init died without its report (killed by the backstop, or crashed).
    result.leftovers_survived = !KillAllOf(spec.uid);
    if (!result.real_time_exceeded) {
      return absl::InternalError(
          absl::StrCat("sandbox: the init ended without a report (status ", status, ")"));
    }
    result.real_time_ms = real_time_ms;
    return result;
  }
  wire::EndReport end;
  memcpy(&end, reports.data() + sizeof(wire::StartReport), sizeof(end));
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
