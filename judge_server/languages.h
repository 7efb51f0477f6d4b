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
};

const std::vector<Language>& Languages();

// Finds by id; also accepts common aliases ("c++", "py3"). Null when unknown.
const Language* FindLanguage(std::string_view id);

// Picks the language a QingdaoU language_config means, from compile.src_name and
// run.command. Null when it names a language this judge does not have.
const Language* LanguageForQingdaoConfig(std::string_view src_name, std::string_view run_command);

// Replaces {src} and {exe} with the file names in `dir`.
std::vector<std::string> ExpandCommand(const std::vector<std::string>& command,
                                       const Language& language, std::string_view dir);

// A stable text of everything that changes the compiled result (for the compile cache).
std::string CompileFingerprint(const Language& language);

}  // namespace judge

#endif  // JUDGE_SERVER_LANGUAGES_H_
