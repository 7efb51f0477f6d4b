// A Cluster over the fake swarm for tests: the engine factory, test timings, and the
// tutorial's cluster (manager1, worker1, worker2 in one swarm) in one call each.
#ifndef TESTS_CONTROLPLANE_FAKE_CLUSTER_H_
#define TESTS_CONTROLPLANE_FAKE_CLUSTER_H_

#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "tests/controlplane/fake_node_driver.h"

namespace musketeer::testing {
namespace pb = ::musketeer::v1;

// No waiting where production waits: polls every ms, no stability window, short probes.
inline cluster::ClusterOptions FastOptions() {
  cluster::ClusterOptions options;
  options.ipvs = false;
  options.poll_interval = absl::Milliseconds(1);
  options.stable_for = absl::ZeroDuration();
  options.probe_requests = 3;
  options.probe_patience = absl::Milliseconds(50);
  return options;
}

// The same with the live view on, refreshed quickly.
inline cluster::ClusterOptions FastViewOptions(absl::Duration resync = absl::Milliseconds(100)) {
  cluster::ClusterOptions options = FastOptions();
  options.live_view = true;
  options.view.resync = resync;
  options.view.debounce = absl::Milliseconds(1);
  options.view.settle = absl::Milliseconds(10);
  return options;
}

// A Cluster whose nodes come from `driver` (as "local") and whose engines are `swarm`'s;
// `probe` answers the routing probe's GET /ping (default: one replica named "replica").
inline std::unique_ptr<cluster::Cluster> NewFakeCluster(
    nodes::NodeDriver& driver, std::shared_ptr<engine::FakeSwarm> swarm, state::StateStore& store,
    const cluster::ClusterOptions& options, cluster::PingProbe probe = nullptr) {
  if (!probe) {
    probe = [](const std::string&, uint16_t) -> absl::StatusOr<std::string> {
      return std::string("{\"hostname\":\"replica\"}");
    };
  }
  return std::make_unique<cluster::Cluster>(
      std::map<std::string, nodes::NodeDriver*>{{"local", &driver}},
      [swarm](const nodes::Node& n) {
        return std::make_unique<engine::FakeDockerEngine>(swarm, n.name, n.ip);
      },
      store, std::move(probe), options);
}

// The tutorial's cluster as the demo leaves it: the three nodes, the swarm on manager1 with
// the workers joined, `images` on every node, and (with `network`) the overlay swarm_test.
inline absl::Status MakeTutorialCluster(
    cluster::Cluster& cluster, engine::FakeSwarm& swarm,
    std::initializer_list<const char*> images = {"judge_server:1.0", "musketeer/edge:1"},
    bool network = true) {
  for (const char* n : {"manager1", "worker1", "worker2"}) {
    pb::CreateNodeRequest req;
    req.set_name(n);
    if (auto s = cluster.CreateNode(req); !s.ok()) return s.status();
    for (const char* image : images) swarm.AddImage(n, image);
  }
  pb::InitSwarmRequest init;
  init.set_node("manager1");
  if (auto s = cluster.InitSwarm(init); !s.ok()) return s.status();
  for (const char* n : {"worker1", "worker2"}) {
    pb::JoinSwarmRequest join;
    join.set_node(n);
    if (auto s = cluster.JoinSwarm(join); !s.ok()) return s.status();
  }
  if (!network) return absl::OkStatus();
  pb::CreateNetworkRequest net;
  net.set_name("swarm_test");
  return cluster.CreateNetwork(net).status();
}

}  // namespace musketeer::testing

#endif  // TESTS_CONTROLPLANE_FAKE_CLUSTER_H_
