// musketeer stack ...: deploy a compose file (version 3) as a stack, list and remove stacks.
#include <fstream>
#include <iostream>
#include <sstream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int StackDeploy(const Args& a, const Connection& c) {
  const std::string file = a.Get("-c", a.Get("--compose-file"));
  if (a.positional().size() != 1 || file.empty())
    return UsageError("give -c FILE and a stack name");
  std::ifstream in(file);
  if (!in) return UsageError("cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  pb::DeployStackRequest req;
  req.set_name(a.positional()[0]);
  req.set_compose_yaml(ss.str());
  req.set_prune(a.Has("--prune"));
  req.set_wait(!Detach(a));
  return Show(a, c, kLongDeadline, &pb::Stacks::Stub::DeployStack, req, [&](const pb::Stack& out) {
    for (const auto& n : out.networks()) std::cout << "Network " << n << "\n";
    for (const auto& n : out.services())
      std::cout << "Service " << n << (req.wait() ? " converged" : "") << "\n";
  });
}

int StackLs(const Args& a, const Connection& c) {
  return Show(a, c, 60, &pb::Stacks::Stub::ListStacks, {}, [](const pb::ListStacksResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& st : out.stacks())
      rows.push_back({st.name(), std::to_string(st.services_size())});
    PrintTable({"NAME", "SERVICES"}, rows);
  });
}

int StackRm(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::DeleteStackRequest req;
  req.set_name(a.positional()[0]);
  return Show(a, c, 120, &pb::Stacks::Stub::DeleteStack, req,
              [&](const pb::Empty&) { std::cout << "Removed stack " << req.name() << "\n"; });
}

}  // namespace

std::vector<Command> StackCommands() {
  return {
      {"stack",
       "deploy",
       "-c|--compose-file FILE [--prune] [-d] NAME",
       "Deploy a compose file (version 3) as a stack",
       {"--prune", "-d", "--detach"},
       StackDeploy},
      {"stack", "ls", "", "List stacks", {}, StackLs},
      {"stack", "rm", "NAME", "Remove a stack", {}, StackRm},
  };
}

}  // namespace musketeer::cli
