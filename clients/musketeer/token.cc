// musketeer token ...: API tokens (viewer, operator, admin) for the control plane.
#include <iostream>

#include "absl/strings/numbers.h"
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
  if (a.Has("--ttl")) {  // a duration: 3600, 90s, 30m, 12h
    const std::string ttl = a.Get("--ttl");
    uint64_t n = 0, unit = 1;
    std::string digits = ttl;
    if (!ttl.empty() &&
        (ttl.back() == 's' || ttl.back() == 'm' || ttl.back() == 'h' || ttl.back() == 'd')) {
      unit = ttl.back() == 's' ? 1 : ttl.back() == 'm' ? 60 : ttl.back() == 'h' ? 3600 : 86400;
      digits.pop_back();
    }
    if (!absl::SimpleAtoi(digits, &n) || n == 0)
      return UsageError("--ttl takes a duration such as 3600, 90s, 30m, 12h or 7d");
    req.set_ttl_seconds(n * unit);
  }
  req.set_expires_at(a.Get("--expires-at"));
  return Show(a, c, 30, &pb::Access::Stub::CreateToken, req,
              [](const pb::Token& out) { std::cout << out.secret() << "\n"; });
}

int TokenLs(const Args& a, const Connection& c) {
  return Show(a, c, 30, &pb::Access::Stub::ListTokens, {}, [](const pb::ListTokensResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : out.tokens())
      rows.push_back(
          {t.name(), t.role(), t.created_at(),
           t.expires_at().empty() ? "never" : t.expires_at() + (t.expired() ? " (expired)" : ""),
           t.last_used_at().empty() ? "never" : t.last_used_at()});
    PrintTable({"NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED"}, rows);
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
       "--role viewer|operator|admin [--ttl 12h | --expires-at RFC3339] NAME",
       "Create an API token (printed once)",
       {},
       TokenCreate},
      {"token", "ls", "", "List API tokens", {}, TokenLs},
      {"token", "rm", "NAME", "Delete an API token", {}, TokenRm},
  };
}

}  // namespace musketeer::cli
