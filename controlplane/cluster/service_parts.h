// Names and records shared by the service operations (services.cc, service_update.cc,
// cluster_watch.cc): the labels musketeer puts on services and the edge proxy's names.
#ifndef MUSKETEER_CONTROLPLANE_CLUSTER_SERVICE_PARTS_H_
#define MUSKETEER_CONTROLPLANE_CLUSTER_SERVICE_PARTS_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/engine/docker_engine.h"
#include "controlplane/state/state_store.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::cluster {

inline constexpr const char* kStackLabel = "com.docker.stack.namespace";
inline constexpr const char* kEdgeForLabel = "musketeer.edge-for";
inline constexpr const char* kEdgeNetwork = "musketeer-edge";

// The ServiceSpec fields an update may change (service_update.cc): a mask's top-level paths.
const std::set<std::string>& UpdatableFields();
// The edge proxy of a service whose ports are published without IPVS.
inline std::string EdgeName(const std::string& service) { return service + "-edge"; }

// The shared overlay network the edge proxies reach their services' tasks on: whether the
// manager lacks it, and making it (the new network's ID; "" when it exists already).
absl::StatusOr<bool> EdgeNetworkMissing(engine::DockerEngine& manager);
absl::StatusOr<std::string> MakeEdgeNetwork(engine::DockerEngine& manager);

// The routing record's ports of `spec` (protocol tcp when unset).
inline std::string PortsJson(const musketeer::v1::ServiceSpec& spec) {
  std::vector<state::PublishedPort> ports;
  for (const auto& p : spec.ports())
    ports.push_back({p.published(), p.target(), p.protocol().empty() ? "tcp" : p.protocol()});
  return state::ServiceRouting::PortsJson(ports);
}

}  // namespace musketeer::cluster

#endif  // MUSKETEER_CONTROLPLANE_CLUSTER_SERVICE_PARTS_H_
