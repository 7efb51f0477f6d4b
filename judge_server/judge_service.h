// The judge server's HTTP API, independent of the transport: takes a parsed request,
// answers through a callback (at once, or from a judge slot when judging finishes).
//
// Every reply is JSON in QingdaoU's envelope {"err": null | "<Error>", "data": ...}
// plus "hostname", with proper HTTP statuses (400, 401, 404, 503 with Retry-After). The
// error names are QingdaoU's wherever it defines one (InvalidRequest,
// TokenVerificationFailed, JudgeClientError, CompileError, SPJCompileError); ServerBusy
// is ours (QingdaoU has no queue bound). Where QingdaoU's "data" is a fixed string (an
// unknown path: "404"; a bad token: "invalid token") it is that string, with the
// explanation in "message". Thread-safe.
#ifndef JUDGE_SERVER_JUDGE_SERVICE_H_
#define JUDGE_SERVER_JUDGE_SERVICE_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "judge_server/judge.h"
#include "judge_server/judge_pool.h"
#include "judge_server/metrics.h"
#include "judge_server/system_stats.h"

namespace judge {

inline constexpr std::string_view kJudgeServerVersion = "0.1.0";
// Program output returned in one /judge reply (`output: true`), counted as sent (JSON-escaped).
inline constexpr size_t kDefaultMaxReplyOutput = 16 << 20;

struct HttpRequestView {
  std::string_view method;
  std::string_view target;
  std::string_view token;  // X-Judge-Server-Token
  std::string body;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  int retry_after_seconds = 0;  // sent as Retry-After when > 0
  std::string allow;            // sent as Allow on 405
};

class JudgeService {
 public:
  // `token` is the shared secret; clients send sha256 hex of it.
  JudgeService(Judge& judge, JudgePool& pool, Metrics& metrics, std::string_view token,
               std::string hostname, size_t max_reply_output = kDefaultMaxReplyOutput);

  // Calls `done` exactly once, possibly from another thread.
  void Handle(HttpRequestView request, std::function<void(HttpReply)> done);

  // What the transport decides on the request line and headers alone, before it reads any
  // body: whether the route uses its body (other bodies are dropped unread, never
  // buffered) and, for routes that need the token (POST /judge, POST /ping as QingdaoU's
  // heartbeat, /compile_spj) when it is missing or wrong, the 401 reply (counted).
  struct HeadCheck {
    bool reads_body = false;
    std::optional<HttpReply> reject;
  };
  HeadCheck CheckHead(std::string_view method, std::string_view target, std::string_view token);

  // The reply to a request the transport refused before it was whole (malformed, too large,
  // too slow; err "JudgeClientError", or "ServerBusy" for 503): `status` and `message` in
  // the usual envelope, counted in /metrics under the route when the request line was read.
  HttpReply TransportError(int status, std::string_view message, std::string_view method = {},
                           std::string_view target = {});

  const std::string& hostname() const { return hostname_; }
  Metrics& metrics() { return metrics_; }

 private:
  HttpReply Ping();
  void HandleJudge(HttpRequestView& request, std::function<void(HttpReply)> done);
  void HandleCompileSpj(HttpRequestView& request, std::function<void(HttpReply)> done);
  bool TokenMatches(std::string_view token) const;
  HttpReply TokenFailure() const;
  HttpReply InvalidRequest(int status, std::string message) const;
  HttpReply Busy() const;

  Judge& judge_;
  JudgePool& pool_;
  Metrics& metrics_;
  const std::string token_sha256_;
  const std::string hostname_;
  const std::string hostname_json_;  // quoted and escaped once
  const int cores_;
  const size_t max_reply_output_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // CPU and memory use, read from /proc at most once a second, so /ping stays cheap.
  SystemSampler stats_;
};

// Renders a judging's reply body (exposed for tests).
// In QingdaoU's form (qingdao_form) an output limit is result 4 with signal 25, as its
// Judger reports it. output_md5 is null unless the program ran to its end and its output
// was compared (AC or WA without a special judge), as in QingdaoU. With `return_output`,
// the outputs together take at most `max_reply_output` bytes of the reply once
// JSON-escaped: a case whose output does not fit carries only its beginning (or "") and
// "output_truncated": true, and the reply says why in "output_truncated" and
// "output_message".
std::string RenderOutcome(const JudgeOutcome& outcome, bool return_output,
                          std::string_view hostname, bool qingdao_form = false,
                          size_t max_reply_output = kDefaultMaxReplyOutput);

}  // namespace judge

#endif  // JUDGE_SERVER_JUDGE_SERVICE_H_
