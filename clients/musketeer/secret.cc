// musketeer secret ...: Swarm secrets (create from a file or stdin, list, remove). A
// secret's value goes to musketeerd once and never comes back; services get it as a file
// (`service create --secret NAME` -> /run/secrets/NAME).
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int SecretCreate(const Args& a, const Connection& c) {
  if (a.positional().size() != 2) return UsageError("NAME and FILE (or - for stdin) are required");
  pb::CreateSecretRequest req;
  req.set_name(a.positional()[0]);
  const std::string& file = a.positional()[1];
  std::string data;
  if (file == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return UsageError("cannot read " + file);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  req.set_data(data);
  for (const auto& l : a.All("--label")) {
    auto [k, v] = SplitKeyValue(l);
    (*req.mutable_labels())[k] = v;
  }
  return Show(a, c, 60, &pb::Secrets::Stub::CreateSecret, req,
              [](const pb::Secret& out) { std::cout << out.id() << "\n"; });
}

int SecretLs(const Args& a, const Connection& c) {
  return Show(a, c, 60, &pb::Secrets::Stub::ListSecrets, {},
              [](const pb::ListSecretsResponse& out) {
                std::vector<std::vector<std::string>> rows;
                for (const auto& s : out.secrets())
                  rows.push_back({s.id().substr(0, 12), s.name(), s.created_at()});
                PrintTable({"ID", "NAME", "CREATED"}, rows);
              });
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

}  // namespace musketeer::cli
