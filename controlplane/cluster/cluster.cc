// Cluster: nodes, swarm, networks and images. Services and stacks are in services.cc.
#include "controlplane/cluster/cluster.h"
#include "controlplane/telemetry/log.h"

#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/image_ref.h"
#include "controlplane/cluster/tar_stream.h"

namespace musketeer::cluster {

struct Cluster::InfoProbes {
  std::mutex mu;
  std::condition_variable ended;  // a probe has its answer
  std::map<std::string, std::shared_future<absl::StatusOr<engine::SystemInfo>>> by_engine
      ABSL_GUARDED_BY(mu);
};

Cluster::Cluster(std::map<std::string, nodes::NodeDriver*> drivers, EngineFactory engines,
                 state::StateStore& store, PingProbe probe, ClusterOptions options)
    : drivers_(std::move(drivers)),
      engine_factory_(std::move(engines)),
      store_(store),
      probe_(std::move(probe)),
      options_(options),
      info_probes_(std::make_shared<InfoProbes>()) {
  if (options_.live_view) StartLiveView();
}

// ---------------------------------------------------------------- nodes

absl::StatusOr<Cluster::NodeHandle> Cluster::FindNode(const std::string& name) {
  if (auto s = nodes::ValidateNodeName(name); !s.ok()) return s;
  for (auto& [driver_name, driver] : drivers_) {
    auto n = driver->Inspect(name);
    if (n.ok()) return NodeHandle{*n, driver};
    if (n.status().code() != absl::StatusCode::kNotFound) return n.status();
  }
  return absl::NotFoundError(
      absl::StrCat("node '", name, "' does not exist; `musketeer node ls` lists the nodes"));
}

std::vector<Cluster::NodeHandle> Cluster::AllNodes() {
  std::vector<NodeHandle> out;
  for (auto& [name, driver] : drivers_) {
    for (auto& n : driver->List()) out.push_back({n, driver});
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.node.name < b.node.name; });
  return out;
}

std::vector<nodes::Node> Cluster::RunningNodes() {
  std::vector<nodes::Node> out;
  for (auto& h : AllNodes())
    if (h.node.state == nodes::NodeState::kRunning) out.push_back(std::move(h.node));
  return out;
}

std::shared_ptr<engine::DockerEngine> Cluster::Engine(const nodes::Node& node) {
  const std::string key = node.EngineKey();
  std::lock_guard lock(mu_);
  auto& e = engines_[key];
  if (!e) e = engine_factory_(node);
  return e;
}

std::optional<size_t> Cluster::FirstManager(const std::vector<nodes::Node>& nodes,
                                            std::vector<std::string>* silent) {
  using Answer = absl::StatusOr<engine::SystemInfo>;
  const auto ready = [](const std::shared_future<Answer>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  };
  std::vector<std::shared_future<Answer>> answers;
  for (const auto& n : nodes) {
    auto e = Engine(n);
    std::lock_guard lock(info_probes_->mu);
    auto& f = info_probes_->by_engine[n.EngineKey()];
    if (!f.valid() || ready(f)) {
      std::packaged_task<Answer()> ask([e] { return e->Info(); });
      f = ask.get_future().share();
      std::thread([probes = info_probes_, ask = std::move(ask)]() mutable {
        ask();
        std::lock_guard lock(probes->mu);
        probes->ended.notify_all();
      }).detach();
    }
    answers.push_back(f);
  }
  // The first manager in `nodes`' order once those before it have answered; after a grace
  // second, the first manager to answer (the order is a preference, a silent one a delay).
  const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  std::optional<size_t> first;
  const auto found = [&](bool in_order) {
    bool all = true;
    for (size_t i = 0; i < answers.size(); ++i) {
      if (!ready(answers[i])) {
        if (in_order) return false;
        all = false;
      } else if (const Answer& info = answers[i].get(); info.ok() && info->swarm.control_available) {
        first = i;
        return true;
      }
    }
    return all;
  };
  std::unique_lock lock(info_probes_->mu);
  if (!info_probes_->ended.wait_until(lock, grace, [&] { return found(true); }))
    info_probes_->ended.wait(lock, [&] { return found(false); });
  for (size_t i = 0; i < answers.size(); ++i)
    if (ready(answers[i]) && !answers[i].get().ok()) silent->push_back(nodes[i].name);
  return first;
}

