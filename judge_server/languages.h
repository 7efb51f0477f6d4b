// The languages the judge compiles and runs. Commands are the server's own: a client's
// command strings (QingdaoU's language_config) only select a language, never run.
#ifndef JUDGE_SERVER_LANGUAGES_H_
#define JUDGE_SERVER_LANGUAGES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace judge {

struct Language {
  std::string id;        // "c", "cpp", "python3"
  std::string name;      // human name with standard
  std::string src_name;  // file the source is written to
  // Compile command, empty when the language is interpreted; "{src}" and "{exe}" are
  // replaced by file names inside the working directory.
  std::vector<std::string> compile;
  // Run command; "{exe}" is the compiled program, "{src}" the source.
  std::vector<std::string> run;
  std::string exe_name;  // output of compile, or the file that is run
  // Address space the runtime needs on top of the memory limit (interpreters map more
  // than they touch).
  int64_t extra_address_space = 0;
  bool native = true;  // an ELF the judge can inspect for static memory
  // Runtimes that reserve far more address space than they use (JVM, Go, V8): no
  // RLIMIT_AS; the sandbox polls the resident set against the limit instead (as QingdaoU
  // checks Java's memory without capping it).
  bool memory_check_only = false;
  // Extra environment of compile and run ("{dir}" is the working directory).
  std::vector<std::string> env = {};
  int64_t compile_processes = 64;  // threads and processes of the compiler together
};

const std::vector<Language>& Languages();

// True when the language's compiler and runtime are installed here (an image may be
// built with a subset: docker/judge_server/build --languages).
bool Installed(const Language& language);

// Finds by id; also accepts common aliases ("c++", "py3", "js"). Null when unknown.
const Language* FindLanguage(std::string_view id);

// Picks the language a QingdaoU language_config means, from compile.src_name and
// run.command. Null when it names a language this judge does not have; `*why` then
// says so when there is more to say (Python 2).
const Language* LanguageForQingdaoConfig(std::string_view src_name, std::string_view run_command,
                                         std::string* why = nullptr);

// The same for a config without "compile" (QingdaoU's PHP and JavaScript configs): picked by
// run.exe_name's extension (.php, .js, .py), else by the interpreter run.command names
// (php, node, python3). The result is a run-only variant of a server-side language: no
// compile step, the source written as solution.php / solution.js / solution.py and run
// by the server's own command, as QingdaoU judges these (a syntax error is then a runtime
// error, not CompileError). Null as above.
const Language* LanguageForQingdaoRunOnlyConfig(std::string_view exe_name,
                                                std::string_view run_command,
                                                std::string* why = nullptr);

// Replaces {src} and {exe} with the file names in `dir`, {dir} with `dir` and
// {max_memory_kb} with the memory limit.
std::vector<std::string> ExpandCommand(const std::vector<std::string>& command,
                                       const Language& language, std::string_view dir,
                                       int64_t max_memory_bytes = 0);

// A stable text of everything that changes the compiled result (for the compile cache).
std::string CompileFingerprint(const Language& language);

}  // namespace judge

#endif  // JUDGE_SERVER_LANGUAGES_H_
