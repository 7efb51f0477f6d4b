// Cluster: services (with the edge-proxy fallback where IPVS is missing), convergence
// watching, stacks and reconciliation.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/escaping.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/compose.h"
#include "controlplane/cluster/http_probe.h"
#include "controlplane/cluster/service_parts.h"

namespace musketeer::cluster {

namespace {

// A label of a service spec, or "".
std::string Label(const engine::ServiceSpec& spec, const char* key) {
  auto it = spec.labels.find(key);
  return it == spec.labels.end() ? "" : it->second;
}

// Whether a task runs the service's current container (image, environment, command).
bool SameTaskSpec(const engine::Task& task, const engine::Service& service) {
  const engine::ContainerSpec& a = task.spec.container_spec;
  const engine::ContainerSpec& b = service.spec.task_template.container_spec;
  // The whole container spec and the task's resources and placement: an update of any of
  // them (limits, constraints, healthcheck ...) replaces the tasks too.
  return a == b && task.spec.resources == service.spec.task_template.resources &&
         task.spec.placement == service.spec.task_template.placement;
}

// The service as the manager has it: NOT_FOUND in the API's words when there is none, and
// any other failure as it is (no answer while raft elects a leader is no missing service).
absl::StatusOr<engine::Service> InspectNamed(engine::DockerEngine& manager,
                                             const std::string& name) {
  auto svc = manager.InspectService(name);
  if (svc.status().code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat("service '", name, "' does not exist"));
  return svc;
}
}  // namespace

pb::ServiceSpec FromEngineSpec(const engine::ServiceSpec& spec,
                               const state::ServiceRouting* routing,
                               const std::map<std::string, std::string>* network_names) {
  pb::ServiceSpec s;
  const engine::ContainerSpec& container = spec.task_template.container_spec;
  s.set_name(spec.name);
  s.set_image(ShownImage(container));  // the reference the user gave, not the pinned one
  s.set_pull(ShownPullPolicy(spec));
  if (spec.mode.global) {
    s.set_mode("global");
  } else {
    s.set_mode("replicated");
    if (spec.mode.replicated && spec.mode.replicated->replicas)
      s.set_replicas(*spec.mode.replicated->replicas);
  }
  for (const auto& e : container.env) {
    auto eq = e.find('=');
    (*s.mutable_env())[e.substr(0, eq)] = eq == std::string::npos ? "" : e.substr(eq + 1);
  }
  for (const auto& n : spec.task_template.networks) {
    // The swarm keeps a network's ID where a name was given: show the name again.
    std::string shown = n.target;
    if (network_names != nullptr) {
      if (auto it = network_names->find(n.target); it != network_names->end()) shown = it->second;
    }
    s.add_networks(shown);
    if (!n.aliases.empty())
      (*s.mutable_network_aliases())[shown].mutable_aliases()->Assign(n.aliases.begin(),
                                                                       n.aliases.end());
  }
  s.mutable_command()->Assign(container.args.begin(), container.args.end());
  s.mutable_entrypoint()->Assign(container.command.begin(), container.command.end());
  // Edge-routed: the ingress ports are the routing record's (the service publishes only its
  // host-mode ones itself).
  const bool edge = routing != nullptr && routing->mode == "edge-proxy";
  if (edge) {
    for (const auto& p : routing->Ports()) {
      auto* port = s.add_ports();
      port->set_published(p.published);
      port->set_target(p.target);
      port->set_protocol(p.protocol);
      port->set_publish_mode("ingress");
    }
  }
  if (spec.endpoint_spec) {
    for (const auto& p : spec.endpoint_spec->ports) {
      if (edge && p.publish_mode != "host") continue;
      auto* port = s.add_ports();
      port->set_published(p.published_port);  // 0 when the engine named none
      port->set_target(p.target_port);
      port->set_protocol(p.protocol);
      port->set_publish_mode(p.publish_mode);
    }
  }
  for (const auto& [k, v] : spec.labels)
    if (!absl::StartsWith(k, kReservedLabelPrefix) && k != kStackImageLabel)
      (*s.mutable_labels())[k] = v;
  for (const auto& ref : container.secrets) {
    auto* out = s.add_secrets();
    out->set_secret(ref.secret_name);
    if (ref.file) {
      if (ref.file->name != ref.secret_name) out->set_target(ref.file->name);
      if (ref.file->uid != "0") out->set_uid(ref.file->uid);
      if (ref.file->gid != "0") out->set_gid(ref.file->gid);
      if (ref.file->mode != 0444) out->set_mode(ref.file->mode);
    }
  }
  ReadBackSpecFields(spec, &s);
  if (edge && s.endpoint_mode() == "dnsrr") s.clear_endpoint_mode();  // the edge's, not asked
  return s;
}

std::map<std::string, std::string> Cluster::NetworkNames(
    engine::DockerEngine& reader, const std::vector<const engine::ServiceSpec*>& specs) {
  std::set<std::string> wanted;
  for (const auto* spec : specs)
    for (const auto& n : spec->task_template.networks) wanted.insert(n.target);
  {
    std::lock_guard lock(mu_);
    if (std::all_of(wanted.begin(), wanted.end(),
                    [&](const auto& id) { return network_names_.count(id) > 0; }))
      return network_names_;  // IDs never change their network
  }
  auto list = reader.ListNetworks();
  if (!list.ok()) {  // a live view keeps no networks: ask a manager itself
    auto m = Manager();
    if (m.ok()) list = m->second->ListNetworks();
  }
  std::lock_guard lock(mu_);
  if (list.ok()) {
    for (const auto& n : *list) network_names_[n.id] = n.name;
  }
  return network_names_;
}

absl::Status Cluster::CheckEdgeImageEverywhere() {
  for (auto& h : AllNodes()) {
    if (h.node.state != nodes::NodeState::kRunning || Leaving(h.node.name)) continue;
    if (!Engine(h.node)->InspectImage(options_.edge_image).ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this cluster has no IPVS, so published ports go through an edge proxy, and node '",
          h.node.name, "' lacks its image ", options_.edge_image,
          ": `musketeer image build docker/edge -t ", options_.edge_image, "` first"));
    }
  }
  return absl::OkStatus();
}

std::mutex& Cluster::ServiceMutex(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& m = service_mu_[name];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

// ---------------------------------------------------------------- create

std::string Fingerprint(const google::protobuf::Message& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&out);
  }
  return state::Sha256Hex(bytes);
}