absl::StatusOr<std::pair<nodes::Node, std::shared_ptr<engine::DockerEngine>>> Cluster::Manager(
    const std::string& preferred) {
  // The last manager and the swarm's known managers are asked first, all at once (asked one
  // after another, two managers mid-election cost a minute); then the others, a batch at a
  // time.
  std::vector<nodes::Node> likely, rest;
  if (!preferred.empty()) {
    auto h = FindNode(preferred);
    if (!h.ok()) return h.status();
    likely.push_back(h->node);
  } else {
    if (absl::Status q = CheckQuorum(); !q.ok()) return q;
    const auto all = AllNodes();
    std::string last;
    std::set<std::string> managers;
    {
      std::lock_guard lock(mu_);
      last = last_manager_;
      for (const auto& m : known_managers_)
        if (const NodeHandle* h = NodeOfManager(all, m.ip, m.name)) managers.insert(h->node.name);
    }
    for (const auto& h : all) {
      if (h.node.state == nodes::NodeState::kStopped) continue;
      if (h.node.name == last)
        likely.insert(likely.begin(), h.node);
      else
        (managers.count(h.node.name) ? likely : rest).push_back(h.node);
    }
  }
  constexpr size_t kBatch = 16;
  std::vector<std::vector<nodes::Node>> batches = {std::move(likely)};
  for (size_t at = 0; at < rest.size(); at += kBatch)
    batches.emplace_back(rest.begin() + at, rest.begin() + std::min(rest.size(), at + kBatch));
  std::vector<std::string> silent;  // engines that did not answer: managers mid-election?
  for (const auto& batch : batches) {
    if (batch.empty()) continue;
    if (auto i = FirstManager(batch, &silent)) {
      auto engine = Engine(batch[*i]);
      std::lock_guard lock(mu_);
      last_manager_ = batch[*i].name;
      return std::make_pair(batch[*i], std::move(engine));
    }
  }
  if (!preferred.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node '", preferred, "' is not a reachable swarm manager"));
  }
  bool had_swarm;
  {
    std::lock_guard lock(mu_);
    had_swarm = !known_managers_.empty();
  }
  if (!silent.empty() && had_swarm) {
    // A manager's GET /info waits for raft's leader (docker gives up after 40 s).
    return absl::FailedPreconditionError(absl::StrCat(
        "no swarm manager answered (", absl::StrJoin(silent, ", "),
        " did not): if a manager was just lost, raft is electing a new leader (10 to 20 s "
        "with docker's defaults): try again shortly; `musketeer swarm inspect` shows the "
        "managers reachable"));
  }
  return absl::FailedPreconditionError(
      "there is no swarm (or no manager answers): `musketeer swarm init NODE` first");
}

std::map<std::string, std::string> Cluster::SwarmNodeNames(engine::DockerEngine& manager) {
  std::map<std::string, std::string> out;
  if (auto list = manager.ListNodes(); list.ok()) {
    for (const auto& n : *list) out[n.id] = n.description.hostname;
  }
  return out;
}

pb::Node Cluster::ToProto(const nodes::Node& n, const engine::Node* swarm_node) {
  pb::Node p;
  p.set_name(n.name);
  p.set_driver(n.driver);
  p.set_address(n.ip);
  p.set_engine_url(n.endpoint.ToString());
  p.set_state(nodes::NodeStateName(n.state));
  p.set_created_at(n.created_at);
  p.set_ssh_address(n.ssh_address);
  p.set_ssh_host_key(n.ssh_host_key);
  if (swarm_node != nullptr) {
    p.set_swarm_node_id(swarm_node->id);
    p.set_swarm_role(swarm_node->spec.role);
    p.set_availability(swarm_node->spec.availability);
    for (const auto& [k, v] : swarm_node->spec.labels) (*p.mutable_labels())[k] = v;
    p.set_swarm_status(swarm_node->status.state);
    p.set_engine_version(swarm_node->description.engine.engine_version);
  }
  return p;
}

absl::StatusOr<pb::Node> Cluster::CreateNode(const pb::CreateNodeRequest& req,
                                             nodes::ProgressFn progress) {
  const std::string driver_name = req.driver().empty() ? "local" : req.driver();
  auto it = drivers_.find(driver_name);
  if (it == drivers_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, d] : drivers_) names.push_back(n);
    return absl::InvalidArgumentError(
        absl::StrCat("driver: '", driver_name, "' is not one of ", absl::StrJoin(names, ", ")));
  }
  if (driver_name != "ssh" && !req.ssh_host().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ssh_host is for the ssh driver; add --driver ssh (the driver is '", driver_name, "')"));
  }
  if (req.ssh_port() > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("ssh_port: ", req.ssh_port(), " is not a port (1-65535)"));
  }
  for (auto& [other_name, other] : drivers_) {
    if (other->Inspect(req.name()).ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("node '", req.name(), "' already exists (driver ", other_name, ")"));
    }
  }
  nodes::CreateOptions options;
  options.remote = nodes::RemoteSpec{req.url(), req.tls_ca(), req.tls_cert(), req.tls_key()};
  options.ssh = nodes::SshSpec{req.ssh_host(), static_cast<uint16_t>(req.ssh_port()),
                               req.ssh_user(), req.ssh_key(), req.ssh_host_key()};
  options.progress = std::move(progress);
  auto n = it->second->CreateWith(req.name(), options);
  if (!n.ok()) return n.status();
  return ToProto(*n, nullptr);
}

absl::StatusOr<pb::Node> Cluster::GetNode(const std::string& name) {
  auto view = ReadView();
  auto h = view ? ViewNode(*view, name) : FindNode(name);
  if (!h.ok()) return h.status();
  std::vector<engine::Node> asked;
  if (!view) {
    if (auto m = Manager(); m.ok()) asked = m->second->ListNodes().value_or(asked);
  }
  for (const auto& n : view ? view->swarm_nodes : asked) {
    if (n.description.hostname == name) return Annotated(view.get(), ToProto(h->node, &n));
  }
  return Annotated(view.get(), ToProto(h->node, nullptr));
}

