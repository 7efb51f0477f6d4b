// musketeer swarm ...: init, join, leave, inspect, the manager count, recovery from a lost
// quorum, and rotate the join tokens.
#include <iostream>

#include "absl/strings/numbers.h"
#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int SwarmInit(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::InitSwarmRequest req;
  req.set_node(a.positional()[0]);
  req.set_advertise_addr(a.Get("--advertise-addr"));
  req.set_listen_addr(a.Get("--listen-addr"));
  req.set_data_path_addr(a.Get("--data-path-addr"));
  unsigned hb = 0;
  if (a.Has("--dispatcher-heartbeat") && !absl::SimpleAtoi(a.Get("--dispatcher-heartbeat"), &hb))
    return kUsage;
  req.set_dispatcher_heartbeat_seconds(hb);
  return Show(a, c, 60, &pb::SwarmApi::Stub::InitSwarm, req, [&](const pb::Swarm& out) {
    std::cout << "Swarm initialized: " << req.node() << " is now a manager (swarm " << out.id()
              << ").\n"
              << "To add a worker: musketeer swarm join NODE --manager " << req.node() << "\n";
  });
}

int SwarmJoin(const Args& a, const Connection& c) {
  const std::string role = a.Get("--role", "worker");
  return ForEachName(
      a, c, 120, &pb::SwarmApi::Stub::JoinSwarm,
      [&](const std::string& node, pb::JoinSwarmRequest& req) {
        req.set_node(node);
        req.set_manager(a.Get("--manager"));
        req.set_role(role);
      },
      [&](const std::string& node, const pb::Node& out) {
        if (Json(a))
          PrintJson(out);
        else
          std::cout << "This node joined a swarm as a " << role << ": " << node << "\n";
      });
}

int SwarmLeave(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::LeaveSwarmRequest req;
  req.set_node(a.positional()[0]);
  req.set_force(Force(a));
  return Show(a, c, 60, &pb::SwarmApi::Stub::LeaveSwarm, req,
              [&](const pb::Empty&) { std::cout << req.node() << " left the swarm\n"; });
}

int SwarmInspect(const Args& a, const Connection& c) {
  pb::GetSwarmRequest req;
  req.set_show_tokens(a.Has("--show-tokens"));
  return Show(a, c, 60, &pb::SwarmApi::Stub::GetSwarm, req,
              [](const pb::Swarm& out) { PrintJson(out); });
}

void PrintWarnings(const pb::Swarm& out) {
  for (const auto& w : out.warnings()) std::cerr << "Warning: " << w << "\n";
}

int SwarmUpdate(const Args& a, const Connection& c) {
  if (!a.positional().empty() || !a.Has("--managers")) return kUsage;
  pb::UpdateSwarmRequest req;
  unsigned managers = 0;
  if (!absl::SimpleAtoi(a.Get("--managers"), &managers) || managers == 0)
    return UsageError("--managers takes a count of at least 1, e.g. 3");
  req.set_managers(managers);
  return Show(a, c, kLongDeadline, &pb::SwarmApi::Stub::UpdateSwarm, req,
              [](const pb::Swarm& out) {
                std::cout << "managers: " << out.managers_size() << " (reachable "
                          << out.managers_reachable() << ", quorum " << out.quorum() << "): ";
                for (int i = 0; i < out.managers_size(); ++i)
                  std::cout << (i ? ", " : "") << out.managers(i);
                if (!out.leader().empty()) std::cout << "; leader " << out.leader();
                std::cout << "\n";
                PrintWarnings(out);
              });
}

int SwarmRecover(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::RecoverSwarmRequest req;
  req.set_node(a.positional()[0]);
  return Show(a, c, 300, &pb::SwarmApi::Stub::RecoverSwarm, req, [&](const pb::Swarm& out) {
    std::cout << req.node() << " is the swarm's only manager again (swarm " << out.id()
              << "); add managers with: musketeer swarm update --managers 3\n";
    PrintWarnings(out);
  });
}

int SwarmRotate(const Args& a, const Connection& c) {
  pb::RotateJoinTokensRequest req;
  req.set_worker(a.Has("--worker") || !a.Has("--manager"));
  req.set_manager(a.Has("--manager"));
  return Show(a, c, 60, &pb::SwarmApi::Stub::RotateJoinTokens, req,
              [](const pb::Swarm&) { std::cout << "join tokens rotated\n"; });
}

}  // namespace

std::vector<Command> SwarmCommands() {
  return {
      {"swarm",
       "init",
       "[--advertise-addr IP] [--listen-addr ADDR] [--data-path-addr IP] [--dispatcher-heartbeat "
       "SECONDS] NODE",
       "Make NODE the first manager of a new swarm",
       {},
       SwarmInit},
      {"swarm",
       "join",
       "[--manager NODE] [--role worker|manager] NODE...",
       "Join nodes to the swarm (tokens are fetched for you)",
       {},
       SwarmJoin},
      {"swarm", "leave", "[-f] NODE", "Make a node leave the swarm", {"-f", "--force"}, SwarmLeave},
      {"swarm", "inspect", "[--show-tokens]", "Show the swarm", {"--show-tokens"}, SwarmInspect},
      {"swarm",
       "update",
       "--managers N",
       "Set the manager count: promote or demote one node at a time, each promotion waited "
       "for until raft lists it reachable (an odd count: a majority survives a loss)",
       {},
       SwarmUpdate},
      {"swarm",
       "recover",
       "NODE",
       "After a lost quorum: make NODE (a manager that answers) the only manager, keeping the "
       "swarm's services (docker swarm init --force-new-cluster), and demote the lost ones",
       {},
       SwarmRecover},
      {"swarm",
       "rotate-tokens",
       "[--worker] [--manager]",
       "Rotate join tokens",
       {"--worker", "--manager"},
       SwarmRotate},
  };
}

}  // namespace musketeer::cli
