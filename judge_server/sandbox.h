// Runs one untrusted program under limits and reports what it did.
//
// Every run goes through judge_sandbox_init (sandbox_init.cc), a tiny static program
// that becomes the program's parent. One init serves all runs of one uid (a judge slot):
// started at the slot's first run, it takes each run's spec and stdio over a socket,
// applies the isolation in the forked child (process group, private mounts, rlimits, the
// slot's unprivileged uid/gid, NO_NEW_PRIVS, a seccomp filter, execve), watches the CPU
// clock, the wall clock and (for runtimes that reserve big address spaces) the resident
// set, kills and reaps whatever the run left, and reports. The server feeds stdin and
// drains stdout/stderr through pipes with caps, and keeps a wall-clock backstop in case
// the init itself hangs. An init that dies or hangs is killed, the run fails (nothing of
// the uid is left: the server kills every process of it), and the slot's next run starts
// a fresh init.
//
// Two modes, chosen at Create():
// - kNamespaces (root with CAP_SYS_ADMIN: a bare host, or a container given SYS_ADMIN):
//   each run gets one private, size-capped tmpfs over every world-writable directory
//   (/tmp, /var/tmp, /dev/shm, /run/lock, /dev/mqueue) in the slot init's own mount
//   namespace, removed when the run is over, its own IPC namespace, the test cases hidden
//   under an empty tmpfs, and an empty network namespace. Whatever a run writes vanishes
//   with it.
// - kRestricted (root without CAP_SYS_ADMIN: a default container): no namespaces. The
//   world-writable directories are made unwritable for the slot uids at Create (only
//   when told the filesystem is the judge's own: close_shared_dirs, set by its image),
//   so a run can write nowhere; SysV IPC, POSIX message queues, memfd and sockets are denied by the
//   filter.
// In both modes runs may create threads but no processes, so every limit (address space,
// CPU clock, resident set) covers the whole run.
//
// Thread-safety: Run() may be called from several threads at once as long as no two
// concurrent runs share a uid (each judge slot owns one).
#ifndef JUDGE_SERVER_SANDBOX_H_
#define JUDGE_SERVER_SANDBOX_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "judge_server/seccomp_policy.h"

namespace judge {

struct RunLimits {
  int64_t cpu_time_ms = 1000;
  int64_t real_time_ms = 3000;
  // The verdict's memory limit; enforced by polling the resident set when
  // memory_check_only, otherwise only compared with the peak afterwards.
  int64_t memory_bytes = 256LL << 20;
  int64_t address_space_bytes = 512LL << 20;  // RLIMIT_AS; -1 = leave as is
  bool memory_check_only = false;             // no RLIMIT_AS (JVM, Go): poll the RSS instead
  int64_t stack_bytes = 64LL << 20;           // -1 = unlimited (bounded by the address space)
  int64_t file_size_bytes = 16LL << 20;       // RLIMIT_FSIZE for files the program writes
  int64_t tmpfs_bytes = 16LL << 20;           // the run's private /tmp (namespaces mode)
  int64_t open_files = 64;
  int64_t processes = 64;             // RLIMIT_NPROC, counted per uid: threads included
  int64_t stdout_bytes = 16LL << 20;  // past this the run is killed: output limit exceeded
  int64_t stderr_bytes = 16 << 10;    // past this stderr is dropped
};

struct RunSpec {
  std::vector<std::string> argv;  // argv[0] is an absolute path; no PATH lookup
  std::vector<std::string> env;   // the complete environment, "KEY=value"
  std::string cwd;
  std::string stdin_data;
  RunLimits limits;
  SeccompProfile profile = SeccompProfile::kRun;
  bool merge_stderr = false;  // stderr into the stdout pipe, as one stream
  uid_t uid = 0;              // the slot's unprivileged identity
  gid_t gid = 0;
};

struct RunResult {
  int exit_code = 0;
  int signal = 0;  // the signal that ended the program, 0 if it exited
  int64_t cpu_time_ms = 0;
  int64_t real_time_ms = 0;
  int64_t memory_bytes = 0;  // the program's own peak resident set
  bool cpu_time_exceeded = false;
  bool real_time_exceeded = false;
  bool memory_exceeded = false;  // killed by the resident-set watchdog
  bool output_exceeded = false;
  // A process of the run's uid survived every kill: the identity must not be used again.
  bool leftovers_survived = false;
  std::string stdout_data;
  std::string stderr_data;
};

enum class SandboxMode { kNamespaces, kRestricted };

struct SandboxOptions {
  // judge_sandbox_init; empty: $JUDGE_SANDBOX_INIT, else beside the running executable,
  // else where the build put it.
  std::string init_path;
  // Directories runs must not see (namespaces mode covers them; restricted mode relies on
  // their permissions, which Create checks).
  std::vector<std::string> hidden_paths;
  // Force a mode; unset: namespaces when they work here, else restricted.
  std::optional<SandboxMode> mode;
  // Restricted mode may chmod world-writable directories (o-w): only where the
  // filesystem belongs to the judge alone (its container image says so).
  bool close_shared_dirs = false;
  // The uid the namespaces probe runs as at Create (every process of it is killed
  // afterwards, so it must belong to the judge alone).
  uid_t probe_uid = 0;
};

class Sandbox {
 public:
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxOptions& options = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Runs the program to completion. Errors are the sandbox's own failures (a pipe that
  // cannot be made, a setup step that fails); whatever the program does is in RunResult.
  absl::StatusOr<RunResult> Run(const RunSpec& spec) const;

  SandboxMode mode() const { return mode_; }
  // "namespaces" or "restricted", as /ping and /languages report it.
  std::string_view mode_name() const;

  // Kills every process of `uid` (a backstop after the init itself was killed). False
  // if one survived.
  static bool KillAllOf(uid_t uid);

 private:
  struct Zygote;  // one init and its socket, per uid

  Sandbox(std::string init_path, std::vector<std::string> hidden, std::vector<std::string> cover,
          int netns_fd, SandboxMode mode);
  absl::StatusOr<RunResult> RunIn(const RunSpec& spec, SandboxMode mode) const;
  Zygote& ZygoteOf(uid_t uid) const;
  // Starts the init of `z` if none runs (or one of another mode) and waits until it can
  // take a run.
  absl::Status MakeReady(Zygote& z, SandboxMode mode) const;
  absl::Status Start(Zygote& z, SandboxMode mode) const;
  void StopInit(uid_t uid) const;

  const std::string init_path_;
  const std::vector<std::string> hidden_;
  // Everything a slot uid could write that outlives a run: the fixed shared directories
  // and whatever else the scan at Create found world-writable and reachable (php's
  // session directory, say).
  const std::vector<std::string> cover_;
  const int netns_fd_;
  SandboxMode mode_;
  mutable absl::Mutex zygotes_mu_;
  mutable std::map<uid_t, std::unique_ptr<Zygote>> zygotes_ ABSL_GUARDED_BY(zygotes_mu_);
};

// The world-writable directories every system has, which a run could leave files in.
const std::vector<std::string>& SharedWritableDirs();

// SharedWritableDirs plus every other world-writable directory or file a slot uid can
// reach (a scan of the filesystem from /, through directories others may enter).
std::vector<std::string> FindSharedWritable();

}  // namespace judge

#endif  // JUDGE_SERVER_SANDBOX_H_