bool NodeListOrder(const pb::Node& a, const pb::Node& b) { return a.name() < b.name(); }

std::vector<pb::Node> Cluster::NodeList(const std::vector<nodes::Node>& nodes,
                                        const std::vector<engine::Node>& swarm_nodes,
                                        const ViewSnapshot* view) {
  std::map<std::string_view, const engine::Node*> by_hostname;
  for (const auto& n : swarm_nodes) by_hostname[n.description.hostname] = &n;
  std::vector<pb::Node> out;
  out.reserve(nodes.size());
  for (const auto& node : nodes) {
    auto it = by_hostname.find(node.name);
    out.push_back(Annotated(view, ToProto(node, it == by_hostname.end() ? nullptr : it->second)));
  }
  std::sort(out.begin(), out.end(), NodeListOrder);
  return out;
}

absl::StatusOr<std::shared_ptr<const SharedList<pb::Node>>> Cluster::ListNodes() {
  if (auto view = ReadView()) {
    return view->derived.Get<SharedList<pb::Node>>("nodes", *view, [this](const ViewSnapshot& v) {
      return SharedList<pb::Node>(NodeList(v.nodes, v.swarm_nodes, &v));
    });
  }
  std::vector<nodes::Node> asked_nodes;
  std::vector<engine::Node> asked_swarm;
  for (auto& h : AllNodes()) asked_nodes.push_back(std::move(h.node));
  if (auto m = Manager(); m.ok()) asked_swarm = m->second->ListNodes().value_or(asked_swarm);
  return std::make_shared<const SharedList<pb::Node>>(NodeList(asked_nodes, asked_swarm, nullptr));
}

bool Cluster::Leaving(const std::string& node) {
  std::lock_guard lock(mu_);
  return leaving_.count(node) > 0;
}

Cluster::LeavingMark::LeavingMark(Cluster& cluster, std::string node)
    : cluster_(cluster), node_(std::move(node)) {
  std::lock_guard lock(cluster_.mu_);
  cluster_.leaving_.insert(node_);
}

Cluster::LeavingMark::~LeavingMark() {
  std::lock_guard lock(cluster_.mu_);
  cluster_.leaving_.erase(cluster_.leaving_.find(node_));
}

absl::Status Cluster::DeleteNode(const std::string& name, bool force, bool purge_engine) {
  auto h = FindNode(name);
  if (!h.ok()) return h.status();
  LeavingMark leaving(*this, name);
  auto node = GetNode(name);
  if (node.ok() && !node->swarm_node_id().empty()) {
    if (node->swarm_role() == "manager" && !force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node '", name,
          "' is a swarm manager; demote it first, or pass force (the swarm may lose its quorum)"));
    }
    if (h->node.state == nodes::NodeState::kRunning) (void)Engine(h->node)->SwarmLeave(true);
    if (auto m = Manager(); m.ok() && m->first.name != name) {
      (void)m->second->RemoveNode(node->swarm_node_id(), true);
    }
  }
  {
    std::lock_guard lock(mu_);
    engines_.erase(h->node.EngineKey());
    if (last_manager_ == name) last_manager_.clear();
  }
  ForgetManager(h->node);
  return h->driver->RemoveWith(name, nodes::RemoveOptions{purge_engine, force});
}

absl::StatusOr<pb::Node> Cluster::NodeAction(const std::string& name, const std::string& action) {
  auto h = FindNode(name);
  if (!h.ok()) return h.status();
  absl::Status s;
  if (action == "start")
    s = h->driver->Start(name);
  else if (action == "stop")
    s = h->driver->Stop(name);
  else if (action == "kill")
    s = h->driver->Kill(name);
  else if (action == "regenerate-certs")
    s = h->driver->RegenerateCerts(name);
  else
    return absl::InvalidArgumentError(absl::StrCat("unknown node action '", action, "'"));
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);  // the engine may have restarted: drop the old connection
    engines_.erase(h->node.EngineKey());
  }
  // The driver's word on the node now, and the swarm's as the view last saw it: waiting for
  // the swarm to notice (a killed manager may cost an election) is not this call's job.
  auto now = h->driver->Inspect(name);
  if (!now.ok()) return now.status();
  auto view = view_ ? view_->Current() : nullptr;
  if (view != nullptr && view->manager.ok()) {
    for (const auto& n : view->swarm_nodes)
      if (n.description.hostname == name) return Annotated(view.get(), ToProto(*now, &n));
  }
  return ToProto(*now, nullptr);
}