absl::StatusOr<Cluster::OperationStart> Cluster::StartOperation(const std::string& request_id,
                                                                const std::string& kind,
                                                                const std::string& target,
                                                                const std::string& fingerprint) {
  if (auto op = store_.FindOperation(request_id); op.has_value()) {
    if (op->kind != kind || op->target != target ||
        (!op->fingerprint.empty() && op->fingerprint != fingerprint)) {
      return absl::InvalidArgumentError(
          absl::StrCat("request_id: '", Cut(request_id), "' was given to another request (",
                       op->kind, " of '", op->target,
                       "'); a retry must repeat its request exactly, a new request needs a new "
                       "request_id"));
    }
    if (op->state == "done") return OperationStart{op->id, absl::OkStatus(), false};
    if (op->state == "failed") return OperationStart{op->id, op->status(), false};
    // "running" under the service's lock is one a stopped musketeerd left: resume it.
    store_.ResumeOperation(op->id);
    return OperationStart{op->id, std::nullopt, true};
  }
  auto id = store_.BeginOperation(request_id, kind, target, fingerprint);
  if (!id.ok()) return id.status();
  return OperationStart{*id, std::nullopt, false};
}

absl::StatusOr<pb::Service> Cluster::CreateService(const pb::CreateServiceRequest& req,
                                                   absl::Time deadline) {
  if (auto s = ValidateServiceSpec(req.spec()); !s.ok()) return s;
  const std::string& name = req.spec().name();
  {
    std::lock_guard service_lock(ServiceMutex(name));
    auto op = StartOperation(req.request_id(), "create_service", name, Fingerprint(req.spec()));
    if (!op.ok()) return op.status();
    if (op->replay) {
      if (!op->replay->ok()) return *op->replay;  // the first call's error, again
      // Done, but never answered as half made: what is missing now is made again.
      if (auto s = MakeWhole(req.spec()); !s.ok()) return s;
    } else {
      absl::Status s = CreateServiceLocked(req.spec(), "");
      // Resumed: the interrupted call may have made it (whole or in part) already.
      if (op->resumed && s.code() == absl::StatusCode::kAlreadyExists) s = MakeWhole(req.spec());
      // Done once made: waiting is not part of the operation, so a retry after the first
      // call's deadline gets the service.
      store_.FinishOperation(op->id, s);
      if (!s.ok()) return s;
    }
  }
  return WaitAndDescribe(name, req.wait(), deadline);
}

absl::Status Cluster::MakeWhole(const pb::ServiceSpec& spec) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::DockerEngine& manager = *m->second;
  if (!manager.InspectService(spec.name()).ok()) return CreateServiceLocked(spec, "");
  // The service without (some of) its edge proxies: placed for the service as recorded.
  auto routing = store_.GetRouting(spec.name());
  return routing ? PlaceEdges(*routing) : absl::OkStatus();
}

absl::Status Cluster::CheckServiceReferences(engine::DockerEngine& manager,
                                             const pb::ServiceSpec& spec) {
  // Networks by name or ID, as the swarm resolves them.
  if (spec.networks_size() > 0) {
    auto networks = manager.ListNetworks();
    if (!networks.ok()) return networks.status();
    for (const auto& want : spec.networks()) {
      const bool found =
          std::any_of(networks->begin(), networks->end(), [&](const engine::Network& n) {
            return n.scope == "swarm" && (n.name == want || n.id == want);
          });
      if (!found) {
        return absl::NotFoundError(
            absl::StrCat("spec.networks: network '", Cut(want),
                         "' does not exist (or is not a swarm network); create it first: "
                         "`musketeer network create --driver overlay NAME`"));
      }
    }
  }
  return CheckPortsFree(manager, spec);
}

