// The system-call filters for untrusted code, built with libseccomp.
//
// The filters default to allow and deny what lets a program leave its box or attack the
// host: sockets other than AF_UNIX, io_uring, ptrace and process_vm_*, mount and friends,
// namespace creation and joining, kernel module and keyring calls, bpf and perf, and
// setsid/setpgid (so that every descendant stays in the run's process group). clone3
// answers ENOSYS so that libc falls back to clone, whose flags can be checked.
// The run profile also allows exactly one execve: the one of the judged program itself.
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

// A compiled BPF program, ready for prctl(PR_SET_SECCOMP) in a forked child (which
// must not allocate). `exec_path` is the pointer the child will pass to execve: the
// run profile matches on that address, so no later execve can pass.
class SeccompProgram {
 public:
  static absl::StatusOr<SeccompProgram> Build(SeccompProfile profile, const char* exec_path);
  // Installs the filter in the calling thread. Async-signal-safe. REQUIRES: NO_NEW_PRIVS.
  int Install() const;

 private:
  std::vector<sock_filter> code_;
};

}  // namespace judge

#endif  // JUDGE_SERVER_SECCOMP_POLICY_H_