absl::StatusOr<pb::Node> Cluster::UpdateNode(const pb::UpdateNodeRequest& req) {
  const std::string& a = req.availability();
  if (!a.empty() && a != "active" && a != "pause" && a != "drain") {
    return absl::InvalidArgumentError(
        absl::StrCat("availability: '", a, "' is not active, pause or drain"));
  }
  if (!req.role().empty() && req.role() != "manager" && req.role() != "worker") {
    return absl::InvalidArgumentError(
        absl::StrCat("role: '", req.role(), "' is not manager or worker"));
  }
  auto node = GetNode(req.name());
  if (!node.ok()) return node.status();
  if (node->swarm_node_id().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node '", req.name(), "' is not in the swarm; `musketeer swarm join ",
                     req.name(), "` first"));
  }
  auto m = Manager();
  if (!m.ok()) return m.status();
  absl::Status s = UpdateNodeSpec(*m->second, node->swarm_node_id(), [&](engine::NodeSpec& spec) {
    if (!a.empty()) spec.availability = a;
    if (!req.role().empty()) spec.role = req.role();
    for (const auto& [k, v] : req.add_labels()) spec.labels[k] = v;
    for (const auto& k : req.remove_labels()) spec.labels.erase(k);
  });
  if (!s.ok()) return s;
  // promote and demote report when raft has made the change, as the count does.
  if (!req.role().empty() && req.role() != node->swarm_role()) {
    s = WaitForRole(*m->second, node->swarm_node_id(), req.role(), absl::Now() + absl::Minutes(1));
    if (!s.ok()) return s;
    if (auto list = m->second->ListNodes(); list.ok()) NoteManagers(*list);
  }
  return GetNode(req.name());
}

absl::Status Cluster::UpdateNodeSpec(engine::DockerEngine& manager, const std::string& id,
                                     const std::function<void(engine::NodeSpec&)>& change) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto list = manager.ListNodes();
    if (!list.ok()) return list.status();
    for (const auto& n : *list) {
      if (n.id != id) continue;
      engine::NodeSpec spec = n.spec;  // what is not changed here goes back as it was
      change(spec);
      absl::Status s = manager.UpdateNode(n.id, n.version.index, spec);
      if (s.ok() || !absl::StrContains(s.message(), "out of sequence")) return s;
    }
  }
  return absl::AbortedError("the node kept changing under the update; try again");
}

absl::StatusOr<pb::NodeEnv> Cluster::NodeEnv(const std::string& name) {
  auto h = FindNode(name);
  if (!h.ok()) return h.status();
  pb::NodeEnv env;
  const auto& e = h->node.endpoint;
  env.set_docker_host(e.kind == engine::Endpoint::Kind::kUnix ? "unix://" + e.path : e.ToString());
  env.set_docker_tls_verify(e.tls.has_value());
  env.set_docker_cert_path(h->node.cert_path);
  std::string shell = absl::StrCat("export DOCKER_HOST=\"", env.docker_host(), "\"\n");
  if (e.tls) {
    absl::StrAppend(&shell, "export DOCKER_TLS_VERIFY=\"1\"\nexport DOCKER_CERT_PATH=\"",
                    env.docker_cert_path(), "\"\n");
  } else {
    absl::StrAppend(&shell, "unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH\n");
  }
  absl::StrAppend(&shell,
                  "# Run this command to configure your shell:\n# eval \"$(musketeer node env ",
                  name, ")\"\n");
  env.set_shell(shell);
  return env;
}

absl::StatusOr<pb::NodePreflight> Cluster::Preflight(const std::string& name) {
  auto h = FindNode(name);
  if (!h.ok()) return h.status();
  pb::NodePreflight p;
  p.set_name(name);
  auto e = Engine(h->node);
  auto version = e->Version();
  p.set_engine_reachable(version.ok());
  if (version.ok()) p.set_api_version(version->api_version);
  p.add_notes(version.ok() ? "engine answered GET /version over " + h->node.endpoint.ToString()
                           : "engine unreachable: " + std::string(version.status().message()));
  if (h->node.driver == "local") {
    // Local nodes share this machine's kernel.
    p.set_ipvs(std::filesystem::exists("/proc/net/ip_vs") ||
               std::filesystem::exists("/sys/module/ip_vs"));
    p.set_overlay(std::filesystem::exists("/sys/module/vxlan") &&
                  std::filesystem::exists("/sys/module/overlay"));
    p.add_notes("ipvs: /proc/net/ip_vs or /sys/module/ip_vs on the shared kernel");
    p.add_notes("overlay: vxlan and overlay kernel modules loaded");
    // Swarm's TCP ports on the other swarm nodes, from inside this one. (7946/udp and
    // 4789/udp have no handshake to test; VXLAN is exercised by the overlay itself.)
    auto all = ListNodes();
    const bool in_swarm =
        all.ok() && std::any_of((*all)->items.begin(), (*all)->items.end(), [&](const pb::Node& n) {
          return n.name() == name && !n.swarm_node_id().empty();
        });
    if (in_swarm) {
      for (const auto& other : (*all)->items) {
        if (other.name() == name || other.swarm_node_id().empty()) continue;
        for (uint16_t port : {uint16_t{2377}, uint16_t{7946}}) {
          if (port == 2377 && other.swarm_role() != "manager") continue;
          absl::Status s = h->driver->ProbeTcp(name, other.address(), port);
          p.add_notes(absl::StrCat("tcp ", other.address(), ":", port, " (", other.name(),
                                   "): ", s.ok() ? "reachable" : std::string(s.message())));
          if (!s.ok()) p.add_unreachable(absl::StrCat(other.name(), ":", port));
        }
      }
    } else {
      p.add_notes("swarm ports: not checked (the node is not in a swarm yet)");
    }
  } else {
    p.set_ipvs(options_.ipvs);
    p.set_overlay(true);
    p.add_notes(
        "remote node: ipvs and overlay taken from the control plane's setting (cannot inspect a "
        "remote kernel through the Engine API)");
  }
  return p;
}