absl::Status Cluster::CheckPortsFree(engine::DockerEngine& manager, const pb::ServiceSpec& spec) {
  // Published ports: one service per port and protocol in the whole swarm (0: one is picked).
  if (spec.ports_size() > 0) {
    auto services = manager.ListServices();
    if (!services.ok()) return services.status();
    for (const auto& p : spec.ports()) {
      if (p.published() == 0) continue;
      const std::string protocol = p.protocol().empty() ? "tcp" : p.protocol();
      for (const auto& other : *services) {
        // An edge service an older musketeerd made is being replaced by containers.
        if (other.spec.name == spec.name() || !Label(other.spec, kEdgeForLabel).empty() ||
            !other.spec.endpoint_spec)
          continue;
        for (const auto& q : other.spec.endpoint_spec->ports) {
          if (q.published_port != p.published() ||
              (q.protocol.empty() ? "tcp" : q.protocol) != protocol)
            continue;
          return absl::FailedPreconditionError(
              absl::StrCat("spec.ports: port ", p.published(), "/", protocol,
                           " is already published by service '", other.spec.name,
                           "'; pick another published port, or remove or update that service"));
        }
        if (auto routing = store_.GetRouting(other.spec.name)) {  // edge-routed: its record
          for (const auto& q : routing->Ports()) {
            if (q.published == p.published() && q.protocol == protocol) {
              return absl::FailedPreconditionError(
                  absl::StrCat("spec.ports: port ", p.published(), "/", protocol,
                               " is already published by service '", other.spec.name,
                               "'; pick another published port, or remove or update that "
                               "service"));
            }
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Cluster::CreateServiceLocked(const pb::ServiceSpec& in, const std::string& stack) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::DockerEngine& manager = *m->second;
  if (manager.InspectService(in.name()).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("service '", in.name(), "' already exists; update it or remove it first"));
  }
  pb::ServiceSpec spec = in;
  const bool edge = NeedsEdge(spec) && !options_.ipvs;
  state::ServiceRouting routing{spec.name(), edge ? "edge-proxy" : "ingress",
                                edge ? EdgeName(spec.name()) : "", PortsJson(spec)};
  // Everything is checked and prepared before anything is made.
  if (auto s = CheckServiceReferences(manager, spec); !s.ok()) return s;
  bool make_edge_network = false;
  if (edge) {
    // The edge proxies see the service's tasks on a shared attachable overlay network (as
    // every service with ingress ports is on Swarm's `ingress` network).
    if (std::find(spec.networks().begin(), spec.networks().end(), kEdgeNetwork) ==
        spec.networks().end()) {
      auto missing = EdgeNetworkMissing(manager);
      if (!missing.ok()) return missing.status();
      make_edge_network = *missing;
      spec.add_networks(kEdgeNetwork);
    }
    for (const auto& p : spec.ports())
      if (!HostMode(p) && p.protocol() == "sctp") return EdgeProtocolRefused("spec.ports", p);
    if (auto s = PickPublishedPorts(manager, spec); !s.ok()) return s;
    // Every node runs an edge proxy, so every node needs its image.
    if (auto s = CheckEdgeImageEverywhere(); !s.ok()) return s;
  }
  auto engine_spec = ToEngineSpec(spec, edge, stack);
  if (!engine_spec.ok()) return engine_spec.status();
  if (auto s = ResolveSecrets(manager, *engine_spec); !s.ok()) return s;
  if (auto s = ResolveConfigs(manager, *engine_spec); !s.ok()) return s;
  // Pinned before anything is created: the agents then never wait for a registry.
  auto policy = ParsePullPolicy("spec.pull", spec.pull());
  if (!policy.ok()) return policy.status();
  auto image = PinServiceImage(m->first, manager, spec.image(), *policy);
  if (!image.ok()) return image.status();
  ApplyPinnedImage(*image, *policy, *engine_spec);

  // Making: each step that fails undoes the ones before it (nothing half made is left).
  std::vector<std::function<void()>> undo;
  auto fail = [&](absl::Status s) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
    return s;
  };
  if (make_edge_network) {
    auto id = MakeEdgeNetwork(manager);
    if (!id.ok()) return id.status();
    if (!id->empty()) undo.push_back([&manager, id = *id] { (void)manager.RemoveNetwork(id); });
  }
  // Intent first: a crash before the edges are placed is repaired by Reconcile() and the
  // edge keeper.
  if (auto s = store_.PutRouting(routing); !s.ok()) return fail(s);
  undo.push_back([this, name = spec.name()] { store_.DeleteRouting(name); });
  auto id = manager.CreateService(*engine_spec);
  if (!id.ok()) return fail(id.status());
  undo.push_back([&manager, id = *id] { (void)manager.RemoveService(id); });
  if (edge) {
    undo.push_back([this, name = spec.name()] { RemoveEdges(name); });
    if (auto s = PlaceEdges(routing); !s.ok()) return fail(s);
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::Service> Cluster::WaitAndDescribe(const std::string& name, bool wait,
                                                     absl::Time deadline,
                                                     bool rollback_is_success) {
  if (!wait) return GetService(name);
  auto progress = WatchService(name, deadline, [](const pb::ServiceProgress&) { return true; });
  if (!progress.ok()) return progress.status();
  if (view_) view_->NoteWrite();  // the answer must show what the watch saw, not an older view
  auto svc = GetService(name);
  if (!svc.ok()) return svc;
  *svc->mutable_routing() = progress->routing();
  if (progress->state() == "converged" ||
      (rollback_is_success && progress->state() == "rolled_back"))
    return svc;
  // Failed, or rolled back by the swarm (its FailureAction): the change did not take.
  const bool refused = progress->state() == "failed" || progress->state() == "rolled_back";
  return absl::Status(
      refused ? absl::StatusCode::kFailedPrecondition : absl::StatusCode::kDeadlineExceeded,
      absl::StrCat("service '", name, "' did not converge (", progress->state(), ": ",
                   progress->message(), ")"));
}

absl::StatusOr<bool> EdgeNetworkMissing(engine::DockerEngine& manager) {
  auto networks = manager.ListNetworks();
  if (!networks.ok()) return networks.status();
  return std::none_of(networks->begin(), networks->end(),
                      [](const engine::Network& n) { return n.name == kEdgeNetwork; });
}

absl::StatusOr<std::string> MakeEdgeNetwork(engine::DockerEngine& manager) {
  engine::NetworkCreateRequest edge_network;
  edge_network.name = kEdgeNetwork;
  edge_network.driver = "overlay";
  edge_network.attachable = true;
  edge_network.check_duplicate = true;
  auto id = manager.CreateNetwork(edge_network);
  if (!id.ok() && id.status().code() == absl::StatusCode::kAlreadyExists) return std::string();
  return id;
}

// ---------------------------------------------------------------- read

namespace {
// A service's tasks that should run: how many do, and on how many nodes (a global service's
// desired count).
struct ServiceTaskCount {
  uint32_t running = 0;
  uint32_t nodes = 0;
};
using TaskCounts = std::map<std::string, ServiceTaskCount>;  // by service id

TaskCounts CountTasks(const std::vector<engine::Task>& tasks) {
  TaskCounts counts;
  std::set<std::pair<std::string_view, std::string_view>> placed;  // (service, node)
  for (const auto& t : tasks) {
    if (t.desired_state != "running") continue;
    auto& c = counts[t.service_id];
    if (t.status.state == "running") ++c.running;
    if (placed.emplace(t.service_id, t.node_id).second) ++c.nodes;
  }
  return counts;
}
}  // namespace

absl::StatusOr<pb::Service> Cluster::GetService(const std::string& name) {
  auto view = ReadView();
  auto m = view ? ViewManager(view) : Manager();
  if (!m.ok()) return m.status();
  auto v = m->second->InspectService(name);
  if (!v.ok()) {
    if (v.status().code() == absl::StatusCode::kNotFound)
      return absl::NotFoundError(
          absl::StrCat("service '", name, "' does not exist; `musketeer service ls` lists them"));
    return v.status();
  }
  auto routing = store_.GetRouting(name);
  const auto network_names = NetworkNames(*m->second, {&v->spec});
  pb::Service out;
  *out.mutable_spec() = FromEngineSpec(v->spec, routing ? &*routing : nullptr, &network_names);
  out.set_id(v->id);
  out.set_version(v->version.index);
  out.set_created_at(v->created_at);
  out.set_updated_at(v->updated_at);
  if (const std::string edge_for = Label(v->spec, kEdgeForLabel); !edge_for.empty()) {
    out.set_internal(true);
    out.set_internal_for(edge_for);
  }
  if (v->update_status) {
    out.set_update_state(v->update_status->state);
    out.set_update_message(v->update_status->message);
  }
  out.set_stack(Label(v->spec, kStackLabel));
  if (auto autoscale = AutoscaleOf(name)) *out.mutable_autoscale() = std::move(*autoscale);
  if (view)
    out.set_observed_at(Rfc3339(view->taken));
  if (routing) {
    out.mutable_routing()->set_mode(routing->mode);
    out.mutable_routing()->set_edge_service(routing->edge_service);
    if (routing->mode == "edge-proxy")
      out.mutable_routing()->set_reason(
          "the nodes' kernel has no IPVS, so the ingress routing mesh cannot balance; an HAProxy "
          "container on every node (outside the scheduler: a drained node answers too) "
          "publishes the ports and spreads requests over tasks.<service>");
  }
  // Counted once per view snapshot for every service (10,000 tasks at 1,000 nodes).
  absl::StatusOr<std::vector<engine::Task>> asked;
  if (!view) asked = m->second->ListTasks(out.id());
  if (view || asked.ok()) {
    auto counts = view ? view->derived.Get<TaskCounts>(
                             "task counts", *view,
                             [](const ViewSnapshot& v) { return CountTasks(v.tasks); })
                       : std::make_shared<const TaskCounts>(CountTasks(*asked));
    const auto it = counts->find(v->id);
    const ServiceTaskCount c = it == counts->end() ? ServiceTaskCount{} : it->second;
    out.set_running(c.running);
    out.set_desired(out.spec().mode() == "global" ? c.nodes : out.spec().replicas());
  } else {
    out.set_desired(out.spec().mode() == "global" ? 0 : out.spec().replicas());
  }
  return out;
}

absl::StatusOr<std::vector<pb::Service>> Cluster::ListServices(const std::string& stack) {
  auto view = ReadView();
  auto m = view ? ViewManager(view) : Manager();
  if (!m.ok()) return m.status();
  auto list = m->second->ListServices();
  if (!list.ok()) return list.status();
  std::vector<pb::Service> out;
  std::vector<const engine::ServiceSpec*> specs;
  for (const auto& v : *list) specs.push_back(&v.spec);
  const auto network_names = NetworkNames(*m->second, specs);
  const auto autoscale = StoredAutoscale();
  for (const auto& v : *list) {
    if (!stack.empty() && Label(v.spec, kStackLabel) != stack) continue;
    auto routing = store_.GetRouting(v.spec.name);
    pb::Service s;
    *s.mutable_spec() = FromEngineSpec(v.spec, routing ? &*routing : nullptr, &network_names);
    s.set_id(v.id);
    s.set_stack(Label(v.spec, kStackLabel));
    s.set_version(v.version.index);
    s.set_created_at(v.created_at);
    s.set_updated_at(v.updated_at);
    if (const std::string edge_for = Label(v.spec, kEdgeForLabel); !edge_for.empty()) {
      s.set_internal(true);
      s.set_internal_for(edge_for);
    }
    if (v.update_status) {
      s.set_update_state(v.update_status->state);
      s.set_update_message(v.update_status->message);
    }
    if (v.service_status) {
      s.set_running(v.service_status->running_tasks);
      s.set_desired(v.service_status->desired_tasks);
    }
    if (routing) s.mutable_routing()->set_mode(routing->mode);
    if (auto it = autoscale.find(v.spec.name); it != autoscale.end())
      *s.mutable_autoscale() = it->second;
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.spec().name() < b.spec().name(); });
  return out;
}

pb::Task TaskProto(const engine::Task& t, const std::string& service, const std::string& node) {
  pb::Task task;
  task.set_id(t.id);
  task.set_service(service);
  task.set_slot(t.slot);
  task.set_node(node);
  task.set_image(ShownImage(t.spec.container_spec));
  task.set_state(t.status.state);
  task.set_desired_state(t.desired_state);
  task.set_error(t.status.err);
  task.set_updated_at(t.updated_at);
  task.set_container_id(t.status.container_status.container_id);
  return task;
}

bool TaskListOrder(const pb::Task& a, const pb::Task& b) {
  if (a.service() != b.service()) return a.service() < b.service();
  if (a.slot() != b.slot()) return a.slot() < b.slot();
  if (a.updated_at() != b.updated_at()) return a.updated_at() > b.updated_at();
  return a.id() < b.id();
}

namespace {
// The tasks of `service_id` ("": all), in TaskListOrder, named by their services and nodes
// (ids -> names).
std::vector<pb::Task> TaskList(const std::vector<engine::Task>& tasks,
                               const std::string& service_id,
                               const std::map<std::string, std::string>& service_names,
                               const std::map<std::string, std::string>& node_names) {
  std::vector<pb::Task> out;
  for (const auto& t : tasks) {
    if (!service_id.empty() && t.service_id != service_id) continue;
    auto service = service_names.find(t.service_id);
    auto node = node_names.find(t.node_id);
    out.push_back(TaskProto(t, service != service_names.end() ? service->second : t.service_id,
                            node != node_names.end() ? node->second : ""));
  }
  std::sort(out.begin(), out.end(), TaskListOrder);
  return out;
}
}  // namespace

absl::StatusOr<std::shared_ptr<const SharedList<pb::Task>>> Cluster::ListTasks(
    const std::string& service) {
  auto view = ReadView();
  auto m = view ? ViewManager(view) : Manager();
  if (!m.ok()) return m.status();
  std::map<std::string, std::string> service_names;  // id -> name
  std::string service_id;
  if (!service.empty()) {
    auto svc = m->second->InspectService(service);
    if (!svc.ok())
      return absl::NotFoundError(absl::StrCat("service '", service, "' does not exist"));
    service_id = svc->id;
    service_names[svc->id] = svc->spec.name;
  } else if (!view) {  // the view's list names its services from its own snapshot
    auto list = m->second->ListServices();
    if (!list.ok()) return list.status();
    for (const auto& v : *list) service_names[v.id] = v.spec.name;
  }
  if (view) {
    return view->derived.Get<SharedList<pb::Task>>(
        "tasks:" + service_id, *view, [service_id](const ViewSnapshot& v) {
          std::map<std::string, std::string> services, nodes;  // id -> name
          for (const auto& s : v.services) services[s.id] = s.spec.name;
          for (const auto& n : v.swarm_nodes) nodes[n.id] = n.description.hostname;
          return SharedList<pb::Task>(TaskList(v.tasks, service_id, services, nodes));
        });
  }
  auto asked = m->second->ListTasks(service_id);
  if (!asked.ok()) return asked.status();
  return std::make_shared<const SharedList<pb::Task>>(
      TaskList(*asked, service_id, service_names, SwarmNodeNames(*m->second)));
}

// ---------------------------------------------------------------- watch

absl::StatusOr<pb::ServiceProgress> Cluster::WatchService(const std::string& name,
                                                          absl::Time deadline,
                                                          const ProgressSink& sink) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::DockerEngine& manager = *m->second;
  pb::ServiceProgress progress;
  absl::Time stable_since = absl::InfiniteFuture();
  std::string last_rendered;
  std::map<std::string, bool> healthchecked;  // by image: asked once per watch
  for (;;) {
    auto svc = InspectNamed(manager, name);
    if (!svc.ok()) return svc.status();
    auto tasks = manager.ListTasks(svc->id);
    auto swarm_nodes = manager.ListNodes();
    if (!tasks.ok()) return tasks.status();
    std::set<std::string> down;
    std::map<std::string, std::string> names;
    if (swarm_nodes.ok()) {
      for (const auto& n : *swarm_nodes) {
        names[n.id] = n.description.hostname;
        if (n.status.state != "ready") down.insert(n.id);
      }
    }
    const bool global = svc->spec.mode.global.has_value();
    // One entry per slot (replicated) or node (global): the newest task that should run.
    std::map<std::string, const engine::Task*> slots;
    int failures = 0;
    std::string last_error, newest_error, newest_error_at;
    for (const auto& t : *tasks) {
      const std::string key = global ? t.node_id : std::to_string(t.slot);
      if (t.status.state == "failed" || t.status.state == "rejected") {
        const std::string& err = t.status.err;
        if (SameTaskSpec(t, *svc)) {
          ++failures;
          if (!err.empty()) last_error = err;
        }
        // After an automatic rollback the failed tasks are the abandoned version's.
        if (!err.empty() && t.updated_at >= newest_error_at) {
          newest_error_at = t.updated_at;
          newest_error = err;
        }
      }
      if (t.desired_state != "running") continue;
      auto& cur = slots[key];
      if (cur == nullptr || t.updated_at > cur->updated_at) cur = &t;
    }
    uint32_t desired = 0;
    if (global) {
      if (swarm_nodes.ok()) {
        for (const auto& n : *swarm_nodes) {
          if (!down.count(n.id) && n.spec.availability == "active") ++desired;
        }
      }
    } else if (svc->spec.mode.replicated && svc->spec.mode.replicated->replicas) {
      desired = *svc->spec.mode.replicated->replicas;
    }
    progress.Clear();
    uint32_t running = 0;
    for (const auto& [key, t] : slots) {
      auto* slot = progress.add_slots();
      if (!global) slot->set_slot(t->slot);
      slot->set_node(names[t->node_id]);
      slot->set_state(t->status.state);
      slot->set_error(t->status.err);
      if (slot->state() == "running" && SameTaskSpec(*t, *svc) && !down.count(t->node_id))
        ++running;
    }
    progress.set_running(std::min(running, desired));
    progress.set_desired(desired);
    const std::string update = svc->update_status ? svc->update_status->state : "";
    const std::string update_message = svc->update_status ? svc->update_status->message : "";
    const bool updating = update == "updating" || update == "rollback_started";
    std::string state =
        updating ? (update == "updating" ? "updating" : "rolling_back") : "converging";
    if (update == "paused" || update == "rollback_paused") {
      progress.set_state("failed");
      progress.set_message(absl::StrCat("update ", update, ": ", update_message));
      sink(progress);
      return progress;
    }
    if (failures >= 3 * static_cast<int>(std::max<uint32_t>(desired, 1)) && running < desired) {
      progress.set_state("failed");
      progress.set_message(absl::StrCat(failures, " tasks failed; the last: ",
                                        last_error.empty() ? "(no error reported)" : last_error));
      sink(progress);
      return progress;
    }
    const absl::Time now = absl::Now();
    // The stability window runs while the swarm still monitors an update (it overlaps the
    // update's Monitor period instead of following it). It is skipped for tasks with a
    // healthcheck: those count as running only after a probe passed, the stronger evidence.
    const engine::ContainerSpec& container = svc->spec.task_template.container_spec;
    if (!healthchecked.count(container.image))
      healthchecked[container.image] = HasHealthcheck(manager, container);
    const absl::Duration stable_for =
        healthchecked[container.image] ? absl::ZeroDuration() : options_.stable_for;
    if (running >= desired) {
      if (stable_since == absl::InfiniteFuture()) stable_since = now;
    } else {
      stable_since = absl::InfiniteFuture();
    }
    if (running >= desired && !updating) {
      if (now - stable_since >= stable_for) {
        progress.set_state(update == "rollback_completed" ? "rolled_back" : "converged");
        if (update == "rollback_completed") {
          std::string why = update_message;
          if (!newest_error.empty()) absl::StrAppend(&why, "; the last task error: ", newest_error);
          progress.set_message(why);
        }
        if (auto routing = store_.GetRouting(name);
            routing && !routing->Ports().empty() && progress.running() > 0) {
          *progress.mutable_routing() = Probe(*routing, progress.running(),
                                              std::min(deadline, now + options_.probe_patience));
        }
        sink(progress);
        return progress;
      }
    }
    progress.set_state(state);
    if (!last_error.empty()) progress.set_message(last_error);
    const std::string rendered = progress.SerializeAsString();
    if (rendered != last_rendered) {
      last_rendered = rendered;
      if (!sink(progress)) return progress;
    }
    if (now + options_.poll_interval > deadline) {
      progress.set_message(absl::StrCat("not converged before the deadline: ", progress.running(),
                                        " of ", desired, " running"));
      return progress;
    }
    // Only the stability window left: look again when it ends, not at the next poll.
    absl::Duration wait = options_.poll_interval;
    if (running >= desired && !updating && stable_since != absl::InfiniteFuture())
      wait = std::min(wait, std::max(stable_since + stable_for - now, absl::Milliseconds(1)));
    absl::SleepFor(wait);
  }
}

pb::Routing Cluster::Probe(const state::ServiceRouting& routing, uint32_t expected,
                           absl::Time until) {
  pb::Routing out;
  out.set_mode(routing.mode);
  out.set_edge_service(routing.edge_service);
  // /ping over HTTP: a TCP port (a UDP one is not probed).
  const std::vector<state::PublishedPort> all = routing.Ports();
  auto tcp = std::find_if(all.begin(), all.end(),
                          [](const state::PublishedPort& p) { return p.protocol != "udp"; });
  if (tcp == all.end()) return out;
  const uint16_t port = tcp->published;
  const std::vector<nodes::Node> targets = RunningNodes();
  std::vector<pb::PortProbe> probes(targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i) {
    threads.emplace_back([&, i] {
      pb::PortProbe& p = probes[i];
      p.set_node(targets[i].name);
      p.set_address(absl::StrCat(targets[i].ip, ":", port));
      std::set<std::string> hosts;
      // Right after convergence the edge proxy may not have resolved every task yet: ask
      // until every replica answered here (requests go round robin), with patience.
      p.set_expected(expected);
      const int round = std::max<int>(options_.probe_requests, 2 * expected);
      for (int n = 1;; ++n) {
        auto body = probe_(targets[i].ip, port);
        if (body.ok()) {
          p.set_answered(true);
          if (auto h = HostnameOf(*body); !h.empty()) hosts.insert(h);
        } else {
          p.set_error(std::string(body.status().message()));
        }
        if (hosts.size() >= std::max<uint32_t>(expected, 1) || absl::Now() >= until) break;
        // A round without every replica: the proxy re-resolves every 200 ms; wait a little.
        if (!body.ok() || n % round == 0) absl::SleepFor(absl::Milliseconds(100));
      }
      if (p.answered()) p.clear_error();
      if (hosts.size() < expected) {
        p.set_warming_up(true);
        p.set_error(absl::StrCat(hosts.size(), " of ", expected,
                                 " replicas answered here so far: still warming up (the edge "
                                 "proxy re-resolves the tasks every 200 ms; ask again shortly)"));
      }
      for (const auto& h : hosts) p.add_hostnames(h);
    });
  }
  for (auto& t : threads) t.join();
  for (auto& p : probes) *out.add_probes() = std::move(p);
  return out;
}

// ---------------------------------------------------------------- update

absl::Status Cluster::UpdateSpec(const std::string& name,
                                 const std::function<absl::Status(engine::ServiceSpec&)>& edit,
                                 bool rollback, std::optional<uint64_t> version) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  // Read-modify-write: the swarm refuses a stale version ("update out of sequence").
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto svc = InspectNamed(*m->second, name);
    if (!svc.ok()) return svc.status();
    if (version && svc->version.index != *version) return StaleVersion(name, *version);
    if (rollback && !svc->previous_spec) {
      return absl::FailedPreconditionError(
          absl::StrCat("service '", name, "' has no previous version to roll back to"));
    }
    // The spec as read, with what this model does not name: an update keeps all of it.
    engine::ServiceSpec spec = svc->spec;
    if (auto s = edit(spec); !s.ok()) return s;
    absl::Status s = m->second->UpdateService(svc->id, svc->version.index, spec, rollback);
    if (s.ok() || !absl::StrContains(s.message(), "out of sequence")) return s;
    if (version) return StaleVersion(name, *version);  // changed after our read: not ours to redo
  }
  return absl::AbortedError(
      absl::StrCat("service '", name, "' kept changing under the update; try again"));
}

// UpdateService: service_update.cc.

absl::StatusOr<pb::Service> Cluster::RollbackService(const std::string& name, bool wait,
                                                     absl::Time deadline,
                                                     const std::string& request_id) {
  {
    std::lock_guard service_lock(ServiceMutex(name));
    pb::RollbackServiceRequest what;  // the change itself, without how it is waited for
    what.set_name(name);
    auto op = StartOperation(request_id, "rollback_service", name, Fingerprint(what));
    if (!op.ok()) return op.status();
    if (op->replay) {  // a retry (a browser's, say): the first call's outcome, not a second one
      if (!op->replay->ok()) return *op->replay;
    } else {
      absl::Status s = UpdateSpec(
          name, [](engine::ServiceSpec&) { return absl::OkStatus(); }, /*rollback=*/true);
      store_.FinishOperation(op->id, s);
      if (!s.ok()) return s;
    }
  }
  return WaitAndDescribe(name, wait, deadline, /*rollback_is_success=*/true);
}

// ---------------------------------------------------------------- delete

absl::Status Cluster::RemoveServiceAndEdge(engine::DockerEngine& manager, const std::string& name) {
  absl::Status s = manager.RemoveService(name);
  if (s.code() == absl::StatusCode::kNotFound)
    s = absl::NotFoundError(absl::StrCat("service '", name, "' does not exist"));
  if (auto routing = store_.GetRouting(name); routing && routing->mode == "edge-proxy") {
    RemoveEdges(name);  // a node that does not answer now: the edge keeper removes it later
    if (s.code() == absl::StatusCode::kNotFound)
      s = absl::OkStatus();  // finishing an interrupted removal
  }
  if (s.ok()) store_.DeleteRouting(name);
  return s;
}

absl::Status Cluster::DeleteService(const std::string& name) {
  std::lock_guard service_lock(ServiceMutex(name));
  auto m = Manager();
  if (!m.ok()) return m.status();
  return RemoveServiceAndEdge(*m->second, name);
}

namespace {
// Percent-decoding of docker's log details (url.QueryEscape'd keys and values).
std::string Unescape(std::string_view s) {
  auto hex = [](char c) {
    return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}
}  // namespace

bool ParseLogLine(std::string_view data, LogLine* out) {
  // "TIMESTAMP DETAILS MESSAGE", as /services/{id}/logs?timestamps=1&details=1 writes each
  // message; DETAILS is "k=v,k=v" (empty when the engine has none).
  const size_t ts_end = data.find(' ');
  if (ts_end == std::string_view::npos) return false;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(data.substr(0, ts_end)), &t, &err))
    return false;
  out->timestamp = std::string(data.substr(0, ts_end));
  std::string_view rest = data.substr(ts_end + 1);
  const size_t details_end = rest.find(' ');
  std::string_view details = rest.substr(0, details_end);
  out->message =
      details_end == std::string_view::npos ? "" : std::string(rest.substr(details_end + 1));
  out->details.clear();
  while (!details.empty()) {
    const size_t comma = details.find(',');
    const std::string_view kv = details.substr(0, comma);
    details = comma == std::string_view::npos ? std::string_view() : details.substr(comma + 1);
    if (kv.empty()) continue;
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return false;
    out->details[Unescape(kv.substr(0, eq))] = Unescape(kv.substr(eq + 1));
  }
  return true;
}

