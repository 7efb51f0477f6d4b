// The messages between judge_server's Sandbox and judge_sandbox_init, the small static
// program that becomes the parent of every judged process (see sandbox_init.cc for why).
//
// One init serves one slot identity (uid) for many runs: a zygote. The server starts it
// with a SOCK_SEQPACKET socket on fd 3 (and, in namespaces mode, the empty network
// namespace on fd 5) and talks to it in whole messages:
//   server -> init: ZygoteConfig + strings, once; then per run a SpecHeader + filter +
//                   strings, carrying the program's stdin, stdout and stderr as SCM_RIGHTS.
//   init -> server: ReadyReport when it can take a run (after its start, and after every
//                   run's cleanup), then per run a StartReport once the program runs and an
//                   EndReport once it and everything it left are gone.
// The init exits when the server's end of the socket closes (the server exited or gave
// the slot up), killing a run in progress. Both ends are built from this header in one
// build, so the layout is plain structs of fixed-size fields.
#ifndef JUDGE_SERVER_SANDBOX_WIRE_H_
#define JUDGE_SERVER_SANDBOX_WIRE_H_

#include <cstdint>

namespace judge::wire {

// The init's file descriptors, set up by the server before the init starts.
constexpr int kControlFd = 3;  // the socket to the server
constexpr int kNetnsFd = 5;    // the empty network namespace to join (namespaces mode only)

constexpr uint32_t kConfigMagic = 0x4a535a31;  // "JSZ1"
constexpr uint32_t kSpecMagic = 0x4a534933;    // "JSI3"
// The largest spec, and the largest config (a host may have many world-writable paths to
// cover); the server refuses what does not fit.
constexpr uint32_t kMaxMessageBytes = 64 * 1024;
constexpr uint32_t kMaxConfigBytes = 192 * 1024;

enum ConfigFlags : uint32_t {
  // Own mount namespace for the init with the hidden paths covered and a private,
  // size-capped tmpfs over every world-writable directory for each run; a fresh IPC
  // namespace per run; the empty network namespace.
  kZygoteNamespaces = 1u << 0,
};

struct ZygoteConfig {
  uint32_t magic;
  uint32_t flags;
  uint32_t strings_bytes;  // then NUL-terminated strings: writable dirs to cover...,
  uint32_t coverc;         // hidden paths...
  uint32_t hidec;
};

enum SpecFlags : uint32_t {
  // Memory is checked by polling the resident set instead of capped by RLIMIT_AS (runtimes
  // that reserve large address space: JVM, Go).
  kMemoryCheckOnly = 1u << 1,
  // The program may not start processes or execute anything after its own start.
  kRunProfile = 1u << 2,
  // stderr goes into the stdout pipe (one stream, as QingdaoU's Judger gives).
  kMergeStderr = 1u << 3,
  // Drop to uid/gid (the server is root).
  kDropPrivileges = 1u << 4,
};

struct SpecHeader {
  uint32_t magic;
  uint32_t flags;
  int64_t cpu_time_ms;
  int64_t real_time_ms;
  int64_t memory_bytes;         // the verdict's limit: kill when the resident set passes it
  int64_t address_space_bytes;  // RLIMIT_AS, -1 to leave as is
  int64_t stack_bytes;          // RLIMIT_STACK, -1 = unlimited
  int64_t file_size_bytes;
  int64_t open_files;
  int64_t processes;
  int64_t tmpfs_bytes;  // size of the run's private tmpfs (namespaces mode)
  uint32_t uid;
  uint32_t gid;
  int32_t exec_fd;         // run profile: the fd number the program's binary is opened at
  uint32_t filter_count;   // sock_filter entries that follow
  uint32_t strings_bytes;  // then NUL-terminated strings: exec path, cwd, argv..., env...
  uint32_t argc;
  uint32_t envc;
  uint32_t reserved;
};

// Steps of the setup, named in an error when one fails before execve.
enum SetupStep : int32_t {
  kStepNone = 0,
  kStepProcessGroup,
  kStepNamespaces,
  kStepMounts,
  kStepNetwork,
  kStepStdio,
  kStepChdir,
  kStepLimits,
  kStepCredentials,
  kStepOpenExecutable,
  kStepNoNewPrivs,
  kStepSeccomp,
  kStepExec,
  kStepInit,  // the init itself: a bad spec, fork failed
};

enum ReportType : uint32_t {
  kReady = 1,
  kStarted = 2,
  kEnded = 3,
};

// The init can take a run; setup_step != kStepNone: it cannot (its own setup failed) and
// exits.
struct ReadyReport {
  uint32_t type;  // kReady
  int32_t setup_step;
  int32_t setup_errno;
};

struct StartReport {
  uint32_t type;  // kStarted
  int32_t pid;    // the program's pid (its process group too)
};

enum EndFlags : uint32_t {
  kCpuExceeded = 1u << 0,
  kRealExceeded = 1u << 1,
  kMemoryExceeded = 1u << 2,
  kLeftoversSurvived = 1u << 3,  // a process of the slot's uid outlived the cleanup
};

// The last message of a run; a run that never started has no StartReport.
struct EndReport {
  uint32_t type;       // kEnded
  int32_t setup_step;  // kStepNone when the program ran
  int32_t setup_errno;
  int32_t exit_code;
  int32_t signal;
  uint32_t flags;
  int64_t cpu_time_ms;
  int64_t real_time_ms;
  int64_t memory_bytes;  // the program's own peak resident set
};

}  // namespace judge::wire

#endif  // JUDGE_SERVER_SANDBOX_WIRE_H_