// ---------------------------------------------------------------- swarm

absl::StatusOr<pb::Swarm> Cluster::InitSwarm(const pb::InitSwarmRequest& req) {
  auto h = FindNode(req.node());
  if (!h.ok()) return h.status();
  if (Manager().ok()) {
    return absl::FailedPreconditionError(
        "a swarm already exists; join this node to it with `musketeer swarm join`");
  }
  engine::SwarmInitRequest body;
  body.listen_addr = req.listen_addr().empty() ? "0.0.0.0:2377" : req.listen_addr();
  body.advertise_addr = req.advertise_addr().empty() ? h->node.ip : req.advertise_addr();
  body.data_path_addr = req.data_path_addr();
  body.spec.dispatcher.heartbeat_period = absl::Seconds(req.dispatcher_heartbeat_seconds());
  auto id = Engine(h->node)->SwarmInit(body);
  if (!id.ok()) {
    if (id.status().code() == absl::StatusCode::kUnavailable &&
        absl::StrContains(id.status().message(), "already part of a swarm")) {
      return absl::FailedPreconditionError(
          absl::StrCat("node '", req.node(), "' is already in a swarm; `musketeer swarm leave ",
                       req.node(), " --force` first"));
    }
    return id.status();
  }
  {
    std::lock_guard lock(mu_);
    last_manager_ = req.node();
    known_managers_ = {{req.node(), body.advertise_addr}};  // a new swarm: its one manager
  }
  return GetSwarm(false);
}

absl::StatusOr<pb::Node> Cluster::JoinSwarm(const pb::JoinSwarmRequest& req) {
  if (!req.role().empty() && req.role() != "worker" && req.role() != "manager") {
    return absl::InvalidArgumentError(
        absl::StrCat("role: '", req.role(), "' is not worker or manager"));
  }
  auto h = FindNode(req.node());
  if (!h.ok()) return h.status();
  auto m = Manager(req.manager());
  if (!m.ok()) return m.status();
  if (m->first.name == req.node())
    return absl::FailedPreconditionError(
        absl::StrCat("node '", req.node(), "' is already the swarm's manager"));
  auto swarm = m->second->SwarmInspect();
  if (!swarm.ok()) return swarm.status();
  engine::SwarmJoinRequest body;
  body.join_token =
      req.role() == "manager" ? swarm->join_tokens.manager : swarm->join_tokens.worker;
  if (body.join_token.empty())
    return absl::InternalError("the manager answered without join tokens");
  body.listen_addr = "0.0.0.0:2377";
  body.advertise_addr = h->node.ip;
  body.remote_addrs = {absl::StrCat(m->first.ip, ":2377")};  // the address other nodes dial
  // Paused until it has every service's image and every filled volume: no task lands on it
  // before (and none is rejected for a missing image, again and again).
  body.availability = "pause";
  absl::Status s = Engine(h->node)->SwarmJoin(body);
  if (!s.ok()) {
    if (absl::StrContains(s.message(), "already part of a swarm")) {
      return absl::FailedPreconditionError(
          absl::StrCat("node '", req.node(), "' is already in a swarm; `musketeer swarm leave ",
                       req.node(), "` first"));
    }
    return s;  // the message carries the daemon's reason; the token itself never appears in it
  }
  // A late joiner gets the images and the volumes the others have, then takes tasks.
  for (const absl::Status& ready : {CopyServiceImagesTo(h->node, *m->second),
                                    FillVolumesOn(req.node())}) {
    if (!ready.ok())
      telemetry::LogWarning(absl::StrCat("join of ", req.node(), ": ", ready.message()));
  }
  // And its edge proxies: its published ports answer from the start.
  if (absl::Status edges = PlaceEdgesOn(*Engine(h->node)); !edges.ok())
    telemetry::LogWarning(absl::StrCat("join of ", req.node(), ": ", edges.message()));
  if (auto active = SetAvailability(*m->second, *Engine(h->node), "active"); !active.ok())
    return active;
  return GetNode(req.node());
}

absl::Status Cluster::SetAvailability(engine::DockerEngine& manager, engine::DockerEngine& node,
                                      const std::string& availability) {
  auto info = node.Info();
  if (!info.ok()) return info.status();
  for (int attempt = 0;; ++attempt) {  // read, modify, write: retried when out of sequence
    auto n = manager.InspectNode(info->swarm.node_id);
    if (n.status().code() == absl::StatusCode::kNotFound && attempt < 20) {
      absl::SleepFor(absl::Milliseconds(100));  // a joiner the manager has not listed yet
      continue;
    }
    if (!n.ok()) return n.status();
    engine::NodeSpec spec = n->spec;
    spec.availability = availability;
    absl::Status s = manager.UpdateNode(n->id, n->version.index, spec);
    if (s.ok() || attempt == 4 || !absl::StrContains(s.message(), "out of sequence")) return s;
  }
}

