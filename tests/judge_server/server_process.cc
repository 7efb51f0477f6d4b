#include "tests/judge_server/server_process.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "judge_server/compare.h"

namespace judge::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

boost::json::value HttpResponse::Json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) return boost::json::object{{"unparsable_body", body}};
  return v;
}

HttpResponse HttpRequest(int port, const std::string& method, const std::string& target,
                         const std::string& body,
                         const std::map<std::string, std::string>& headers) {
  HttpResponse out;
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(120));
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (req.find(http::field::content_length) == req.end()) req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 << 20);
    http::read(stream, buffer, parser);
    const auto& res = parser.get();
    out.status = res.result_int();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    out.body = res.body();
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

std::string TokenHeader() { return Sha256Hex(ServerProcess::kToken); }

std::string JudgeServerBinary() {
  const char* binary = getenv("JUDGE_SERVER_BINARY");
  return binary != nullptr && *binary ? binary : "build/judge_server/judge_server";
}

namespace {

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string ServerProcess::Exec(const std::string& command) const {
  if (container_.empty()) return RunCommand(command);
  std::string quoted;
  for (char c : command) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted += c;
  }
  return RunCommand("docker exec " + container_ + " sh -c '" + quoted + "'");
}

ServerProcess::ServerProcess(std::vector<std::string> extra_args,
                             std::vector<std::pair<std::string, std::string>> env)
    : ServerProcess(std::move(extra_args), std::move(env), 0) {}

