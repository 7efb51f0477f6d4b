// The messages between judge_server's Sandbox and judge_sandbox_init, the small static
// program that becomes the parent of every judged process (see sandbox_init.cc for why).
//
// Both ends are built from this header in one build, so the layout is plain structs of
// fixed-size fields. The spec travels on the init's fd 3, reports come back on fd 4.
#ifndef JUDGE_SERVER_SANDBOX_WIRE_H_
#define JUDGE_SERVER_SANDBOX_WIRE_H_

#include <cstdint>

namespace judge::wire {

// The init's file descriptors, set up by the server before the init starts.
constexpr int kSpecFd = 3;    // the spec: SpecHeader, filter, strings; then end of file
constexpr int kReportFd = 4;  // StartReport once the program runs, then EndReport
constexpr int kNetnsFd = 5;   // the empty network namespace to join (namespaces mode only)

constexpr uint32_t kSpecMagic = 0x4a534932;  // "JSI2"

enum SpecFlags : uint32_t {
  // Own mount and IPC namespaces per run with a private, size-capped tmpfs over every
  // world-writable directory, the hidden paths covered, and the empty network namespace.
  kNamespaces = 1u << 0,
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
  uint32_t strings_bytes;  // then NUL-terminated strings: exec path, cwd, argv..., env...,
  uint32_t argc;           // writable dirs to cover..., hidden paths...
  uint32_t envc;
  uint32_t coverc;
  uint32_t hidec;
};

// Steps of the program's setup, named in an error when one fails before execve.
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

struct StartReport {
  int32_t pid;  // the program's pid (its process group too)
};

enum EndFlags : uint32_t {
  kCpuExceeded = 1u << 0,
  kRealExceeded = 1u << 1,
  kMemoryExceeded = 1u << 2,
  kLeftoversSurvived = 1u << 3,  // a process of the slot's uid outlived the cleanup
};

struct EndReport {
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