absl::Status Cluster::ServiceLogs(const std::string& name, bool follow, int tail,
                                  const LogChunkSink& sink,
                                  const std::function<bool()>& cancelled) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto svc = InspectNamed(*m->second, name);
  if (!svc.ok()) return svc.status();
  // Which task and node each line came from: the engine names them by ID.
  std::map<std::string, int64_t> slots;  // task id -> slot
  std::map<std::string, std::string> node_names;
  absl::Time refreshed = absl::InfinitePast();
  auto refresh = [&] {
    refreshed = absl::Now();
    if (auto tasks = m->second->ListTasks(svc->id); tasks.ok())
      for (const auto& t : *tasks) slots[t.id] = t.slot;
    node_names = SwarmNodeNames(*m->second);
  };
  refresh();
  return m->second->ServiceLogs(
      svc->id, follow, tail,
      [&](int stream, std::string_view data) {
        pb::LogChunk chunk;
        chunk.set_stderr(stream == 2);
        LogLine line;
        if (!ParseLogLine(data, &line)) {
          chunk.set_data(std::string(data));  // an engine that sent no details
          return sink(chunk);
        }
        chunk.set_data(std::move(line.message));
        chunk.set_timestamp(line.timestamp);
        const std::string task = line.details["com.docker.swarm.task.id"];
        const std::string node = line.details["com.docker.swarm.node.id"];
        // A task or node made after the last look (a follow across an update): look again,
        // at most once a second.
        if ((!slots.count(task) || !node_names.count(node)) &&
            absl::Now() - refreshed > absl::Seconds(1))
          refresh();
        chunk.set_task_id(task);
        if (auto it = slots.find(task); it != slots.end()) chunk.set_slot(it->second);
        auto n = node_names.find(node);
        chunk.set_node(n != node_names.end() ? n->second : node);
        return sink(chunk);
      },
      cancelled);
}

