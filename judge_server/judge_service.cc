#include "judge_server/judge_service.h"

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "judge_server/compare.h"
#include "judge_server/router.h"

namespace judge {
namespace json = boost::json;
namespace {

HttpReply JsonReply(int status, const json::value& v) {
  HttpReply r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

HttpReply ErrorReply(int status, std::string_view err, std::string_view message,
                     std::string_view hostname) {
  return JsonReply(status, json::object{{"err", err}, {"data", message}, {"hostname", hostname}});
}

// Where QingdaoU's server answers a fixed string in "data" ("404", "invalid token"), that
// string, so that clients matching on it keep working; the explanation goes in "message",
// a field QingdaoU does not have.
HttpReply QingdaoErrorReply(int status, std::string_view err, std::string_view data,
                            std::string_view message, std::string_view hostname) {
  return JsonReply(
      status,
      json::object{{"err", err}, {"data", data}, {"message", message}, {"hostname", hostname}});
}

int HttpStatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 422;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

json::value RenderLanguages() {
  json::array list;
  for (const Language& l : Languages()) {
    if (!Installed(l)) continue;
    json::array compile, run;
    for (const auto& p : l.compile) compile.emplace_back(p);
    for (const auto& p : l.run) run.emplace_back(p);
    list.push_back(json::object{{"id", l.id},
                                {"name", l.name},
                                {"src_name", l.src_name},
                                {"compile_command", compile},
                                {"run_command", run}});
  }
  return list;
}

// The longest prefix of `s` that takes at most `budget` bytes once JSON-escaped as
// Boost.JSON does it (\" \\ \n ... in 2 bytes, other control bytes as \u00XX in 6), cut
// on a UTF-8 character boundary; `*escaped` gets its escaped size.
std::string_view JsonPrefix(std::string_view s, size_t budget, size_t* escaped) {
  size_t n = 0, used = 0;
  for (; n < s.size(); ++n) {
    unsigned char c = static_cast<unsigned char>(s[n]);
    size_t w = 1;
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
      w = 2;
    } else if (c < 0x20) {
      w = 6;
    }
    if (used + w > budget) break;
    used += w;
  }
  if (n < s.size()) {  // do not split a multi-byte character
    size_t back = n;
    while (back > 0 && n - back < 3 && (static_cast<unsigned char>(s[back]) & 0xC0) == 0x80) --back;
    if ((static_cast<unsigned char>(s[back]) & 0xC0) != 0x80) {
      used -= n - back;  // bytes >= 0x80 are never escaped: one each
      n = back;
    }
  }
  *escaped = used;
  return s.substr(0, n);
}

}  // namespace

namespace {

json::object RenderCase(const CaseResult& c, bool return_output, bool qingdao_form) {
  const bool output_limit = c.verdict == Verdict::kOutputLimitExceeded;
  // QingdaoU computes the digest only for a program that ran to its end, and not at all
  // under a special judge (CheckAnswer leaves it empty there).
  const bool compared = c.verdict == Verdict::kAccepted || c.verdict == Verdict::kWrongAnswer;
  json::object j{
      {"test_case", c.test_case},
      {"result", qingdao_form ? QingdaoResultCode(c.verdict) : ResultCode(c.verdict)},
      {"verdict", VerdictName(c.verdict)},
      {"cpu_time", c.run.cpu_time_ms},
      {"real_time", c.run.real_time_ms},
      {"memory", c.run.memory_bytes},
      {"signal", qingdao_form && output_limit ? kQingdaoOutputLimitSignal : c.run.signal},
      {"exit_code", c.run.exit_code},
      {"error", c.error != 0 ? c.error : (c.verdict == Verdict::kSystemError ? 1 : 0)}};
  if (compared && !c.output_md5.empty()) {
    j["output_md5"] = c.output_md5;
  } else {
    j["output_md5"] = nullptr;
  }
  if (return_output) {
    j["output"] = c.run.stdout_data;
  } else {
    j["output"] = nullptr;
  }
  return j;
}

}  // namespace

std::string RenderOutcome(const JudgeOutcome& o, bool return_output, std::string_view hostname,
                          bool qingdao_form, size_t max_reply_output) {
  json::object root;
  root["verdict"] = VerdictName(o.verdict);
  root["hostname"] = hostname;
  if (!o.error.ok()) {
    root["err"] = "JudgeClientError";
    root["data"] = std::string(o.error.message());
    return json::serialize(root);
  }
  if (o.spj_compile_error) {
    root["err"] = "SPJCompileError";
    root["data"] = o.compile_message;
    return json::serialize(root);
  }
  if (o.verdict == Verdict::kCompileError) {
    root["err"] = "CompileError";
    root["data"] = o.compile_message;
    return json::serialize(root);
  }
  json::array cases;
  size_t output_budget = max_reply_output;
  bool truncated = false;
  for (const CaseResult& c : o.cases) {
    json::object j = RenderCase(c, return_output, qingdao_form);
    if (return_output) {
      size_t escaped = 0;
      std::string_view out = JsonPrefix(c.run.stdout_data, output_budget, &escaped);
      output_budget -= escaped;
      bool cut = out.size() < c.run.stdout_data.size() || c.output_truncated;
      truncated = truncated || cut;
      j["output"] = out;
      j["output_truncated"] = cut;
    }
    cases.push_back(std::move(j));
  }
  root["err"] = nullptr;
  root["data"] = std::move(cases);
  root["compile_cache_hit"] = o.cache_hit;
  if (return_output) {
    root["output_truncated"] = truncated;
    if (truncated) {
      root["output_message"] = absl::StrCat(
          "outputs in one reply are capped at ", max_reply_output,
          " bytes as sent (server flag --max-reply-output); cases with output_truncated carry "
          "only the beginning of their output; output_md5 is of the whole output");
    }
  }
  return json::serialize(root);
}

JudgeService::JudgeService(Judge& judge, JudgePool& pool, Metrics& metrics, std::string_view token,
                           std::string hostname, size_t max_reply_output)
    : judge_(judge),
      pool_(pool),
      metrics_(metrics),
      token_sha256_(Sha256Hex(token)),
      hostname_(std::move(hostname)),
      hostname_json_(json::serialize(json::value(hostname_))),
      // glibc reads sysfs on every call: ask once.
      cores_(static_cast<int>(std::thread::hardware_concurrency())),
      max_reply_output_(max_reply_output) {}

JudgeService::HeadCheck JudgeService::CheckHead(std::string_view method, std::string_view target,
                                                std::string_view token) {
  HeadCheck check;
  const Route route = ResolveRoute(method, target);
  check.reads_body = route == Route::kJudge || route == Route::kCompileSpj;
  if (NeedsToken(route, method) && !TokenMatches(token)) {
    metrics_.CountRequest(route, 401);
    check.reject = TokenFailure();
  }
  return check;
}

HttpReply JudgeService::TransportError(int status, std::string_view message,
                                       std::string_view method, std::string_view target) {
  metrics_.CountRequest(method.empty() ? Route::kNotFound : ResolveRoute(method, target), status);
  std::string_view err = status == 503   ? "ServerBusy"
                         : status >= 500 ? "JudgeServerException"
                                         : "JudgeClientError";
  return ErrorReply(status, err, message, hostname_);
}

HttpReply JudgeService::Ping() {
  const SystemSample s = stats_.Get();
  const int cores = cores_;
  double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  // QingdaoU's heartbeat fields (judger_version, hostname, cpu_core, memory, cpu, action)
  // plus ours, both in "data" and, for plain curl, at the top level. Formatted by hand:
  // /ping is the load-balancing probe and must stay cheap.
  char fields[1024];
  int n = snprintf(fields, sizeof(fields),
                   "\"action\":\"pong\",\"hostname\":%s,\"judger_version\":\"%s\",\"cpu_core\":%d,"
                   "\"cpu\":%.1f,\"memory\":%.1f,\"load\":[%.2f,%.2f,%.2f],\"memory_total\":%lld,"
                   "\"memory_available\":%lld,\"running\":%d,\"queued\":%d,\"slots\":%d,"
                   "\"uptime_seconds\":%.3f,\"sandbox\":\"%s\"",
                   hostname_json_.c_str(), kJudgeServerVersion.data(), cores, s.cpu_percent,
                   s.memory_percent, s.load[0], s.load[1], s.load[2],
                   static_cast<long long>(s.memory.total),
                   static_cast<long long>(s.memory.available), pool_.running(), pool_.queued(),
                   pool_.slots(), uptime, std::string(judge_.sandbox().mode_name()).c_str());
  std::string_view f(fields, std::min<size_t>(n, sizeof(fields) - 1));
  HttpReply r;
  r.body.reserve(2 * f.size() + 32);
  r.body.append("{").append(f).append(",\"err\":null,\"data\":{").append(f).append("}}");
  return r;
}

void JudgeService::Handle(HttpRequestView request, std::function<void(HttpReply)> done) {
  Route route = ResolveRoute(request.method, request.target);
  auto counted = [this, route, done = std::move(done)](HttpReply reply) {
    metrics_.CountRequest(route, reply.status);
    done(std::move(reply));
  };
  if (NeedsToken(route, request.method) && !TokenMatches(request.token)) {
    return counted(TokenFailure());
  }
  switch (route) {
    case Route::kPing:
      return counted(Ping());
    case Route::kHealthz:
      return counted(JsonReply(200, json::object{{"status", "ok"}, {"hostname", hostname_}}));
    case Route::kLanguages:
      return counted(JsonReply(200, json::object{{"err", nullptr},
                                                 {"data", RenderLanguages()},
                                                 {"hostname", hostname_},
                                                 {"sandbox", judge_.sandbox().mode_name()}}));
    case Route::kMetrics: {
      HttpReply r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = metrics_.Render(pool_.running(), pool_.queued(), pool_.slots());
      return counted(std::move(r));
    }
    case Route::kJudge:
      return HandleJudge(request, std::move(counted));
    case Route::kCompileSpj:
      return HandleCompileSpj(request, std::move(counted));
    case Route::kMethodNotAllowed: {
      HttpReply r = InvalidRequest(
          405, absl::StrCat(std::string(request.method), " is not allowed on this path; use ",
                            std::string(AllowedMethods(request.target))));
      r.allow = std::string(AllowedMethods(request.target));
      return counted(std::move(r));
    }
    case Route::kNotFound:
      return counted(QingdaoErrorReply(404, "InvalidRequest", "404",
                                       "no such path; try GET /ping, /healthz, /metrics, "
                                       "/languages or POST /judge, /compile_spj, /ping",
                                       hostname_));
  }
}

bool JudgeService::TokenMatches(std::string_view token) const {
  return ConstantTimeEquals(absl::AsciiStrToLower(std::string(token)), token_sha256_);
}

HttpReply JudgeService::TokenFailure() const {
  return QingdaoErrorReply(401, "TokenVerificationFailed", "invalid token",
                           "header X-Judge-Server-Token must be the sha256 hex of the server's "
                           "token",
                           hostname_);
}

// QingdaoU's name for a method it does not serve (its Flask answers those without the
// envelope, so there is no string of its own to keep).
HttpReply JudgeService::InvalidRequest(int status, std::string message) const {
  return ErrorReply(status, "InvalidRequest", message, hostname_);
}

HttpReply JudgeService::Busy() const {
  HttpReply r =
      ErrorReply(503, "ServerBusy",
                 "every judge slot is busy and the queue is full; retry after a moment", hostname_);
  r.retry_after_seconds = 1;
  return r;
}

void JudgeService::HandleCompileSpj(HttpRequestView& request, std::function<void(HttpReply)> done) {
  auto parsed = ParseCompileSpjRequest(request.body);
  if (!parsed.ok()) {
    return done(
        ErrorReply(400, "JudgeClientError", std::string(parsed.status().message()), hostname_));
  }
  auto spj = std::make_shared<SpjRequest>(*std::move(parsed));
  auto task = [this, spj, done](int slot) {
    absl::Status error;
    auto program = judge_.CompileSpj(*spj, slot, &error);
    if (program == nullptr) {
      return done(ErrorReply(HttpStatusFor(error), "JudgeClientError", std::string(error.message()),
                             hostname_));
    }
    if (!program->ok) return done(ErrorReply(200, "SPJCompileError", program->message, hostname_));
    done(JsonReply(200,
                   json::object{{"err", nullptr}, {"data", "success"}, {"hostname", hostname_}}));
  };
  if (!pool_.TrySubmit(std::move(task))) done(Busy());
}

void JudgeService::HandleJudge(HttpRequestView& request, std::function<void(HttpReply)> done) {
  const auto received = std::chrono::steady_clock::now();
  auto parsed = ParseJudgeRequest(request.body);
  metrics_.AddPhase(Phase::kParse, SecondsSince(received));
  if (!parsed.ok()) {
    return done(
        ErrorReply(400, "JudgeClientError", std::string(parsed.status().message()), hostname_));
  }
  auto shared = std::make_shared<JudgeRequest>(*std::move(parsed));
  auto task = [this, shared, done, queued = std::chrono::steady_clock::now()](int slot) {
    metrics_.AddPhase(Phase::kQueue, SecondsSince(queued));
    HttpReply reply;
    try {  // a slot thread that throws would end the process: answer 500 instead
      JudgeOutcome outcome = judge_.Run(*shared, slot);
      metrics_.CountVerdict(outcome.verdict);
      const auto rendering = std::chrono::steady_clock::now();
      reply.status = outcome.error.ok() ? 200 : HttpStatusFor(outcome.error);
      reply.body = RenderOutcome(outcome, shared->return_output, hostname_, shared->qingdao_form,
                                 max_reply_output_);
      metrics_.AddPhase(Phase::kRender, SecondsSince(rendering));
    } catch (const std::exception& e) {
      std::cerr << "judge_server: a judging threw: " << e.what() << "\n";
      reply = ErrorReply(500, "JudgeServerException", "the judging failed inside the server",
                         hostname_);
    }
    done(std::move(reply));
  };
  if (!pool_.TrySubmit(std::move(task))) done(Busy());
}

}  // namespace judge
