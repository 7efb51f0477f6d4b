// musketeer token ...: API tokens (viewer, operator, admin) for the control plane.
#include <iostream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int TokenCreate(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::CreateTokenRequest req;
  req.set_name(a.positional()[0]);
  req.set_role(a.Get("--role", "viewer"));
  return Show(a, c, 30, &pb::Access::Stub::CreateToken, req,
              [](const pb::Token& out) { std::cout << out.secret() << "\n"; });
}

int TokenLs(const Args& a, const Connection& c) {
  return Show(a, c, 30, &pb::Access::Stub::ListTokens, {}, [](const pb::ListTokensResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : out.tokens()) rows.push_back({t.name(), t.role(), t.created_at()});
    PrintTable({"NAME", "ROLE", "CREATED"}, rows);
  });
}

int TokenRm(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::DeleteTokenRequest req;
  req.set_name(a.positional()[0]);
  pb::Empty out;
  return Report(Unary(c, 30, &pb::Access::Stub::DeleteToken, req, &out));
}

}  // namespace

std::vector<Command> TokenCommands() {
  return {
      {"token",
       "create",
       "--role viewer|operator|admin NAME",
       "Create an API token (printed once)",
       {},
       TokenCreate},
      {"token", "ls", "", "List API tokens", {}, TokenLs},
      {"token", "rm", "NAME", "Delete an API token", {}, TokenRm},
  };
}

}  // namespace musketeer::cli
