// musketeer swarm ...: init, join, leave, inspect and rotate the join tokens.
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
       "rotate-tokens",
       "[--worker] [--manager]",
       "Rotate join tokens",
       {"--worker", "--manager"},
       SwarmRotate},
  };
}

}  // namespace musketeer::cli
