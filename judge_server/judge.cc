#include "judge_server/judge.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "judge_server/compare.h"
#include "judge_server/files.h"
#include "judge_server/spj.h"
#include "judge_server/test_case_store.h"

namespace judge {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kMaxExecutableBytes = 64LL << 20;
constexpr size_t kMaxCompileMessage = 8 << 10;


std::vector<std::string> SandboxEnv(const std::string& home, const std::string& tmp) {
  return {"PATH=/usr/bin:/bin", "LANG=C.UTF-8",  "LC_ALL=C.UTF-8",
          "HOME=" + home,       "TMPDIR=" + tmp, "ONLINE_JUDGE=1"};
}

uid_t RandomUidBase() {
  // Ranges of 64 uids far above any real account; random per server so that two judge
  // servers on one kernel (replicas of one node) never kill each other's runs.
  std::random_device rd;
  return 300000 + (rd() % 10000) * 64;
}

constexpr uid_t kProbeUidOffset = 63;

}  // namespace

int64_t ElfStaticMemory(std::string_view b) {
  if (b.size() < sizeof(Elf64_Ehdr) || b.substr(0, 4) != ELFMAG || b[EI_CLASS] != ELFCLASS64) {
    return 0;
  }
  Elf64_Ehdr eh;
  memcpy(&eh, b.data(), sizeof(eh));
  int64_t total = 0;
  for (int i = 0; i < eh.e_phnum; ++i) {
    uint64_t off = eh.e_phoff + static_cast<uint64_t>(i) * eh.e_phentsize;
    if (eh.e_phentsize < sizeof(Elf64_Phdr) || off + sizeof(Elf64_Phdr) > b.size()) return total;
    Elf64_Phdr ph;
    memcpy(&ph, b.data() + off, sizeof(ph));
    if (ph.p_type == PT_LOAD) total += static_cast<int64_t>(ph.p_memsz);
  }
  return total;
}

absl::StatusOr<std::unique_ptr<Judge>> Judge::Create(const JudgeOptions& options,
                                                     Metrics& metrics) {
  if (options.slots < 1 || options.slots > static_cast<int>(kProbeUidOffset)) {
    return absl::InvalidArgumentError("slots must be between 1 and 63");
  }
  JudgeOptions o = options;
  if (o.uid_base == 0) o.uid_base = RandomUidBase();
  std::error_code ec;
  fs::create_directories(o.work_root, ec);
  // Traversable but not listable: a run finds no other run's directory by name.
  if (ec || chmod(o.work_root.c_str(), 0711) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("work root ", o.work_root, " cannot be created; set --work-dir"));
  }
  for (int slot = 0; slot < o.slots; ++slot) {
    std::string dir = absl::StrCat(o.work_root, "/slot-", slot);
    if (auto s = FreshDir(dir, 0711, 0, 0); !s.ok()) return s;
  }
  SandboxOptions sandbox_options;
  sandbox_options.hidden_paths = {o.test_case_root};
  sandbox_options.probe_uid = o.uid_base + kProbeUidOffset;
  sandbox_options.mode = o.sandbox_mode;
  sandbox_options.close_shared_dirs = o.close_shared_dirs;
  auto sandbox = Sandbox::Create(sandbox_options);
  if (!sandbox.ok()) return sandbox.status();
  return std::unique_ptr<Judge>(new Judge(std::move(o), *std::move(sandbox), metrics));
}

std::string Judge::SlotDir(int slot) const {
  return absl::StrCat(options_.work_root, "/slot-", slot);
}

void Judge::CleanUp(int slot, const std::string& dir, bool leftovers_survived) {
  absl::Status removed = RemoveTree(dir);
  if (!leftovers_survived && removed.ok()) return;
  // Fail closed: whatever is left could reach the next judging of this slot.
  if (!out_of_service_[slot].exchange(true)) {
    metrics_.CountSlotOutOfService();
    std::cerr << "judge_server: slot " << slot << " taken out of service: "
              << (leftovers_survived ? "a process of its uid survived the cleanup"
                                     : std::string(removed.message()))
              << std::endl;
  }
}

