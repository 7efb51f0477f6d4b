#include "controlplane/engine/fake_docker_engine.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace musketeer::engine {
namespace {
// Puts `host` into `hosts` or takes it out (the fake's per-host switches).
void Switch(std::set<std::string>& hosts, const std::string& host, bool on) {
  if (on)
    hosts.insert(host);
  else
    hosts.erase(host);
}
}  // namespace
namespace json = boost::json;

std::vector<std::string> FakeSwarm::Calls() {
  std::lock_guard lock(mu_);
  return calls_;
}

std::string FakeSwarm::CallsMatching(const std::string& needle) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& c : calls_) {
    if (absl::StrContains(c, needle)) out.push_back(c);
  }
  return absl::StrJoin(out, "\n");
}

void FakeSwarm::FailNext(const std::string& method, absl::Status status) {
  std::lock_guard lock(mu_);
  fail_next_[method] = std::move(status);
}

void FakeSwarm::SetNodeDown(const std::string& hostname, bool down) {
  {
    std::lock_guard lock(mu_);
    for (auto& n : nodes_) {
      if (n.description.hostname != hostname) continue;
      n.status.state = down ? "down" : "ready";
      Event e;  // what a manager sends then
      e.type = "node";
      e.action = "update";
      e.actor.id = n.id;
      events_.emplace_back("", std::move(e));
    }
  }
  events_cv_.notify_all();
}

void FakeSwarm::ContainerEvent(const FakeContainer& c, const std::string& action) {
  Event e;
  e.type = "container";
  e.action = action;
  e.scope = "local";
  e.actor.id = c.id;
  e.actor.attributes = c.request.labels;
  e.actor.attributes["name"] = c.request.name;
  e.actor.attributes["image"] = c.request.image;
  events_.emplace_back(c.hostname, std::move(e));
  events_cv_.notify_all();
}

void FakeSwarm::HoldInfo(const std::string& hostname, bool held) {
  {
    std::lock_guard lock(mu_);
    Switch(held_info_, hostname, held);
  }
  info_cv_.notify_all();
}

void FakeSwarm::BreakEvents(const std::string& hostname, bool broken) {
  {
    std::lock_guard lock(mu_);
    Switch(broken_events_, hostname, broken);
  }
  events_cv_.notify_all();
}

void FakeSwarm::AddImage(const std::string& hostname, const std::string& image) {
  std::lock_guard lock(mu_);
  images_[hostname].insert(image);
}

bool FakeSwarm::HasImage(const std::string& hostname, const std::string& image) {
  std::lock_guard lock(mu_);
  return images_[hostname].count(image) > 0;
}

void FakeSwarm::SetImageHealthcheck(const std::string& image, std::vector<std::string> test) {
  std::lock_guard lock(mu_);
  image_healthchecks_[image] = std::move(test);
}

void FakeSwarm::AddRegistryImage(const std::string& image) {
  std::lock_guard lock(mu_);
  registry_.insert(image);
}

std::string FakeSwarm::ImageId(const std::string& image) {
  std::string hex;
  uint64_t h = 14695981039346656037ull;  // FNV-1a, four rounds for 64 hex digits
  for (int round = 0; round < 4; ++round) {
    for (char c : image + std::to_string(round))
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    hex += absl::StrCat(absl::Hex(h, absl::kZeroPad16));
  }
  return "sha256:" + hex;
}

void FakeSwarm::FailTasksOf(const std::string& image, const std::string& err) {
  std::lock_guard lock(mu_);
  failing_images_[image] = err;
}

void FakeSwarm::SetEngineDown(const std::string& hostname, bool down) {
  std::lock_guard lock(mu_);
  Switch(engines_down_, hostname, down);
}

absl::Status FakeSwarm::EngineAnswers(const std::string& host) const {
  if (engines_down_.count(host))
    return absl::UnavailableError(absl::StrCat("connect to ", host, ": connection refused"));
  return absl::OkStatus();
}

absl::Status FakeSwarm::Record(const std::string& host, const std::string& call) {
  calls_.push_back(absl::StrCat(host, ": ", call));
  if (absl::Status s = EngineAnswers(host); !s.ok()) return s;
  const std::string method = call.substr(0, call.find(' '));
  for (auto it = fail_next_.begin(); it != fail_next_.end(); ++it) {
    const size_t space = it->first.find(' ');  // "Method" or "Method needle"
    if (it->first.substr(0, space) != method) continue;
    if (space != std::string::npos && !absl::StrContains(call, it->first.substr(space + 1)))
      continue;
    absl::Status s = it->second;
    fail_next_.erase(it);
    return s;
  }
  return absl::OkStatus();
}

namespace {
// A request as the JSON the real engine would be sent, for the call record.
template <class T>
std::string Json(const T& request) {
  return json::serialize(json::value_from(request));
}
}  // namespace

bool FakeDockerEngine::InSwarm() {
  for (const auto& n : swarm_->nodes_) {
    if (n.description.hostname == hostname_) return true;
  }
  return false;
}

