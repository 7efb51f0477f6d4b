// Cluster: Swarm secrets and configs. The value of a secret passes through here once, on its
// way into POST /secrets/create, and is never kept, returned or logged: the swarm stores it
// encrypted and gives it only to the tasks of services that reference it, as a file under
// /run/secrets. A config is the same kind of object without the secrecy: its data can be
// read back. Services name them; the swarm wants their IDs too (ResolveSecrets/Configs).
#include <regex>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {

namespace {
// Swarm's own limit for a secret's value and a config's data (500 KiB).
constexpr size_t kMaxDataBytes = 500 * 1024;

// What differs between secrets and configs, for the code they share.
struct Kind {
  const char* name;  // "secret", "config"
  absl::StatusOr<std::string> (engine::DockerEngine::*create)(const engine::SecretSpec&);
  absl::StatusOr<std::vector<engine::Secret>> (engine::DockerEngine::*list)();
  absl::Status (engine::DockerEngine::*remove)(const std::string&);
  // The IDs a service spec references.
  std::vector<std::string> (*referenced)(const engine::ServiceSpec&);
};
const Kind kSecret{"secret", &engine::DockerEngine::CreateSecret,
                   &engine::DockerEngine::ListSecrets, &engine::DockerEngine::RemoveSecret,
                   [](const engine::ServiceSpec& s) {
                     std::vector<std::string> ids;
                     for (const auto& r : s.task_template.container_spec.secrets)
                       ids.push_back(r.secret_id);
                     return ids;
                   }};
const Kind kConfig{"config", &engine::DockerEngine::CreateConfig,
                   &engine::DockerEngine::ListConfigs, &engine::DockerEngine::RemoveConfig,
                   [](const engine::ServiceSpec& s) {
                     std::vector<std::string> ids;
                     for (const auto& r : s.task_template.container_spec.configs)
                       ids.push_back(r.config_id);
                     return ids;
                   }};

template <class Proto>
Proto DataToProto(const engine::Secret& s) {
  Proto out;
  out.set_name(s.spec.name);
  out.set_id(s.id);
  for (const auto& [k, v] : s.spec.labels) (*out.mutable_labels())[k] = v;
  out.set_created_at(s.created_at);
  out.set_updated_at(s.updated_at);
  return out;
}

template <class Proto, class Request>
absl::StatusOr<Proto> Create(engine::DockerEngine& manager, const Kind& kind, const Request& req) {
  if (auto s = ValidateSecretName("name", req.name()); !s.ok()) return s;
  if (req.data().empty())
    return absl::InvalidArgumentError(
        absl::StrCat("data: a ", kind.name, " needs a value (1 byte to 500 KiB)"));
  if (req.data().size() > kMaxDataBytes) {
    return absl::InvalidArgumentError(absl::StrCat("data: ", req.data().size(), " bytes; a Swarm ",
                                                   kind.name, " holds at most ", kMaxDataBytes));
  }
  for (const auto& [k, v] : req.labels()) {
    if (k.empty()) return absl::InvalidArgumentError("labels: a label has an empty name");
  }
  engine::SecretSpec spec;
  spec.name = req.name();
  for (const auto& [k, v] : req.labels()) spec.labels[k] = v;
  spec.data = absl::Base64Escape(req.data());
  auto id = (manager.*kind.create)(spec);
  if (!id.ok()) {
    if (id.status().code() == absl::StatusCode::kAlreadyExists ||
        absl::StrContains(id.status().message(), "already exists")) {
      return absl::AlreadyExistsError(absl::StrCat(
          kind.name, " '", req.name(), "' already exists; ", kind.name,
          "s cannot be changed: remove it (no service may use it) and create it again, or "
          "create one under a new name"));
    }
    return id.status();
  }
  if (auto list = (manager.*kind.list)(); list.ok()) {
    for (const auto& s : *list)
      if (s.id == *id) return DataToProto<Proto>(s);
  }
  Proto out;
  out.set_name(req.name());
  out.set_id(*id);
  *out.mutable_labels() = req.labels();
  return out;
}

template <class Proto>
absl::StatusOr<std::vector<Proto>> List(engine::DockerEngine& manager, const Kind& kind) {
  auto list = (manager.*kind.list)();
  if (!list.ok()) return list.status();
  std::vector<Proto> out;
  for (const auto& s : *list) out.push_back(DataToProto<Proto>(s));
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return out;
}

absl::StatusOr<engine::Secret> Find(engine::DockerEngine& manager, const Kind& kind,
                                    const std::string& name) {
  if (auto s = ValidateSecretName("name", name); !s.ok()) return s;
  auto list = (manager.*kind.list)();
  if (!list.ok()) return list.status();
  for (const auto& s : *list)
    if (s.spec.name == name) return s;
  return absl::NotFoundError(absl::StrCat(kind.name, " '", name, "' does not exist; `musketeer ",
                                          kind.name, " ls` lists them"));
}

absl::Status Delete(engine::DockerEngine& manager, const Kind& kind, const std::string& name) {
  auto found = Find(manager, kind, name);
  if (!found.ok()) return found.status();
  // The swarm refuses too (as INVALID_ARGUMENT); naming the services is more useful.
  if (auto services = manager.ListServices(); services.ok()) {
    std::vector<std::string> users;
    for (const auto& v : *services) {
      for (const auto& id : kind.referenced(v.spec))
        if (id == found->id) users.push_back(v.spec.name);
    }
    if (!users.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          kind.name, " '", name, "' is in use by service ", absl::StrJoin(users, ", "),
          "; remove the service (or its reference to the ", kind.name, ") first"));
    }
  }
  absl::Status s = (manager.*kind.remove)(found->id);
  if (s.code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat(kind.name, " '", name, "' does not exist"));
  return s;
}

