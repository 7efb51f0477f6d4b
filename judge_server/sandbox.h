// Runs one untrusted program under limits and reports what it did.
//
// Isolation, in the order the child applies it: its own process group, the pre-made
// empty network namespace (when the server holds CAP_SYS_ADMIN), a private working
// directory, rlimits, a fresh unprivileged uid/gid (one per judge slot), NO_NEW_PRIVS,
// then a seccomp filter, then execve. The parent feeds stdin and drains stdout/stderr
// through pipes with caps, enforces the wall clock and CPU time, and afterwards kills
// every process left with the slot's uid (setsid and double-fork escapees included)
// and every file the run left in /tmp, /var/tmp and /dev/shm.
//
// Thread-safety: a Sandbox may be used from several threads at once as long as no two
// concurrent runs share a uid (each judge slot owns one).
#ifndef JUDGE_SERVER_SANDBOX_H_
#define JUDGE_SERVER_SANDBOX_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/seccomp_policy.h"

namespace judge {

struct RunLimits {
  int64_t cpu_time_ms = 1000;
  int64_t real_time_ms = 3000;
  int64_t address_space_bytes = 512LL << 20;  // RLIMIT_AS; -1 = leave as is
  int64_t stack_bytes = 64LL << 20;
  int64_t file_size_bytes = 16LL << 20;  // RLIMIT_FSIZE for files the program writes
  int64_t open_files = 64;
  int64_t processes = 64;             // RLIMIT_NPROC, counted per uid: threads included
  int64_t stdout_bytes = 16LL << 20;  // past this the run is killed: output limit exceeded
  int64_t stderr_bytes = 16 << 10;    // past this stderr is dropped silently
};

struct RunSpec {
  std::vector<std::string> argv;  // argv[0] is an absolute path; no PATH lookup
  std::vector<std::string> env;   // the complete environment, "KEY=value"
  std::string cwd;
  std::string stdin_data;
  RunLimits limits;
  SeccompProfile profile = SeccompProfile::kRun;
  uid_t uid = 0;  // the slot's unprivileged identity; ignored unless the server is root
  gid_t gid = 0;
  // Stderr goes into the stdout pipe (and counts against stdout_bytes), as QingdaoU's
  // Judger writes both into one file; stderr_data stays empty.
  bool merge_stderr = false;
};

struct RunResult {
  int exit_code = 0;
  int signal = 0;  // the signal that ended the program, 0 if it exited
  int64_t cpu_time_ms = 0;
  int64_t real_time_ms = 0;
  int64_t memory_bytes = 0;  // peak resident set
  bool cpu_time_exceeded = false;
  bool real_time_exceeded = false;
  bool output_exceeded = false;
  std::string stdout_data;
  std::string stderr_data;
};

class Sandbox {
 public:
  // Creates the sandbox. When the process may create network namespaces, one empty
  // namespace is made now and every run joins it.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create();
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Runs the program to completion. Errors are the sandbox's own failures (a pipe that
  // cannot be made, an execve that fails); whatever the program does is in RunResult.
  absl::StatusOr<RunResult> Run(const RunSpec& spec) const;

  bool has_private_network() const { return netns_fd_ >= 0; }
  bool drops_privileges() const { return is_root_; }

 private:
  Sandbox(int netns_fd, bool is_root) : netns_fd_(netns_fd), is_root_(is_root) {}
  // Kills the run's process group and every process of `uid`, and waits (bounded)
  // until the group is gone.
  void KillLeftovers(pid_t pgid, uid_t uid) const;
  // Removes what `uid` left in /tmp, /var/tmp and /dev/shm.
  void RemoveFilesOf(uid_t uid) const;
  int netns_fd_;
  bool is_root_;
};

}  // namespace judge

#endif  // JUDGE_SERVER_SANDBOX_H_
