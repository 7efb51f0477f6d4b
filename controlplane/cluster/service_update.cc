// Cluster: the full service update (a field mask over ServiceSpec, optimistic concurrency on
// the service's version) and what it needs: the spec read back whole, the mask applied to
// the API's spec, the changed parts copied into the Engine's spec as read (so that what this
// model does not name is kept), and the edge proxy following the ports and networks.
#include <google/protobuf/util/field_mask_util.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/service_parts.h"

namespace musketeer::cluster {

// The ServiceSpec fields an update mask may name (name and mode are checked apart).
const std::set<std::string>& UpdatableFields() {
  static const auto* fields = new std::set<std::string>{
      "image",          "replicas",         "pull",
      "env",            "labels",           "ports",
      "networks",       "command",          "entrypoint",
      "resources",      "constraints",      "cap_add",
      "update_policy",  "rollback_policy",  "healthcheck",
      "secrets",        "mounts",           "hostname",
      "user",           "working_dir",      "read_only",
      "tty",            "stdin_open",       "init",
      "stop_signal",    "stop_grace_period_ms", "cap_drop",
      "container_labels", "sysctls",        "ulimits",
      "hosts",          "dns",              "restart_policy",
      "placement_preferences", "max_replicas_per_node", "endpoint_mode",
      "network_aliases", "log_driver",      "configs"};
  return *fields;
}

namespace {

pb::UpdatePolicy FromPolicy(const engine::UpdateConfig& c) {
  pb::UpdatePolicy p;
  p.set_parallelism(c.parallelism);
  p.set_delay_ms(absl::ToInt64Milliseconds(c.delay));
  p.set_failure_action(c.failure_action);
  p.set_monitor_ms(absl::ToInt64Milliseconds(c.monitor));
  p.set_max_failure_ratio(c.max_failure_ratio);
  p.set_order(c.order);
  return p;
}

// How an update copies one field of the wanted Engine spec into the current one.
using FieldCopy = void (*)(const engine::ServiceSpec& from, engine::ServiceSpec& to);
#define CONTAINER_FIELD(name, member)                                              \
  {name, [](const engine::ServiceSpec& from, engine::ServiceSpec& to) {           \
     to.task_template.container_spec.member = from.task_template.container_spec.member; \
   }}
const std::map<std::string, FieldCopy>& ContainerFieldCopies() {
  static const auto* copies = new std::map<std::string, FieldCopy>{
      CONTAINER_FIELD("env", env),
      CONTAINER_FIELD("command", args),         // the entrypoint's arguments (Swarm's Args)
      CONTAINER_FIELD("entrypoint", command),   // Swarm's Command
      CONTAINER_FIELD("cap_add", capability_add),
      CONTAINER_FIELD("cap_drop", capability_drop),
      CONTAINER_FIELD("healthcheck", healthcheck),
      CONTAINER_FIELD("secrets", secrets),      // named and resolved to IDs in the target
      CONTAINER_FIELD("configs", configs),
      CONTAINER_FIELD("mounts", mounts),
      CONTAINER_FIELD("hostname", hostname),
      CONTAINER_FIELD("user", user),
      CONTAINER_FIELD("working_dir", dir),
      CONTAINER_FIELD("read_only", read_only),
      CONTAINER_FIELD("tty", tty),
      CONTAINER_FIELD("stdin_open", open_stdin),
      CONTAINER_FIELD("init", init),
      CONTAINER_FIELD("stop_signal", stop_signal),
      CONTAINER_FIELD("stop_grace_period_ms", stop_grace_period),
      CONTAINER_FIELD("sysctls", sysctls),
      CONTAINER_FIELD("ulimits", ulimits),
      CONTAINER_FIELD("hosts", hosts),
      CONTAINER_FIELD("dns", dns_config),
  };
  return *copies;
}
#undef CONTAINER_FIELD

// Copies the parts of `target` (the wanted spec in the Engine's form) named by `changed`
// into `spec` (the current one as read), keeping everything else, unknown fields included.
// Ports and networks are the caller's (they involve the edge proxy).
void ApplyEngineFields(const engine::ServiceSpec& target, const std::set<std::string>& changed,
                       engine::ServiceSpec& spec) {
  engine::TaskSpec& task = spec.task_template;
  engine::ContainerSpec& c = task.container_spec;
  const engine::ContainerSpec& tc = target.task_template.container_spec;
  for (const std::string& f : changed) {
    if (auto copy = ContainerFieldCopies().find(f); copy != ContainerFieldCopies().end()) {
      copy->second(target, spec);
    } else if (f == "container_labels") {  // the stack's and the control plane's stay
      engine::Labels labels;
      for (const auto& [k, v] : c.labels)
        if (k == kStackLabel || absl::StartsWith(k, kReservedLabelPrefix)) labels[k] = v;
      for (const auto& [k, v] : tc.labels)
        if (!labels.count(k)) labels[k] = v;
      c.labels = std::move(labels);
    } else if (f == "labels") {
      // The control plane's own labels, the stack's and the edge's stay.
      engine::Labels labels;
      for (const auto& [k, v] : spec.labels)
        if (absl::StartsWith(k, kReservedLabelPrefix) || k == kStackLabel || k == kEdgeForLabel ||
            (k == kStackImageLabel && !target.labels.count(k)))
          labels[k] = v;
      for (const auto& [k, v] : target.labels)
        if (!labels.count(k)) labels[k] = v;
      spec.labels = std::move(labels);
    } else if (f == "resources") {
      engine::ResourceRequirements& r = task.resources ? *task.resources : task.resources.emplace();
      const engine::ResourceRequirements& want = *target.task_template.resources;
      for (auto [mine, theirs] :
           {std::pair{&r.limits, &want.limits}, std::pair{&r.reservations, &want.reservations}}) {
        engine::Resources& m = *mine ? **mine : mine->emplace();
        m.nano_cpus = (*theirs)->nano_cpus;
        m.memory_bytes = (*theirs)->memory_bytes;
        m.pids = (*theirs)->pids;
      }
    } else if (f == "constraints" || f == "placement_preferences" ||
               f == "max_replicas_per_node") {
      engine::Placement& p = task.placement ? *task.placement : task.placement.emplace();
      const engine::Placement want = target.task_template.placement.value_or(engine::Placement{});
      if (f == "constraints") p.constraints = want.constraints;
      if (f == "placement_preferences") p.preferences = want.preferences;
      if (f == "max_replicas_per_node") p.max_replicas = want.max_replicas;
    } else if (f == "restart_policy") {
      task.restart_policy = target.task_template.restart_policy;
    } else if (f == "log_driver") {
      task.log_driver = target.task_template.log_driver;
    } else if (f == "update_policy") {
      spec.update_config = target.update_config;
    } else if (f == "rollback_policy") {
      spec.rollback_config = target.rollback_config;
    }
  }
}
}  // namespace

void ReadBackSpecFields(const engine::ServiceSpec& spec, pb::ServiceSpec* s) {
  const engine::TaskSpec& task = spec.task_template;
  const engine::ContainerSpec& c = task.container_spec;
  for (const auto& x : c.capability_add) s->add_cap_add(x);
  for (const auto& x : c.capability_drop) s->add_cap_drop(x);
  for (const auto& m : c.mounts) *s->add_mounts() = FromEngineMount(m);
  s->set_hostname(c.hostname);
  s->set_user(c.user);
  s->set_working_dir(c.dir);
  s->set_read_only(c.read_only);
  s->set_tty(c.tty);
  s->set_stdin_open(c.open_stdin);
  if (c.init) s->set_init(*c.init);
  s->set_stop_signal(c.stop_signal);
  if (c.stop_grace_period)
    s->set_stop_grace_period_ms(absl::ToInt64Milliseconds(*c.stop_grace_period));
  for (const auto& [k, v] : c.labels)
    if (k != kStackLabel && !absl::StartsWith(k, kReservedLabelPrefix))
      (*s->mutable_container_labels())[k] = v;
  for (const auto& [k, v] : c.sysctls) (*s->mutable_sysctls())[k] = v;
  for (const auto& u : c.ulimits) {
    pb::Ulimit& out = *s->add_ulimits();
    out.set_name(u.name);
    out.set_soft(u.soft);
    out.set_hard(u.hard);
  }
  for (const auto& h : c.hosts) s->add_hosts(h);
  if (c.dns_config) {
    pb::DnsConfig& dns = *s->mutable_dns();
    for (const auto& x : c.dns_config->nameservers) dns.add_nameservers(x);
    for (const auto& x : c.dns_config->search) dns.add_search(x);
    for (const auto& x : c.dns_config->options) dns.add_options(x);
  }
  for (const auto& ref : c.configs) {
    pb::ConfigReference& out = *s->add_configs();
    out.set_config(ref.config_name);
    if (ref.file) {
      if (ref.file->name != ref.config_name) out.set_target(ref.file->name);
      if (ref.file->uid != "0") out.set_uid(ref.file->uid);
      if (ref.file->gid != "0") out.set_gid(ref.file->gid);
      if (ref.file->mode != 0444) out.set_mode(ref.file->mode);
    }
  }
  if (task.restart_policy) {
    pb::RestartPolicy& r = *s->mutable_restart_policy();
    r.set_condition(task.restart_policy->condition);
    if (task.restart_policy->delay)
      r.set_delay_ms(absl::ToInt64Milliseconds(*task.restart_policy->delay));
    if (task.restart_policy->max_attempts) r.set_max_attempts(*task.restart_policy->max_attempts);
    if (task.restart_policy->window)
      r.set_window_ms(absl::ToInt64Milliseconds(*task.restart_policy->window));
  }
  if (task.log_driver) {
    s->mutable_log_driver()->set_name(task.log_driver->name);
    for (const auto& [k, v] : task.log_driver->options)
      (*s->mutable_log_driver()->mutable_options())[k] = v;
  }
  if (spec.endpoint_spec) s->set_endpoint_mode(spec.endpoint_spec->mode);
  if (task.resources) {
    pb::Resources& r = *s->mutable_resources();
    if (task.resources->limits) {
      r.set_cpus(task.resources->limits->nano_cpus / 1e9);
      r.set_memory_bytes(task.resources->limits->memory_bytes);
      r.set_pids(task.resources->limits->pids);
    }
    if (task.resources->reservations) {
      r.set_reserve_cpus(task.resources->reservations->nano_cpus / 1e9);
      r.set_reserve_memory_bytes(task.resources->reservations->memory_bytes);
    }
  }
  if (task.placement) {
    for (const auto& x : task.placement->constraints) s->add_constraints(x);
    for (const auto& p : task.placement->preferences)
      if (p.spread) s->add_placement_preferences("spread=" + p.spread->spread_descriptor);
    s->set_max_replicas_per_node(task.placement->max_replicas);
  }
  if (spec.update_config) *s->mutable_update_policy() = FromPolicy(*spec.update_config);
  if (spec.rollback_config) *s->mutable_rollback_policy() = FromPolicy(*spec.rollback_config);
  if (c.healthcheck) {
    pb::Healthcheck& h = *s->mutable_healthcheck();
    for (const auto& x : c.healthcheck->test) h.add_test(x);
    h.set_interval_ms(absl::ToInt64Milliseconds(c.healthcheck->interval));
    h.set_timeout_ms(absl::ToInt64Milliseconds(c.healthcheck->timeout));
    h.set_start_period_ms(absl::ToInt64Milliseconds(c.healthcheck->start_period));
    h.set_retries(c.healthcheck->retries);
  }
}

absl::Status ApplyUpdateMask(const pb::ServiceSpec& src, const google::protobuf::FieldMask& mask,
                             pb::ServiceSpec* dst, std::set<std::string>* changed) {
  using google::protobuf::util::FieldMaskUtil;
  google::protobuf::FieldMask plain;
  for (const std::string& path : mask.paths()) {
    const std::string top = path.substr(0, path.find('.'));
    const bool deeper = path.size() > top.size();
    if (top == "name" || top == "mode") {
      auto mode = [](const pb::ServiceSpec& s) {
        return s.mode().empty() ? "replicated" : s.mode();
      };
      if (deeper || (top == "name" ? src.name() != dst->name() : mode(src) != mode(*dst))) {
        return absl::InvalidArgumentError(
            absl::StrCat("update_mask: '", Cut(path), "': a service's ", top,
                         " cannot change; create a new service with it and remove this one"));
      }
      continue;
    }
    if (!UpdatableFields().count(top)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: '", Cut(path), "' is not an updatable ServiceSpec field; use one of ",
          absl::StrJoin(UpdatableFields(), ", "), " (or env.KEY, labels.KEY, resources.cpus ...)"));
    }
    if ((top == "env" || top == "labels") && deeper) {
      const std::string key = path.substr(top.size() + 1);
      const auto& from = top == "env" ? src.env() : src.labels();
      auto* to = top == "env" ? dst->mutable_env() : dst->mutable_labels();
      if (auto it = from.find(key); it != from.end())
        (*to)[key] = it->second;
      else
        to->erase(key);
      changed->insert(top);
      continue;
    }
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    if (!FieldMaskUtil::GetFieldDescriptors(pb::ServiceSpec::descriptor(), path, &fields)) {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: '", Cut(path), "' names no field of ServiceSpec.", top,
                       " (a repeated field is replaced whole: name it alone)"));
    }
    plain.add_paths(path);
    changed->insert(top);
  }
  FieldMaskUtil::MergeOptions options;
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  FieldMaskUtil::MergeMessageTo(src, plain, options, dst);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- the update