// Fills in each reference's ID from its name; NOT_FOUND naming spec.<kind>s for a missing one.
template <class Ref>
absl::Status Resolve(engine::DockerEngine& manager, const Kind& kind, std::vector<Ref>& refs,
                     std::string Ref::*name, std::string Ref::*id) {
  if (refs.empty()) return absl::OkStatus();
  auto list = (manager.*kind.list)();
  if (!list.ok()) return list.status();
  for (auto& ref : refs) {
    auto it = std::find_if(list->begin(), list->end(),
                           [&](const engine::Secret& s) { return s.spec.name == ref.*name; });
    if (it == list->end()) {
      return absl::NotFoundError(absl::StrCat("spec.", kind.name, "s: ", kind.name, " '",
                                              Cut(ref.*name), "' does not exist; create it first: `musketeer ",
                                              kind.name, " create ", Cut(ref.*name), " FILE`"));
    }
    ref.*id = it->id;
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ValidateSecretName(const std::string& field, const std::string& name) {
  static const std::regex kName("[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?");
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (name.size() > 64 || !std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", Cut(name),
                     "' is not a valid name; use 1-64 of [a-zA-Z0-9_.-], starting and ending "
                     "with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::Secret> Cluster::CreateSecret(const pb::CreateSecretRequest& req) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  return Create<pb::Secret>(*m->second, kSecret, req);
}

absl::StatusOr<std::vector<pb::Secret>> Cluster::ListSecrets() {
  auto m = Manager();
  if (!m.ok()) return m.status();
  return List<pb::Secret>(*m->second, kSecret);
}

absl::Status Cluster::DeleteSecret(const std::string& name) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  return Delete(*m->second, kSecret, name);
}

absl::Status Cluster::ResolveSecrets(engine::DockerEngine& manager, engine::ServiceSpec& spec) {
  return Resolve(manager, kSecret, spec.task_template.container_spec.secrets,
                 &engine::SecretReference::secret_name, &engine::SecretReference::secret_id);
}

absl::StatusOr<pb::Config> Cluster::CreateConfig(const pb::CreateConfigRequest& req) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  return Create<pb::Config>(*m->second, kConfig, req);
}

absl::StatusOr<std::vector<pb::Config>> Cluster::ListConfigs() {
  auto m = Manager();
  if (!m.ok()) return m.status();
  return List<pb::Config>(*m->second, kConfig);
}

absl::StatusOr<pb::Config> Cluster::GetConfig(const std::string& name) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto found = Find(*m->second, kConfig, name);
  if (!found.ok()) return found.status();
  auto full = m->second->InspectConfig(found->id);  // lists carry no data
  if (!full.ok()) return full.status();
  pb::Config out = DataToProto<pb::Config>(*full);
  std::string data;
  if (!absl::Base64Unescape(full->spec.data, &data))
    return absl::InternalError(absl::StrCat("config '", name, "': the swarm's data is not base64"));
  out.set_data(std::move(data));
  return out;
}

absl::Status Cluster::DeleteConfig(const std::string& name) {
  auto m = Manager();
  if (!m.ok()) return m.status();
  return Delete(*m->second, kConfig, name);
}

absl::Status Cluster::ResolveConfigs(engine::DockerEngine& manager, engine::ServiceSpec& spec) {
  return Resolve(manager, kConfig, spec.task_template.container_spec.configs,
                 &engine::ConfigReference::config_name, &engine::ConfigReference::config_id);
}

}  // namespace musketeer::cluster
