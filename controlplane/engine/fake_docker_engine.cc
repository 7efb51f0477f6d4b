#include "controlplane/engine/fake_docker_engine.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace musketeer::engine {

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
  std::lock_guard lock(mu_);
  for (auto& n : nodes_) {
    if (n.hostname == hostname) n.state = down ? "down" : "ready";
  }
}

void FakeSwarm::AddImage(const std::string& hostname, const std::string& image) {
  std::lock_guard lock(mu_);
  images_[hostname].insert(image);
}

bool FakeSwarm::HasImage(const std::string& hostname, const std::string& image) {
  std::lock_guard lock(mu_);
  return images_[hostname].count(image) > 0;
}

void FakeSwarm::FailTasksOf(const std::string& image, const std::string& err) {
  std::lock_guard lock(mu_);
  failing_images_[image] = err;
}

absl::Status FakeSwarm::Record(const std::string& host, const std::string& call) {
  calls_.push_back(absl::StrCat(host, ": ", call));
  const std::string method = call.substr(0, call.find(' '));
  if (auto it = fail_next_.find(method); it != fail_next_.end()) {
    absl::Status s = it->second;
    fail_next_.erase(it);
    return s;
  }
  return absl::OkStatus();
}

bool FakeDockerEngine::InSwarm() {
  for (const auto& n : swarm_->nodes_) {
    if (n.hostname == hostname_) return true;
  }
  return false;
}

const std::string* FakeDockerEngine::TaskErrorOf(const json::value& spec) {
  const json::value* image =
      spec.at("TaskTemplate").at("ContainerSpec").as_object().if_contains("Image");
  if (image == nullptr) return nullptr;
  auto it = swarm_->failing_images_.find(std::string(image->as_string()));
  return it == swarm_->failing_images_.end() ? nullptr : &it->second;
}

namespace {
json::object Task(const std::string& id, int64_t slot, const std::string& node, const char* desired,
                  int second, const json::value& container, json::object status) {
  return json::object{{"ID", id},
                      {"Slot", slot},
                      {"NodeID", node},
                      {"DesiredState", desired},
                      {"UpdatedAt", absl::StrCat("2026-11-25T00:00:0", second, "Z")},
                      {"Spec", {{"ContainerSpec", container}}},
                      {"Status", std::move(status)}};
}
}  // namespace

