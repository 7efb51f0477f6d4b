// musketeer node ...: create, list, inspect, start/stop/kill, update and remove nodes
// (docker-machine's verbs, plus docker node's update/promote/demote).
#include <unistd.h>

#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

std::vector<std::string> NodeRow(const pb::Node& n) {
  return {n.name(), n.driver(), n.state(), n.engine_url(),
          n.swarm_role().empty() ? "-" : n.swarm_role(),
          n.availability().empty() ? "-" : n.availability(),
          n.swarm_status().empty() ? "-" : n.swarm_status(),
          // The control plane's event stream from the node: "broken since T: why" in full
          // in `node inspect`.
          n.event_stream().empty() ? "-" : n.event_stream().substr(0, n.event_stream().find(' '))};
}
const std::vector<std::string> kNodeHeader = {"NAME",  "DRIVER",       "STATE",  "URL",
                                              "SWARM", "AVAILABILITY", "STATUS", "EVENTS"};

// --driver ssh: one host, its steps printed as musketeerd reports them.
int NodeCreateSsh(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) {
    return UsageError("--driver ssh creates one node per --ssh-host: give exactly one NAME");
  }
  pb::CreateNodeRequest req;
  req.set_name(a.positional()[0]);
  req.set_driver("ssh");
  req.set_ssh_host(a.Get("--ssh-host"));
  if (req.ssh_host().empty()) return UsageError("--driver ssh needs --ssh-host HOST");
  if (a.Has("--ssh-port")) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(a.Get("--ssh-port"), &port) || port == 0 || port > 65535) {
      return UsageError("--ssh-port takes a port number (1-65535)");
    }
    req.set_ssh_port(port);
  }
  req.set_ssh_user(a.Get("--ssh-user"));
  std::string key = a.Get("--ssh-key");
  if (!key.empty() && key[0] != '/') {  // musketeerd reads it: send it absolute
    char cwd[4096];
    key = std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + key;
  }
  req.set_ssh_key(key);
  req.set_ssh_host_key(a.Get("--ssh-host-key"));
  pb::Nodes::Stub stub(Dial(c));
  auto ctx = Context(c, kLongDeadline);
  auto reader = stub.CreateNodeStream(ctx.get(), req);
  pb::NodeProgress p;
  while (reader->Read(&p)) {
    if (Json(a)) {
      if (p.has_node()) PrintJson(p.node());
    } else if (p.has_node()) {
      std::cout << p.message() << "\n";
      if (!p.node().ssh_host_key().empty())
        std::cout << "host key of " << p.node().ssh_address() << ": " << p.node().ssh_host_key()
                  << "\n";
    } else {
      std::cout << req.name() << ": [" << p.step() << "] " << p.message() << "\n" << std::flush;
    }
  }
  return Report(Answered(*ctx, reader->Finish()));
}

int NodeCreate(const Args& a, const Connection& c) {
  if (a.positional().empty()) return kUsage;
  if (a.Get("--driver") == "ssh") return NodeCreateSsh(a, c);
  for (const char* flag :
       {"--ssh-host", "--ssh-port", "--ssh-user", "--ssh-key", "--ssh-host-key"}) {
    if (a.Has(flag)) return UsageError(std::string(flag) + " needs --driver ssh");
  }
  // Several names are created in parallel, each in its own call.
  std::vector<std::thread> threads;
  std::vector<grpc::Status> results(a.positional().size());
  std::vector<pb::Node> nodes(a.positional().size());
  for (size_t i = 0; i < a.positional().size(); ++i) {
    threads.emplace_back([&, i] {
      pb::CreateNodeRequest req;
      req.set_name(a.positional()[i]);
      req.set_driver(a.Get("--driver", "local"));
      req.set_url(a.Get("--url"));
      req.set_tls_ca(a.Get("--tls-ca"));
      req.set_tls_cert(a.Get("--tls-cert"));
      req.set_tls_key(a.Get("--tls-key"));
      results[i] = Unary(c, 300, &pb::Nodes::Stub::CreateNode, req, &nodes[i]);
    });
  }
  for (auto& t : threads) t.join();
  int rc = kOk;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      rc = Report(results[i]);
    } else if (Json(a)) {
      PrintJson(nodes[i]);
    } else {
      std::cout << "created " << nodes[i].name() << " (" << nodes[i].address() << ", "
                << nodes[i].engine_url() << ")\n";
    }
  }
  return rc;
}

int NodeLs(const Args& a, const Connection& c) {
  pb::ListNodesRequest req;
  for (const auto& f : a.All("--filter")) {  // label=K[=V], role=manager|worker|none
    auto [k, v] = SplitKeyValue(f);
    if (k == "label") {
      auto [lk, lv] = SplitKeyValue(v);
      (*req.mutable_labels())[lk] = lv;
    } else if (k == "role") {
      req.set_role(v);
    } else {
      return UsageError("--filter takes label=KEY[=VALUE] or role=manager|worker|none");
    }
  }
  return Show(a, c, 60, &pb::Nodes::Stub::ListNodes, req, [](const pb::ListNodesResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : out.nodes()) rows.push_back(NodeRow(n));
    PrintTable(kNodeHeader, rows);
  });
}

pb::GetNodeRequest NodeNamed(const Args& a) {
  pb::GetNodeRequest req;
  req.set_name(a.positional().empty() ? "" : a.positional()[0]);
  return req;
}

int NodeInspect(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  return Show(a, c, 60, &pb::Nodes::Stub::GetNode, NodeNamed(a),
              [](const pb::Node& out) { PrintJson(out); });
}

