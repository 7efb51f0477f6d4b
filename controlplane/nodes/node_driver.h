// Node drivers: what docker-machine did. A node is a Docker Engine the control plane can
// reach with mutual TLS; a driver creates, starts, stops, kills and removes nodes.
//   local:  a network namespace on this machine with its own hostname, address and dockerd.
//   remote: an existing engine adopted by URL; nothing is installed on it.
//   ssh:    a bare host reached over SSH, made a TLS-secured engine (ssh_driver.h).
#ifndef CONTROLPLANE_NODES_NODE_DRIVER_H_
#define CONTROLPLANE_NODES_NODE_DRIVER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "controlplane/engine/engine_client.h"

namespace musketeer::nodes {

enum class NodeState { kRunning, kStopped, kUnreachable };
const char* NodeStateName(NodeState s);

struct Node {
  std::string name;
  std::string driver;         // "local", "remote" or "ssh"
  std::string ip;             // the address other nodes and clients use
  engine::Endpoint endpoint;  // how the control plane reaches the engine (TLS for tcp)
  std::string cert_path;      // DOCKER_CERT_PATH for `env` (ca.pem, cert.pem, key.pem)
  NodeState state = NodeState::kStopped;
  int pid = 0;               // local: dockerd's pid when running
  std::string created_at;    // RFC 3339
  std::string ssh_address;   // ssh: "user@host:port" as given
  std::string ssh_host_key;  // ssh: "ED25519 SHA256:..." the host key trusted there

  // Names one engine: the same node name at another endpoint is another engine.
  std::string EngineKey() const { return name + "@" + endpoint.ToString(); }
};

struct RemoteSpec {
  std::string url;            // unix:///path or tcp://host:port
  std::string ca, cert, key;  // required for tcp
};

// An SSH host to make into a node (ssh driver). Empty user/port: ssh's own defaults (and
// the ssh config's). key: a private key file; empty: the agent and ssh's default keys.
struct SshSpec {
  std::string host;
  uint16_t port = 0;
  std::string user, key;
  std::string host_key;  // a pinned fingerprint "SHA256:..."; empty: trust on first use
};

// Progress of a long operation, one call per step: (step, what was done or found).
using ProgressFn = std::function<void(const std::string& step, const std::string& message)>;

struct CreateOptions {
  RemoteSpec remote;    // remote driver
  SshSpec ssh;          // ssh driver
  ProgressFn progress;  // may be empty
};

struct RemoveOptions {
  bool purge_engine = false;  // ssh: also remove the Docker package
  bool force = false;         // ssh: forget the node even when its host cannot be reached
};

class NodeDriver {
 public:
  virtual ~NodeDriver() = default;
  virtual const char* name() const = 0;
  // Creates the node and waits until its engine answers over TLS. Transactional: on any
  // failure everything made so far is removed. ALREADY_EXISTS for a taken name.
  virtual absl::StatusOr<Node> Create(const std::string& name, const RemoteSpec* remote) = 0;
  // The same with every driver's options and a progress callback (drivers that have
  // steps worth reporting override it).
  virtual absl::StatusOr<Node> CreateWith(const std::string& name, const CreateOptions& options) {
    const RemoteSpec& r = options.remote;
    const bool any = !r.url.empty() || !r.ca.empty() || !r.cert.empty() || !r.key.empty();
    return Create(name, any ? &r : nullptr);
  }
  virtual absl::Status Start(const std::string& name) = 0;
  virtual absl::Status Stop(const std::string& name) = 0;
  virtual absl::Status Kill(const std::string& name) = 0;
  // Leaves nothing behind. NOT_FOUND when there is no such node.
  virtual absl::Status Remove(const std::string& name) = 0;
  virtual absl::Status RemoveWith(const std::string& name, const RemoveOptions& options) {
    if (options.purge_engine) {
      return absl::InvalidArgumentError(
          absl::StrCat("--purge-engine applies to ssh nodes only; node '", name, "' is a ",
                       this->name(), " node: remove it without --purge-engine"));
    }
    return Remove(name);
  }
  virtual absl::StatusOr<Node> Inspect(const std::string& name) = 0;
  virtual std::vector<Node> List() = 0;
  virtual absl::Status RegenerateCerts(const std::string& name) = 0;
  // Whether `from_node` can open a TCP connection to ip:port (preflight of the swarm ports
  // between nodes). UNIMPLEMENTED where the driver cannot act from inside the node.
  virtual absl::Status ProbeTcp(const std::string& /*from_node*/, const std::string& /*ip*/,
                                uint16_t /*port*/) {
    return absl::UnimplementedError("this driver cannot probe from inside its nodes");
  }
};

// A driver this machine cannot run (the local driver without the cgroup v1 pids
// controller): it has no nodes and refuses to make any, saying why. musketeerd serves the
// other drivers' nodes meanwhile.
class UnavailableDriver final : public NodeDriver {
 public:
  UnavailableDriver(const char* name, absl::Status why) : name_(name), why_(std::move(why)) {}
  const char* name() const override { return name_; }
  absl::StatusOr<Node> Create(const std::string&, const RemoteSpec*) override { return Why(); }
  absl::Status Start(const std::string&) override { return Why(); }
  absl::Status Stop(const std::string&) override { return Why(); }
  absl::Status Kill(const std::string&) override { return Why(); }
  absl::Status Remove(const std::string&) override { return Why(); }
  absl::StatusOr<Node> Inspect(const std::string& name) override {
    return absl::NotFoundError(absl::StrCat("no ", name_, " node '", name, "'"));
  }
  std::vector<Node> List() override { return {}; }
  absl::Status RegenerateCerts(const std::string&) override { return Why(); }

 private:
  absl::Status Why() const {
    return absl::FailedPreconditionError(absl::StrCat("the ", name_, " driver is off on this "
                                                      "machine: ", why_.message()));
  }
  const char* const name_;
  const absl::Status why_;
};

// Node names become hostnames, namespace and directory names: 1-30 of [a-z0-9-],
// starting with a letter, not ending with '-'.
absl::Status ValidateNodeName(const std::string& name);

// The nodes of a driver that keeps one directory per node under `dir`: `load(name)` for
// every entry, all at once (each pings its engine with its own timeout, so one dead host
// does not hold up the others), sorted by name; entries that fail to load are left out.
std::vector<Node> InspectEach(const std::string& dir,
                              const std::function<absl::StatusOr<Node>(const std::string&)>& load);

}  // namespace musketeer::nodes

#endif  // CONTROLPLANE_NODES_NODE_DRIVER_H_
