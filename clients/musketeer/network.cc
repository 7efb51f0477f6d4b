// musketeer network ...: create, list and remove the swarm's overlay networks.
#include <iostream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int NetworkCreate(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::CreateNetworkRequest req;
  req.set_name(a.positional()[0]);
  req.set_driver(a.Get("--driver", a.Get("-d", "overlay")));
  req.set_attachable(a.Has("--attachable"));
  req.set_subnet(a.Get("--subnet"));
  return Show(a, c, 60, &pb::Networks::Stub::CreateNetwork, req,
              [](const pb::Network& out) { std::cout << out.id() << "\n"; });
}

int NetworkLs(const Args& a, const Connection& c) {
  return Show(a, c, 60, &pb::Networks::Stub::ListNetworks, {},
              [](const pb::ListNetworksResponse& out) {
                std::vector<std::vector<std::string>> rows;
                for (const auto& n : out.networks())
                  rows.push_back({n.id().substr(0, 12), n.name(), n.driver(), n.scope(),
                                  n.subnet().empty() ? "-" : n.subnet()});
                PrintTable({"NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"}, rows);
              });
}

int NetworkRm(const Args& a, const Connection& c) {
  return ForEachName(
      a, c, 60, &pb::Networks::Stub::DeleteNetwork,
      [](const std::string& name, pb::DeleteNetworkRequest& req) { req.set_name(name); },
      [](const std::string& name, const pb::Empty&) { std::cout << name << "\n"; });
}

int NetworkInspect(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::GetNetworkRequest req;
  req.set_name(a.positional()[0]);
  return Show(a, c, 60, &pb::Networks::Stub::GetNetwork, req,
              [](const pb::Network& out) { PrintJson(out); });
}

}  // namespace

std::vector<Command> NetworkCommands() {
  return {
      {"network",
       "create",
       "[-d|--driver overlay] [--attachable] [--subnet CIDR] NAME",
       "Create an overlay network",
       {"--attachable"},
       NetworkCreate},
      {"network", "ls", "", "List swarm networks", {}, NetworkLs},
      {"network", "rm", "NAME...", "Remove networks", {}, NetworkRm},
      {"network", "inspect", "NAME|ID", "Show a network as JSON", {}, NetworkInspect},
  };
}

}  // namespace musketeer::cli
