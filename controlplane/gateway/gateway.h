// The HTTP/JSON gateway of musketeerd (`--http-listen`) and the page it serves at `/`.
//
// One scheme for every API method, derived from the proto descriptors (nothing per method):
//   POST /v1/{Service}/{Method}           body: the request as JSON (protobuf's canonical
//                                         JSON mapping; empty body = {})
//   GET  /v1/{Service}/{Method}?f=v&...   the same for reads (methods named Get*, List*,
//                                         Watch*, *Logs, WhoAmI); query fields are the
//                                         request's top-level fields (repeated: repeat them)
//   GET  /v1/nodes, /v1/nodes/{name}, /v1/services, /v1/services/{name},
//        /v1/services/{name}/tasks, /v1/services/{name}/logs, /v1/networks, /v1/images,
//        /v1/stacks, /v1/swarm, /v1/audit, /v1/tokens, /v1/watch, /v1/whoami
//                                         resource-style aliases of the reads above
//   GET  /v1                              every method with its path, request type, stream
//   GET  /metrics                         musketeerd's metrics in Prometheus' text format
//                                         (Session.GetMetrics; a token as for the API)
// `{Service}` is the short name (Nodes, Services, ClusterWatch ...). The call is made on the
// gRPC server itself, in process, with the request's `Authorization: Bearer <token>` as its
// metadata: authentication, roles, audit and errors are exactly gRPC's. An error answers
// the HTTP status of its gRPC code (UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND
// 404, INVALID_ARGUMENT and FAILED_PRECONDITION 400, ALREADY_EXISTS and ABORTED 409, ...)
// with {"code": N, "status": "NAME", "message": "..."}. Server streams answer Server-Sent
// Events: one `data:` line per message (JSON; `id:` is its `revision` when it has one,
// and `Last-Event-ID` resumes a request with a `since_revision`), then `event: end` with the
// final status (`event: error` when it failed). Until the first message the status is
// still an HTTP status; `: keepalive` comments keep a quiet stream open.
// Every answer carries a Content-Security-Policy (scripts, styles and connections to this
// origin only) and no answer sets a cookie: the page keeps its token in sessionStorage and
// sends it as a header, so there is nothing for another site to forge.
//
// Thread-safety: Start/Stop from one thread; a thread per connection (at most
// `max_connections`; more are closed at once rather than queued).
#ifndef CONTROLPLANE_GATEWAY_GATEWAY_H_
#define CONTROLPLANE_GATEWAY_GATEWAY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace musketeer::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT (port 0: any)
  bool tls = true;                     // false only on a loopback address (Start refuses otherwise)
  std::string cert_pem, key_pem;       // with tls: the server certificate chain and its key
  int max_connections = 64;
};

class Gateway {
 public:
  // Listens and serves; `channel` reaches the gRPC server (Server::InProcessChannel).
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options,
                                                        std::shared_ptr<grpc::Channel> channel);
  ~Gateway();  // Stop()
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  uint16_t port() const;
  // Stops accepting; open connections end when their calls do.
  void Stop();

  struct State;

 private:
  explicit Gateway(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// The HTTP status of a gRPC status code (as Google's HTTP mapping of google.rpc.Code).
int HttpStatusOf(grpc::StatusCode code);

}  // namespace musketeer::gateway

#endif  // CONTROLPLANE_GATEWAY_GATEWAY_H_