absl::StatusOr<pb::Service> Cluster::UpdateService(const pb::UpdateServiceRequest& in,
                                                   absl::Time deadline) {
  pb::UpdateServiceRequest req = in;
  // The mask is applied to the spec as read; image, replicas and pull named by it join the
  // explicit patch fields (they need pinning and the scale check).
  std::set<std::string> changed;
  std::optional<pb::ServiceSpec> want;
  if (req.has_update_mask() && req.update_mask().paths_size() > 0) {
    auto current = GetService(req.name());
    if (!current.ok()) return current.status();
    want = current->spec();
    if (auto s = ApplyUpdateMask(req.spec(), req.update_mask(), &*want, &changed); !s.ok())
      return s;
    // A masked replicas the spec leaves unset is reset to the unset value, 1 (not 0: a scale
    // to zero is said with replicas: 0).
    if (changed.count("replicas") && !want->has_replicas() && want->mode() != "global")
      want->set_replicas(1);
    for (const char* f : {"image", "replicas", "pull"}) {
      if (!changed.count(f)) continue;
      if ((f == std::string("image") && req.has_image()) ||
          (f == std::string("replicas") && req.has_replicas()) ||
          (f == std::string("pull") && req.has_pull()))
        return absl::InvalidArgumentError(absl::StrCat(
            "update_mask names '", f, "' and the request sets ", f, " too: use one of them"));
      changed.erase(f);
    }
    if (!req.has_image() && want->image() != current->spec().image()) req.set_image(want->image());
    if (!req.has_replicas() && want->replicas() != current->spec().replicas())
      req.set_replicas(want->replicas());
    if (!req.has_pull() && want->pull() != current->spec().pull()) req.set_pull(want->pull());
    // The explicit set_env joins the mask's env.
    for (const auto& [k, v] : req.set_env()) (*want->mutable_env())[k] = v;
    if (!req.set_env().empty()) changed.insert("env");
    if (req.has_image()) want->set_image(req.image());
    if (auto s = ValidateServiceSpec(*want); !s.ok()) return s;
  } else if (req.has_spec()) {  // an empty mask alone is no mask
    return absl::InvalidArgumentError(
        "update_mask: empty; name the spec fields to change, e.g. paths: [\"env\", "
        "\"resources.cpus\"]");
  }
  if (!req.has_replicas() && !req.has_image() && req.set_env().empty() && !req.has_pull() &&
      !want) {
    return absl::InvalidArgumentError(
        "nothing to update: set replicas, image, set_env or pull, or name spec fields in "
        "update_mask");
  }
  if (req.has_image()) {
    if (auto s = ValidateImageReference("image", req.image()); !s.ok()) return s;
  }
  if (req.has_pull()) {
    if (auto p = ParsePullPolicy("pull", req.pull()); !p.ok()) return p.status();
  }
  if (req.has_replicas() && req.replicas() > 1000)
    return absl::InvalidArgumentError("replicas: at most 1000");
  const std::optional<uint64_t> version =
      req.has_version() ? std::optional<uint64_t>(req.version()) : std::nullopt;
  {
    std::lock_guard service_lock(ServiceMutex(req.name()));
    pb::UpdateServiceRequest what = in;  // the change itself, without how it is waited for
    what.clear_wait();
    what.clear_request_id();
    auto op = StartOperation(in.request_id(), "update_service", in.name(), Fingerprint(what));
    if (!op.ok()) return op.status();
    if (op->replay) {  // a retry: the first call's outcome
      if (!op->replay->ok()) return *op->replay;
      return WaitAndDescribe(req.name(), req.wait(), deadline);
    }
    absl::Status s = UpdateServiceLocked(req, want, changed, version);
    store_.FinishOperation(op->id, s);
    if (!s.ok()) return s;
  }
  return WaitAndDescribe(req.name(), req.wait(), deadline);
}

