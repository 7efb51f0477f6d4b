#include "judge_server/languages.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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

namespace {

constexpr const char* kPythonTwo =
    "selects Python 2, which this judge cannot serve: Debian 12 packages no Python 2 "
    "interpreter (not even pypy); use the Python 3 config";

// The program a QingdaoU run.command starts, without its directory ("/usr/bin/env node
// {exe_path}" starts node).
std::string Interpreter(const std::string& command) {
  for (absl::string_view word : absl::StrSplit(command, ' ', absl::SkipEmpty())) {
    absl::string_view name = word.substr(word.rfind('/') + 1);
    if (name != "env") return std::string(name);
  }
  return "";
}

// "php", "php8.2": a name followed by nothing but a version.
bool IsVersioned(absl::string_view name, absl::string_view base) {
  if (!absl::ConsumePrefix(&name, base)) return false;
  return name.find_first_not_of("0123456789.") == absl::string_view::npos;
}

bool IsPythonTwo(absl::string_view interpreter) {
  return interpreter == "python" || IsVersioned(interpreter, "python2");
}

// Run-only variants of the languages that run their source (interpreted from it): no
// compile step, and QingdaoU's file name, solution.<ext>.
const std::vector<Language>& RunOnlyLanguages() {
  static const std::vector<Language>* languages = [] {
    auto* out = new std::vector<Language>;
    for (const Language& l : Languages()) {
      if (l.src_name != l.exe_name) continue;  // needs its compile (Java's jar)
      Language r = l;
      r.compile.clear();
      r.src_name = r.exe_name = absl::StrCat("solution", l.src_name.substr(l.src_name.rfind('.')));
      r.name = absl::StrCat(l.name, ", run only");
      out->push_back(std::move(r));
    }
    return out;
  }();
  return *languages;
}

const Language* FindRunOnly(std::string_view id) {
  for (const Language& l : RunOnlyLanguages()) {
    if (l.id == id) return &l;
  }
  return nullptr;
}

}  // namespace

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
    if (why != nullptr) *why = kPythonTwo;
  }
  return nullptr;
}

const Language* LanguageForQingdaoRunOnlyConfig(std::string_view exe_name,
                                                std::string_view run_command, std::string* why) {
  const std::string interpreter = Interpreter(std::string(run_command));
  std::string_view base = exe_name.substr(exe_name.rfind('/') + 1);
  const size_t dot = base.rfind('.');
  const std::string extension =
      dot == std::string_view::npos ? "" : absl::AsciiStrToLower(std::string(base.substr(dot)));
  std::string id;
  if (extension == ".php") {
    id = "php";
  } else if (extension == ".js") {
    id = "javascript";
  } else if (extension == ".py") {
    id = "python3";
  } else if (IsVersioned(interpreter, "php")) {
    id = "php";
  } else if (interpreter == "node" || interpreter == "nodejs") {
    id = "javascript";
  } else if (IsVersioned(interpreter, "python3") || IsPythonTwo(interpreter)) {
    id = "python3";
  }
  if (id == "python3" && IsPythonTwo(interpreter)) {
    if (why != nullptr) *why = kPythonTwo;
    return nullptr;
  }
  return id.empty() ? nullptr : FindRunOnly(id);
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