absl::Status Cluster::CopyServiceImagesTo(const nodes::Node& target, engine::DockerEngine& manager) {
  auto services = manager.ListServices();
  if (!services.ok()) return services.status();
  std::shared_ptr<engine::DockerEngine> to = Engine(target);
  // Each image: its reference, the tag it travels by, and whose it is.
  struct Needed {
    std::string image, tag, owner;
  };
  std::vector<Needed> needed;
  for (const auto& svc : *services) {
    for (const engine::ServiceSpec* spec : {&svc.spec, svc.previous_spec ? &*svc.previous_spec : nullptr}) {
      if (spec == nullptr) continue;
      const engine::ContainerSpec& c = spec->task_template.container_spec;
      needed.push_back({c.image, ShownImage(c), svc.spec.name});
    }
  }
  const auto routing = store_.ListRouting();
  if (std::any_of(routing.begin(), routing.end(),
                  [](const state::ServiceRouting& r) { return r.mode == "edge-proxy"; }))
    needed.push_back({options_.edge_image, options_.edge_image, "the edge proxies"});
  std::vector<std::string> failed;
  std::set<std::string> done;
  for (const Needed& n : needed) {
    if (!done.insert(n.image).second || to->InspectImage(n.image).ok()) continue;
    // From a node that has it; by the tag given when that tag is this image there, so the
    // tag travels too.
    absl::Status copied = absl::NotFoundError("no node has it");
    for (auto& h : AllNodes()) {
      if (h.node.name == target.name || h.node.state != nodes::NodeState::kRunning) continue;
      std::shared_ptr<engine::DockerEngine> from = Engine(h.node);
      auto image = from->InspectImage(n.image);
      if (!image.ok()) continue;
      auto tagged = from->InspectImage(n.tag);
      copied = engine::CopyImage(*from, *to, tagged.ok() && tagged->id == image->id ? n.tag : n.image);
      if (copied.ok()) break;
    }
    if (!copied.ok()) failed.push_back(absl::StrCat(n.tag, " (", n.owner, "): ", copied.message()));
  }
  if (!failed.empty())
    return absl::UnavailableError(absl::StrCat("images not copied: ", absl::StrJoin(failed, "; ")));
  return absl::OkStatus();
}

absl::Status Cluster::LeaveSwarm(const std::string& node, bool force) {
  auto h = FindNode(node);
  if (!h.ok()) return h.status();
  LeavingMark leaving(*this, node);
  absl::Status s = Engine(h->node)->SwarmLeave(force);
  if (!s.ok() && absl::StrContains(s.message(), "not part of a swarm")) {
    return absl::FailedPreconditionError(absl::StrCat("node '", node, "' is not in a swarm"));
  }
  if (!s.ok() && absl::StrContains(s.message(), "--force")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node '", node,
        "' is a manager whose leaving would break the swarm; pass force to leave anyway"));
  }
  {
    std::lock_guard lock(mu_);
    if (last_manager_ == node) last_manager_.clear();
  }
  if (s.ok()) ForgetManager(h->node);
  return s;
}

absl::StatusOr<pb::Swarm> Cluster::GetSwarm(bool show_tokens) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto swarm = m->second->SwarmInspect();
  if (!swarm.ok()) return swarm.status();
  pb::Swarm out;
  out.set_id(swarm->id);
  out.set_created_at(swarm->created_at);
  out.set_ipvs(options_.ipvs);
  if (show_tokens) {
    out.set_worker_join_token(swarm->join_tokens.worker);
    out.set_manager_join_token(swarm->join_tokens.manager);
  }
  if (auto list = m->second->ListNodes(); list.ok()) {
    for (const auto& n : *list) {
      if (n.spec.role == "manager")
        out.add_managers(n.description.hostname);
      else
        out.add_workers(n.description.hostname);
    }
    std::sort(out.mutable_managers()->begin(), out.mutable_managers()->end());
    std::sort(out.mutable_workers()->begin(), out.mutable_workers()->end());
    NoteManagers(*list);
    DescribeManagers(*list, out);
  }
  return out;
}

absl::StatusOr<pb::Swarm> Cluster::RotateJoinTokens(bool worker, bool manager) {
  if (!worker && !manager)
    return absl::InvalidArgumentError("say which tokens to rotate: worker, manager or both");
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto swarm = m->second->SwarmInspect();
  if (!swarm.ok()) return swarm.status();
  // The spec goes back as it was read (with what this model does not name).
  if (auto s = m->second->SwarmUpdate(swarm->version.index, swarm->spec, worker, manager); !s.ok())
    return s;
  return GetSwarm(false);
}

// ---------------------------------------------------------------- networks

