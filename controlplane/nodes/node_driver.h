// Node drivers: what docker-machine did. A node is a Docker Engine the control plane can
// reach with mutual TLS; a driver creates, starts, stops, kills and removes nodes.
//   local:  a network namespace on this machine with its own hostname, address and dockerd.
//   remote: an existing engine adopted by URL; nothing is installed on it.
#ifndef CONTROLPLANE_NODES_NODE_DRIVER_H_
#define CONTROLPLANE_NODES_NODE_DRIVER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/engine/engine_client.h"

namespace musketeer::nodes {

enum class NodeState { kRunning, kStopped, kUnreachable };
const char* NodeStateName(NodeState s);

struct Node {
  std::string name;
  std::string driver;         // "local" or "remote"
  std::string ip;             // the address other nodes and clients use
  engine::Endpoint endpoint;  // how the control plane reaches the engine (TLS for tcp)
  std::string cert_path;      // DOCKER_CERT_PATH for `env` (ca.pem, cert.pem, key.pem)
  NodeState state = NodeState::kStopped;
  int pid = 0;             // local: dockerd's pid when running
  std::string created_at;  // RFC 3339
};

struct RemoteSpec {
  std::string url;            // unix:///path or tcp://host:port
  std::string ca, cert, key;  // required for tcp
};

class NodeDriver {
 public:
  virtual ~NodeDriver() = default;
  virtual const char* name() const = 0;
  // Creates the node and waits until its engine answers over TLS. Transactional: on any
  // failure everything made so far is removed. ALREADY_EXISTS for a taken name.
  virtual absl::StatusOr<Node> Create(const std::string& name, const RemoteSpec* remote) = 0;
  virtual absl::Status Start(const std::string& name) = 0;
  virtual absl::Status Stop(const std::string& name) = 0;
  virtual absl::Status Kill(const std::string& name) = 0;
  // Leaves nothing behind. NOT_FOUND when there is no such node.
  virtual absl::Status Remove(const std::string& name) = 0;
  virtual absl::StatusOr<Node> Inspect(const std::string& name) = 0;
  virtual std::vector<Node> List() = 0;
  virtual absl::Status RegenerateCerts(const std::string& name) = 0;
  // Whether `from_node` can open a TCP connection to ip:port (preflight of the swarm ports
  // between nodes). UNIMPLEMENTED where the driver cannot act from inside the node.
  virtual absl::Status ProbeTcp(const std::string& from_node, const std::string& ip,
                                uint16_t port) {
    return absl::UnimplementedError("this driver cannot probe from inside its nodes");
  }
};

// Node names become hostnames, namespace and directory names: 1-30 of [a-z0-9-],
// starting with a letter, not ending with '-'.
absl::Status ValidateNodeName(const std::string& name);

}  // namespace musketeer::nodes

#endif  // CONTROLPLANE_NODES_NODE_DRIVER_H_
