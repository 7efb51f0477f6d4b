// The local driver: each node is a network namespace with a veth into a project bridge,
// its own hostname (a UTS namespace), an address from a configurable subnet and its own
// dockerd (data and exec roots of its own) listening on a unix socket and on
// tcp://NODE_IP:2376 with --tlsverify. dockerd and everything it starts live in the pids
// cgroup musketeer/BRIDGE-NAME, so kill and rm can reach every process of a node.
//
// Node directories (STATE/nodes/NAME/node.json) are the record of what exists on this
// machine: a restarted control plane re-adopts running nodes from them.
// Thread-safety: thread-safe (one mutex; Create of different nodes may overlap in their
// slow part, the wait for dockerd).
#ifndef CONTROLPLANE_NODES_LOCAL_DRIVER_H_
#define CONTROLPLANE_NODES_LOCAL_DRIVER_H_

#include <boost/process/child.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "absl/base/thread_annotations.h"
#include "controlplane/nodes/node_driver.h"
#include "controlplane/pki/pki.h"

namespace musketeer::nodes {

struct LocalDriverConfig {
  std::string state_dir = "/var/lib/musketeer";  // nodes/NAME/{docker,certs,node.json,dockerd.log}
  std::string run_dir = "/run/musketeer";        // NAME/{docker.sock,exec root} (short paths)
  std::string bridge = "musk0";
  std::string subnet = "10.213.0.0/24";  // .1 is the bridge, nodes from .2
  std::string dockerd = "/usr/sbin/dockerd";
  std::chrono::seconds ready_timeout{60};
};

// A CIDR range: "10.213.0.0/24". Prefix 16..30.
struct Subnet {
  uint32_t network = 0;
  int prefix = 24;
  static absl::StatusOr<Subnet> Parse(const std::string& cidr);
  std::string Address(uint32_t host) const;  // network + host
  uint32_t size() const { return 1u << (32 - prefix); }
};

class LocalDriver : public NodeDriver {
 public:
  // `authority` signs node certificates; `client` is the bundle the control plane uses.
  static absl::StatusOr<std::unique_ptr<LocalDriver>> Create(LocalDriverConfig config,
                                                             pki::Authority& authority,
                                                             pki::Bundle client);
  ~LocalDriver() override;

  const char* name() const override { return "local"; }
  absl::StatusOr<Node> Create(const std::string& name, const RemoteSpec* remote) override;
  absl::Status Start(const std::string& name) override;
  absl::Status Stop(const std::string& name) override;
  absl::Status Kill(const std::string& name) override;
  absl::Status Remove(const std::string& name) override;
  absl::StatusOr<Node> Inspect(const std::string& name) override;
  std::vector<Node> List() override;
  absl::Status RegenerateCerts(const std::string& name) override;
  absl::Status ProbeTcp(const std::string& from_node, const std::string& ip,
                        uint16_t port) override;

  // Names of the system objects a node owns (for tests and for messages).
  // Namespace and cgroup names carry the bridge, so that two drivers on one machine (the
  // demo's and a test's) never share, and so never remove, each other's objects.
  std::string NetnsName(const std::string& node) const { return config_.bridge + "-" + node; }
  std::string NodeDir(const std::string& node) const {
    return config_.state_dir + "/nodes/" + node;
  }
  std::string RunDir(const std::string& node) const { return config_.run_dir + "/" + node; }
  std::string CgroupDir(const std::string& node) const {
    return "/sys/fs/cgroup/pids/musketeer/" + NetnsName(node);
  }
  // The host end of the node's veth (the peer inside the namespace is renamed eth0).
  std::string VethName(const std::string& node) const;

 private:
  struct Record {
    std::string name, ip, created_at;
    uint32_t host = 0;  // index in the subnet
  };
  LocalDriver(LocalDriverConfig config, Subnet subnet, pki::Authority& authority,
              pki::Bundle client);

  absl::StatusOr<Record> ReadRecord(const std::string& name) const;
  Node ToNode(const Record& r);
  absl::Status EnsureBridge();
  absl::Status IssueServerCert(const Record& r);
  absl::Status Launch(const Record& r);
  absl::Status WaitReady(const Record& r);
  int AlivePid(const std::string& name);
  // Kills every process of the node (SIGKILL through its cgroup), unmounts what dockerd
  // mounted under its directories. Leaves directories and namespace in place.
  void KillAll(const std::string& name);
  // Removes everything of a node, whatever state it is in. Used by Remove and by a failed Create.
  void Destroy(const Record& r);
  void RemoveBridgeIfUnused();
  // Before a create: removes a namespace of this name that no record owns and no process
  // uses (left by a crash); refuses, touching nothing, when something still lives in it.
  absl::Status ReclaimLeftovers(const std::string& name);

  const LocalDriverConfig config_;
  const Subnet subnet_;
  pki::Authority& authority_;
  const pki::Bundle client_;
  std::mutex bridge_mu_;  // serializes making and removing the shared bridge
  std::mutex mu_;
  std::set<std::string> creating_ ABSL_GUARDED_BY(mu_);  // names being created right now
  std::set<uint32_t> reserved_ ABSL_GUARDED_BY(mu_);     // addresses being assigned right now
  std::map<std::string, std::unique_ptr<boost::process::child>> children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace musketeer::nodes

#endif  // CONTROLPLANE_NODES_LOCAL_DRIVER_H_