absl::Status ValidateSubnet(const std::string& field, const std::string& subnet) {
  const size_t slash = subnet.find('/');
  const std::string address = subnet.substr(0, slash);
  const bool v6 = address.find(':') != std::string::npos;
  unsigned char buf[sizeof(in6_addr)];
  int bits = -1;
  const bool ok = slash != std::string::npos &&
                  inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), buf) == 1 &&
                  absl::SimpleAtoi(subnet.substr(slash + 1), &bits) &&
                  subnet.find_first_not_of("0123456789", slash + 1) == std::string::npos &&
                  bits >= 0 && bits <= (v6 ? 128 : 32);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", Cut(subnet),
                     "' is not a subnet in CIDR form, e.g. 10.10.0.0/24 (an IPv4 address, '/', "
                     "a prefix length 0-32) or fd00:10::/64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::Network> Cluster::CreateNetwork(const pb::CreateNetworkRequest& req) {
  static const std::regex kName("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}");
  if (req.name().size() > 63 || !std::regex_match(req.name(), kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: '", Cut(req.name()), "' is invalid; use 1-63 of [a-zA-Z0-9_.-]"));
  }
  if (!req.driver().empty() && req.driver() != "overlay") {
    return absl::InvalidArgumentError(absl::StrCat(
        "driver: '", Cut(req.driver()), "' is not supported; swarm networks use overlay"));
  }
  if (!req.subnet().empty()) {
    if (auto s = ValidateSubnet("subnet", req.subnet()); !s.ok()) return s;
  }
  auto m = Manager();
  if (!m.ok()) return m.status();
  if (auto list = ListNetworks(); list.ok()) {
    for (const auto& n : *list) {
      if (n.name() == req.name())
        return absl::AlreadyExistsError(absl::StrCat("network '", req.name(), "' already exists"));
    }
  }
  engine::NetworkCreateRequest body;
  body.name = req.name();
  body.driver = "overlay";
  body.attachable = req.attachable();
  body.check_duplicate = true;
  if (!req.subnet().empty()) {
    body.ipam.emplace();
    body.ipam->driver = "default";
    body.ipam->config.emplace_back().subnet = req.subnet();
  }
  auto id = m->second->CreateNetwork(body);
  if (!id.ok()) {
    // IPAM's refusals come as HTTP 500; they are the caller's choice of subnet.
    if (absl::StrContains(id.status().message(), "overlaps") ||
        absl::StrContains(id.status().message(), "no available network")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "subnet: '", req.subnet(),
          "' overlaps a subnet in use (another network's, or the nodes' own); pick another"));
    }
    if (absl::StrContains(id.status().message(), "invalid")) {
      return absl::InvalidArgumentError(
          absl::StrCat("the swarm refused the network: ", id.status().message()));
    }
    return id.status();
  }
  // The network as a later GetNetwork shows it (creation time, subnet the swarm chose).
  if (auto made = GetNetwork(*id); made.ok()) return made;
  pb::Network out;
  out.set_name(req.name());
  out.set_id(*id);
  out.set_driver("overlay");
  out.set_attachable(req.attachable());
  out.set_subnet(req.subnet());
  out.set_scope("swarm");
  return out;
}

// ListNetworks, GetNetwork: inventory.cc.

absl::Status Cluster::DeleteNetwork(const std::string& name) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  absl::Status s = m->second->RemoveNetwork(name);
  if (s.code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat("network '", name, "' does not exist"));
  if (s.code() == absl::StatusCode::kFailedPrecondition ||
      absl::StrContains(s.message(), "in use")) {
    return absl::FailedPreconditionError(
        absl::StrCat("network '", name, "' is in use by a service; remove the service first"));
  }
  return s;
}

// ---------------------------------------------------------------- images

