// The edge proxies: where the kernel has no IPVS, a service's ingress ports are published by
// one standalone container per node (`NAME-edge`, the edge image: HAProxy and nginx) on the
// attachable overlay musketeer-edge, spreading requests over tasks.NAME. Standalone, not a
// global swarm service, because the swarm's scheduler removes a drained node's tasks, and
// Swarm's routing mesh keeps answering on a drained node: so must the edge.
#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/service_parts.h"
#include "controlplane/telemetry/log.h"

namespace musketeer::cluster {
namespace {

constexpr const char* kEdgeConfigLabel = "musketeer.edge-config";
constexpr int kEdgeStartAttempts = 3;

// Whether the container of `summary` is the edge named `name`.
bool Named(const engine::ContainerSummary& summary, const std::string& name) {
  return std::find(summary.names.begin(), summary.names.end(), "/" + name) != summary.names.end();
}

std::string Of(const engine::Labels& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : it->second;
}

}  // namespace

engine::ContainerCreateRequest EdgeContainer(const state::ServiceRouting& routing,
                                             const std::string& image,
                                             const std::string& image_id) {
  engine::ContainerCreateRequest c;
  c.name = EdgeName(routing.service);
  c.image = image;
  std::vector<std::string> pairs;
  for (const auto& p : routing.Ports()) {
    const bool udp = p.protocol == "udp";  // nginx carries it; HAProxy the TCP ones
    pairs.push_back(absl::StrCat(p.published, ":", p.target, udp ? "/udp" : ""));
    const std::string port = absl::StrCat(p.published, udp ? "/udp" : "/tcp");
    c.exposed_ports[port] = {};
    c.host_config.port_bindings[port] = {{"", absl::StrCat(p.published)}};
  }
  c.env = {"EDGE_BACKEND=tasks." + routing.service, "EDGE_PORTS=" + absl::StrJoin(pairs, ",")};
  c.host_config.network_mode = kEdgeNetwork;
  // Restarted by its own dockerd (a crash, a reboot), with no control plane needed.
  c.host_config.restart_policy.name = "unless-stopped";
  c.labels[kEdgeForLabel] = routing.service;
  // What makes two edges the same: a changed port or image means a new container.
  c.labels[kEdgeConfigLabel] =
      state::Sha256Hex(absl::StrCat(image_id, "\n", absl::StrJoin(c.env, "\n"))).substr(0, 16);
  return c;
}

Cluster::EdgeNode Cluster::EdgeNodeOf(const nodes::Node& node) {
  EdgeNode out{node, Engine(node), ""};
  if (Leaving(node.name)) {
    out.skipped = "it is leaving";
    return out;
  }
  auto info = out.engine->Info();
  if (!info.ok()) {
    out.skipped = absl::StrCat("its engine does not answer (", info.status().message(), ")");
  } else if (info->swarm.local_node_state != "active") {
    out.skipped = "it is not in the swarm";
  }
  return out;
}

std::vector<Cluster::EdgeNode> Cluster::EdgeNodes() {
  const std::vector<nodes::Node> running = RunningNodes();
  std::vector<EdgeNode> out(running.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < running.size(); ++i)
    threads.emplace_back([&, i] { out[i] = EdgeNodeOf(running[i]); });
  for (auto& t : threads) t.join();
  return out;
}

absl::Status Cluster::PlaceEdge(engine::DockerEngine& node, const state::ServiceRouting& routing) {
  auto image = node.InspectImage(options_.edge_image);
  if (!image.ok())
    return absl::FailedPreconditionError(absl::StrCat(
        "it lacks the edge image ", options_.edge_image, ": `musketeer image build docker/edge -t ",
        options_.edge_image, "`"));
  const engine::ContainerCreateRequest want = EdgeContainer(routing, options_.edge_image, image->id);
  auto containers = node.ListContainers();
  if (!containers.ok()) return containers.status();
  for (const auto& c : *containers) {
    if (!Named(c, want.name)) continue;
    if (Of(c.labels, kEdgeConfigLabel) == Of(want.labels, kEdgeConfigLabel)) {
      // The same edge: started again if it stopped (its restart policy gave up, or an
      // operator stopped it).
      return c.state == "running" ? absl::OkStatus() : node.StartContainer(c.id);
    }
    if (absl::Status s = node.RemoveContainer(c.id, /*force=*/true);
        !s.ok() && s.code() != absl::StatusCode::kNotFound)
      return s;
  }
  absl::Status started;
  // A worker's dockerd asks the managers for the container's address on the overlay and
  // gives up after 20 s ("Could not attach to network"): a manager busy with a stack's new
  // tasks. The attachment is asked for anew on each start, so a later attempt succeeds.
  for (int attempt = 1; attempt <= kEdgeStartAttempts; ++attempt) {
    auto id = node.CreateContainer(want);
    if (!id.ok()) return id.status();
    started = node.StartContainer(*id);
    if (started.ok()) return started;
    (void)node.RemoveContainer(*id, /*force=*/true);  // nothing half made
    if (!absl::StrContains(started.message(), "Could not attach to network")) break;
    telemetry::LogWarning(absl::StrCat("edge ", want.name, ": attempt ", attempt, " of ",
                                       kEdgeStartAttempts, ": ", started.message()));
  }
  return started;
}

absl::Status Cluster::PlaceEdges(const state::ServiceRouting& routing) {
  if (routing.mode != "edge-proxy") return absl::OkStatus();
  std::vector<EdgeNode> targets = EdgeNodes();
  std::vector<absl::Status> results(targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i].skipped.empty()) continue;  // down or leaving: the keeper places it later
    threads.emplace_back([&, i] { results[i] = PlaceEdge(*targets[i].engine, routing); });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> failed;
  for (size_t i = 0; i < targets.size(); ++i)
    if (!results[i].ok())
      failed.push_back(absl::StrCat(targets[i].node.name, ": ", results[i].message()));
  if (failed.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the edge proxy of '", routing.service, "' (it publishes the ports: no IPVS) ",
                   "could not start on ", absl::StrJoin(failed, "; ")));
}

