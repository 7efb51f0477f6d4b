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

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

absl::Status Check(int rc, const char* what) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("seccomp: cannot add rule for ", what, ": ", strerror(-rc)));
}

}  // namespace

absl::StatusOr<SeccompProgram> SeccompProgram::Build(SeccompProfile profile,
                                                     const char* exec_path) {
  std::unique_ptr<void, CtxDeleter> holder(seccomp_init(SCMP_ACT_ALLOW));
  scmp_filter_ctx ctx = holder.get();
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");

  for (const char* name : kDeniedCalls) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (auto s = Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0), name); !s.ok()) {
      return s;
    }
  }
  // Only local sockets: no network, whatever namespace the run is in.
  if (auto s = Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                                      SCMP_A0(SCMP_CMP_NE, AF_UNIX)),
                     "socket");
      !s.ok()) {
    return s;
  }
  for (uint64_t flag : kNamespaceFlags) {
    if (auto s = Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
                       "clone");
        !s.ok()) {
      return s;
    }
  }
  // clone3 passes its flags in memory, which a filter cannot read: make libc use clone.
  if (auto s = Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
      !s.ok()) {
    return s;
  }
  if (profile == SeccompProfile::kRun) {
    auto ptr = static_cast<scmp_datum_t>(reinterpret_cast<uintptr_t>(exec_path));
    if (auto s = Check(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), 1,
                                        SCMP_A0(SCMP_CMP_NE, ptr)),
                       "execve");
        !s.ok()) {
      return s;
    }
    if (auto s =
            Check(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), 0), "execveat");
        !s.ok()) {
      return s;
    }
  }

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

int SeccompProgram::Install() const {
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(code_.size());
  prog.filter = const_cast<sock_filter*>(code_.data());
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

}  // namespace judge