ServerProcess::ServerProcess(std::vector<std::string> extra_args,
                             std::vector<std::pair<std::string, std::string>> env,
                             int nofile_limit) {
  std::random_device rd;
  uid_base_ = 500000 + (rd() % 20000) * 64;
  for (size_t i = 0; i + 1 < extra_args.size(); ++i) {
    if (extra_args[i] == "--slots") slots_ = std::stoi(extra_args[i + 1]);
  }
  if (const char* image = getenv("JUDGE_TEST_IMAGE"); image != nullptr && *image) {
    container_ = "judge-test-" + std::to_string(rd());
    work_dir_ = "/tmp/judge_server";
    std::string cmd = "docker run -d --name " + container_ +
                      " --cap-add SYS_ADMIN -p 127.0.0.1::8090 -e JUDGE_TOKEN=" + kToken +
                      " -e JUDGE_UID_BASE=" + std::to_string(uid_base_) +
                      " -e JUDGE_SLOTS=" + std::to_string(slots_);
    for (size_t i = 0; i + 1 < extra_args.size(); i += 2) {
      if (extra_args[i] == "--test-case-dir") {
        cmd += " -v " + extra_args[i + 1] + ":" + extra_args[i + 1] +
               ":ro -e JUDGE_TEST_CASE_DIR=" + extra_args[i + 1];
      }
    }
    cmd += std::string(" ") + image + " >/dev/null";
    if (system(cmd.c_str()) != 0) throw std::runtime_error("docker run failed: " + cmd);
    std::string mapped = Trim(RunCommand("docker port " + container_ + " 8090/tcp | head -1"));
    port_ = std::stoi(mapped.substr(mapped.rfind(':') + 1));
    for (int i = 0; i < 200 && HttpRequest(port_, "GET", "/healthz").status != 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // The server's pid as the judged programs see it, inside the container.
    std::string inside =
        Trim(Exec("for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = judge_server ] && "
                  "basename $p; done | head -1"));
    pid_ = inside.empty() ? -1 : std::stoi(inside);
    return;
  }
  work_dir_ = std::filesystem::temp_directory_path() / ("judge_test_" + std::to_string(rd()));
  std::vector<std::string> args = {JudgeServerBinary(),
                                   "--port",
                                   "0",
                                   "--work-dir",
                                   work_dir_,
                                   "--uid-base",
                                   std::to_string(uid_base_),
                                   "--slots",
                                   std::to_string(slots_)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    bool token_set = false;
    for (const auto& [k, v] : env) {
      setenv(k.c_str(), v.c_str(), 1);
      token_set = token_set || k == "TOKEN" || k == "JUDGE_TOKEN";
    }
    if (!token_set) setenv("JUDGE_TOKEN", kToken, 1);
    if (nofile_limit > 0) {
      struct rlimit rl = {static_cast<rlim_t>(nofile_limit), static_cast<rlim_t>(nofile_limit)};
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  // The first line names the bound port: "... listening on 0.0.0.0:PORT as ...".
  std::string line;
  char c;
  ssize_t got = 0;
  while ((got = read(out[0], &c, 1)) == 1 && c != '\n') line += c;
  const int read_errno = got < 0 ? errno : 0;
  close(out[0]);  // later output goes nowhere; the server ignores SIGPIPE
  auto pos = line.find("listening on ");
  if (pos == std::string::npos) {
    // Say why, and leave nothing behind: the destructor does not run for a throwing
    // constructor.
    std::string why = "silent, killed";
    int status = 0;
    for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(10))) {
      if (waitpid(pid_, &status, WNOHANG) != pid_) continue;
      why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) +
                                    " (126: setrlimit failed, 127: exec failed)"
                              : "killed by signal " + std::to_string(WTERMSIG(status));
      break;
    }
    if (why == "silent, killed") {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
    throw std::runtime_error("judge_server did not start (" + why +
                             (read_errno ? ", read: " + std::string(strerror(read_errno)) : "") +
                             "): " + line);
  }
  auto colon = line.find(':', pos);
  port_ = std::stoi(line.substr(colon + 1));
}

ServerProcess::~ServerProcess() {
  if (!container_.empty()) {
    RunCommand("docker rm -f " + container_ + " >/dev/null 2>&1");
    return;
  }
  if (Alive()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(work_dir_, ec);
}

bool ServerProcess::Alive() const {
  if (!container_.empty()) {
    return Trim(RunCommand("docker inspect -f '{{.State.Running}}' " + container_)) == "true";
  }
  if (pid_ <= 0) return false;
  return waitpid(pid_, nullptr, WNOHANG) == 0;
}

int ServerProcess::Terminate() {
  if (!container_.empty()) {
    RunCommand("docker stop -t 20 " + container_ + " >/dev/null");
    int code =
        std::stoi("0" + Trim(RunCommand("docker inspect -f '{{.State.ExitCode}}' " + container_)));
    return code << 8;  // as waitpid would encode an exit code
  }
  int status = -1;
  kill(pid_, SIGTERM);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void ServerProcess::WaitForRunning(int n) const {
  for (int i = 0; i < 250; ++i) {
    if (HttpRequest(port_, "GET", "/ping").Json().as_object()["running"] == n) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

HttpResponse ServerProcess::Judge(const boost::json::object& request) const {
  return HttpRequest(port_, "POST", "/judge", boost::json::serialize(request),
                     {{"X-Judge-Server-Token", TokenHeader()}});
}

std::vector<pid_t> ServerProcess::SlotProcesses() const {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      // A zombie (its parent, PID 1 once its init is gone, may reap it late) holds
      // nothing and runs nothing.
      if (line.rfind("State:", 0) == 0 && line.find("Z (zombie)") != std::string::npos) {
        std::error_code ec;
        int tasks = 0;
        for (auto it = std::filesystem::directory_iterator(entry.path() / "task", ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
          ++tasks;
        }
        if (tasks <= 1) break;
      }
      if (line.rfind("Uid:", 0) != 0) continue;
      uid_t uid = static_cast<uid_t>(std::stoul(line.substr(4)));
      if (uid >= uid_base_ && uid < uid_base_ + static_cast<uid_t>(slots_)) {
        found.push_back(std::stoi(name));
      }
      break;
    }
  }
  return found;
}

boost::json::object JudgeRequest(const std::string& language, const std::string& source,
                                 const std::vector<std::pair<std::string, std::string>>& cases,
                                 int64_t cpu_ms, int64_t memory) {
  boost::json::array list;
  for (const auto& [in, out] : cases)
    list.push_back(boost::json::object{{"input", in}, {"output", out}});
  return boost::json::object{{"language", language},
                             {"src", source},
                             {"max_cpu_time", cpu_ms},
                             {"max_memory", memory},
                             {"test_case", list}};
}

}  // namespace judge::testing
