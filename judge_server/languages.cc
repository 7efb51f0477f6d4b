#include "judge_server/languages.h"

#include <unistd.h>

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
      // The class files go into one jar so that the compiled program is one file (inner
      // classes make several). Both JVMs are told their heap: without it they size it
      // from the machine's memory.
      {"java",
       "Java (OpenJDK 17)",
       "Main.java",
       {"/bin/sh", "-c",
        "/usr/bin/javac -J-Xmx512m -J-XX:+UseSerialGC -J-XX:-UsePerfData -encoding UTF-8 "
        "-d classes Main.java && /usr/bin/jar cf Main.jar -C classes ."},
       {"/usr/bin/java", "-cp", "{exe}", "-XX:MaxRAM={max_memory_kb}k", "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto", "-Xss64m",
        "-Dfile.encoding=UTF-8", "-Djava.awt.headless=true", "Main"},
       "Main.jar",
       0,
       false,
       true,
       {},
       256},
      {"go",
       "Go 1.19",
       "main.go",
       {"/usr/bin/go", "build", "-o", "{exe}", "{src}"},
       {"{exe}"},
       "main",
       0,
       true,
       true,
       {"GOCACHE={dir}/.gocache", "GOPATH={dir}/.gopath", "GO111MODULE=off", "CGO_ENABLED=0",
        "GODEBUG=madvdontneed=1"},
       256},
      {"javascript",
       "JavaScript (Node.js)",
       "main.js",
       {"/usr/bin/node", "--check", "{src}"},
       {"/usr/bin/node", "--stack-size=65500", "{exe}"},
       "main.js",
       0,
       false,
       true},
      {"php",
       "PHP 8",
       "solution.php",
       {"/usr/bin/php", "-l", "{src}"},
       {"/usr/bin/php", "-d", "memory_limit=-1", "{exe}"},
       "solution.php",
       128LL << 20,
       false},
  };
  return *languages;
}

bool Installed(const Language& language) {
  for (const auto* command : {&language.compile, &language.run}) {
    if (!command->empty() && (*command)[0][0] == '/' && access((*command)[0].c_str(), X_OK) != 0) {
      return false;
    }
  }
  if (language.id == "java") return access("/usr/bin/jar", X_OK) == 0;
  return true;
}

const Language* FindLanguage(std::string_view id) {
  std::string key = absl::AsciiStrToLower(std::string(id));
  if (key == "c++" || key == "cc" || key == "c++17") key = "cpp";
  if (key == "py3" || key == "python") key = "python3";
  if (key == "js" || key == "node" || key == "nodejs") key = "javascript";
  if (key == "golang") key = "go";
  for (const Language& l : Languages()) {
    if (l.id == key) return &l;
  }
  return nullptr;
}

const Language* LanguageForQingdaoConfig(std::string_view src_name_view,
                                         std::string_view run_command_view, std::string* why) {
  const std::string src_name(src_name_view), run_command(run_command_view);
  if (src_name == "main.c") return FindLanguage("c");
  if (src_name == "main.cpp") return FindLanguage("cpp");
  if (src_name == "Main.java") return FindLanguage("java");
  if (src_name == "main.go") return FindLanguage("go");
  if (src_name == "main.js") return FindLanguage("javascript");
  if (src_name == "solution.php") return FindLanguage("php");
  if (absl::EndsWith(src_name, ".py") || absl::StrContains(run_command, "python")) {
    // QingdaoU's Python 2 and Python 3 configs both use solution.py; its Python 2 runs
    // /usr/bin/python, its Python 3 /usr/bin/python3.
    if (absl::StrContains(run_command, "python3") || !absl::StrContains(run_command, "python")) {
      return FindLanguage("python3");
    }
    if (why != nullptr) {
      *why =
          "selects Python 2, which this judge cannot serve: Debian 12 packages no Python 2 "
          "interpreter (not even pypy); use the Python 3 config";
    }
  }
  return nullptr;
}

std::vector<std::string> ExpandCommand(const std::vector<std::string>& command,
                                       const Language& language, std::string_view dir,
                                       int64_t max_memory_bytes) {
  std::string src = absl::StrCat(std::string(dir), "/", language.src_name);
  std::string exe = absl::StrCat(std::string(dir), "/", language.exe_name);
  std::string memory_kb = absl::StrCat(max_memory_bytes / 1024);
  std::vector<std::string> out;
  out.reserve(command.size());
  for (const std::string& part : command) {
    out.push_back(absl::StrReplaceAll(part, {{"{src}", src},
                                             {"{exe}", exe},
                                             {"{dir}", std::string(dir)},
                                             {"{max_memory_kb}", memory_kb}}));
  }
  return out;
}

std::string CompileFingerprint(const Language& language) {
  return absl::StrCat(language.id, "\n", absl::StrJoin(language.compile, " "), "\n",
                      absl::StrJoin(language.env, " "), "\n");
}

}  // namespace judge
