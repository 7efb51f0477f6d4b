// The heartbeat QingdaoU's JudgeServer sends to OnlineJudge, which hands work only to
// judge servers it heard from in the last 6 seconds.
//
// Every `interval` a JSON POST goes to BACKEND_URL with QingdaoU's fields (hostname,
// judger_version, cpu_core, memory, cpu, action "heartbeat", service_url) and its header
// X-JUDGE-SERVER-TOKEN: sha256 hex of the token. OnlineJudge answers {"error": null, ...}.
// service_url is a template, so that every replica of a swarm service reports a URL that
// reaches that replica: {ip} is this container's address on the route to the backend (the
// source address the backend sees, hence one it can reach), {hostname} its hostname,
// {port} the port judge_server listens on. A failed heartbeat is logged and retried with
// exponential backoff (up to max_backoff); it never stops the server.
//
// Plain HTTP over Boost.Beast; https is refused at configuration (no TLS client here).
// Thread-safe: one thread of its own between Start() and Stop().
#ifndef JUDGE_SERVER_HEARTBEAT_H_
#define JUDGE_SERVER_HEARTBEAT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "judge_server/system_stats.h"

namespace judge {

struct HeartbeatOptions {
  std::string backend_url;                         // BACKEND_URL
  std::string service_url = "http://{ip}:{port}";  // SERVICE_URL template
  std::string token;                               // the shared secret; its sha256 hex is sent
  std::string hostname;
  uint16_t port = 8090;
  std::string version;  // judger_version
  std::chrono::milliseconds interval{3000};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds timeout{5000};
};

struct HttpUrl {
  std::string host;    // without brackets for IPv6
  std::string port;    // "80" when the URL names none
  std::string target;  // path and query, "/" at least
};
// Accepts http://host[:port][/path]; names what is wrong otherwise.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url);

// OK when the template uses only {ip}, {hostname} and {port} and is an http URL.
absl::Status CheckServiceUrlTemplate(std::string_view service_url);
// Both URLs of a heartbeat configuration, checked before anything starts.
absl::Status CheckHeartbeatUrls(std::string_view backend_url, std::string_view service_url);
// Fills the template. An IPv6 `ip` is put in brackets.
std::string ExpandServiceUrl(std::string_view service_url, std::string_view ip,
                             std::string_view hostname, uint16_t port);

// The JSON body QingdaoU's server sends.
std::string HeartbeatBody(const SystemSample& sample, int cpu_core, std::string_view hostname,
                          std::string_view version, std::string_view service_url);
// OnlineJudge's answer: OK for a JSON object whose "error" is null; otherwise what it said.
absl::Status CheckBackendReply(int http_status, std::string_view body);
// The wait before the next heartbeat after `failures` failures in a row.
std::chrono::milliseconds HeartbeatDelay(int failures, std::chrono::milliseconds interval,
                                         std::chrono::milliseconds max_backoff);

class Heartbeat {
 public:
  // Checks the URLs. REQUIRES: a non-empty backend_url.
  static absl::StatusOr<std::unique_ptr<Heartbeat>> Create(HeartbeatOptions options);
  ~Heartbeat();  // Stop()
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void Start();
  // Stops the thread (an attempt in flight finishes within `timeout`).
  void Stop();

  // One heartbeat now, from the calling thread; what went wrong, if anything.
  absl::Status BeatOnce();

  int64_t sent() const { return sent_.load(); }
  int64_t failed() const { return failed_.load(); }

 private:
  Heartbeat(HeartbeatOptions options, HttpUrl backend);
  void Loop();

  HeartbeatOptions options_;  // token cleared once hashed
  const HttpUrl backend_;
  const std::string token_sha256_;
  const int cpu_core_;
  SystemSampler sampler_{std::chrono::milliseconds(0)};
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace judge

#endif  // JUDGE_SERVER_HEARTBEAT_H_
