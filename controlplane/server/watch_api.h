// The gRPC services of the cluster-wide watch (musketeer.v1.ClusterWatch) and of the
// caller's identity (musketeer.v1.Session). Apart from api.cc so that each grows alone;
// the same rules: every call authorizes with its own token (auth.h).
#ifndef CONTROLPLANE_SERVER_WATCH_API_H_
#define CONTROLPLANE_SERVER_WATCH_API_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "controlplane/cluster/cluster.h"
#include "controlplane/state/state_store.h"

namespace musketeer::server {

// `metrics` (may be null: GetMetrics answers UNIMPLEMENTED) is what Session.GetMetrics renders.
std::vector<std::unique_ptr<grpc::Service>> NewWatchServices(cluster::Cluster& cluster,
                                                             state::StateStore& store,
                                                             telemetry::Metrics* metrics = nullptr);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_WATCH_API_H_
