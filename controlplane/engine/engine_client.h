// A client of one Docker Engine through the Engine API: HTTP/1.1 (Boost.Beast) over a
// unix socket or TCP. Never shells out to the docker CLI.
//
// Calls are blocking with a deadline each, over reused keep-alive connections (a fresh
// one when the daemon has closed an idle one). The API version is negotiated on first
// use: GET /version, then every path is prefixed /v1.41/ (or the daemon's, when lower).
// Daemon errors ({"message": ...}) become absl::Status with the matching code:
// 400 INVALID_ARGUMENT, 401/403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ALREADY_EXISTS,
// 5xx UNAVAILABLE for 503 and INTERNAL otherwise.
// Thread-safety: thread-safe; concurrent calls run in parallel, each on its own connection
// (idle ones are pooled and reused).
#ifndef CONTROLPLANE_ENGINE_ENGINE_CLIENT_H_
#define CONTROLPLANE_ENGINE_ENGINE_CLIENT_H_

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace musketeer::engine {

// Client side of mutual TLS: the CA that signed the engine's certificate, and our own
// certificate and key. The engine's certificate must name the host we dial (IP or DNS).
struct TlsFiles {
  std::string ca, cert, key;
};

// Where an engine listens: "unix:///var/run/docker.sock" or "tcp://10.0.0.2:2375",
// with `tls` set for "tcp://10.213.0.2:2376" under --tlsverify.
struct Endpoint {
  enum class Kind { kUnix, kTcp } kind = Kind::kUnix;
  std::string path;  // unix
  std::string host;  // tcp
  uint16_t port = 0;
  std::optional<TlsFiles> tls;
  static absl::StatusOr<Endpoint> Parse(const std::string& url);
  std::string ToString() const;
};

struct HttpResult {
  int status = 0;
  std::string body;
};

// Pulls the next piece of a request body into `buf` (at most `cap` bytes); 0 means the end.
using BodySource = std::function<absl::StatusOr<size_t>(char* buf, size_t cap)>;

// A response read piece by piece, so that image tarballs, build output and logs never sit
// whole in memory. Owns its own connection. Not thread-safe.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Reads up to `cap` bytes of the body; 0 at the end. Each read has the stream's idle deadline.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t cap) = 0;
  // Reads one line (without the newline); nullopt at the end. For JSON-lines bodies.
  absl::StatusOr<std::optional<std::string>> ReadLine();
  // Asked while a read waits (twice a second); true ends the read with CANCELLED. For long
  // follows (logs -f) whose reader may go away while nothing arrives.
  void set_cancelled(std::function<bool()> cancelled) { cancelled_ = std::move(cancelled); }

 protected:
  const std::function<bool()>& cancelled() const { return cancelled_; }

 private:
  std::function<bool()> cancelled_;
  std::string pending_;
  bool eof_ = false;
};

// Told of every exchange with the engine (for metrics): "ok" (it answered 1xx-3xx),
// "error" (it answered 4xx/5xx) or "unreachable" (no answer), and the seconds it took.
using CallObserver = std::function<void(const char* outcome, double seconds)>;

class EngineClient {
 public:
  static constexpr const char* kMaxApiVersion = "1.41";

  explicit EngineClient(Endpoint endpoint,
                        std::chrono::milliseconds default_deadline = std::chrono::seconds(30),
                        CallObserver observer = nullptr);
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // A call to the versioned API: `path` starts with "/" and is prefixed with /vX.Y.
  // Non-2xx answers become errors carrying the daemon's message.
  absl::StatusOr<boost::json::value> Call(const std::string& method, const std::string& path,
                                          const boost::json::value* body = nullptr,
                                          std::chrono::milliseconds deadline = {});

  // The negotiated API version ("1.41"); negotiates if not done yet.
  absl::StatusOr<std::string> ApiVersion();

  // GET /_ping (plain "OK"): is the daemon answering at all (a zero deadline: the default).
  absl::Status Ping(std::chrono::milliseconds deadline = {});

  // Typed conveniences for the calls the control plane needs first.
  absl::StatusOr<boost::json::value> Version() { return Call("GET", "/version"); }
  absl::StatusOr<boost::json::value> Info() { return Call("GET", "/info"); }
  absl::StatusOr<boost::json::value> SwarmInspect() { return Call("GET", "/swarm"); }
  absl::StatusOr<boost::json::value> ListImages() { return Call("GET", "/images/json"); }
  absl::StatusOr<boost::json::value> ListContainers() {
    return Call("GET", "/containers/json?all=1");
  }
  absl::StatusOr<boost::json::value> ListNetworks() { return Call("GET", "/networks"); }

  // A streaming call to the versioned API: sends `upload` (chunked) when given, then returns
  // the response body as a stream once the status line says success. `idle` bounds each
  // step (connect, every write and read), not the whole transfer.
  absl::StatusOr<std::unique_ptr<ResponseStream>> OpenStream(
      const std::string& method, const std::string& path, const BodySource* upload,
      const std::string& content_type = "application/x-tar",
      std::chrono::milliseconds idle = std::chrono::seconds(120));

  // One HTTP exchange without the version prefix or error mapping (what Call, /_ping and
  // the version negotiation use; tests too). A zero deadline means the client's default.
  absl::StatusOr<HttpResult> Raw(const std::string& method, const std::string& target,
                                 const std::string& body, std::chrono::milliseconds deadline);

  const Endpoint& endpoint() const { return endpoint_; }

 public:
  class Connection;  // one socket; defined in the .cc

 private:
  // Idle keep-alive connections kept for reuse; more may be open while calls run.
  static constexpr size_t kMaxIdleConnections = 8;
  std::unique_ptr<Connection> TakeIdle();
  void ReturnIdle(std::unique_ptr<Connection> connection);

  absl::StatusOr<HttpResult> RawUnobserved(const std::string& method, const std::string& target,
                                           const std::string& body,
                                           std::chrono::milliseconds deadline);
  void Observe(const absl::Status& transport, int http_status,
               std::chrono::steady_clock::time_point start) const;
  const Endpoint endpoint_;
  const std::chrono::milliseconds default_deadline_;
  const CallObserver observer_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  std::string api_version_ ABSL_GUARDED_BY(mu_);
};

// Maps an Engine API answer to a status: OK for 2xx, else the code for the HTTP status
// with the daemon's "message" (or the body) as the message.
absl::Status StatusFromHttp(int status, const std::string& body, const std::string& what);

// Docker's multiplexed stream (logs without a TTY): frames of [stream, 0, 0, 0, size(BE32)]
// then `size` bytes. Feed bytes in; complete frames come out through `emit`.
class LogDemuxer {
 public:
  using Emit = std::function<void(int stream, std::string_view data)>;
  explicit LogDemuxer(Emit emit) : emit_(std::move(emit)) {}
  void Feed(std::string_view bytes);

 private:
  Emit emit_;
  std::string buffer_;
};

// "1.40" < "1.41": compares dotted versions numerically.
bool VersionLess(const std::string& a, const std::string& b);

}  // namespace musketeer::engine

#endif  // CONTROLPLANE_ENGINE_ENGINE_CLIENT_H_
