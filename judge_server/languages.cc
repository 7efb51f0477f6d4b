#include "judge_server/languages.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace judge {

const std::vector<Language>& Languages() {
  static const std::vector<Language>* languages = new std::vector<Language>{
      {"c",
       "C (gcc, C17)",
       "main.c",
       {"/usr/bin/gcc", "-std=c17", "-O2", "-pipe", "-w", "-fmax-errors=3", "-DONLINE_JUDGE",
        "{src}", "-o", "{exe}", "-lm"},
       {"{exe}"},
       "main",
       0,
       true},
      {"cpp",
       "C++ (g++, C++17)",
       "main.cpp",
       {"/usr/bin/g++", "-std=c++17", "-O2", "-pipe", "-w", "-fmax-errors=3", "-DONLINE_JUDGE",
        "{src}", "-o", "{exe}"},
       {"{exe}"},
       "main",
       0,
       true},
      {"python3",
       "Python 3",
       "solution.py",
       {"/usr/bin/python3", "-I", "-c",
        "import sys;compile(open(sys.argv[1],'rb').read(),sys.argv[1],'exec')", "{src}"},
       {"/usr/bin/python3", "-I", "-B", "{src}"},
       "solution.py",
       64LL << 20,
       false},
  };
  return *languages;
}

const Language* FindLanguage(std::string_view id) {
  std::string key = absl::AsciiStrToLower(std::string(id));
  if (key == "c++" || key == "cc" || key == "c++17") key = "cpp";
  if (key == "py3" || key == "python") key = "python3";
  for (const Language& l : Languages()) {
    if (l.id == key) return &l;
  }
  return nullptr;
}

const Language* LanguageForQingdaoConfig(std::string_view src_name_view,
                                         std::string_view run_command_view) {
  const std::string src_name(src_name_view), run_command(run_command_view);
  if (src_name == "main.c") return FindLanguage("c");
  if (src_name == "main.cpp") return FindLanguage("cpp");
  if (absl::EndsWith(src_name, ".py") || absl::StrContains(run_command, "python")) {
    // QingdaoU's Python 2 config also uses solution.py; only Python 3 is served here.
    if (absl::StrContains(run_command, "python3") || !absl::StrContains(run_command, "python")) {
      return FindLanguage("python3");
    }
  }
  return nullptr;
}

std::vector<std::string> ExpandCommand(const std::vector<std::string>& command,
                                       const Language& language, std::string_view dir) {
  std::string src = absl::StrCat(std::string(dir), "/", language.src_name);
  std::string exe = absl::StrCat(std::string(dir), "/", language.exe_name);
  std::vector<std::string> out;
  out.reserve(command.size());
  for (const std::string& part : command) {
    out.push_back(absl::StrReplaceAll(part, {{"{src}", src}, {"{exe}", exe}}));
  }
  return out;
}

std::string CompileFingerprint(const Language& language) {
  return absl::StrCat(language.id, "\n", absl::StrJoin(language.compile, " "), "\n");
}

}  // namespace judge