// ---------------------------------------------------------------- stacks

absl::StatusOr<pb::Stack> Cluster::DeployStack(const pb::DeployStackRequest& req,
                                               absl::Time deadline) {
  static const std::regex kName("[a-z0-9][a-z0-9_-]{0,30}");
  if (!std::regex_match(req.name(), kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: '", req.name(), "' is invalid; use 1-31 of [a-z0-9_-]"));
  }
  ComposeInput input{req.name(), {}, {}, {}, req.working_dir()};
  if (!req.compose_yaml().empty()) input.files.push_back(req.compose_yaml());
  input.files.insert(input.files.end(), req.more_compose_yaml().begin(),
                     req.more_compose_yaml().end());
  input.environment.insert(req.environment().begin(), req.environment().end());
  input.files_content.insert(req.files().begin(), req.files().end());
  auto compose = LoadCompose(input);
  if (!compose.ok()) return compose.status();
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::DockerEngine& manager = *m->second;
  pb::Stack stack;
  stack.set_name(req.name());
  for (const auto& w : compose->warnings) stack.add_warnings(w);

  // Checked before anything is made: external networks, secrets and configs exist; names fit;
  // no service of another owner is taken over.
  auto networks = manager.ListNetworks();
  if (!networks.ok()) return networks.status();
  std::map<std::string, const engine::Network*> have;
  for (const auto& n : *networks) have[n.name] = &n;
  for (const auto& n : compose->networks) {
    if (!n.external) continue;
    auto it = have.find(n.name);
    if (it == have.end())
      return absl::NotFoundError(absl::StrCat(
          "networks.", Cut(n.key), ": network \"", Cut(n.name),
          "\" is declared as external, but could not be found; create a swarm network first: "
          "`musketeer network create ", Cut(n.name), "`"));
    if (it->second->scope != "swarm")
      return absl::FailedPreconditionError(absl::StrCat(
          "networks.", Cut(n.key), ": network \"", Cut(n.name),
          "\" is declared as external, but it is not in the right scope: \"", it->second->scope,
          "\" instead of \"swarm\""));
  }
  for (const auto& [list, kind] :
       {std::pair{&compose->secrets, "secret"}, std::pair{&compose->configs, "config"}}) {
    auto existing = std::string(kind) == "secret" ? manager.ListSecrets() : manager.ListConfigs();
    if (!existing.ok()) return existing.status();
    for (const auto& d : *list) {
      const bool found = std::any_of(existing->begin(), existing->end(),
                                     [&](const engine::Secret& x) { return x.spec.name == d.name; });
      if (d.external && !found)
        return absl::NotFoundError(absl::StrCat(
            kind, "s.", Cut(d.key), ": the external ", kind, " '", Cut(d.name),
            "' does not exist; create it first: `musketeer ", kind, " create ", Cut(d.name),
            " FILE`"));
    }
  }
  for (const auto& spec : compose->services) {
    const bool edge = NeedsEdge(spec) && !options_.ipvs;
    const std::string short_name = spec.name().substr(req.name().size() + 1);
    if (spec.name().size() > kMaxServiceName) {
      return absl::InvalidArgumentError(absl::StrCat(
          "services.", Cut(short_name), ": the service '", Cut(spec.name()),
          "' would be longer than Docker's ", kMaxServiceName,
          " characters; shorten the stack's or the service's name"));
    }
    // A service of that name outside the stack is someone else's: not taken over.
    auto other = manager.InspectService(spec.name());
    if (other.ok() && Label(other->spec, kStackLabel) != req.name()) {
      return absl::AlreadyExistsError(
          absl::StrCat("services.", Cut(short_name), ": the service '", Cut(spec.name()),
                       "' exists and is not part of stack '", req.name(),
                       "'; remove it or rename the stack's service"));
    }
    if (auto st = CheckPortsFree(manager, spec); !st.ok())
      return absl::Status(st.code(), absl::StrCat("services.", Cut(short_name), ": ", st.message()));
    if (edge) {
      for (const auto& p : spec.ports())
        if (!HostMode(p) && p.protocol() == "sctp")
          return EdgeProtocolRefused(absl::StrCat("services.", Cut(short_name), ".ports"), p);
    }
  }

  // Making: what this call made is removed again when a later step fails (nothing half made).
  std::vector<std::function<void()>> undo;
  auto fail = [&](absl::Status s) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
    return s;
  };
  for (const auto& n : compose->networks) {
    if (n.external) continue;  // used as it is, not the stack's
    stack.add_networks(n.name);
    if (have.count(n.name)) continue;
    engine::NetworkCreateRequest body;
    body.name = n.name;
    body.driver = n.driver;
    body.attachable = n.attachable;
    body.internal = n.internal;
    body.check_duplicate = true;
    body.options = engine::Labels(n.driver_opts.begin(), n.driver_opts.end());
    body.labels = engine::Labels(n.labels.begin(), n.labels.end());
    if (!n.ipam_driver.empty() || !n.subnets.empty()) {
      engine::Ipam& ipam = body.ipam.emplace();
      ipam.driver = n.ipam_driver;
      for (const auto& subnet : n.subnets) ipam.config.emplace_back().subnet = subnet;
    }
    auto id = manager.CreateNetwork(body);
    if (!id.ok()) return fail(id.status());
    undo.push_back([&manager, id = *id] { (void)RemoveNetworkWhenFree(manager, id); });
  }
  for (const auto& [list, kind] :
       {std::pair{&compose->secrets, "secret"}, std::pair{&compose->configs, "config"}}) {
    const bool secret = std::string(kind) == "secret";
    auto existing = secret ? manager.ListSecrets() : manager.ListConfigs();
    if (!existing.ok()) return fail(existing.status());
    for (const auto& d : *list) {
      if (d.external) continue;
      (secret ? stack.add_secrets() : stack.add_configs())->assign(d.name);
      // Secrets and configs cannot change: one the stack made before stays (a changed file
      // needs a new name, as with docker's).
      if (std::any_of(existing->begin(), existing->end(),
                      [&](const engine::Secret& x) { return x.spec.name == d.name; }))
        continue;
      engine::SecretSpec spec;
      spec.name = d.name;
      spec.labels = engine::Labels(d.labels.begin(), d.labels.end());
      spec.data = absl::Base64Escape(d.data);
      auto id = secret ? manager.CreateSecret(spec) : manager.CreateConfig(spec);
      if (!id.ok()) return fail(id.status());
      undo.push_back([&manager, secret, id = *id] {
        (void)(secret ? manager.RemoveSecret(id) : manager.RemoveConfig(id));
      });
    }
  }
  std::set<std::string> wanted;
  for (const pb::ServiceSpec& spec : compose->services) {
    wanted.insert(spec.name());
    stack.add_services(spec.name());
    std::lock_guard service_lock(ServiceMutex(spec.name()));
    if (auto current = manager.InspectService(spec.name()); current.ok()) {
      if (current->spec.mode.global.has_value() != (spec.mode() == "global"))
        return fail(absl::InvalidArgumentError(absl::StrCat(
            "services.", Cut(spec.name().substr(req.name().size() + 1)),
            ".deploy.mode: a service's mode cannot change; remove the service (or the stack) "
            "and deploy again")));
      // Every field, as UpdateService with a full mask: the ports and networks move the edge
      // proxy where there is no IPVS (a whole new Engine spec would leave it behind).
      pb::UpdateServiceRequest update;
      update.set_name(spec.name());
      update.set_image(spec.image());
      update.set_pull(spec.pull());
      if (spec.mode() != "global") update.set_replicas(spec.has_replicas() ? spec.replicas() : 1);
      std::set<std::string> changed = UpdatableFields();
      for (const char* patched : {"image", "replicas", "pull"}) changed.erase(patched);
      if (auto s = UpdateServiceLocked(update, spec, changed, std::nullopt); !s.ok())
        return fail(s);
    } else {
      if (auto s = CreateServiceLocked(spec, req.name()); !s.ok()) return fail(s);
      undo.push_back([this, &manager, name = spec.name()] {
        std::lock_guard lock(ServiceMutex(name));
        (void)RemoveServiceAndEdge(manager, name);
      });
    }
  }
  if (req.prune()) {
    if (auto list = manager.ListServices(); list.ok()) {
      for (const auto& v : *list) {
        if (Label(v.spec, kStackLabel) == req.name() && !wanted.count(v.spec.name) &&
            Label(v.spec, kEdgeForLabel).empty()) {
          (void)RemoveServiceAndEdge(manager, v.spec.name);
        }
      }
    }
  }
  if (req.wait()) {
    for (const auto& name : stack.services()) {
      auto p = WatchService(name, deadline, [](const pb::ServiceProgress&) { return true; });
      if (!p.ok()) return p.status();
      if (p->state() != "converged") {
        // As a service's own wait: a failed or rolled back one is not worth waiting for again.
        const bool refused = p->state() == "failed" || p->state() == "rolled_back";
        return absl::Status(
            refused ? absl::StatusCode::kFailedPrecondition : absl::StatusCode::kDeadlineExceeded,
            absl::StrCat("stack service '", name, "' did not converge (", p->state(), ": ",
                         p->message(), ")"));
      }
    }
  }
  return stack;
}

