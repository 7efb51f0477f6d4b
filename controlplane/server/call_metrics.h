// Counts every gRPC call musketeerd answers (the gateway's too: they reach the same server)
// in its metrics: calls by method and code, their latency by method, calls in flight by
// method. A server interceptor, so no method can forget it. It also marks every answer
// with the trailer `musketeer-answered` (the CLI's exit codes tell musketeerd's answers from
// transport failures by it).
#ifndef CONTROLPLANE_SERVER_CALL_METRICS_H_
#define CONTROLPLANE_SERVER_CALL_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "controlplane/telemetry/metrics.h"

namespace musketeer::server {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewCallMetrics(
    telemetry::Metrics& metrics);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_CALL_METRICS_H_