const std::string* FakeDockerEngine::TaskErrorOf(const ServiceSpec& spec) {
  // A service names its image by name or by ID, as a real one may.
  const std::string& ref = spec.task_template.container_spec.image;
  for (const auto& [name, err] : swarm_->failing_images_) {
    if (ref == name || ref == FakeSwarm::ImageId(name)) return &err;
  }
  return nullptr;
}

std::string FakeDockerEngine::FindImage(const std::string& name_or_id) {
  for (const auto& name : swarm_->images_[hostname_]) {
    if (name == name_or_id || FakeSwarm::ImageId(name) == name_or_id) return name;
    if (swarm_->registry_.count(name) &&
        name.substr(0, name.rfind(':')) + "@" + FakeSwarm::ImageId(name) == name_or_id)
      return name;  // by its registry digest
  }
  return "";
}

namespace {
Task MakeTask(const std::string& service, const std::string& id, int64_t slot,
              const std::string& node, const char* desired, int second, const TaskSpec& spec,
              TaskStatus status) {
  Task t;
  t.id = id;
  t.service_id = service;
  t.slot = slot;
  t.node_id = node;
  t.desired_state = desired;
  t.updated_at = absl::StrCat("2026-11-25T00:00:0", second, "Z");
  t.spec = spec;  // the service's task template when the task was made, as a swarm keeps it
  t.status = std::move(status);
  return t;
}
TaskStatus Status(const char* state, const std::string& err = "") {
  TaskStatus s;
  s.state = state;
  s.err = err;
  return s;
}
UpdateStatus Update(const std::string& state, const std::string& message) {
  UpdateStatus u;
  u.state = state;
  u.message = message;
  return u;
}
}  // namespace

FakeSwarm::ServiceRecord* FakeDockerEngine::FindService(const std::string& id_or_name) {
  for (auto& [name, s] : swarm_->services_) {
    if (name == id_or_name || s.id == id_or_name) return &s;
  }
  return nullptr;
}

#define FAKE_RECORD(call)            \
  std::lock_guard lock(swarm_->mu_); \
  if (absl::Status s = swarm_->Record(hostname_, call); !s.ok()) return s

absl::Status FakeDockerEngine::Ping() {
  FAKE_RECORD("Ping");
  return absl::OkStatus();
}

absl::StatusOr<SystemInfo> FakeDockerEngine::Info() {
  std::unique_lock lock(swarm_->mu_);
  swarm_->info_cv_.wait(lock, [&] { return !swarm_->held_info_.count(hostname_); });
  if (absl::Status s = swarm_->EngineAnswers(hostname_); !s.ok()) return s;
  SystemInfo info;
  info.name = hostname_;
  info.swarm.local_node_state = InSwarm() ? "active" : "inactive";
  for (const auto& n : swarm_->nodes_) {
    if (n.description.hostname != hostname_) continue;
    info.swarm.node_id = n.id;
    if (n.spec.role == "manager") info.swarm.control_available = true;
  }
  return info;
}

absl::StatusOr<SystemVersion> FakeDockerEngine::Version() {
  SystemVersion v;
  v.api_version = "1.41";
  v.os = "linux";
  v.version = "20.10.24";
  return v;
}

absl::StatusOr<std::string> FakeDockerEngine::SwarmInit(const SwarmInitRequest& request) {
  FAKE_RECORD(absl::StrCat("SwarmInit ", Json(request)));
  if (request.force_new_cluster && InSwarm()) {
    // This manager becomes raft's only member (the leader); the swarm's objects stay.
    for (auto& n : swarm_->nodes_) {
      if (n.description.hostname == hostname_)
        n.manager_status = ManagerStatus{true, "reachable", absl::StrCat(addr_, ":2377")};
      else
        n.manager_status.reset();  // no longer raft members (their spec still says manager)
    }
    for (const auto& n : swarm_->nodes_)
      if (n.description.hostname == hostname_) return n.id;
  }
  if (InSwarm()) return absl::UnavailableError("This node is already part of a swarm.");
  swarm_->initialized_ = true;
  Node n;
  n.id = absl::StrCat("node", swarm_->next_id_++);
  n.version.index = 1;
  n.spec.role = "manager";
  n.spec.availability = "active";
  n.description.hostname = hostname_;
  n.description.engine.engine_version = "20.10.24";
  n.status.state = "ready";
  n.status.addr = addr_;
  n.manager_status = ManagerStatus{true, "reachable", absl::StrCat(addr_, ":2377")};
  swarm_->nodes_.push_back(n);
  return n.id;
}