absl::StatusOr<std::vector<pb::Stack>> Cluster::ListStacks() {
  auto services = ListServices("");
  if (!services.ok()) return services.status();
  std::map<std::string, pb::Stack> stacks;
  for (const auto& s : *services) {
    if (s.stack().empty() || s.spec().labels().count(kEdgeForLabel)) continue;
    auto& st = stacks[s.stack()];
    st.set_name(s.stack());
    st.add_services(s.spec().name());
  }
  // The stack's networks, as DeployStack answered them (a stack may be networks alone).
  if (auto m = Manager(); m.ok()) {
    if (auto nets = m->second->ListNetworks(); nets.ok()) {
      for (const auto& n : *nets) {
        auto label = n.labels.find(kStackLabel);
        if (label == n.labels.end() || label->second.empty()) continue;
        auto& st = stacks[label->second];
        st.set_name(label->second);
        st.add_networks(n.name);
      }
    }
  }
  for (auto& [name, st] : stacks)
    std::sort(st.mutable_networks()->begin(), st.mutable_networks()->end());
  std::vector<pb::Stack> out;
  for (auto& [name, st] : stacks) out.push_back(st);
  return out;
}

absl::Status Cluster::DeleteStack(const std::string& name) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::DockerEngine& manager = *m->second;
  bool found = false;
  if (auto list = manager.ListServices(); list.ok()) {
    for (const auto& v : *list) {
      const std::string& service = v.spec.name;
      if (Label(v.spec, kStackLabel) != name || !Label(v.spec, kEdgeForLabel).empty()) continue;
      found = true;
      std::lock_guard service_lock(ServiceMutex(service));
      if (auto s = RemoveServiceAndEdge(manager, service);
          !s.ok() && s.code() != absl::StatusCode::kNotFound)
        return s;
    }
  }
  // Secrets and configs the stack made (docker's stack rm removes them too); then networks.
  using List = absl::StatusOr<std::vector<engine::Secret>> (engine::DockerEngine::*)();
  using Remove = absl::Status (engine::DockerEngine::*)(const std::string&);
  for (auto [list, remove] : {std::pair<List, Remove>{&engine::DockerEngine::ListSecrets,
                                                      &engine::DockerEngine::RemoveSecret},
                              {&engine::DockerEngine::ListConfigs,
                               &engine::DockerEngine::RemoveConfig}}) {
    auto made = (manager.*list)();
    if (!made.ok()) continue;
    for (const auto& x : *made) {
      if (auto l = x.spec.labels.find(kStackLabel); l == x.spec.labels.end() || l->second != name)
        continue;
      found = true;
      (void)(manager.*remove)(x.id);
    }
  }
  if (auto nets = manager.ListNetworks(); nets.ok()) {
    for (const auto& n : *nets) {
      auto label = n.labels.find(kStackLabel);
      if (label == n.labels.end() || label->second != name) continue;
      found = true;
      (void)RemoveNetworkWhenFree(manager, n.id);
    }
  }
  if (!found) return absl::NotFoundError(absl::StrCat("stack '", name, "' does not exist"));
  return absl::OkStatus();
}