int NodeIp(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  return Show(a, c, 60, &pb::Nodes::Stub::GetNode, NodeNamed(a),
              [](const pb::Node& out) { std::cout << out.address() << "\n"; });
}

int NodeEnv(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  return Show(a, c, 30, &pb::Nodes::Stub::GetNodeEnv, NodeNamed(a),
              [](const pb::NodeEnv& out) { std::cout << out.shell(); });
}

int NodeRm(const Args& a, const Connection& c) {
  const bool force = Force(a);
  const bool purge = a.Has("--purge-engine");
  return ForEachName(
      a, c, 600, &pb::Nodes::Stub::DeleteNode,
      [&](const std::string& name, pb::DeleteNodeRequest& req) {
        req.set_name(name);
        req.set_force(force);
        req.set_purge_engine(purge);
      },
      [](const std::string& name, const pb::Empty&) { std::cout << "removed " << name << "\n"; });
}

// start, stop, kill and regenerate-certs: the same call shape, one RPC each.
using NodeActionMethod = grpc::Status (pb::Nodes::Stub::*)(grpc::ClientContext*,
                                                           const pb::NodeActionRequest&, pb::Node*);
std::function<int(const Args&, const Connection&)> NodeAction(NodeActionMethod action) {
  return [action](const Args& a, const Connection& c) {
    return ForEachName(
        a, c, 120, action,
        [](const std::string& name, pb::NodeActionRequest& req) { req.set_name(name); },
        [](const std::string& name, const pb::Node& out) {
          std::cout << name << ": " << out.state() << "\n";
        });
  };
}

// update, promote and demote: promote/demote fix the role, update takes --role.
std::function<int(const Args&, const Connection&)> NodeUpdate(const std::string& role) {
  return [role](const Args& a, const Connection& c) {
    if (a.positional().size() != 1) return kUsage;
    pb::UpdateNodeRequest req;
    req.set_name(a.positional()[0]);
    req.set_availability(a.Get("--availability"));
    req.set_role(role.empty() ? a.Get("--role") : role);
    for (const auto& l : a.All("--label-add")) {
      auto [k, v] = SplitKeyValue(l);
      (*req.mutable_add_labels())[k] = v;
    }
    for (const auto& l : a.All("--label-rm")) req.add_remove_labels(l);
    // A role change waits until raft has made it (up to a minute).
    return Show(a, c, 120, &pb::Nodes::Stub::UpdateNode, req,
                [](const pb::Node& out) { PrintTable(kNodeHeader, {NodeRow(out)}); });
  };
}

int NodePreflight(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  return Show(a, c, 60, &pb::Nodes::Stub::PreflightNode, NodeNamed(a),
              [](const pb::NodePreflight& out) { PrintJson(out); });
}

}  // namespace

std::vector<Command> NodeCommands() {
  return {
      {"node",
       "create",
       "[--driver local|remote|ssh] [--url URL --tls-ca F --tls-cert F --tls-key F] NAME...\n"
       "       musketeer node create --driver ssh --ssh-host HOST [--ssh-port 22] [--ssh-user "
       "root]\n"
       "                         [--ssh-key FILE] [--ssh-host-key SHA256:...] NAME",
       "Create nodes (in parallel); --driver ssh makes a bare SSH host a TLS engine, step by "
       "step (its host key is pinned, or trusted on first use and recorded)",
       {},
       NodeCreate},
      {"node",
       "ls",
       "[--filter label=K[=V]] [--filter role=manager|worker|none]",
       "List nodes with their engine and swarm state",
       {},
       NodeLs},
      {"node", "inspect", "NAME", "Show a node as JSON", {}, NodeInspect},
      {"node", "ip", "NAME", "Print a node's IP address", {}, NodeIp},
      {"node",
       "env",
       "NAME",
       "Print the environment for the docker CLI: eval \"$(musketeer node env NAME)\"",
       {},
       NodeEnv},
      {"node",
       "rm",
       "[-f] [--purge-engine] NAME...",
       "Remove nodes (leaves nothing behind; ssh nodes: leaves the swarm, removes the TLS "
       "listener and certificates, keeps Docker unless --purge-engine; -f forgets an ssh node "
       "whose host cannot be reached)",
       {"-f", "--force", "--purge-engine"},
       NodeRm},
      {"node",
       "start",
       "NAME...",
       "Start stopped nodes",
       {},
       NodeAction(&pb::Nodes::Stub::StartNode)},
      {"node",
       "stop",
       "NAME...",
       "Stop nodes gracefully",
       {},
       NodeAction(&pb::Nodes::Stub::StopNode)},
      {"node",
       "kill",
       "NAME...",
       "Kill nodes (like pulling the plug)",
       {},
       NodeAction(&pb::Nodes::Stub::KillNode)},
      {"node",
       "regenerate-certs",
       "NAME...",
       "Issue new TLS certificates and restart the engine",
       {},
       NodeAction(&pb::Nodes::Stub::RegenerateNodeCerts)},
      {"node",
       "update",
       "[--availability active|pause|drain] [--role manager|worker] [--label-add K=V] [--label-rm "
       "K] NAME",
       "Update a swarm node",
       {},
       NodeUpdate("")},
      {"node", "promote", "NAME", "Make a worker a manager (returns once raft lists it reachable)",
       {}, NodeUpdate("manager")},
      {"node", "demote", "NAME", "Make a manager a worker (returns once raft has let it go)", {},
       NodeUpdate("worker")},
      {"node",
       "preflight",
       "NAME",
       "Check a node's API version, IPVS and overlay support",
       {},
       NodePreflight},
  };
}

}  // namespace musketeer::cli
