// Cluster: Swarm secrets. The value of a secret passes through here once, on its way into
// POST /secrets/create, and is never kept, returned or logged: the swarm stores it
// encrypted and gives it only to the tasks of services that reference it, as a file under
// /run/secrets. Services name secrets; the swarm wants their IDs too (ResolveSecrets).
#include <regex>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {

namespace {
// Swarm's own limit for a secret's value (500 KiB).
constexpr size_t kMaxSecretBytes = 500 * 1024;

pb::Secret SecretToProto(const engine::Secret& s) {
  pb::Secret out;
  out.set_name(s.spec.name);
  out.set_id(s.id);
  for (const auto& [k, v] : s.spec.labels) (*out.mutable_labels())[k] = v;
  out.set_created_at(s.created_at);
  out.set_updated_at(s.updated_at);
  return out;
}
}  // namespace

absl::Status ValidateSecretName(const std::string& field, const std::string& name) {
  static const std::regex kName("[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?");
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (name.size() > 64 || !std::regex_match(name, kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", Cut(name),
                     "' is not a secret name; use 1-64 of [a-zA-Z0-9_.-], starting and ending "
                     "with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::Secret> Cluster::CreateSecret(const pb::CreateSecretRequest& req) {
  if (auto s = ValidateSecretName("name", req.name()); !s.ok()) return s;
  if (req.data().empty())
    return absl::InvalidArgumentError("data: a secret needs a value (1 byte to 500 KiB)");
  if (req.data().size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: ", req.data().size(), " bytes; a Swarm secret holds at most ", kMaxSecretBytes));
  }
  for (const auto& [k, v] : req.labels()) {
    if (k.empty()) return absl::InvalidArgumentError("labels: a label has an empty name");
  }
  auto m = Manager();
  if (!m.ok()) return m.status();
  engine::SecretSpec spec;
  spec.name = req.name();
  for (const auto& [k, v] : req.labels()) spec.labels[k] = v;
  spec.data = absl::Base64Escape(req.data());
  auto id = m->second->CreateSecret(spec);
  if (!id.ok()) {
    if (id.status().code() == absl::StatusCode::kAlreadyExists ||
        absl::StrContains(id.status().message(), "already exists")) {
      return absl::AlreadyExistsError(absl::StrCat(
          "secret '", req.name(),
          "' already exists; secrets cannot be changed: remove it (no service may use it) and "
          "create it again, or create one under a new name"));
    }
    return id.status();
  }
  auto list = m->second->ListSecrets();
  if (list.ok()) {
    for (const auto& s : *list)
      if (s.id == *id) return SecretToProto(s);
  }
  pb::Secret out;
  out.set_name(req.name());
  out.set_id(*id);
  *out.mutable_labels() = req.labels();
  return out;
}

absl::StatusOr<std::vector<pb::Secret>> Cluster::ListSecrets() {
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto list = m->second->ListSecrets();
  if (!list.ok()) return list.status();
  std::vector<pb::Secret> out;
  for (const auto& s : *list) out.push_back(SecretToProto(s));
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return out;
}

absl::Status Cluster::DeleteSecret(const std::string& name) {
  if (auto s = ValidateSecretName("name", name); !s.ok()) return s;
  auto m = Manager();
  if (!m.ok()) return m.status();
  auto list = m->second->ListSecrets();
  if (!list.ok()) return list.status();
  auto it = std::find_if(list->begin(), list->end(),
                         [&](const engine::Secret& s) { return s.spec.name == name; });
  if (it == list->end()) {
    return absl::NotFoundError(
        absl::StrCat("secret '", name, "' does not exist; `musketeer secret ls` lists them"));
  }
  // The swarm refuses too (as INVALID_ARGUMENT); naming the services is more useful.
  if (auto services = m->second->ListServices(); services.ok()) {
    std::vector<std::string> users;
    for (const auto& v : *services) {
      for (const auto& ref : v.spec.task_template.container_spec.secrets)
        if (ref.secret_id == it->id) users.push_back(v.spec.name);
    }
    if (!users.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("secret '", name, "' is in use by service ", absl::StrJoin(users, ", "),
                       "; remove the service (or its reference to the secret) first"));
    }
  }
  absl::Status s = m->second->RemoveSecret(it->id);
  if (s.code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat("secret '", name, "' does not exist"));
  return s;
}

absl::Status Cluster::ResolveSecrets(engine::DockerEngine& manager, engine::ServiceSpec& spec) {
  auto& refs = spec.task_template.container_spec.secrets;
  if (refs.empty()) return absl::OkStatus();
  auto list = manager.ListSecrets();
  if (!list.ok()) return list.status();
  for (auto& ref : refs) {
    auto it = std::find_if(list->begin(), list->end(),
                           [&](const engine::Secret& s) { return s.spec.name == ref.secret_name; });
    if (it == list->end()) {
      return absl::NotFoundError(
          absl::StrCat("spec.secrets: secret '", Cut(ref.secret_name),
                       "' does not exist; create it first: `musketeer secret create ",
                       Cut(ref.secret_name), " FILE`"));
    }
    ref.secret_id = it->id;
  }
  return absl::OkStatus();
}

}  // namespace musketeer::cluster