absl::Status Cluster::UpdateServiceLocked(const pb::UpdateServiceRequest& req,
                                          std::optional<pb::ServiceSpec> want,
                                          const std::set<std::string>& changed,
                                          std::optional<uint64_t> version) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::DockerEngine& manager = *m->second;
  // A stale version is refused before anything is pinned or copied.
  auto current = manager.InspectService(req.name());
  if (!current.ok()) {
    if (current.status().code() == absl::StatusCode::kNotFound)
      return absl::NotFoundError(absl::StrCat("service '", Cut(req.name()), "' does not exist"));
    return current.status();
  }
  if (version && current->version.index != *version) return StaleVersion(req.name(), *version);
  const std::string stack = [&] {
    auto it = current->spec.labels.find(kStackLabel);
    return it == current->spec.labels.end() ? std::string() : it->second;
  }();

  // Ports and networks: where there is no IPVS, the edge proxy follows them.
  auto routing = store_.GetRouting(req.name());
  const bool edge_before = routing && routing->mode == "edge-proxy";
  const bool ports_changed = changed.count("ports") > 0;
  const bool networks_changed = changed.count("networks") > 0 || changed.count("network_aliases") > 0;
  const bool edge_after = ports_changed ? (!options_.ipvs && NeedsEdge(*want)) : edge_before;
  // As a create: the networks exist, and no other service publishes these ports (the
  // swarm would take a second one; an edge proxy's host port would fail on every node).
  if (want && (ports_changed || networks_changed)) {
    if (auto s = CheckServiceReferences(manager, *want); !s.ok()) return s;
  }
  if (want && edge_after && (ports_changed || networks_changed) &&
      std::find(want->networks().begin(), want->networks().end(), kEdgeNetwork) ==
          want->networks().end()) {
    // The edge proxies see the service's tasks on a shared attachable overlay network.
    want->add_networks(kEdgeNetwork);
    auto missing = EdgeNetworkMissing(manager);
    if (!missing.ok()) return missing.status();
    if (*missing) {
      if (auto id = MakeEdgeNetwork(manager); !id.ok()) return id.status();
    }
  }
  if (want && edge_after && ports_changed) {
    for (const auto& p : want->ports())
      if (!HostMode(p) && p.protocol() == "sctp") return EdgeProtocolRefused("spec.ports", p);
    if (auto s = PickPublishedPorts(manager, *want); !s.ok()) return s;
  }
  if (edge_after && !edge_before) {
    if (auto s = CheckEdgeImageEverywhere(); !s.ok()) return s;
  }
  std::optional<engine::ServiceSpec> target;
  if (want) {
    auto t = ToEngineSpec(*want, edge_after, stack);
    if (!t.ok()) return t.status();
    if (auto r = ResolveSecrets(manager, *t); !r.ok()) return r;
    if (auto r = ResolveConfigs(manager, *t); !r.ok()) return r;
    target = std::move(*t);
  }

  // A new image (or policy) is pinned before the update, outside its retry loop.
  std::optional<PinnedImage> image;
  PullPolicy policy = PullPolicy::kMissing;
  if (req.has_image() || req.has_pull()) {
    auto pinned = PinUpdatedImage(req, &policy);
    if (!pinned.ok()) return pinned.status();
    image = *pinned;
  }
  absl::Status s = UpdateSpec(
      req.name(),
      [&](engine::ServiceSpec& spec) -> absl::Status {
        if (req.has_replicas()) {
          if (!spec.mode.replicated)
            return absl::FailedPreconditionError(
                absl::StrCat("service '", req.name(), "' is global; it cannot be scaled"));
          spec.mode.replicated->replicas = req.replicas();
        }
        if (image) ApplyPinnedImage(*image, policy, spec);
        engine::ContainerSpec& container = spec.task_template.container_spec;
        if (!req.set_env().empty() && !target) {
          std::map<std::string, std::string> env;
          for (const auto& kv : container.env) {
            auto eq = kv.find('=');
            env[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
          }
          for (const auto& [k, v] : req.set_env()) env[k] = v;
          container.env.clear();
          for (const auto& [k, v] : env) container.env.push_back(absl::StrCat(k, "=", v));
        }
        if (target) {
          ApplyEngineFields(*target, changed, spec);
          if (ports_changed || networks_changed || edge_after != edge_before)
            spec.task_template.networks = target->task_template.networks;
          if (ports_changed || changed.count("endpoint_mode")) {
            const engine::EndpointSpec& e = *target->endpoint_spec;
            engine::EndpointSpec& mine =
                spec.endpoint_spec ? *spec.endpoint_spec : spec.endpoint_spec.emplace();
            mine.mode = e.mode;
            mine.ports = e.ports;
          }
        }
        return absl::OkStatus();
      },
      /*rollback=*/false, version);
  if (!s.ok()) return s;
  if (!want || (!ports_changed && !networks_changed)) return absl::OkStatus();

  // The edge proxies follow: placed with the first published port, replaced (on each node)
  // when the ports change, removed with the last.
  if (edge_after) {
    const state::ServiceRouting routing{req.name(), "edge-proxy", EdgeName(req.name()),
                                        PortsJson(*want)};
    if (auto r = store_.PutRouting(routing); !r.ok()) return r;
    return PlaceEdges(routing);
  }
  if (ports_changed) {
    if (edge_before) RemoveEdges(req.name());
    if (NeedsEdge(*want))
      return store_.PutRouting({req.name(), "ingress", "", PortsJson(*want)});
    store_.DeleteRouting(req.name());
  }
  return absl::OkStatus();
}

absl::Status Cluster::StaleVersion(const std::string& name, uint64_t version) {
  std::string now = "removed";
  if (auto m = Manager(); m.ok())
    if (auto svc = m->second->InspectService(name); svc.ok())
      now = absl::StrCat("at version ", svc->version.index);
  return absl::AbortedError(absl::StrCat("service '", Cut(name), "' changed since version ",
                                         version, " (it is ", now,
                                         " now): read it again, reapply your change and retry"));
}

}  // namespace musketeer::cluster
