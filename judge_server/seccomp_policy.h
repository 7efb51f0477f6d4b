// The system-call filters for untrusted code, built with libseccomp.
//
// The filters default to allow and deny what lets a program leave its box, attack the
// host or leave state behind: every socket, io_uring, ptrace and process_vm_*, mount and
// friends, namespace creation and joining, kernel module and keyring calls, bpf and perf,
// setsid/setpgid (every descendant stays in the run's process group), SysV IPC, POSIX
// message queues and memfd. clone3 answers ENOSYS so that libc falls back to clone, whose
// flags can be checked. The run profile also allows threads but no processes, and no
// execution but the one execveat that starts the program (see Build).
#ifndef JUDGE_SERVER_SECCOMP_POLICY_H_
#define JUDGE_SERVER_SECCOMP_POLICY_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"

namespace judge {

enum class SeccompProfile {
  kCompile,  // compilers: may execve their helpers (cc1, as, ld)
  kRun,      // submissions: the only execve allowed is the one that starts them
};

// A compiled BPF program, handed to judge_sandbox_init, which installs it in the
// program's process right before execve.
class SeccompProgram {
 public:
  // `exec_fd`: for the run profile, the descriptor number the init opens the program's
  // binary at (at or above the program's RLIMIT_NOFILE); the only execution allowed is
  // execveat(exec_fd, "", ..., AT_EMPTY_PATH).
  static absl::StatusOr<SeccompProgram> Build(SeccompProfile profile, int exec_fd);
  const std::vector<sock_filter>& code() const { return code_; }

 private:
  std::vector<sock_filter> code_;
};

}  // namespace judge

#endif  // JUDGE_SERVER_SECCOMP_POLICY_H_
