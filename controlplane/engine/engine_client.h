// A client of one Docker Engine through the Engine API: HTTP/1.1 (Boost.Beast) over a
// unix socket or TCP. Never shells out to the docker CLI.
//
// Calls are blocking with a deadline each, over one reused connection (reconnected when
// the daemon closes it). The API version is negotiated on first use: GET /version, then
// every path is prefixed /v1.41/ (or the daemon's version when it is lower).
// Daemon errors ({"message": ...}) become absl::Status with the matching code:
// 400 INVALID_ARGUMENT, 401/403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ALREADY_EXISTS,
// 5xx UNAVAILABLE for 503 and INTERNAL otherwise.
// Thread-safety: thread-safe; calls on one client are serialized.
#ifndef CONTROLPLANE_ENGINE_ENGINE_CLIENT_H_
#define CONTROLPLANE_ENGINE_ENGINE_CLIENT_H_

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace musketeer::engine {

// Where an engine listens: "unix:///var/run/docker.sock" or "tcp://10.0.0.2:2375".
struct Endpoint {
  enum class Kind { kUnix, kTcp } kind = Kind::kUnix;
  std::string path;  // unix
  std::string host;  // tcp
  uint16_t port = 0;
  static absl::StatusOr<Endpoint> Parse(const std::string& url);
  std::string ToString() const;
};

struct HttpResult {
  int status = 0;
  std::string body;
};

class EngineClient {
 public:
  static constexpr const char* kMaxApiVersion = "1.41";

  explicit EngineClient(Endpoint endpoint,
                        std::chrono::milliseconds default_deadline = std::chrono::seconds(30));
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

  // GET /_ping (plain "OK"): is the daemon answering at all.
  absl::Status Ping();

  // Typed conveniences for the calls the control plane needs first.
  absl::StatusOr<boost::json::value> Version() { return Call("GET", "/version"); }
  absl::StatusOr<boost::json::value> Info() { return Call("GET", "/info"); }
  absl::StatusOr<boost::json::value> SwarmInspect() { return Call("GET", "/swarm"); }
  absl::StatusOr<boost::json::value> ListImages() { return Call("GET", "/images/json"); }
  absl::StatusOr<boost::json::value> ListContainers() { return Call("GET", "/containers/json?all=1"); }
  absl::StatusOr<boost::json::value> ListNetworks() { return Call("GET", "/networks"); }

  // One raw HTTP exchange without the version prefix or error mapping (for tests and
  // for /_ping). Exposed for the layers above that need the status.
  absl::StatusOr<HttpResult> Raw(const std::string& method, const std::string& target,
                                 const std::string& body, std::chrono::milliseconds deadline);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  class Connection;
  absl::StatusOr<HttpResult> RawLocked(const std::string& method, const std::string& target,
                                       const std::string& body, std::chrono::milliseconds deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> ApiVersionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Endpoint endpoint_;
  const std::chrono::milliseconds default_deadline_;
  std::mutex mu_;
  std::unique_ptr<Connection> connection_ ABSL_GUARDED_BY(mu_);
  std::string api_version_ ABSL_GUARDED_BY(mu_);
};

// Maps an Engine API answer to a status: OK for 2xx, else the code for the HTTP status
// with the daemon's "message" (or the body) as the message.
absl::Status StatusFromHttp(int status, const std::string& body, const std::string& what);

// "1.40" < "1.41": compares dotted versions numerically.
bool VersionLess(const std::string& a, const std::string& b);

}  // namespace musketeer::engine

#endif  // CONTROLPLANE_ENGINE_ENGINE_CLIENT_H_
