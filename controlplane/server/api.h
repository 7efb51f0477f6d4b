// The gRPC face of the control plane: every method authorizes (least role), converts,
// calls Cluster, audits mutations and maps absl::Status codes 1:1 to gRPC codes.
#ifndef CONTROLPLANE_SERVER_API_H_
#define CONTROLPLANE_SERVER_API_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <memory>
#include <string>
#include <vector>

#include "controlplane/cluster/cluster.h"
#include "controlplane/state/state_store.h"

namespace musketeer::server {

// The full names of the API's gRPC services ("musketeer.v1.Nodes", ...), for health checks.
std::vector<std::string> ApiServiceNames();

// Marks "" and every API service SERVING in the server's grpc.health.v1 service.
// REQUIRES: grpc::EnableDefaultHealthCheckService(true) before the server was built.
void MarkServing(grpc::Server& server);

// All API services, ready to register on a ServerBuilder.
std::vector<std::unique_ptr<grpc::Service>> NewApiServices(cluster::Cluster& cluster,
                                                           state::StateStore& store);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_API_H_
