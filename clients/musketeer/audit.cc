// musketeer audit ls: who did what to the control plane, newest first.
#include "absl/strings/numbers.h"
#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int AuditLs(const Args& a, const Connection& c) {
  pb::ListAuditRequest req;
  unsigned limit = 50;
  (void)absl::SimpleAtoi(a.Get("--limit", "50"), &limit);
  req.set_limit(limit);
  req.set_who(a.Get("--who"));
  req.set_method(a.Get("--method"));
  req.set_target(a.Get("--target"));
  return Show(a, c, 30, &pb::Access::Stub::ListAudit, req, [](const pb::ListAuditResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : out.entries())
      rows.push_back({e.at(), e.who(), e.method(), e.target(), e.result()});
    PrintTable({"AT", "WHO", "METHOD", "TARGET", "RESULT"}, rows);
  });
}

}  // namespace

std::vector<Command> AuditCommands() {
  return {
      {"audit",
       "ls",
       "[--limit N] [--who TOKEN] [--method METHOD] [--target NAME]",
       "Show the audit log",
       {},
       AuditLs},
  };
}

}  // namespace musketeer::cli