FakeSwarm::Service* FakeDockerEngine::FindService(const std::string& id_or_name) {
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

absl::StatusOr<json::value> FakeDockerEngine::Info() {
  std::lock_guard lock(swarm_->mu_);
  bool manager = false;
  for (const auto& n : swarm_->nodes_)
    manager = manager || (n.hostname == hostname_ && n.role == "manager");
  return json::value{
      {"Name", hostname_},
      {"Swarm",
       {{"LocalNodeState", InSwarm() ? "active" : "inactive"}, {"ControlAvailable", manager}}}};
}

absl::StatusOr<json::value> FakeDockerEngine::Version() {
  return json::value{{"ApiVersion", "1.41"}, {"Os", "linux"}, {"Version", "20.10.24"}};
}

absl::StatusOr<std::string> FakeDockerEngine::SwarmInit(const json::object& request) {
  FAKE_RECORD(absl::StrCat("SwarmInit ", json::serialize(request)));
  if (InSwarm()) return absl::UnavailableError("This node is already part of a swarm.");
  swarm_->initialized_ = true;
  FakeSwarm::Node n{absl::StrCat("node", swarm_->next_id_++), hostname_, addr_, "manager"};
  swarm_->nodes_.push_back(n);
  return n.id;
}

absl::Status FakeDockerEngine::SwarmJoin(const json::object& request) {
  FAKE_RECORD(absl::StrCat("SwarmJoin ", json::serialize(request)));
  if (InSwarm()) return absl::UnavailableError("This node is already part of a swarm.");
  const std::string token(request.at("JoinToken").as_string());
  if (token != swarm_->worker_token_ && token != swarm_->manager_token_) {
    return absl::InvalidArgumentError("invalid join token");
  }
  swarm_->nodes_.push_back({absl::StrCat("node", swarm_->next_id_++), hostname_, addr_,
                            token == swarm_->manager_token_ ? "manager" : "worker"});
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::SwarmLeave(bool force) {
  FAKE_RECORD(absl::StrCat("SwarmLeave force=", force));
  auto& nodes = swarm_->nodes_;
  auto it = std::find_if(nodes.begin(), nodes.end(),
                         [&](const auto& n) { return n.hostname == hostname_; });
  if (it == nodes.end()) return absl::FailedPreconditionError("This node is not part of a swarm");
  nodes.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<json::value> FakeDockerEngine::SwarmInspect() {
  FAKE_RECORD("SwarmInspect");
  if (!InSwarm()) return absl::FailedPreconditionError("This node is not a swarm manager.");
  return json::value{
      {"ID", "fakeswarm"},
      {"Version", {{"Index", 1}}},
      {"Spec", json::object{}},
      {"JoinTokens", {{"Worker", swarm_->worker_token_}, {"Manager", swarm_->manager_token_}}}};
}

absl::Status FakeDockerEngine::SwarmUpdate(uint64_t, const json::value&, bool rotate_worker,
                                           bool rotate_manager) {
  FAKE_RECORD(absl::StrCat("SwarmUpdate worker=", rotate_worker, " manager=", rotate_manager));
  if (rotate_worker) swarm_->worker_token_ += "'";
  if (rotate_manager) swarm_->manager_token_ += "'";
  return absl::OkStatus();
}

absl::StatusOr<json::array> FakeDockerEngine::ListNodes() {
  FAKE_RECORD("ListNodes");
  json::array out;
  for (const auto& n : swarm_->nodes_) {
    out.push_back(json::object{
        {"ID", n.id},
        {"Version", {{"Index", n.version}}},
        {"Spec", {{"Role", n.role}, {"Availability", n.availability}, {"Labels", n.labels}}},
        {"Description", {{"Hostname", n.hostname}, {"Engine", {{"EngineVersion", "20.10.24"}}}}},
        {"Status", {{"State", n.state}, {"Addr", n.addr}}}});
  }
  return out;
}

absl::Status FakeDockerEngine::UpdateNode(const std::string& id, uint64_t version,
                                          const json::value& spec) {
  FAKE_RECORD(absl::StrCat("UpdateNode ", id, " version=", version, " ", json::serialize(spec)));
  for (auto& n : swarm_->nodes_) {
    if (n.id != id) continue;
    if (n.version != version) return absl::UnknownError("update out of sequence");
    n.role = std::string(spec.at("Role").as_string());
    n.availability = std::string(spec.at("Availability").as_string());
    if (spec.as_object().contains("Labels")) n.labels = spec.at("Labels").as_object();
    ++n.version;
    return absl::OkStatus();
  }
  return absl::NotFoundError("node not found");
}

absl::Status FakeDockerEngine::RemoveNode(const std::string& id, bool force) {
  FAKE_RECORD(absl::StrCat("RemoveNode ", id, " force=", force));
  std::erase_if(swarm_->nodes_, [&](const auto& n) { return n.id == id; });
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeDockerEngine::CreateNetwork(const json::object& request) {
  FAKE_RECORD(absl::StrCat("CreateNetwork ", json::serialize(request)));
  const std::string name(request.at("Name").as_string());
  if (swarm_->networks_.count(name))
    return absl::AlreadyExistsError("network with name " + name + " already exists");
  json::object net = request;
  net["Id"] = absl::StrCat("net", swarm_->next_id_++);
  net["Scope"] = "swarm";
  swarm_->networks_[name] = net;
  return std::string(net["Id"].as_string());
}

absl::StatusOr<json::array> FakeDockerEngine::ListNetworks() {
  FAKE_RECORD("ListNetworks");
  json::array out;
  for (const auto& [name, n] : swarm_->networks_) out.push_back(n);
  return out;
}

absl::Status FakeDockerEngine::RemoveNetwork(const std::string& id) {
  FAKE_RECORD("RemoveNetwork " + id);
  for (auto it = swarm_->networks_.begin(); it != swarm_->networks_.end(); ++it) {
    if (it->first == id || it->second.at("Id").as_string() == id) {
      for (const auto& [name, svc] : swarm_->services_) {
        const json::value* nets = svc.spec.at("TaskTemplate").as_object().if_contains("Networks");
        for (const auto& n : nets ? nets->as_array() : json::array{}) {
          if (n.at("Target").as_string() == it->first ||
              n.at("Target").as_string() == it->second.at("Id").as_string()) {
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

absl::StatusOr<std::string> FakeDockerEngine::CreateService(const json::value& spec) {
  FAKE_RECORD(absl::StrCat("CreateService ", json::serialize(spec)));
  const std::string name(spec.at("Name").as_string());
  if (swarm_->services_.count(name))
    return absl::AlreadyExistsError("name conflicts with an existing object");
  if (const json::value* nets = spec.at("TaskTemplate").as_object().if_contains("Networks")) {
    for (const auto& n : nets->as_array()) {
      if (!swarm_->networks_.count(std::string(n.at("Target").as_string()))) {
        return absl::NotFoundError(
            absl::StrCat("network ", json::serialize(n.at("Target")), " not found"));
      }
    }
  }
  FakeSwarm::Service s{absl::StrCat("svc", swarm_->next_id_++), spec, nullptr, 1};
  swarm_->services_[name] = s;
  return s.id;
}

absl::StatusOr<json::value> FakeDockerEngine::InspectService(const std::string& id) {
  FAKE_RECORD("InspectService " + id);
  FakeSwarm::Service* s = FindService(id);
  if (s == nullptr) return absl::NotFoundError("service " + id + " not found");
  json::object out{{"ID", s->id},
                   {"Version", {{"Index", s->version}}},
                   {"Spec", s->spec},
                   {"CreatedAt", "2026-11-25T00:00:00Z"}};
  if (!s->previous.is_null()) out["PreviousSpec"] = s->previous;
  if (!s->update_status.empty()) out["UpdateStatus"] = s->update_status;
  return out;
}

absl::Status FakeDockerEngine::UpdateService(const std::string& id, uint64_t version,
                                             const json::value& spec, bool rollback) {
  FAKE_RECORD(absl::StrCat("UpdateService ", id, " version=", version, rollback ? " rollback" : "",
                           " ", json::serialize(spec)));
  FakeSwarm::Service* s = FindService(id);
  if (s == nullptr) return absl::NotFoundError("service " + id + " not found");
  if (s->version != version)
    return absl::UnknownError("rpc error: code = Unknown desc = update out of sequence");
  if (rollback) {
    std::swap(s->spec, s->previous);
    s->update_status = {{"State", "rollback_completed"},
                        {"Message", "manually requested rollback"}};
  } else {
    s->previous = s->spec;
    s->spec = spec;
    s->update_status = {{"State", "completed"}, {"Message", "update completed"}};
    const std::string* err = TaskErrorOf(spec);
    const json::value* action =
        spec.as_object().contains("UpdateConfig")
            ? spec.at("UpdateConfig").as_object().if_contains("FailureAction")
            : nullptr;
    if (err != nullptr && action && *action == "rollback") {
      std::swap(s->spec, s->previous);  // what the swarm does once the first task fails
      s->abandoned.push_back(Task(s->id + ".1.9", 1, "", "shutdown", 9,
                                  spec.at("TaskTemplate").at("ContainerSpec"),
                                  {{"State", "rejected"}, {"Err", *err}}));
      s->update_status = {
          {"State", "rollback_completed"},
          {"Message",
           "update rolled back due to failure or early termination of task " + s->id + ".1"}};
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

absl::StatusOr<json::array> FakeDockerEngine::ListServices() {
  FAKE_RECORD("ListServices");
  json::array out;
  for (const auto& [name, s] : swarm_->services_)
    out.push_back(json::object{{"ID", s.id}, {"Spec", s.spec}});
  return out;
}

absl::StatusOr<json::array> FakeDockerEngine::ListTasks(const std::string& service_id) {
  FAKE_RECORD("ListTasks " + service_id);
  json::array out;
  std::vector<const FakeSwarm::Node*> ready;
  for (const auto& n : swarm_->nodes_) {
    if (n.state == "ready" && n.availability == "active") ready.push_back(&n);
  }
  for (const auto& [name, s] : swarm_->services_) {
    if (!service_id.empty() && s.id != service_id) continue;
    const json::object& mode = s.spec.at("Mode").as_object();
    const bool global = mode.contains("Global");
    const int64_t count =
        global ? ready.size() : mode.at("Replicated").at("Replicas").to_number<int64_t>();
    for (const auto& t : s.abandoned) out.push_back(t);
    const json::value& container = s.spec.at("TaskTemplate").at("ContainerSpec");
    const std::string* err = TaskErrorOf(s.spec);
    const int attempts = err == nullptr ? 1 : 3;
    for (int64_t i = 0; i < count && !ready.empty(); ++i) {
      for (int a = 1; a <= attempts; ++a) {
        json::object status{{"State", err == nullptr ? "running" : "rejected"}};
        if (err != nullptr) status["Err"] = *err;
        out.push_back(Task(absl::StrCat(s.id, ".", i + 1, ".", a), global ? 0 : i + 1,
                           ready[i % ready.size()]->id, a == attempts ? "running" : "shutdown", a,
                           container, std::move(status)));
      }
    }
  }
  return out;
}

absl::Status FakeDockerEngine::ServiceLogs(const std::string& id, bool, int, const LogSink& sink,
                                           const std::function<bool()>&) {
  { FAKE_RECORD("ServiceLogs " + id); }
  sink(1, "listening on 0.0.0.0:8090\n");
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
  sink(json::value{{"stream", "Successfully tagged " + tag + "\n"}});
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

absl::StatusOr<json::value> FakeDockerEngine::InspectImage(const std::string& name) {
  if (!swarm_->HasImage(hostname_, name)) return absl::NotFoundError("No such image: " + name);
  return json::value{{"Id", "sha256:" + name}};
}

absl::StatusOr<json::array> FakeDockerEngine::ListImages() {
  std::lock_guard lock(swarm_->mu_);
  json::array out;
  for (const auto& i : swarm_->images_[hostname_])
    out.push_back(json::object{
        {"Id", "sha256:" + i}, {"RepoTags", json::array{json::value(i)}}, {"Size", 1000}});
  return out;
}

absl::StatusOr<json::array> FakeDockerEngine::ListContainers() { return json::array{}; }

absl::StatusOr<json::value> FakeDockerEngine::InspectContainer(const std::string& id) {
  return absl::NotFoundError("No such container: " + id);  // the fake runs no containers
}

absl::StatusOr<json::value> FakeDockerEngine::InspectNode(const std::string& id) {
  auto nodes = ListNodes();
  if (!nodes.ok()) return nodes.status();
  for (const auto& n : *nodes) {
    if (n.at("ID").as_string() == id) return n;
  }
  return absl::NotFoundError("node " + id + " not found");
}

absl::Status FakeDockerEngine::RemoveImage(const std::string& name, bool force) {
  FAKE_RECORD(absl::StrCat("RemoveImage ", name, " force=", force));
  if (swarm_->images_[hostname_].erase(name) == 0)
    return absl::NotFoundError("No such image: " + name);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::Events(int64_t since, int64_t until, const json::object& filters,
                                      const EventSink&) {
  FAKE_RECORD(
      absl::StrCat("Events since=", since, " until=", until, " ", json::serialize(filters)));
  return absl::OkStatus();  // the fake's world has no event history
}

}  // namespace musketeer::engine