std::shared_ptr<const CompiledProgram> Judge::Compile(const Language& language,
                                                      const std::string& source, int slot,
                                                      absl::Status* error, bool* cache_hit) {
  const std::string key = Sha256Hex(absl::StrCat(CompileFingerprint(language), source));
  if (auto hit = cache_.Find(key)) {
    metrics_.CountCacheLookup(true);
    *cache_hit = true;
    return hit;
  }
  metrics_.CountCacheLookup(false);
  auto program = std::make_shared<CompiledProgram>();
  if (language.compile.empty()) {
    program->ok = true;
    program->program = source;
    cache_.Insert(key, program);
    return program;
  }
  const uid_t uid = SlotUid(slot);
  const std::string dir = SlotDir(slot) + "/compile";
  absl::Status s = FreshDir(dir, 0700, uid, uid);
  if (s.ok()) s = WriteNewFile(dir + "/" + language.src_name, source, 0400, uid, uid);
  if (!s.ok()) {
    *error = s;
    return nullptr;
  }
  RunSpec spec;
  spec.argv = ExpandCommand(language.compile, language, dir);
  // With namespaces the compiler's temporary files go to the run's private tmpfs;
  // without them, /tmp is closed to the slot uids and the compile directory serves.
  const bool private_tmp = sandbox_->mode() == SandboxMode::kNamespaces;
  spec.env = SandboxEnv(dir, private_tmp ? "/tmp" : dir);
  for (const std::string& e : ExpandCommand(language.env, language, dir)) spec.env.push_back(e);
  spec.cwd = dir;
  spec.uid = uid;
  spec.gid = uid;
  spec.profile = SeccompProfile::kCompile;
  spec.limits.memory_check_only = language.memory_check_only;
  spec.limits.cpu_time_ms = 10000;
  spec.limits.real_time_ms = 20000;
  spec.limits.address_space_bytes = 2048LL << 20;
  spec.limits.memory_bytes = 2048LL << 20;
  spec.limits.file_size_bytes = kMaxExecutableBytes;
  spec.limits.tmpfs_bytes = 256LL << 20;
  spec.limits.open_files = 256;
  spec.limits.processes = language.compile_processes;
  spec.limits.stdout_bytes = 64 << 10;
  const auto start = std::chrono::steady_clock::now();
  auto run = sandbox_->Run(spec);
  metrics_.compile_seconds().Observe(SecondsSince(start));
  if (!run.ok()) {
    *error = run.status();
    CleanUp(slot, dir, false);
    return nullptr;
  }
  std::string message = run->stderr_data + run->stdout_data;
  if (message.size() > kMaxCompileMessage) {
    message.resize(kMaxCompileMessage);
    message += "\n[compiler output truncated]";
  }
  // Diagnostics name files relative to the submission, never the server's paths.
  message = absl::StrReplaceAll(message, {{dir + "/", ""}});
  if (run->cpu_time_exceeded || run->real_time_exceeded) {
    message = "compilation exceeded its time limit\n" + message;
  } else if (run->output_exceeded) {
    message = "compilation produced too much output\n" + message;
  } else if (run->exit_code == 0 && run->signal == 0) {
    auto exe = ReadRegularFile(dir + "/" + language.exe_name, kMaxExecutableBytes);
    if (exe.ok()) {
      program->ok = true;
      program->program = *std::move(exe);
    } else {
      message = std::string(exe.status().message());
    }
  } else if (run->signal != 0) {
    message = absl::StrCat("the compiler was killed by signal ", run->signal,
                           " (memory or process limit)\n", message);
  }
  program->message = std::move(message);
  CleanUp(slot, dir, run->leftovers_survived);
  // Only programs are cached: a compile error can depend on more than the source (an
  // #include of a file that changes), and its message would replay that content.
  if (program->ok) cache_.Insert(key, program);
  return program;
}

