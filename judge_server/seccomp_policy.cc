#include "judge_server/seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace judge {
namespace {

// Calls that have no business in a judged program or a compiler. EPERM rather than a
// kill, so that a program probing for them sees an ordinary failure.
constexpr const char* kDeniedCalls[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "open_by_handle_at",
    "name_to_handle_at",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "vhangup",
    "lookup_dcookie",
    "pidfd_getfd",
    "kcmp",
    // Leaving the run's process group would let a process outlive the run.
    "setsid",
    "setpgid",
};

// State that outlives a process and is shared by everyone on the kernel (or the IPC
// namespace): one run could leave data in it for the next. memfd is anonymous memory
// outside the file size and address space limits.
constexpr const char* kSharedStateCalls[] = {
    "shmget", "shmat",   "shmctl",    "msgget",       "msgsnd",
    "msgrcv", "msgctl",  "semget",    "semop",        "semtimedop",
    "semctl", "mq_open", "mq_unlink", "memfd_create", "memfd_secret",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

}  // namespace

absl::StatusOr<SeccompProgram> SeccompProgram::Build(SeccompProfile profile, int exec_fd) {
  std::unique_ptr<void, CtxDeleter> holder(seccomp_init(SCMP_ACT_ALLOW));
  scmp_filter_ctx ctx = holder.get();
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  absl::Status status;
  // Adds one rule; the first failure is kept and later rules are skipped.
  auto rule = [&](uint32_t action, int nr, const char* what,
                  std::initializer_list<scmp_arg_cmp> args = {}) {
    if (!status.ok() || nr == __NR_SCMP_ERROR) return;  // not on this architecture
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                    args.size() ? args.begin() : nullptr);
    if (rc != 0) {
      status = absl::InternalError(
          absl::StrCat("seccomp: cannot add rule for ", what, ": ", strerror(-rc)));
    }
  };
  for (const char* name : kDeniedCalls) {
    rule(SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(name), name);
  }
  for (const char* name : kSharedStateCalls) {
    rule(SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(name), name);
  }
  // No sockets at all: no network, and no abstract unix socket (which lives in the
  // network namespace, not the filesystem) to talk to another run through.
  rule(SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), "socket");
  for (uint64_t flag : kNamespaceFlags) {
    rule(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), "clone",
         {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
  }
  // clone3 passes its flags in memory, which a filter cannot read: make libc use clone.
  rule(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), "clone3");
  if (profile == SeccompProfile::kRun) {
    // Threads, but no processes: every limit of the run then covers all of it.
    rule(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fork), "fork");
    rule(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(vfork), "vfork");
    rule(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), "clone",
         {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)});
    // The only execution allowed is the init's execveat(exec_fd, "", ..., AT_EMPTY_PATH)
    // that starts the program; exec_fd is at or above the program's open-file limit, so
    // the program itself can never pass this rule.
    rule(SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), "execve");
    rule(SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), "execveat",
         {SCMP_A0(SCMP_CMP_NE, static_cast<scmp_datum_t>(exec_fd))});
    rule(SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), "execveat",
         {SCMP_A4(SCMP_CMP_NE, AT_EMPTY_PATH)});
  }
  if (!status.ok()) return status;

  // libseccomp 2.5 exports BPF only to a file descriptor.
  int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", strerror(errno)));
  int rc = seccomp_export_bpf(ctx, fd);
  off_t size = lseek(fd, 0, SEEK_END);
  SeccompProgram program;
  if (rc == 0 && size > 0 && size % sizeof(sock_filter) == 0) {
    program.code_.resize(size / sizeof(sock_filter));
    if (pread(fd, program.code_.data(), size, 0) != size) rc = -EIO;
  } else if (rc == 0) {
    rc = -EINVAL;
  }
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("seccomp export: ", strerror(-rc)));
  return program;
}

}  // namespace judge
