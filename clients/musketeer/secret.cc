// musketeer secret ... and config ...: Swarm secrets and configs (create from a file or
// stdin, list, remove; configs also inspect). A secret's value goes to musketeerd once and
// never comes back; services get it as a file (`service create --secret NAME` ->
// /run/secrets/NAME). A config is readable (`config inspect`) and mounted anywhere
// (`--config source=NAME,target=/etc/app.conf`).
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

// NAME FILE|- into a create request of either kind.
template <class Request>
int FromFile(const Args& a, Request* req) {
  if (a.positional().size() != 2) return UsageError("NAME and FILE (or - for stdin) are required");
  req->set_name(a.positional()[0]);
  const std::string& file = a.positional()[1];
  std::string data;
  if (file == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return UsageError("cannot read " + file);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  req->set_data(data);
  for (const auto& l : a.All("--label")) {
    auto [k, v] = SplitKeyValue(l);
    (*req->mutable_labels())[k] = v;
  }
  return kOk;
}

// The ID, NAME, CREATED table of secrets or configs.
template <class Item>
void PrintObjects(const google::protobuf::RepeatedPtrField<Item>& items) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : items) rows.push_back({s.id().substr(0, 12), s.name(), s.created_at()});
  PrintTable({"ID", "NAME", "CREATED"}, rows);
}

int SecretCreate(const Args& a, const Connection& c) {
  pb::CreateSecretRequest req;
  if (int rc = FromFile(a, &req); rc != kOk) return rc;
  return Show(a, c, 60, &pb::Secrets::Stub::CreateSecret, req,
              [](const pb::Secret& out) { std::cout << out.id() << "\n"; });
}

int ConfigCreate(const Args& a, const Connection& c) {
  pb::CreateConfigRequest req;
  if (int rc = FromFile(a, &req); rc != kOk) return rc;
  return Show(a, c, 60, &pb::Configs::Stub::CreateConfig, req,
              [](const pb::Config& out) { std::cout << out.id() << "\n"; });
}

int ConfigLs(const Args& a, const Connection& c) {
  return Show(a, c, 60, &pb::Configs::Stub::ListConfigs, {},
              [](const pb::ListConfigsResponse& out) { PrintObjects(out.configs()); });
}

int ConfigInspect(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return UsageError("give one config");
  pb::GetConfigRequest req;
  req.set_name(a.positional()[0]);
  if (a.Has("--data")) {  // the contents alone, as they are (docker: --format '{{.Spec.Data}}')
    return Show(a, c, 60, &pb::Configs::Stub::GetConfig, req,
                [](const pb::Config& out) { std::cout << out.data(); });
  }
  return Show(a, c, 60, &pb::Configs::Stub::GetConfig, req,
              [](const pb::Config& out) { PrintJson(out); });
}

int ConfigRm(const Args& a, const Connection& c) {
  return ForEachName(
      a, c, 60, &pb::Configs::Stub::DeleteConfig,
      [](const std::string& name, pb::DeleteConfigRequest& req) { req.set_name(name); },
      [](const std::string& name, const pb::Empty&) { std::cout << name << "\n"; });
}

int SecretLs(const Args& a, const Connection& c) {
  return Show(a, c, 60, &pb::Secrets::Stub::ListSecrets, {},
              [](const pb::ListSecretsResponse& out) { PrintObjects(out.secrets()); });
}

int SecretRm(const Args& a, const Connection& c) {
  return ForEachName(
      a, c, 60, &pb::Secrets::Stub::DeleteSecret,
      [](const std::string& name, pb::DeleteSecretRequest& req) { req.set_name(name); },
      [](const std::string& name, const pb::Empty&) { std::cout << name << "\n"; });
}

}  // namespace

std::vector<Command> SecretCommands() {
  return {
      {"secret",
       "create",
       "[--label K=V] NAME FILE|-",
       "Create a secret from a file or stdin (its value is never shown again)",
       {},
       SecretCreate},
      {"secret", "ls", "", "List secrets (names only, never values)", {}, SecretLs},
      {"secret", "rm", "NAME...", "Remove secrets no service uses", {}, SecretRm},
  };
}

std::vector<Command> ConfigCommands() {
  return {
      {"config",
       "create",
       "[--label K=V] NAME FILE|-",
       "Create a config from a file or stdin",
       {},
       ConfigCreate},
      {"config", "ls", "", "List configs", {}, ConfigLs},
      {"config",
       "inspect",
       "[--data] NAME",
       "Show a config as JSON (--data: its contents alone)",
       {"--data"},
       ConfigInspect},
      {"config", "rm", "NAME...", "Remove configs no service uses", {}, ConfigRm},
  };
}

}  // namespace musketeer::cli