JudgeOutcome Judge::Run(const JudgeRequest& request, int slot) {
  JudgeOutcome outcome;
  const Language& language = *request.language;

  std::vector<TestCase> loaded;
  const std::vector<TestCase>* cases = &request.test_cases;
  bool spj_cases = request.spj.has_value();  // inline cases: with a checker, as in QingdaoU
  if (request.test_case_id.has_value()) {
    auto l = LoadTestCases(options_.test_case_root, *request.test_case_id);
    if (!l.ok()) {
      outcome.error = l.status();
      return outcome;
    }
    spj_cases = l->spj;
    loaded = std::move(l->cases);
    cases = &loaded;
  }

  // The checker first, as QingdaoU does: SPJCompileError comes before CompileError.
  std::shared_ptr<const CompiledProgram> checker;
  if (request.spj.has_value()) {
    auto c = FindOrCompileSpj(*request.spj, slot);
    if (!c.ok()) {
      outcome.error = c.status();
      return outcome;
    }
    if (!(*c)->ok) {
      outcome.spj_compile_error = true;
      outcome.compile_message = (*c)->message;
      return outcome;
    }
    checker = *std::move(c);
  }

  auto phase_start = std::chrono::steady_clock::now();
  auto phase_done = [&](Phase phase) {
    metrics_.AddPhase(phase, SecondsSince(phase_start));
    phase_start = std::chrono::steady_clock::now();
  };
  auto program = Compile(language, request.source, slot, &outcome.error, &outcome.cache_hit);
  phase_done(Phase::kCompile);
  if (program == nullptr) return outcome;
  if (!program->ok) {
    outcome.verdict = Verdict::kCompileError;
    outcome.compile_message = program->message;
    return outcome;
  }
  for (const TestCase& tc : *cases) {
    if (spj_cases ? checker == nullptr : !CanCompare(tc, request.compare)) {
      outcome.error = absl::InvalidArgumentError(
          spj_cases ? "the test cases need a special judge (info has \"spj\": true): send "
                      "spj_version, spj_config and spj_src"
                    : absl::StrCat("test case ", tc.id,
                                   " has only a stripped_output_md5, which "
                                   "only the comparison \"ignore_trailing_whitespace_at_end\" "
                                   "(QingdaoU's) can use"));
      return outcome;
    }
  }

  const CaseLimits limits{request.max_cpu_time_ms, request.max_real_time_ms,
                          request.max_memory_bytes};
  // A static array larger than the limit is MLE before anything runs.
  if (language.native) {
    int64_t static_bytes = ElfStaticMemory(program->program);
    if (static_bytes > request.max_memory_bytes) {
      for (const TestCase& tc : *cases) {
        CaseResult r;
        r.test_case = tc.id;
        r.verdict = Verdict::kMemoryLimitExceeded;
        r.run.memory_bytes = static_bytes;
        outcome.cases.push_back(std::move(r));
      }
      outcome.verdict = Verdict::kMemoryLimitExceeded;
      return outcome;
    }
  }

  phase_start = std::chrono::steady_clock::now();
  const uid_t uid = SlotUid(slot);
  // Readable by the slot's group, writable by no one but root: the program cannot plant
  // links or files where the server works.
  const std::string dir = SlotDir(slot) + "/run";
  absl::Status s = FreshDir(dir, 0750, 0, uid);
  if (s.ok()) {
    s = WriteNewFile(dir + "/" + language.exe_name, program->program, language.native ? 0550 : 0440,
                     0, uid);
  }
  if (!s.ok()) {
    outcome.error = s;
    return outcome;
  }

  const bool file_io = !request.input_file.empty();
  if (file_io &&
      (request.input_file == language.exe_name || request.output_file == language.exe_name)) {
    outcome.error = absl::InvalidArgumentError(absl::StrCat(
        "io_mode: ", language.exe_name, " is the program's own file; pick other names"));
    return outcome;
  }

  RunSpec spec;
  spec.argv = ExpandCommand(language.run, language, dir, request.max_memory_bytes);
  spec.env = SandboxEnv(dir, sandbox_->mode() == SandboxMode::kNamespaces ? "/tmp" : dir);
  for (const std::string& e : ExpandCommand(language.env, language, dir)) spec.env.push_back(e);
  spec.cwd = dir;
  spec.uid = uid;
  spec.gid = uid;
  spec.profile = SeccompProfile::kRun;
  spec.merge_stderr = request.qingdao_form;
  spec.limits.cpu_time_ms = request.max_cpu_time_ms;
  spec.limits.real_time_ms = request.max_real_time_ms;
  // Twice the limit so that a program that overruns is seen using more than the limit
  // (MLE) instead of just failing an allocation.
  // At least 64 MB, so that a program given 1 MB starts and gets MLE instead of failing
  // in execve.
  spec.limits.address_space_bytes =
      std::max<int64_t>(request.max_memory_bytes * 2, 64LL << 20) + language.extra_address_space;
  spec.limits.memory_bytes = request.max_memory_bytes;
  spec.limits.memory_check_only = language.memory_check_only;
  // The main thread may recurse as deep as the memory allows; an unlimited stack rlimit
  // also keeps glibc's default thread stacks small (2 MB) instead of one rlimit each.
  spec.limits.stack_bytes = -1;
  spec.limits.file_size_bytes = 8LL << 20;
  spec.limits.tmpfs_bytes = 8LL << 20;
  spec.limits.stdout_bytes = request.max_output_bytes;

  std::vector<Verdict> verdicts;
  size_t output_room = options_.max_kept_output;
  for (const TestCase& tc : *cases) {
    spec.limits.stdout_bytes = CaseOutputLimit(request, tc);
    spec.stdin_data = file_io ? "" : tc.input;
    if (file_io) {
      // The input readable, the output the one file the program may write (the directory
      // stays closed to it); both fresh for every case.
      const std::string in = dir + "/" + request.input_file, out = dir + "/" + request.output_file;
      absl::Status prepared = RemoveTree(in);
      if (prepared.ok()) prepared = RemoveTree(out);
      if (prepared.ok()) prepared = WriteNewFile(in, tc.input, 0440, 0, uid);
      if (prepared.ok()) prepared = WriteNewFile(out, "", 0600, uid, uid);
      if (!prepared.ok()) {
        outcome.error = prepared;
        CleanUp(slot, dir, false);
        return outcome;
      }
      spec.limits.file_size_bytes = spec.limits.stdout_bytes;
    }
    phase_done(Phase::kPrepare);
    auto run = sandbox_->Run(spec);
    metrics_.run_seconds().Observe(SecondsSince(phase_start));
    phase_done(Phase::kRun);
    if (file_io && run.ok()) {
      // What the program wrote to its output file is its output; stdout is not judged.
      auto written = ReadRegularFile(dir + "/" + request.output_file, spec.limits.stdout_bytes);
      run->stdout_data = written.ok() ? *std::move(written) : "";
      if (run->signal == SIGXFSZ) run->output_exceeded = true;
    }
    CaseResult r;
    r.test_case = tc.id;
    if (!run.ok()) {
      r.verdict = Verdict::kSystemError;
      r.run.stderr_data = std::string(run.status().message());
    } else {
      r.run = *std::move(run);
      r.verdict = ClassifyRun(r.run, limits, /*output_matches=*/true);
      if (r.verdict == Verdict::kAccepted) {
        CheckAnswer(request, tc, spj_cases ? checker.get() : nullptr, slot, r);
      }
    }
    phase_done(Phase::kCheck);
    if (!request.return_output) {
      r.run.stdout_data.clear();
    } else if (r.run.stdout_data.size() > output_room) {
      // 200 cases of 64 MB would otherwise all wait in memory for the reply.
      r.run.stdout_data.resize(output_room);
      r.run.stdout_data.shrink_to_fit();
      r.output_truncated = true;
    }
    output_room -= r.run.stdout_data.size();
    const bool dirty = r.run.leftovers_survived;
    verdicts.push_back(r.verdict);
    outcome.cases.push_back(std::move(r));
    if (dirty) {
      CleanUp(slot, dir, true);
      outcome.error = absl::InternalError("a process of the run survived its cleanup");
      outcome.verdict = Verdict::kSystemError;
      return outcome;
    }
  }
  CleanUp(slot, dir, false);
  phase_done(Phase::kCleanup);
  outcome.verdict = OverallVerdict(verdicts);
  return outcome;
}