namespace {
// Runs `work` for every node in parallel; the first failure wins, after all finished.
absl::Status ForEachParallel(const std::vector<nodes::Node>& nodes,
                             const std::function<absl::Status(const nodes::Node&)>& work) {
  std::vector<std::future<absl::Status>> futures;
  for (const auto& n : nodes) futures.push_back(std::async(std::launch::async, work, n));
  absl::Status first = absl::OkStatus();
  for (auto& f : futures) {
    absl::Status s = f.get();
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}
}  // namespace

absl::Status Cluster::BuildImage(const pb::BuildImageRequest& req, const ImageSink& sink) {
  if (auto s = ValidateImageReference("tag", req.tag()); !s.ok()) return s;
  auto context = TarDirectory(req.context_dir());
  if (!context.ok()) return context.status();
  nodes::Node target;
  if (!req.node().empty()) {
    auto h = FindNode(req.node());
    if (!h.ok()) return h.status();
    target = h->node;
  } else if (auto m = Manager(); m.ok()) {
    target = m->first;
  } else {
    auto all = AllNodes();
    if (all.empty())
      return absl::FailedPreconditionError(
          "there are no nodes to build on; `musketeer node create` one first");
    target = all.front().node;
  }
  std::mutex sink_mu;
  auto emit = [&](const std::string& node, const std::string& message, bool done) {
    pb::ImageProgress p;
    p.set_node(node);
    p.set_message(message);
    p.set_done(done);
    std::lock_guard lock(sink_mu);
    sink(p);
  };
  absl::Status s =
      Engine(target)->BuildImage(req.tag(), *context, [&](const engine::JsonMessage& line) {
        std::string text = line.stream;
        while (!text.empty() && text.back() == '\n') text.pop_back();
        if (!text.empty()) emit(target.name, text, false);
      });
  if (!s.ok()) return s;
  emit(target.name, absl::StrCat("built ", req.tag()), true);
  if (!req.distribute()) return absl::OkStatus();
  pb::DistributeImageRequest d;
  d.set_image(req.tag());
  d.set_from_node(target.name);
  return DistributeImage(d, sink);
}

absl::Status Cluster::ImportImage(const pb::ImportImageRequest& req, const ImageSink& sink) {
  if (auto s = ValidateImageReference("tag", req.tag()); !s.ok()) return s;
  if (req.tag().find('@') != std::string::npos)
    return absl::InvalidArgumentError("tag: an import names a tag, not a digest");
  const auto [repo, tag] = SplitImageReference(req.tag());
  if (!ReadFileSource(req.rootfs_tar()).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rootfs_tar: '", req.rootfs_tar(), "' cannot be read on the control plane's machine"));
  }
  std::vector<nodes::Node> targets;
  if (req.nodes_size() == 0) {
    for (auto& h : AllNodes()) targets.push_back(h.node);
  } else {
    for (const auto& name : req.nodes()) {
      auto h = FindNode(name);
      if (!h.ok()) return h.status();
      targets.push_back(h->node);
    }
  }
  if (targets.empty())
    return absl::FailedPreconditionError("there are no nodes; `musketeer node create` one first");
  std::mutex sink_mu;
  return ForEachParallel(targets, [&](const nodes::Node& n) -> absl::Status {
    auto source = ReadFileSource(req.rootfs_tar());
    if (!source.ok()) return source.status();
    absl::Status s = Engine(n)->ImportImage(repo, tag, *source);
    pb::ImageProgress p;
    p.set_node(n.name);
    p.set_message(s.ok() ? absl::StrCat("imported ", req.tag()) : std::string(s.message()));
    p.set_done(s.ok());
    std::lock_guard lock(sink_mu);
    sink(p);
    return s;
  });
}

absl::Status Cluster::DistributeImage(const pb::DistributeImageRequest& req,
                                      const ImageSink& sink) {
  if (auto s = ValidateImageReference("image", req.image()); !s.ok()) return s;
  std::vector<nodes::Node> all;
  for (auto& h : AllNodes()) all.push_back(h.node);
  nodes::Node source;
  if (!req.from_node().empty()) {
    auto h = FindNode(req.from_node());
    if (!h.ok()) return h.status();
    source = h->node;
    if (!Engine(source)->InspectImage(req.image()).ok()) {
      return absl::NotFoundError(
          absl::StrCat("node '", source.name, "' has no image ", req.image()));
    }
  } else {
    for (const auto& n : all) {
      if (Engine(n)->InspectImage(req.image()).ok()) {
        source = n;
        break;
      }
    }
    if (source.name.empty())
      return absl::NotFoundError(
          absl::StrCat("no node has image ", req.image(), "; build or import it first"));
  }
  auto src = Engine(source);
  auto source_image = src->InspectImage(req.image());
  if (!source_image.ok()) return source_image.status();
  const std::string source_id = source_image->id;
  std::vector<nodes::Node> targets;
  for (const auto& n : all) {
    if (n.name == source.name || n.state != nodes::NodeState::kRunning) continue;
    if (req.nodes_size() > 0 &&
        std::find(req.nodes().begin(), req.nodes().end(), n.name) == req.nodes().end())
      continue;
    // Already there when the same image (by id, not just by tag) is present.
    if (auto there = Engine(n)->InspectImage(req.image()); there.ok() && there->id == source_id)
      continue;
    targets.push_back(n);
  }
  std::mutex sink_mu;
  return ForEachParallel(targets, [&](const nodes::Node& n) -> absl::Status {
    absl::Status s = engine::CopyImage(*src, *Engine(n), req.image());
    pb::ImageProgress p;
    p.set_node(n.name);
    p.set_message(s.ok() ? absl::StrCat("copied ", req.image(), " from ", source.name)
                         : std::string(s.message()));
    p.set_done(s.ok());
    std::lock_guard lock(sink_mu);
    sink(p);
    return s;
  });
}

absl::StatusOr<std::vector<pb::Image>> Cluster::ListImages(const std::string& node) {
  std::vector<nodes::Node> targets;
  if (!node.empty()) {
    auto h = FindNode(node);
    if (!h.ok()) return h.status();
    targets.push_back(h->node);
  } else {
    targets = RunningNodes();
  }
  std::vector<pb::Image> out;
  for (const auto& n : targets) {
    auto list = Engine(n)->ListImages();
    if (!list.ok()) return list.status();
    for (const auto& i : *list) {
      pb::Image img;
      img.set_node(n.name);
      img.set_id(i.id);
      for (const auto& t : i.repo_tags) img.add_tags(t);
      img.set_size_bytes(i.size);
      out.push_back(std::move(img));
    }
  }
  return out;
}

}  // namespace musketeer::cluster