void Cluster::RemoveEdges(const std::string& service) {
  const std::string name = EdgeName(service);
  std::vector<EdgeNode> targets = EdgeNodes();
  std::vector<std::thread> threads;
  for (auto& target : targets) {
    if (!target.engine || absl::StartsWith(target.skipped, "its engine")) continue;
    threads.emplace_back([&target, &name, &service] {
      auto containers = target.engine->ListContainers();
      if (!containers.ok()) return;
      for (const auto& c : *containers)
        if (Named(c, name) && Of(c.labels, kEdgeForLabel) == service)
          (void)target.engine->RemoveContainer(c.id, /*force=*/true);
    });
  }
  for (auto& t : threads) t.join();
}

absl::Status Cluster::PlaceEdgesOn(engine::DockerEngine& node) {
  std::vector<std::string> failed;
  for (const auto& listed : store_.ListRouting()) {
    if (listed.mode != "edge-proxy") continue;
    std::lock_guard service_lock(ServiceMutex(listed.service));
    // As it is now: the service may have been removed or changed while this waited for its
    // lock (the keeper comes on the events of a removal made under that lock).
    auto routing = store_.GetRouting(listed.service);
    if (!routing || routing->mode != "edge-proxy") continue;
    if (auto s = PlaceEdge(node, *routing); !s.ok())
      failed.push_back(absl::StrCat(routing->service, ": ", s.message()));
  }
  if (failed.empty()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("edge proxies not placed: ", absl::StrJoin(failed, "; ")));
}

void Cluster::RemoveLegacyEdgeServices() {
  // Edge services an older musketeerd made (global swarm services): replaced by containers,
  // whose host ports they would hold.
  if (legacy_edges_gone_.load()) return;
  auto m = Manager();
  if (!m.ok()) return;
  auto services = m->second->ListServices();
  if (!services.ok()) return;
  for (const auto& s : *services) {
    if (Of(s.spec.labels, kEdgeForLabel).empty()) continue;
    telemetry::LogInfo(absl::StrCat("edge: the global service ", s.spec.name,
                                    " becomes one container per node"));
    (void)m->second->RemoveService(s.id);
  }
  legacy_edges_gone_ = true;
}

void Cluster::KeepEdgesOn(const EdgeNode& target) {
  if (!target.skipped.empty()) return;
  // Orphans first (a service removed while this node was down), then what is missing.
  if (auto containers = target.engine->ListContainers(); containers.ok()) {
    for (const auto& c : *containers) {
      const std::string for_service = Of(c.labels, kEdgeForLabel);
      const auto wanted = [&] {
        auto r = store_.GetRouting(for_service);
        return r && r->mode == "edge-proxy";
      };
      if (for_service.empty() || wanted()) continue;
      std::lock_guard service_lock(ServiceMutex(for_service));
      if (!wanted()) (void)target.engine->RemoveContainer(c.id, /*force=*/true);  // still
    }
  }
  if (auto s = PlaceEdgesOn(*target.engine); !s.ok())
    telemetry::LogWarning(absl::StrCat("edge on ", target.node.name, ": ", s.message()));
}

void Cluster::KeepEdges() {
  RemoveLegacyEdgeServices();
  for (const auto& target : EdgeNodes()) KeepEdgesOn(target);
}

absl::Duration Cluster::KeepEdgesTurn(absl::Duration every) {
  RemoveLegacyEdgeServices();
  const std::vector<nodes::Node> running = RunningNodes();  // in name order
  if (running.empty()) return every;
  // At most one visit every 50 ms (1,000 nodes: each every 50 s): the events bring the
  // urgent ones (NoteEdgeEvent).
  const absl::Duration turn =
      std::max(every / static_cast<double>(running.size()), absl::Milliseconds(50));
  std::set<std::string> due;
  {
    std::lock_guard lock(background_mu_);
    due.swap(edges_due_);
  }
  if (due.empty()) {
    KeepEdgesOn(EdgeNodeOf(running[edge_turn_++ % running.size()]));
    return turn;
  }
  for (const auto& node : running)
    if (due.count(node.name)) KeepEdgesOn(EdgeNodeOf(node));
  return turn;
}

void Cluster::NoteEdgeEvent(const nodes::Node& node, const engine::Event& e) {
  if (e.type != "container" || (e.action != "destroy" && e.action != "stop")) return;
  auto edge_for = e.actor.attributes.find(kEdgeForLabel);
  if (edge_for == e.actor.attributes.end() || edge_for->second.empty()) return;
  {
    std::lock_guard lock(background_mu_);
    edges_due_.insert(node.name);
  }
  background_cv_.notify_all();
}

void Cluster::StartEdgeKeeper(absl::Duration every) {
  StartPeriodic([this, every] { return KeepEdgesTurn(every); },
                [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !edges_due_.empty(); });
}

}  // namespace musketeer::cluster