absl::StatusOr<std::shared_ptr<const CompiledProgram>> Judge::FindOrCompileSpj(
    const SpjRequest& spj, int slot) {
  if (spj.source.has_value() && spj.language != nullptr) {
    absl::Status error;
    auto program = CompileSpj(spj, slot, &error);
    if (program == nullptr) return error;
    return program;
  }
  // As QingdaoU: a checker compiled under this version serves, whatever else is sent.
  if (auto hit = spj_versions_.Find(spj.version)) return hit;
  return absl::FailedPreconditionError(absl::StrCat(
      "spj_version '", spj.version,
      "' was never compiled on this server: POST /compile_spj first, ",
      spj.source.has_value() ? "or send spj_compile_config (or spj_language) to name spj_src's "
                               "language"
                             : "or send spj_src and spj_compile_config with the judging"));
}

std::shared_ptr<const CompiledProgram> Judge::CompileSpj(const SpjRequest& spj, int slot,
                                                         absl::Status* error) {
  bool cache_hit = false;
  auto program = Compile(*spj.language, *spj.source, slot, error, &cache_hit);
  if (program != nullptr && program->ok) spj_versions_.Insert(spj.version, program);
  return program;
}

void Judge::CheckAnswer(const JudgeRequest& request, const TestCase& tc,
                        const CompiledProgram* checker, int slot, CaseResult& r) {
  if (checker == nullptr) {
    r.output_md5 = StrippedOutputMd5(r.run.stdout_data);
    r.verdict = AnswerMatches(tc, r.run.stdout_data, request.compare) ? Verdict::kAccepted
                                                                      : Verdict::kWrongAnswer;
    return;
  }
  auto spj = RunSpecialJudge(
      *sandbox_, checker->program, SlotDir(slot) + "/spj", SlotUid(slot), tc.input,
      r.run.stdout_data,
      {request.max_cpu_time_ms, request.max_real_time_ms, request.max_memory_bytes});
  r.verdict = spj.ok() ? spj->verdict : Verdict::kSystemError;
  if (r.verdict == Verdict::kSystemError) r.error = kSpjErrorCode;
  // Run()'s loop takes the slot out of service, as after the program's own run.
  if (spj.ok() && spj->leftovers_survived) r.run.leftovers_survived = true;
}

}  // namespace judge