absl::Status EdgeProtocolRefused(const std::string& field, const pb::PortConfig& p) {
  return absl::FailedPreconditionError(absl::StrCat(
      field, ": ", p.published(), ":", p.target(), "/", p.protocol(),
      " in ingress mode needs the routing mesh, and this cluster has no IPVS; its edge proxy "
      "carries TCP and UDP only. Publish it in host mode (compose: `mode: host`; CLI: "
      "--publish published=", p.published(), ",target=", p.target(), ",protocol=", p.protocol(),
      ",mode=host): each node that runs a task answers on it"));
}

absl::Status Cluster::PickPublishedPorts(engine::DockerEngine& manager, pb::ServiceSpec& spec) {
  if (std::none_of(spec.ports().begin(), spec.ports().end(),
                   [](const pb::PortConfig& p) { return p.published() == 0 && !HostMode(p); }))
    return absl::OkStatus();
  auto services = manager.ListServices();
  if (!services.ok()) return services.status();
  std::set<uint32_t> used;
  for (const auto& other : *services) {
    if (other.spec.endpoint_spec)
      for (const auto& q : other.spec.endpoint_spec->ports) used.insert(q.published_port);
    if (auto routing = store_.GetRouting(other.spec.name))
      for (const auto& q : routing->Ports()) used.insert(q.published);
  }
  for (const auto& p : spec.ports()) used.insert(p.published());
  // As the swarm picks one for the routing mesh: the lowest free in 30000-32767.
  uint32_t next = 30000;
  for (auto& p : *spec.mutable_ports()) {
    if (p.published() != 0 || HostMode(p)) continue;
    while (used.count(next)) ++next;
    if (next > 32767)
      return absl::ResourceExhaustedError("spec.ports: no free port left in 30000-32767");
    p.set_published(next);
    used.insert(next);
  }
  return absl::OkStatus();
}

