// Test helpers: a judge_server child process on a free port, and a small HTTP client.
#ifndef TESTS_JUDGE_SERVER_SERVER_PROCESS_H_
#define TESTS_JUDGE_SERVER_SERVER_PROCESS_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace judge::testing {

struct HttpResponse {
  int status = 0;  // 0: no response (connection failed or closed)
  std::map<std::string, std::string> headers;
  std::string body;
  boost::json::value Json() const;
};

HttpResponse HttpRequest(int port, const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::map<std::string, std::string>& headers = {});

// A judge_server started from the build tree with a fresh work dir and uid range; or,
// when JUDGE_TEST_IMAGE names an image, that image under dockerd with CAP_SYS_ADMIN
// (the mode the demo deploys), so that one suite checks both.
class ServerProcess {
 public:
  static constexpr const char* kToken = "test-token";
  // `env` is added to the server's environment (JUDGE_TOKEN is kToken unless `env` sets
  // TOKEN or JUDGE_TOKEN itself).
  explicit ServerProcess(std::vector<std::string> extra_args = {},
                         std::vector<std::pair<std::string, std::string>> env = {});
  // `nofile_limit` > 0: the server runs with RLIMIT_NOFILE (soft and hard) set to it
  // (not with JUDGE_TEST_IMAGE).
  ServerProcess(std::vector<std::string> extra_args, int nofile_limit)
      : ServerProcess(std::move(extra_args), {}, nofile_limit) {}
  ServerProcess(std::vector<std::string> extra_args,
                std::vector<std::pair<std::string, std::string>> env, int nofile_limit);
  ~ServerProcess();  // SIGKILL if still running; removes the work dir

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& work_dir() const { return work_dir_; }
  uid_t uid_base() const { return uid_base_; }
  int slots() const { return slots_; }

  // POST /judge with the right token; returns the parsed reply.
  HttpResponse Judge(const boost::json::object& request) const;

  // Sends SIGTERM and waits; returns the exit status as from waitpid.
  int Terminate();
  bool Alive() const;

  // Polls /ping (bounded, about 5 s) until `n` judgings are running.
  void WaitForRunning(int n) const;

  // Pids of processes whose real uid is in this server's slot range.
  std::vector<pid_t> SlotProcesses() const;

  // Runs a shell command where the server's files are (the host, or inside the
  // container) and returns its standard output.
  std::string Exec(const std::string& command) const;
  bool in_container() const { return !container_.empty(); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int slots_ = 2;
  uid_t uid_base_ = 0;
  std::string work_dir_;
  std::string container_;  // docker mode: the container's name
};

// A judging request in the native form.
boost::json::object JudgeRequest(const std::string& language, const std::string& source,
                                 const std::vector<std::pair<std::string, std::string>>& cases,
                                 int64_t cpu_ms = 1000, int64_t memory = 256 << 20);

std::string TokenHeader();  // sha256 hex of ServerProcess::kToken

// The server binary: $JUDGE_SERVER_BINARY, else build/judge_server/judge_server (tests run
// from the repository root).
std::string JudgeServerBinary();

}  // namespace judge::testing

#endif  // TESTS_JUDGE_SERVER_SERVER_PROCESS_H_
