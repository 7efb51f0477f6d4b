// Names and records shared by the service operations (services.cc, service_update.cc,
// cluster_watch.cc): the labels musketeer puts on services and the edge proxy's names.
#ifndef MUSKETEER_CONTROLPLANE_CLUSTER_SERVICE_PARTS_H_
#define MUSKETEER_CONTROLPLANE_CLUSTER_SERVICE_PARTS_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/cluster/image_ref.h"
#include "controlplane/engine/docker_engine.h"
#include "controlplane/state/state_store.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::cluster {

inline constexpr const char* kStackLabel = "com.docker.stack.namespace";
inline constexpr const char* kStackImageLabel = "com.docker.stack.image";  // the image as written
inline constexpr const char* kEdgeForLabel = "musketeer.edge-for";
inline constexpr const char* kEdgeNetwork = "musketeer-edge";

// The ServiceSpec fields an update may change (service_update.cc): a mask's top-level paths.
const std::set<std::string>& UpdatableFields();
// The edge proxy of a service whose ports are published without IPVS: the name of its
// container on every node.
inline std::string EdgeName(const std::string& service) { return service + "-edge"; }

// The shared overlay network the edge proxies reach their services' tasks on: whether the
// manager lacks it, and making it (the new network's ID; "" when it exists already).
absl::StatusOr<bool> EdgeNetworkMissing(engine::DockerEngine& manager);
absl::StatusOr<std::string> MakeEdgeNetwork(engine::DockerEngine& manager);

// A capability as docker writes it: upper case with the CAP_ prefix (ALL and RESET stay).
std::string CapabilityName(std::string_view cap);

// A port published in host mode (on the nodes that run a task; never through an edge proxy).
bool HostMode(const musketeer::v1::PortConfig& p);
// Whether a service with these ports needs an edge proxy where there is no IPVS: it
// publishes a port in ingress mode.
inline bool NeedsEdge(const musketeer::v1::ServiceSpec& spec) {
  for (const auto& p : spec.ports())
    if (!HostMode(p)) return true;
  return false;
}
// The API's form of a task (ListTasks and the cluster watch), with its service's and node's
// names.
musketeer::v1::Task TaskProto(const engine::Task& t, const std::string& service,
                              const std::string& node);
// The API's form of an Engine mount.
musketeer::v1::Mount FromEngineMount(const engine::Mount& m);

// FAILED_PRECONDITION for an SCTP port in ingress mode without IPVS (the edge proxy carries
// TCP and UDP only), saying how to publish it in host mode instead.
absl::Status EdgeProtocolRefused(const std::string& field, const musketeer::v1::PortConfig& p);

// Removes a network, retrying for up to 20 s while the swarm still releases its tasks.
absl::Status RemoveNetworkWhenFree(engine::DockerEngine& manager, const std::string& id);

// The routing record's ports of `spec`: its ingress ones (protocol tcp when unset).
inline std::string PortsJson(const musketeer::v1::ServiceSpec& spec) {
  std::vector<state::PublishedPort> ports;
  for (const auto& p : spec.ports())
    if (!HostMode(p))
      ports.push_back({p.published(), p.target(), p.protocol().empty() ? "tcp" : p.protocol()});
  return state::ServiceRouting::PortsJson(ports);
}

// The edge proxy of an edge-routed service on one node (edges.cc): a standalone container
// of `image` (whose ID on that node is `image_id`) on the attachable overlay musketeer-edge,
// publishing the record's ports, restarted by its dockerd, labelled with its configuration.
engine::ContainerCreateRequest EdgeContainer(const state::ServiceRouting& routing,
                                             const std::string& image,
                                             const std::string& image_id);

}  // namespace musketeer::cluster

#endif  // MUSKETEER_CONTROLPLANE_CLUSTER_SERVICE_PARTS_H_