absl::Status RemoveNetworkWhenFree(engine::DockerEngine& manager, const std::string& id) {
  // A network goes once its tasks are gone; the swarm needs a moment to release it.
  // Then until the manager no longer lists it: a deploy right after finds it gone, not going.
  const absl::Time until = absl::Now() + absl::Seconds(20);
  absl::Status s;
  do {
    s = manager.RemoveNetwork(id);
    if (s.ok() || s.code() == absl::StatusCode::kNotFound) break;
    absl::SleepFor(absl::Milliseconds(250));
  } while (absl::Now() < until);
  if (!s.ok() && s.code() != absl::StatusCode::kNotFound) return s;
  while (absl::Now() < until) {
    auto list = manager.ListNetworks();
    if (!list.ok() || std::none_of(list->begin(), list->end(),
                                   [&](const engine::Network& n) { return n.id == id; }))
      break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- reconcile

void Cluster::Reconcile() {
  (void)store_.InterruptedOperations();
  auto m = Manager();
  if (!m.ok()) return;
  engine::DockerEngine& manager = *m->second;
  for (const auto& routing : store_.ListRouting()) {
    std::lock_guard service_lock(ServiceMutex(routing.service));
    if (manager.InspectService(routing.service).status().code() != absl::StatusCode::kNotFound)
      continue;  // its edges: the edge keeper's
    // The create never finished (or a removal did not): remove what is left.
    if (routing.mode == "edge-proxy") RemoveEdges(routing.service);
    store_.DeleteRouting(routing.service);
  }
}

}  // namespace musketeer::cluster