absl::Status FakeDockerEngine::SwarmJoin(const SwarmJoinRequest& request) {
  FAKE_RECORD(absl::StrCat("SwarmJoin ", Json(request)));
  if (InSwarm()) return absl::UnavailableError("This node is already part of a swarm.");
  const std::string& token = request.join_token;
  if (token != swarm_->worker_token_ && token != swarm_->manager_token_) {
    return absl::InvalidArgumentError("invalid join token");
  }
  Node n;
  n.id = absl::StrCat("node", swarm_->next_id_++);
  n.version.index = 1;
  n.spec.role = token == swarm_->manager_token_ ? "manager" : "worker";
  n.spec.availability = request.availability.empty() ? "active" : request.availability;
  n.description.hostname = hostname_;
  n.description.engine.engine_version = "20.10.24";
  n.status.state = "ready";
  n.status.addr = addr_;
  if (n.spec.role == "manager")
    n.manager_status = ManagerStatus{false, "reachable", absl::StrCat(addr_, ":2377")};
  swarm_->nodes_.push_back(n);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::SwarmLeave(bool force) {
  FAKE_RECORD(absl::StrCat("SwarmLeave force=", force));
  auto& nodes = swarm_->nodes_;
  auto it = std::find_if(nodes.begin(), nodes.end(),
                         [&](const auto& n) { return n.description.hostname == hostname_; });
  if (it == nodes.end()) return absl::FailedPreconditionError("This node is not part of a swarm");
  nodes.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<Swarm> FakeDockerEngine::SwarmInspect() {
  FAKE_RECORD("SwarmInspect");
  if (!InSwarm()) return absl::FailedPreconditionError("This node is not a swarm manager.");
  Swarm swarm;
  swarm.id = "fakeswarm";
  swarm.version.index = 1;
  swarm.join_tokens = {swarm_->worker_token_, swarm_->manager_token_};
  return swarm;
}

absl::Status FakeDockerEngine::SwarmUpdate(uint64_t, const SwarmSpec&, bool rotate_worker,
                                           bool rotate_manager) {
  FAKE_RECORD(absl::StrCat("SwarmUpdate worker=", rotate_worker, " manager=", rotate_manager));
  if (rotate_worker) swarm_->worker_token_ += "'";
  if (rotate_manager) swarm_->manager_token_ += "'";
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Node>> FakeDockerEngine::ListNodes() {
  FAKE_RECORD("ListNodes");
  // As docker: only a manager lists the swarm's nodes.
  for (const auto& n : swarm_->nodes_) {
    if (n.description.hostname == hostname_ && n.spec.role != "manager") {
      return absl::FailedPreconditionError(
          "This node is not a swarm manager. Worker nodes can't be used to view or modify "
          "cluster state.");
    }
  }
  return swarm_->nodes_;
}

absl::Status FakeDockerEngine::UpdateNode(const std::string& id, uint64_t version,
                                          const NodeSpec& spec) {
  FAKE_RECORD(absl::StrCat("UpdateNode ", id, " version=", version, " ", Json(spec)));
  for (auto& n : swarm_->nodes_) {
    if (n.id != id) continue;
    if (n.version.index != version) return absl::UnknownError("update out of sequence");
    // A manager that raft no longer lists (left behind by a force-new-cluster) cannot be
    // demoted, as docker answers.
    if (spec.role == "worker" && n.spec.role == "manager" && !n.manager_status)
      return absl::NotFoundError("rpc error: code = NotFound desc = can't find manager in raft memberlist");
    // A promotion joins raft at once here (a real one takes a moment); a demotion leaves it.
    if (spec.role == "manager" && !n.manager_status)
      n.manager_status = ManagerStatus{false, "reachable", absl::StrCat(n.status.addr, ":2377")};
    if (spec.role == "worker") n.manager_status.reset();
    n.spec = spec;
    ++n.version.index;
    return absl::OkStatus();
  }
  return absl::NotFoundError("node not found");
}

absl::Status FakeDockerEngine::RemoveNode(const std::string& id, bool force) {
  FAKE_RECORD(absl::StrCat("RemoveNode ", id, " force=", force));
  std::erase_if(swarm_->nodes_, [&](const auto& n) { return n.id == id; });
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeDockerEngine::CreateNetwork(const NetworkCreateRequest& request) {
  FAKE_RECORD(absl::StrCat("CreateNetwork ", Json(request)));
  const std::string& name = request.name;
  if (swarm_->networks_.count(name))
    return absl::AlreadyExistsError("network with name " + name + " already exists");
  Network net;
  net.name = name;
  net.id = absl::StrCat("net", swarm_->next_id_++);
  net.scope = "swarm";
  net.driver = request.driver;
  net.attachable = request.attachable;
  net.internal = request.internal;
  if (request.ipam) net.ipam = *request.ipam;
  net.labels = request.labels;
  net.created = "2026-11-25T00:00:00Z";
  swarm_->networks_[name] = net;
  return net.id;
}

absl::StatusOr<std::vector<Network>> FakeDockerEngine::ListNetworks() {
  FAKE_RECORD("ListNetworks");
  std::vector<Network> out;
  for (const auto& [name, n] : swarm_->networks_) out.push_back(n);
  return out;
}

absl::Status FakeDockerEngine::RemoveNetwork(const std::string& id) {
  FAKE_RECORD("RemoveNetwork " + id);
  for (auto it = swarm_->networks_.begin(); it != swarm_->networks_.end(); ++it) {
    if (it->first == id || it->second.id == id) {
      for (const auto& [name, svc] : swarm_->services_) {
        for (const auto& n : svc.spec.task_template.networks) {
          if (n.target == it->first || n.target == it->second.id) {
            return absl::FailedPreconditionError(
                "rpc error: code = FailedPrecondition desc = network " + it->first +
                " is in use by service " + svc.id);
          }
        }
      }
      swarm_->networks_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError("network " + id + " not found");
}

std::string FakeSwarm::SecretValue(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = secrets_.find(name);
  std::string value;
  if (it != secrets_.end()) absl::Base64Unescape(it->second.spec.data, &value);
  return value;
}

absl::StatusOr<std::string> FakeSwarm::CreateData(std::map<std::string, Secret>& into,
                                                const char* kind, const char* prefix,
                                                const SecretSpec& spec) {
  if (spec.name.empty() || spec.data.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("rpc error: code = InvalidArgument desc = invalid ", kind));
  if (into.count(spec.name))
    return absl::AlreadyExistsError(absl::StrCat(
        "rpc error: code = AlreadyExists desc = ", kind, " ", spec.name, " already exists"));
  Secret made;
  made.id = absl::StrCat(prefix, next_id_++);
  made.version.index = 1;
  made.created_at = made.updated_at = "2026-11-25T00:00:00Z";
  made.spec = spec;
  into[spec.name] = made;
  return made.id;
}

absl::StatusOr<std::string> FakeDockerEngine::CreateSecret(const SecretSpec& spec) {
  FAKE_RECORD("CreateSecret " + spec.name);  // never the value
  return swarm_->CreateData(swarm_->secrets_, "secret", "sec", spec);
}

absl::StatusOr<std::vector<Secret>> FakeDockerEngine::ListSecrets() {
  FAKE_RECORD("ListSecrets");
  std::vector<Secret> out;
  for (const auto& [name, secret] : swarm_->secrets_) {
    out.push_back(secret);
    out.back().spec.data.clear();  // as a swarm answers
  }
  return out;
}

absl::Status FakeSwarm::RemoveData(std::map<std::string, Secret>& from, const char* kind,
                                   const std::string& id,
                                   std::vector<std::string> (*referenced)(const ContainerSpec&)) {
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (it->first != id && it->second.id != id) continue;
    for (const auto& [name, svc] : services_) {
      for (const auto& ref : referenced(svc.spec.task_template.container_spec)) {
        if (ref == it->second.id) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rpc error: code = InvalidArgument desc = ", kind, " '", it->first,
              "' is in use by the following service: ", name));
        }
      }
    }
    from.erase(it);
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat(kind, " ", id, " not found"));
}

absl::Status FakeDockerEngine::RemoveSecret(const std::string& id) {
  FAKE_RECORD("RemoveSecret " + id);
  return swarm_->RemoveData(swarm_->secrets_, "secret", id, [](const ContainerSpec& c) {
    std::vector<std::string> ids;
    for (const auto& r : c.secrets) ids.push_back(r.secret_id);
    return ids;
  });
}

absl::StatusOr<std::string> FakeDockerEngine::CreateConfig(const ConfigSpec& spec) {
  FAKE_RECORD("CreateConfig " + spec.name);
  return swarm_->CreateData(swarm_->configs_, "config", "cfg", spec);
}

absl::StatusOr<std::vector<Config>> FakeDockerEngine::ListConfigs() {
  FAKE_RECORD("ListConfigs");
  std::vector<Config> out;
  for (const auto& [name, config] : swarm_->configs_) out.push_back(config);
  return out;
}

absl::StatusOr<Config> FakeDockerEngine::InspectConfig(const std::string& id) {
  FAKE_RECORD("InspectConfig " + id);
  for (const auto& [name, config] : swarm_->configs_)
    if (name == id || config.id == id) return config;
  return absl::NotFoundError("config " + id + " not found");
}

absl::Status FakeDockerEngine::RemoveConfig(const std::string& id) {
  FAKE_RECORD("RemoveConfig " + id);
  return swarm_->RemoveData(swarm_->configs_, "config", id, [](const ContainerSpec& c) {
    std::vector<std::string> ids;
    for (const auto& r : c.configs) ids.push_back(r.config_id);
    return ids;
  });
}

absl::Status FakeDockerEngine::ResolveNetworks(ServiceSpec& spec) {
  for (const auto& ref : spec.task_template.container_spec.secrets) {
    auto it = swarm_->secrets_.find(ref.secret_name);
    if (it == swarm_->secrets_.end() || it->second.id != ref.secret_id)
      return absl::InvalidArgumentError(
          "rpc error: code = InvalidArgument desc = secret not found: " + ref.secret_id);
  }
  for (const auto& ref : spec.task_template.container_spec.configs) {
    auto it = swarm_->configs_.find(ref.config_name);
    if (it == swarm_->configs_.end() || it->second.id != ref.config_id)
      return absl::InvalidArgumentError(
          "rpc error: code = InvalidArgument desc = config not found: " + ref.config_id);
  }
  for (auto& n : spec.task_template.networks) {
    const Network* found = nullptr;
    for (const auto& [name, net] : swarm_->networks_) {
      if (name == n.target || net.id == n.target) found = &net;
    }
    if (found == nullptr)
      return absl::NotFoundError(absl::StrCat("network \"", n.target, "\" not found"));
    n.target = found->id;  // as a swarm keeps it: by ID
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeDockerEngine::CreateService(const ServiceSpec& spec) {
  FAKE_RECORD(absl::StrCat("CreateService ", Json(spec)));
  if (swarm_->services_.count(spec.name))
    return absl::AlreadyExistsError("name conflicts with an existing object");
  ServiceSpec stored = spec;
  if (absl::Status s = ResolveNetworks(stored); !s.ok()) return s;
  FakeSwarm::ServiceRecord& s = swarm_->services_[spec.name];
  s.id = absl::StrCat("svc", swarm_->next_id_++);
  s.spec = std::move(stored);
  return s.id;
}

Service FakeDockerEngine::ServiceObject(const FakeSwarm::ServiceRecord& s) {
  Service out;
  out.id = s.id;
  out.version.index = s.version;
  out.spec = s.spec;
  out.created_at = "2026-11-25T00:00:00Z";
  out.previous_spec = s.previous;
  out.update_status = s.update_status;
  return out;
}

absl::StatusOr<Service> FakeDockerEngine::InspectService(const std::string& id) {
  FAKE_RECORD("InspectService " + id);
  FakeSwarm::ServiceRecord* s = FindService(id);
  if (s == nullptr) return absl::NotFoundError("service " + id + " not found");
  return ServiceObject(*s);
}

absl::Status FakeDockerEngine::UpdateService(const std::string& id, uint64_t version,
                                             const ServiceSpec& spec, bool rollback) {
  FAKE_RECORD(absl::StrCat("UpdateService ", id, " version=", version, rollback ? " rollback" : "",
                           " ", Json(spec)));
  FakeSwarm::ServiceRecord* s = FindService(id);
  if (s == nullptr) return absl::NotFoundError("service " + id + " not found");
  if (s->version != version)
    return absl::UnknownError("rpc error: code = Unknown desc = update out of sequence");
  if (rollback) {
    if (!s->previous) return absl::FailedPreconditionError("service has no previous spec");
    std::swap(s->spec, *s->previous);
    s->update_status = Update("rollback_completed", "manually requested rollback");
  } else {
    ServiceSpec stored = spec;
    if (absl::Status st = ResolveNetworks(stored); !st.ok()) return st;
    s->previous = s->spec;
    s->spec = std::move(stored);
    s->update_status = Update("completed", "update completed");
    const std::string* err = TaskErrorOf(spec);
    if (err != nullptr && spec.update_config && spec.update_config->failure_action == "rollback") {
      std::swap(s->spec, *s->previous);  // what the swarm does once the first task fails
      s->abandoned.push_back(MakeTask(s->id, s->id + ".1.9", 1, "", "shutdown", 9,
                                      spec.task_template, Status("rejected", *err)));
      s->update_status =
          Update("rollback_completed",
                 "update rolled back due to failure or early termination of task " + s->id + ".1");
    }
  }
  ++s->version;
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::RemoveService(const std::string& id) {
  FAKE_RECORD("RemoveService " + id);
  for (auto it = swarm_->services_.begin(); it != swarm_->services_.end(); ++it) {
    if (it->first == id || it->second.id == id) {
      swarm_->services_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError("service " + id + " not found");
}

absl::StatusOr<std::vector<Service>> FakeDockerEngine::ListServices() {
  FAKE_RECORD("ListServices");
  std::vector<Service> out;
  for (const auto& [name, s] : swarm_->services_) out.push_back(ServiceObject(s));
  return out;
}

absl::StatusOr<std::vector<Task>> FakeDockerEngine::ListTasks(const std::string& service_id) {
  FAKE_RECORD("ListTasks " + service_id);
  std::vector<Task> out;
  std::vector<const Node*> ready;
  for (const auto& n : swarm_->nodes_) {
    if (n.status.state == "ready" && n.spec.availability == "active") ready.push_back(&n);
  }
  for (const auto& [name, s] : swarm_->services_) {
    if (!service_id.empty() && s.id != service_id) continue;
    const bool global = s.spec.mode.global.has_value();
    const int64_t count = global ? ready.size()
                                 : (s.spec.mode.replicated && s.spec.mode.replicated->replicas
                                        ? *s.spec.mode.replicated->replicas
                                        : 1);
    for (const auto& t : s.abandoned) out.push_back(t);
    const TaskSpec& task_spec = s.spec.task_template;
    const std::string* err = TaskErrorOf(s.spec);
    const int attempts = err == nullptr ? 1 : 3;
    for (int64_t i = 0; i < count && !ready.empty(); ++i) {
      for (int a = 1; a <= attempts; ++a) {
        out.push_back(MakeTask(s.id, absl::StrCat(s.id, ".", i + 1, ".", a), global ? 0 : i + 1,
                               ready[i % ready.size()]->id, a == attempts ? "running" : "shutdown",
                               a, task_spec,
                               err == nullptr ? Status("running") : Status("rejected", *err)));
      }
    }
  }
  return out;
}

absl::Status FakeDockerEngine::ServiceLogs(const std::string& id, bool, int tail,
                                           const LogSink& sink, const std::function<bool()>&) {
  std::string line;
  {
    FAKE_RECORD(
        absl::StrCat("ServiceLogs ", id, " tail=", tail < 0 ? "all" : std::to_string(tail)));
    // As the real engine writes it with timestamps and details: slot 1's first task, on the
    // first ready node (where ListTasks puts it).
    FakeSwarm::ServiceRecord* s = FindService(id);
    if (s == nullptr) return absl::NotFoundError("service " + id + " not found");
    std::string node;
    for (const auto& n : swarm_->nodes_)
      if (node.empty() && n.status.state == "ready" && n.spec.availability == "active") node = n.id;
    line = absl::StrCat("2026-11-25T00:00:01.123456789Z com.docker.swarm.node.id=", node,
                        ",com.docker.swarm.service.id=", s->id, ",com.docker.swarm.task.id=", s->id,
                        ".1.1 listening on 0.0.0.0:8090\n");
  }
  if (tail != 0) sink(1, line);  // the history has one line
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::BuildImage(const std::string& tag, const BodySource& context,
                                          const LineSink& sink) {
  size_t bytes = 0;
  char buf[4096];
  for (;;) {
    auto n = context(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    bytes += *n;
  }
  { FAKE_RECORD(absl::StrCat("BuildImage ", tag, " context_bytes=", bytes > 0 ? "some" : "none")); }
  swarm_->AddImage(hostname_, tag);
  JsonMessage line;
  line.stream = "Successfully tagged " + tag + "\n";
  sink(line);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::ImportImage(const std::string& repo, const std::string& tag,
                                           const BodySource&) {
  { FAKE_RECORD(absl::StrCat("ImportImage ", repo, ":", tag)); }
  swarm_->AddImage(hostname_, repo + ":" + tag);
  return absl::OkStatus();
}

namespace {
// A "tarball" that is just the image's name: enough to carry it from one fake to another.
class NameStream : public ResponseStream {
 public:
  explicit NameStream(std::string name) : data_(std::move(name)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override {
    size_t n = std::min(cap, data_.size() - pos_);
    memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};
}  // namespace

absl::StatusOr<std::unique_ptr<ResponseStream>> FakeDockerEngine::SaveImage(
    const std::string& name) {
  { FAKE_RECORD("SaveImage " + name); }
  if (!swarm_->HasImage(hostname_, name)) return absl::NotFoundError("No such image: " + name);
  return std::unique_ptr<ResponseStream>(new NameStream(name));
}

absl::Status FakeDockerEngine::LoadImage(const BodySource& tarball) {
  std::string name;
  char buf[256];
  for (;;) {
    auto n = tarball(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    name.append(buf, *n);
  }
  { FAKE_RECORD("LoadImage " + name); }
  swarm_->AddImage(hostname_, name);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::PullImage(const std::string& image) {
  FAKE_RECORD("PullImage " + image);
  if (!swarm_->registry_.count(image)) {
    return absl::FailedPreconditionError(
        "pulling " + image + ": Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup " +
        "registry-1.docker.io: i/o timeout");
  }
  swarm_->images_[hostname_].insert(image);
  return absl::OkStatus();
}

absl::StatusOr<ImageInspect> FakeDockerEngine::InspectImage(const std::string& name) {
  std::lock_guard lock(swarm_->mu_);
  const std::string found = FindImage(name);
  if (found.empty()) return absl::NotFoundError("No such image: " + name);
  ImageInspect image;
  image.id = FakeSwarm::ImageId(found);
  image.repo_tags = {found};
  if (auto it = swarm_->image_healthchecks_.find(found); it != swarm_->image_healthchecks_.end())
    image.config.healthcheck.emplace().test = it->second;
  if (swarm_->registry_.count(found))  // "repo@sha256:...", as a pulled image has
    image.repo_digests = {found.substr(0, found.rfind(':')) + "@" + FakeSwarm::ImageId(found)};
  return image;
}

absl::StatusOr<std::vector<ImageSummary>> FakeDockerEngine::ListImages() {
  std::lock_guard lock(swarm_->mu_);
  std::vector<ImageSummary> out;
  for (const auto& i : swarm_->images_[hostname_]) {
    ImageSummary image;
    // An image added by its ID ("sha256:...") has no tag: a dangling one.
    const bool dangling = i.rfind("sha256:", 0) == 0;
    image.id = dangling ? i : FakeSwarm::ImageId(i);
    if (!dangling) image.repo_tags = {i};
    image.size = 1000;
    out.push_back(std::move(image));
  }
  return out;
}

absl::StatusOr<std::vector<ContainerSummary>> FakeDockerEngine::ListContainers() {
  FAKE_RECORD("ListContainers");
  std::vector<ContainerSummary> out;
  for (const auto& [id, c] : swarm_->containers_) {
    if (c.hostname != hostname_) continue;
    ContainerSummary& s = out.emplace_back();
    s.id = id;
    if (!c.request.name.empty()) s.names.push_back("/" + c.request.name);
    s.image = c.request.image;
    s.image_id = FakeSwarm::ImageId(c.request.image);
    s.state = c.running ? "running" : "created";
    s.labels = c.request.labels;
  }
  return out;
}

absl::StatusOr<ContainerInspect> FakeDockerEngine::InspectContainer(const std::string& id) {
  FAKE_RECORD("InspectContainer " + id);
  auto it = swarm_->containers_.find(id);
  if (it == swarm_->containers_.end() || it->second.hostname != hostname_)
    return absl::NotFoundError("No such container: " + id);
  ContainerInspect out;
  out.id = id;
  out.name = "/" + it->second.request.name;
  out.image = it->second.request.image;
  out.state.running = it->second.running;
  out.state.status = it->second.running ? "running" : "created";
  return out;
}

absl::StatusOr<Node> FakeDockerEngine::InspectNode(const std::string& id) {
  auto nodes = ListNodes();
  if (!nodes.ok()) return nodes.status();
  for (const auto& n : *nodes) {
    if (n.id == id) return n;
  }
  return absl::NotFoundError("node " + id + " not found");
}

absl::Status FakeDockerEngine::RemoveImage(const std::string& name, bool force) {
  FAKE_RECORD(absl::StrCat("RemoveImage ", name, " force=", force));
  if (swarm_->images_[hostname_].erase(FindImage(name)) == 0)
    return absl::NotFoundError("No such image: " + name);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::Events(int64_t since, int64_t until, const EventFilters& filters,
                                      const EventSink& sink,
                                      const std::function<bool()>& cancelled) {
  std::string f;
  for (const auto& [key, values] : filters)
    absl::StrAppend(&f, key, "=", absl::StrJoin(values, ","), ";");
  std::unique_lock lock(swarm_->mu_);
  if (absl::Status s =
          swarm_->Record(hostname_, absl::StrCat("Events since=", since, " until=", until, " ", f));
      !s.ok())
    return s;
  if (until > 0) return absl::OkStatus();  // the fake's world has no event history
  // Following: what happens from now on, until the stream breaks or the caller stops.
  size_t seen = swarm_->events_.size();
  // New events wake the stream; only `cancelled` is polled, less often the longer it has
  // been idle (1,000 simulated nodes' streams polling every 20 ms kept two cores busy).
  int idle = 0;
  for (;;) {
    if (swarm_->broken_events_.count(hostname_))
      return absl::UnavailableError("events of " + hostname_ + ": connection reset by peer");
    if (seen < swarm_->events_.size()) idle = 0;
    while (seen < swarm_->events_.size()) {
      const auto [host, e] = swarm_->events_[seen++];
      if (!host.empty() && host != hostname_) continue;
      lock.unlock();
      const bool more = sink(e);
      lock.lock();
      if (!more) return absl::OkStatus();
    }
    swarm_->events_cv_.wait_for(lock, std::chrono::milliseconds(20 << std::min(idle++, 4)));
    if (cancelled) {
      lock.unlock();
      const bool stop = cancelled();
      lock.lock();
      if (stop) return absl::CancelledError("events: the caller went away");
    }
  }
}

}  // namespace musketeer::engine

namespace musketeer::engine {

std::vector<std::string> FakeSwarm::VolumeFiles(const std::string& hostname,
                                                const std::string& volume) {
  std::lock_guard lock(mu_);
  return volume_files_[hostname][volume];
}

absl::StatusOr<std::string> FakeDockerEngine::CreateContainer(
    const ContainerCreateRequest& request) {
  FAKE_RECORD(absl::StrCat("CreateContainer ", request.name, " ", request.image));
  const auto& images = swarm_->images_[hostname_];
  if (!images.count(request.image) &&
      std::none_of(images.begin(), images.end(), [&](const std::string& name) {
        return FakeSwarm::ImageId(name) == request.image;
      }))
    return absl::NotFoundError("No such image: " + request.image);
  for (const auto& [id, c] : swarm_->containers_) {
    if (c.hostname == hostname_ && !request.name.empty() && c.request.name == request.name)
      return absl::AlreadyExistsError(absl::StrCat(
          "Conflict. The container name \"/", request.name, "\" is already in use by container \"",
          id, "\""));
  }
  const std::string& net = request.host_config.network_mode;
  if (!net.empty() && net != "bridge" && net != "host" && net != "none" &&
      (!swarm_->networks_.count(net) || !swarm_->networks_[net].attachable))
    return absl::NotFoundError(absl::StrCat("network ", net, " not found"));
  const std::string id = absl::StrCat("ctr", swarm_->next_id_++);
  std::string volume;
  for (const auto& m : request.host_config.mounts) {
    if (m.type != "volume") continue;
    if (!swarm_->volumes_[hostname_].count(m.source))  // docker makes it, as a run would
    {
      Volume& v = swarm_->volumes_[hostname_][m.source];
      v.name = m.source;
      v.driver = "local";
      v.mountpoint = "/fake/" + m.source;
    }
    volume = m.source;
  }
  swarm_->containers_[id] = {id, hostname_, volume, request, false};
  return id;
}

absl::Status FakeDockerEngine::StartContainer(const std::string& id) {
  FAKE_RECORD("StartContainer " + id);
  auto it = swarm_->containers_.find(id);
  if (it == swarm_->containers_.end() || it->second.hostname != hostname_)
    return absl::NotFoundError("No such container: " + id);
  // As docker: a host port another running container of this host has is refused.
  for (const auto& [port, bindings] : it->second.request.host_config.port_bindings) {
    for (const auto& [other_id, other] : swarm_->containers_) {
      if (other_id == id || other.hostname != hostname_ || !other.running) continue;
      if (other.request.host_config.port_bindings.count(port))
        return absl::InternalError(absl::StrCat(
            "driver failed programming external connectivity on endpoint ", it->second.request.name,
            ": Bind for 0.0.0.0:", bindings.empty() ? port : bindings[0].host_port,
            " failed: port is already allocated"));
    }
  }
  it->second.running = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeDockerEngine::Exec(const std::string& id,
                                                   const std::vector<std::string>& cmd) {
  std::function<std::string(const std::vector<std::string>&)> answer;
  {
    FAKE_RECORD(absl::StrCat("Exec ", id, " ", absl::StrJoin(cmd, " ")));
    auto it = swarm_->containers_.find(id);
    if (it == swarm_->containers_.end() || it->second.hostname != hostname_)
      return absl::NotFoundError("No such container: " + id);
    if (!it->second.running)
      return absl::FailedPreconditionError("Container " + id + " is not running");
    if (auto a = swarm_->exec_answers_.find(it->second.request.name); a != swarm_->exec_answers_.end())
      answer = a->second;
  }
  return answer ? answer(cmd) : std::string();  // outside the lock: it may call the fake
}

void FakeSwarm::SetExecAnswer(const std::string& container,
                              std::function<std::string(const std::vector<std::string>&)> answer) {
  std::lock_guard lock(mu_);
  exec_answers_[container] = std::move(answer);
}

std::optional<FakeContainer> FakeSwarm::Container(const std::string& hostname,
                                                  const std::string& name) {
  std::lock_guard lock(mu_);
  for (const auto& [id, c] : containers_)
    if (c.hostname == hostname && c.request.name == name) return c;
  return std::nullopt;
}

absl::Status FakeDockerEngine::PutArchive(const std::string& id, const std::string& path,
                                          const BodySource& archive) {
  FAKE_RECORD("PutArchive " + id + " " + path);
  auto it = swarm_->containers_.find(id);
  if (it == swarm_->containers_.end()) return absl::NotFoundError("No such container: " + id);
  std::string tar;
  char buf[4096];
  for (;;) {
    auto n = archive(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    tar.append(buf, *n);
  }
  swarm_->volume_files_[it->second.hostname][it->second.volume].push_back(std::move(tar));
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::RemoveContainer(const std::string& id, bool force) {
  FAKE_RECORD("RemoveContainer " + id);
  auto it = swarm_->containers_.find(id);
  if (it == swarm_->containers_.end() || it->second.hostname != hostname_)
    return absl::NotFoundError("No such container: " + id);
  if (it->second.running && !force)
    return absl::AlreadyExistsError("You cannot remove a running container " + id +
                                    ". Stop the container before attempting removal or force remove");
  swarm_->ContainerEvent(it->second, "destroy");
  swarm_->containers_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<Volume> FakeDockerEngine::CreateVolume(const VolumeCreateRequest& request) {
  FAKE_RECORD("CreateVolume " + request.name);
  Volume& v = swarm_->volumes_[hostname_][request.name];
  if (v.name.empty()) {  // as docker: creating an existing volume answers it
    v.name = request.name;
    v.driver = request.driver.empty() ? "local" : request.driver;
    v.mountpoint = "/fake/" + request.name;
    v.labels = request.labels;
    v.options = request.driver_opts;
    v.created_at = "2026-11-25T00:00:00Z";
  }
  return v;
}

absl::StatusOr<std::vector<Volume>> FakeDockerEngine::ListVolumes() {
  FAKE_RECORD("ListVolumes");
  std::vector<Volume> out;
  for (const auto& [name, v] : swarm_->volumes_[hostname_]) out.push_back(v);
  return out;
}

absl::Status FakeDockerEngine::RemoveVolume(const std::string& name, bool) {
  FAKE_RECORD("RemoveVolume " + name);
  if (!swarm_->volumes_[hostname_].erase(name)) return absl::NotFoundError("no such volume");
  swarm_->volume_files_[hostname_].erase(name);
  return absl::OkStatus();
}

}  // namespace musketeer::engine
