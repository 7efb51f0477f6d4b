// musketeer: the command line of the musketeer control plane, with the verbs of docker
// and docker-machine. Every command talks to musketeerd over gRPC (TLS + token).
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/musketeer/cli.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace {
using namespace musketeer::cli;
namespace pb = ::musketeer::v1;

constexpr int kLongDeadline = 900;  // seconds for builds, deploys and waits

struct Command {
  std::string group, verb, usage, help;
  std::vector<std::string> booleans;
  std::function<int(const Args&, const Connection&)> run;
  bool interspersed = true;
};

bool Json(const Args& a) { return a.Get("--format") == "json"; }

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

int Usage(const Command& c, const std::string& problem) {
  std::cerr << "Error: " << problem << "\nUsage: musketeer " << c.group << " " << c.verb << " "
            << c.usage << "\n";
  return kUsage;
}

// One unary call to musketeerd: a fresh stub, the token, a deadline of `seconds`.
template <class Stub, class Request, class Reply>
grpc::Status Unary(const Connection& c, int seconds,
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
                   const Request& req, Reply* out) {
  Stub stub(Dial(c));
  auto ctx = Context(c, seconds);
  return (stub.*method)(ctx.get(), req, out);
}

// A unary call whose reply is shown: as JSON with --format json, else by `print`.
template <class Stub, class Request, class Reply, class Print>
int Show(const Args& a, const Connection& c, int seconds,
         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
         const Request& req, Print print) {
  Reply out;
  if (grpc::Status s = Unary(c, seconds, method, req, &out); !s.ok()) return Report(s);
  if (Json(a)) return PrintJson(out), kOk;
  print(out);
  return kOk;
}

// The same call once per positional argument (rm, start, ...); the last failure's exit code.
template <class Stub, class Request, class Reply, class Fill, class Done>
int ForEachName(const Args& a, const Connection& c, int seconds,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
                Fill fill, Done done) {
  if (a.positional().empty()) return kUsage;
  int rc = kOk;
  for (const auto& name : a.positional()) {
    Request req;
    fill(name, req);
    Reply out;
    if (grpc::Status s = Unary(c, seconds, method, req, &out); !s.ok())
      rc = Report(s);
    else
      done(name, out);
  }
  return rc;
}

// ---------------------------------------------------------------- progress

// Follows a service until it converges, like `docker service create` does:
// "overall progress: 2 out of 3 tasks", one bar per slot, then "verify: Service converged".
// After an update, an automatic rollback is a failure; after `service rollback` it is the goal.
int Follow(const Connection& c, const std::string& name, bool json,
           bool rollback_is_success = false) {
  auto stub = pb::Services::NewStub(Dial(c));
  auto ctx = Context(c, kLongDeadline);
  pb::WatchServiceRequest req;
  req.set_name(name);
  auto reader = stub->WatchService(ctx.get(), req);
  pb::ServiceProgress p;
  const bool tty = isatty(STDOUT_FILENO) && !json;
  int drawn = 0;
  std::string last;
  pb::ServiceProgress final;
  while (reader->Read(&p)) {
    final = p;
    if (json) continue;
    std::ostringstream out;
    out << "overall progress: " << p.running() << " out of " << p.desired() << " tasks\n";
    for (const auto& s : p.slots()) {
      const unsigned step = s.state() == "running"     ? 4
                            : s.state() == "starting"  ? 3
                            : s.state() == "preparing" ? 2
                            : s.state() == "assigned"  ? 1
                                                       : 0;
      out << (s.slot() ? absl::StrCat(s.slot(), "/", p.desired()) : s.node()) << ": " << s.state()
          << std::string(s.state().size() < 10 ? 10 - s.state().size() : 1, ' ') << Bar(step, 4, 50)
          << (s.node().empty() ? "" : "  " + s.node())
          << (s.error().empty() ? "" : "  " + s.error()) << "\n";
    }
    const std::string text = out.str();
    if (text == last) continue;
    if (tty && drawn > 0) std::cout << "\033[" << drawn << "A\033[J";
    std::cout << text << std::flush;
    drawn = std::count(text.begin(), text.end(), '\n');
    last = text;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Report(s);
  if (json) {
    PrintJson(final);
  } else if (final.state() == "converged") {
    std::cout << "verify: Service converged\n";
  } else if (final.state() == "rolled_back") {
    std::cout << "rollback: " << (final.message().empty() ? "rolled back" : final.message())
              << "\n";
    if (!rollback_is_success) {
      std::cerr << "Error: the update of " << name
                << " failed and was rolled back; `musketeer service ps " << name << "` shows why\n";
      return kFailed;
    }
  } else {
    std::cerr << "Error: service " << name << " did not converge: " << final.state()
              << (final.message().empty() ? "" : ": " + final.message()) << "\n";
    return kFailed;
  }
  if (!json && final.routing().probes_size() > 0) {
    std::cout << "routing: " << final.routing().mode()
              << (final.routing().mode() == "edge-proxy"
                      ? " (no IPVS here: published ports go through " +
                            final.routing().edge_service() + ")"
                      : "")
              << "\n";
    for (const auto& probe : final.routing().probes()) {
      std::cout << "  " << probe.address() << " (" << probe.node() << "): "
                << (probe.answered() ? absl::StrCat(probe.hostnames_size(), " replicas answered: ",
                                                    absl::StrJoin(probe.hostnames(), ", "))
                                     : "no answer: " + probe.error())
                << "\n";
    }
  }
  return kOk;
}

// A streaming image operation (build, import, distribute): its progress lines as they come.
template <class Request>
int ImageOperation(const Args& a, const Connection& c,
                   std::unique_ptr<grpc::ClientReader<pb::ImageProgress>> (
                       pb::Images::Stub::*method)(grpc::ClientContext*, const Request&),
                   const Request& req) {
  pb::Images::Stub stub(Dial(c));
  auto ctx = Context(c, kLongDeadline);
  auto reader = (stub.*method)(ctx.get(), req);
  pb::ImageProgress p;
  while (reader->Read(&p)) {
    if (Json(a)) {
      PrintJson(p);
    } else {
      std::cout << p.node() << ": " << p.message() << "\n" << std::flush;
    }
  }
  return Report(reader->Finish());
}

// ---------------------------------------------------------------- nodes

std::vector<std::string> NodeRow(const pb::Node& n) {
  return {n.name(),
          n.driver(),
          n.state(),
          n.engine_url(),
          n.swarm_role().empty() ? "-" : n.swarm_role(),
          n.availability().empty() ? "-" : n.availability(),
          n.swarm_status().empty() ? "-" : n.swarm_status()};
}
const std::vector<std::string> kNodeHeader = {"NAME",  "DRIVER",       "STATE", "URL",
                                              "SWARM", "AVAILABILITY", "STATUS"};

int NodeCreate(const Args& a, const Connection& c) {
  if (a.positional().empty()) return kUsage;
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
  return Show(a, c, 60, &pb::Nodes::Stub::ListNodes, {}, [](const pb::ListNodesResponse& out) {
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
  const bool force = a.Has("--force") || a.Has("-f");
  return ForEachName(
      a, c, 120, &pb::Nodes::Stub::DeleteNode,
      [&](const std::string& name, pb::DeleteNodeRequest& req) {
        req.set_name(name);
        req.set_force(force);
      },
      [](const std::string& name, const pb::Empty&) { std::cout << "removed " << name << "\n"; });
}

int NodeAction(const Args& a, const Connection& c,
               grpc::Status (pb::Nodes::Stub::*action)(grpc::ClientContext*,
                                                       const pb::NodeActionRequest&, pb::Node*)) {
  return ForEachName(
      a, c, 120, action,
      [](const std::string& name, pb::NodeActionRequest& req) { req.set_name(name); },
      [](const std::string& name, const pb::Node& out) {
        std::cout << name << ": " << out.state() << "\n";
      });
}

int NodeUpdate(const Args& a, const Connection& c, const std::string& role) {
  if (a.positional().size() != 1) return kUsage;
  pb::UpdateNodeRequest req;
  req.set_name(a.positional()[0]);
  req.set_availability(a.Get("--availability"));
  req.set_role(role.empty() ? a.Get("--role") : role);
  for (const auto& l : a.All("--label-add")) {
    auto eq = l.find('=');
    (*req.mutable_add_labels())[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  for (const auto& l : a.All("--label-rm")) req.add_remove_labels(l);
  return Show(a, c, 60, &pb::Nodes::Stub::UpdateNode, req,
              [](const pb::Node& out) { PrintTable(kNodeHeader, {NodeRow(out)}); });
}

int NodePreflight(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  return Show(a, c, 60, &pb::Nodes::Stub::PreflightNode, NodeNamed(a),
              [](const pb::NodePreflight& out) { PrintJson(out); });
}

// ---------------------------------------------------------------- swarm

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
  req.set_force(a.Has("--force") || a.Has("-f"));
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

// ---------------------------------------------------------------- networks

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

// ---------------------------------------------------------------- images

std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + path;
}

int ImageBuild(const Args& a, const Connection& c) {
  if (a.positional().size() != 1 || (!a.Has("-t") && !a.Has("--tag"))) return kUsage;
  pb::BuildImageRequest req;
  req.set_context_dir(Absolute(a.positional()[0]));
  req.set_tag(a.Get("-t", a.Get("--tag")));
  req.set_node(a.Get("--node"));
  req.set_distribute(!a.Has("--no-distribute"));
  return ImageOperation(a, c, &pb::Images::Stub::BuildImage, req);
}

int ImageImport(const Args& a, const Connection& c) {
  if (a.positional().size() != 2) return kUsage;
  pb::ImportImageRequest req;
  req.set_rootfs_tar(Absolute(a.positional()[0]));
  req.set_tag(a.positional()[1]);
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  return ImageOperation(a, c, &pb::Images::Stub::ImportImage, req);
}

int ImageDistribute(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::DistributeImageRequest req;
  req.set_image(a.positional()[0]);
  req.set_from_node(a.Get("--from"));
  for (const auto& n : a.All("--node")) req.add_nodes(n);
  return ImageOperation(a, c, &pb::Images::Stub::DistributeImage, req);
}

int ImageLs(const Args& a, const Connection& c) {
  pb::ListImagesRequest req;
  req.set_node(a.Get("--node"));
  return Show(a, c, 60, &pb::Images::Stub::ListImages, req, [](const pb::ListImagesResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : out.images()) {
      std::string id = i.id().substr(i.id().find(':') + 1).substr(0, 12);
      rows.push_back({i.node(), i.tags_size() ? absl::StrJoin(i.tags(), ",") : "<none>", id,
                      absl::StrCat(i.size_bytes() / 1000000, "MB")});
    }
    PrintTable({"NODE", "IMAGE", "IMAGE ID", "SIZE"}, rows);
  });
}

// ---------------------------------------------------------------- services

bool ParsePort(const std::string& text, pb::PortConfig* p) {
  std::string s = text, proto = "tcp";
  if (auto slash = s.find('/'); slash != std::string::npos)
    proto = s.substr(slash + 1), s = s.substr(0, slash);
  std::vector<std::string> parts = absl::StrSplit(s, ':');
  unsigned pub = 0, target = 0;
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], &target))
    pub = target;
  else if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pub) ||
           !absl::SimpleAtoi(parts[1], &target))
    return false;
  p->set_published(pub);
  p->set_target(target);
  p->set_protocol(proto);
  return true;
}

bool ParseMs(const std::string& s, uint32_t* ms) {
  double v = 0;
  std::string unit;
  size_t i = 0;
  while (i < s.size() && (isdigit(s[i]) || s[i] == '.')) ++i;
  if (i == 0 || !absl::SimpleAtod(s.substr(0, i), &v)) return false;
  unit = s.substr(i);
  double f = unit == "ms" ? 1 : unit == "s" || unit.empty() ? 1000 : unit == "m" ? 60000 : -1;
  if (f < 0) return false;
  *ms = static_cast<uint32_t>(v * f);
  return true;
}

bool ParseBytes(const std::string& s, int64_t* out) {
  double v = 0;
  size_t i = 0;
  while (i < s.size() && (isdigit(s[i]) || s[i] == '.')) ++i;
  if (i == 0 || !absl::SimpleAtod(s.substr(0, i), &v)) return false;
  const std::string u = s.substr(i);
  const double f = u.empty() || u == "b"  ? 1
                   : u == "k" || u == "K" ? 1024
                   : u == "m" || u == "M" ? 1048576
                   : u == "g" || u == "G" ? 1073741824
                                          : -1;
  if (f < 0) return false;
  *out = static_cast<int64_t>(v * f);
  return true;
}

int ServiceCreate(const Args& a, const Connection& c, const Command& cmd) {
  if (a.positional().empty()) return Usage(cmd, "an image is required");
  pb::CreateServiceRequest req;
  pb::ServiceSpec* spec = req.mutable_spec();
  spec->set_name(a.Get("--name"));
  spec->set_image(a.positional()[0]);
  for (size_t i = 1; i < a.positional().size(); ++i) spec->add_command(a.positional()[i]);
  spec->set_mode(a.Get("--mode", "replicated"));
  unsigned replicas = 1;
  if (a.Has("--replicas") && !absl::SimpleAtoi(a.Get("--replicas"), &replicas))
    return Usage(cmd, "--replicas takes a number");
  spec->set_replicas(replicas);
  for (const auto& p : a.All("-p"))
    if (!ParsePort(p, spec->add_ports()))
      return Usage(cmd, "-p takes PUBLISHED:TARGET, e.g. 8090:8090");
  for (const auto& p : a.All("--publish"))
    if (!ParsePort(p, spec->add_ports())) return Usage(cmd, "--publish takes PUBLISHED:TARGET");
  for (const auto& n : a.All("--network")) spec->add_networks(n);
  for (const auto& flag : {"-e", "--env"}) {
    for (const auto& e : a.All(flag)) {
      auto eq = e.find('=');
      (*spec->mutable_env())[e.substr(0, eq)] = eq == std::string::npos ? "" : e.substr(eq + 1);
    }
  }
  for (const auto& k : a.All("--constraint")) spec->add_constraints(k);
  for (const auto& k : a.All("--cap-add")) spec->add_cap_add(k);
  for (const auto& l : a.All("--label")) {
    auto eq = l.find('=');
    (*spec->mutable_labels())[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  double cpus = 0;
  if (a.Has("--limit-cpu")) {
    if (!absl::SimpleAtod(a.Get("--limit-cpu"), &cpus))
      return Usage(cmd, "--limit-cpu takes a number, e.g. 0.5");
    spec->mutable_resources()->set_cpus(cpus);
  }
  int64_t memory = 0;
  if (a.Has("--limit-memory")) {
    if (!ParseBytes(a.Get("--limit-memory"), &memory))
      return Usage(cmd, "--limit-memory takes a size, e.g. 512M");
    spec->mutable_resources()->set_memory_bytes(memory);
  }
  auto* up = spec->mutable_update_policy();
  unsigned parallelism = 0;
  if (a.Has("--update-parallelism") &&
      !absl::SimpleAtoi(a.Get("--update-parallelism"), &parallelism))
    return Usage(cmd, "--update-parallelism takes a number");
  up->set_parallelism(parallelism);
  uint32_t ms = 0;
  if (a.Has("--update-delay")) {
    if (!ParseMs(a.Get("--update-delay"), &ms))
      return Usage(cmd, "--update-delay takes a duration, e.g. 2s");
    up->set_delay_ms(ms);
  }
  if (a.Has("--update-monitor")) {
    if (!ParseMs(a.Get("--update-monitor"), &ms))
      return Usage(cmd, "--update-monitor takes a duration, e.g. 5s");
    up->set_monitor_ms(ms);
  }
  up->set_failure_action(a.Get("--update-failure-action"));
  up->set_order(a.Get("--update-order"));
  req.set_request_id(a.Get("--request-id"));
  pb::Service out;
  if (grpc::Status s = Unary(c, 120, &pb::Services::Stub::CreateService, req, &out); !s.ok())
    return Report(s);
  if (a.Has("--detach") || a.Has("-d")) {
    if (Json(a)) return PrintJson(out), kOk;
    std::cout << out.id() << "\n";
    return kOk;
  }
  if (!Json(a)) std::cout << out.id() << "\n";
  return Follow(c, spec->name(), Json(a));
}

int ServiceLs(const Args& a, const Connection& c) {
  pb::ListServicesRequest req;
  req.set_stack(a.Get("--stack"));
  return Show(
      a, c, 60, &pb::Services::Stub::ListServices, req, [](const pb::ListServicesResponse& out) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& svc : out.services()) {
          std::vector<std::string> ports;
          for (const auto& p : svc.spec().ports())
            ports.push_back(absl::StrCat("*:", p.published(), "->", p.target(), "/", p.protocol()));
          rows.push_back({svc.id().substr(0, 12), svc.spec().name(), svc.spec().mode(),
                          absl::StrCat(svc.running(), "/", svc.desired()), svc.spec().image(),
                          ports.empty()
                              ? ""
                              : absl::StrJoin(ports, ",") +
                                    (svc.routing().mode() == "edge-proxy" ? " (edge)" : "")});
        }
        PrintTable({"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"}, rows);
      });
}

int ServicePs(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::ListTasksRequest req;
  req.set_service(a.positional()[0]);
  return Show(a, c, 60, &pb::Services::Stub::ListTasks, req, [](const pb::ListTasksResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : out.tasks()) {
      rows.push_back({t.id().substr(0, 12),
                      t.slot() ? absl::StrCat(t.service(), ".", t.slot()) : t.service(), t.image(),
                      t.node(), t.desired_state(), t.state(), t.error()});
    }
    PrintTable({"ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"}, rows);
  });
}

int ServiceInspect(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::GetServiceRequest req;
  req.set_name(a.positional()[0]);
  return Show(a, c, 60, &pb::Services::Stub::GetService, req,
              [](const pb::Service& out) { PrintJson(out); });
}

int ServiceUpdateCall(const Args& a, const Connection& c, pb::UpdateServiceRequest req) {
  pb::Service out;
  if (grpc::Status s = Unary(c, 120, &pb::Services::Stub::UpdateService, req, &out); !s.ok())
    return Report(s);
  std::cout << req.name() << "\n";
  if (a.Has("--detach") || a.Has("-d")) return kOk;
  return Follow(c, req.name(), Json(a));
}

int ServiceScale(const Args& a, const Connection& c, const Command& cmd) {
  if (a.positional().empty()) return Usage(cmd, "give SERVICE=REPLICAS");
  int rc = kOk;
  for (const auto& arg : a.positional()) {
    auto eq = arg.find('=');
    unsigned replicas = 0;
    if (eq == std::string::npos || !absl::SimpleAtoi(arg.substr(eq + 1), &replicas))
      return Usage(cmd, "'" + arg + "' is not SERVICE=REPLICAS");
    pb::UpdateServiceRequest req;
    req.set_name(arg.substr(0, eq));
    req.set_replicas(replicas);
    if (int r = ServiceUpdateCall(a, c, req); r != kOk) rc = r;
  }
  return rc;
}

int ServiceUpdate(const Args& a, const Connection& c, const Command& cmd) {
  if (a.positional().size() != 1) return Usage(cmd, "give one service");
  pb::UpdateServiceRequest req;
  req.set_name(a.positional()[0]);
  if (a.Has("--image")) req.set_image(a.Get("--image"));
  if (a.Has("--replicas")) {
    unsigned r = 0;
    if (!absl::SimpleAtoi(a.Get("--replicas"), &r)) return Usage(cmd, "--replicas takes a number");
    req.set_replicas(r);
  }
  for (const auto& e : a.All("--env-add")) {
    auto eq = e.find('=');
    (*req.mutable_set_env())[e.substr(0, eq)] = eq == std::string::npos ? "" : e.substr(eq + 1);
  }
  return ServiceUpdateCall(a, c, req);
}

int ServiceRollback(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::RollbackServiceRequest req;
  req.set_name(a.positional()[0]);
  pb::Service out;
  if (grpc::Status s = Unary(c, 120, &pb::Services::Stub::RollbackService, req, &out); !s.ok())
    return Report(s);
  std::cout << req.name() << "\nrollback: manually requested rollback\n";
  if (a.Has("--detach") || a.Has("-d")) return kOk;
  return Follow(c, req.name(), Json(a), /*rollback_is_success=*/true);
}

int ServiceRm(const Args& a, const Connection& c) {
  return ForEachName(
      a, c, 60, &pb::Services::Stub::DeleteService,
      [](const std::string& name, pb::DeleteServiceRequest& req) { req.set_name(name); },
      [](const std::string& name, const pb::Empty&) { std::cout << name << "\n"; });
}

int ServiceLogs(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::ServiceLogsRequest req;
  req.set_name(a.positional()[0]);
  req.set_follow(a.Has("--follow") || a.Has("-f"));
  int tail = 0;
  if (a.Has("--tail") && !absl::SimpleAtoi(a.Get("--tail"), &tail)) return kUsage;
  req.set_tail(tail);
  auto ctx = Context(c, req.follow() ? 0 : 60);
  auto reader = pb::Services::NewStub(Dial(c))->ServiceLogs(ctx.get(), req);
  pb::LogChunk chunk;
  while (reader->Read(&chunk))
    (chunk.stderr() ? std::cerr : std::cout) << chunk.data() << std::flush;
  return Report(reader->Finish());
}

// ---------------------------------------------------------------- stacks

int StackDeploy(const Args& a, const Connection& c, const Command& cmd) {
  const std::string file = a.Get("-c", a.Get("--compose-file"));
  if (a.positional().size() != 1 || file.empty())
    return Usage(cmd, "give -c FILE and a stack name");
  std::ifstream in(file);
  if (!in) return Usage(cmd, "cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  pb::DeployStackRequest req;
  req.set_name(a.positional()[0]);
  req.set_compose_yaml(ss.str());
  req.set_prune(a.Has("--prune"));
  req.set_wait(!a.Has("--detach") && !a.Has("-d"));
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

// ---------------------------------------------------------------- access

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

int Audit(const Args& a, const Connection& c) {
  pb::ListAuditRequest req;
  unsigned limit = 50;
  (void)absl::SimpleAtoi(a.Get("--limit", "50"), &limit);
  req.set_limit(limit);
  return Show(a, c, 30, &pb::Access::Stub::ListAudit, req, [](const pb::ListAuditResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : out.entries())
      rows.push_back({e.at(), e.who(), e.method(), e.target(), e.result()});
    PrintTable({"AT", "WHO", "METHOD", "TARGET", "RESULT"}, rows);
  });
}

std::vector<Command> Commands() {
  std::vector<Command> cmds = {
      {"node",
       "create",
       "[--driver local|remote] [--url URL --tls-ca F --tls-cert F --tls-key F] NAME...",
       "Create nodes (in parallel)",
       {},
       NodeCreate},
      {"node", "ls", "", "List nodes with their engine and swarm state", {}, NodeLs},
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
       "[-f] NAME...",
       "Remove nodes (leaves nothing behind)",
       {"-f", "--force"},
       NodeRm},
      {"node",
       "start",
       "NAME...",
       "Start stopped nodes",
       {},
       [](const Args& a, const Connection& c) {
         return NodeAction(a, c, &pb::Nodes::Stub::StartNode);
       }},
      {"node",
       "stop",
       "NAME...",
       "Stop nodes gracefully",
       {},
       [](const Args& a, const Connection& c) {
         return NodeAction(a, c, &pb::Nodes::Stub::StopNode);
       }},
      {"node",
       "kill",
       "NAME...",
       "Kill nodes (like pulling the plug)",
       {},
       [](const Args& a, const Connection& c) {
         return NodeAction(a, c, &pb::Nodes::Stub::KillNode);
       }},
      {"node",
       "regenerate-certs",
       "NAME...",
       "Issue new TLS certificates and restart the engine",
       {},
       [](const Args& a, const Connection& c) {
         return NodeAction(a, c, &pb::Nodes::Stub::RegenerateNodeCerts);
       }},
      {"node",
       "update",
       "[--availability active|pause|drain] [--role manager|worker] [--label-add K=V] [--label-rm "
       "K] NAME",
       "Update a swarm node",
       {},
       [](const Args& a, const Connection& c) { return NodeUpdate(a, c, ""); }},
      {"node",
       "promote",
       "NAME",
       "Make a worker a manager",
       {},
       [](const Args& a, const Connection& c) { return NodeUpdate(a, c, "manager"); }},
      {"node",
       "demote",
       "NAME",
       "Make a manager a worker",
       {},
       [](const Args& a, const Connection& c) { return NodeUpdate(a, c, "worker"); }},
      {"node",
       "preflight",
       "NAME",
       "Check a node's API version, IPVS and overlay support",
       {},
       NodePreflight},
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
      {"network",
       "create",
       "[--driver overlay] [--attachable] [--subnet CIDR] NAME",
       "Create an overlay network",
       {"--attachable"},
       NetworkCreate},
      {"network", "ls", "", "List swarm networks", {}, NetworkLs},
      {"network", "rm", "NAME...", "Remove networks", {}, NetworkRm},
      {"image",
       "build",
       "-t TAG [--node NODE] [--no-distribute] CONTEXT_DIR",
       "Build an image on a node and copy it to every node",
       {"--no-distribute"},
       ImageBuild},
      {"image",
       "import",
       "[--node NODE]... ROOTFS_TAR TAG",
       "Import a root filesystem tarball as an image on nodes",
       {},
       ImageImport},
      {"image",
       "distribute",
       "[--from NODE] [--node NODE]... IMAGE",
       "Copy an image to nodes without a registry",
       {},
       ImageDistribute},
      {"image", "ls", "[--node NODE]", "List images on nodes", {}, ImageLs},
      {"service",
       "create",
       "--name NAME [--replicas N] [--mode replicated|global] [-p PUB:TARGET] [--network NET] [-e "
       "K=V] [--constraint C] [--cap-add CAP] [--limit-cpu N] [--limit-memory SIZE] "
       "[--update-parallelism N] [--update-delay D] [--update-failure-action A] [--request-id ID] "
       "[-d] IMAGE [COMMAND...]",
       "Create a service and follow it until it converges",
       {"-d", "--detach"},
       nullptr,
       false},
      {"service",
       "ls",
       "[--stack NAME]",
       "List services with running/desired replicas",
       {},
       ServiceLs},
      {"service", "ps", "SERVICE", "List a service's tasks", {}, ServicePs},
      {"service", "inspect", "SERVICE", "Show a service as JSON", {}, ServiceInspect},
      {"service", "scale", "SERVICE=REPLICAS...", "Scale services", {"-d", "--detach"}, nullptr},
      {"service",
       "update",
       "[--image IMAGE] [--replicas N] [--env-add K=V] [-d] SERVICE",
       "Update a service (rolling)",
       {"-d", "--detach"},
       nullptr},
      {"service",
       "rollback",
       "[-d] SERVICE",
       "Roll a service back to its previous spec",
       {"-d", "--detach"},
       ServiceRollback},
      {"service", "rm", "SERVICE...", "Remove services", {}, ServiceRm},
      {"service",
       "logs",
       "[-f] [--tail N] SERVICE",
       "Print a service's logs",
       {"-f", "--follow"},
       ServiceLogs},
      {"stack",
       "deploy",
       "-c COMPOSE_FILE [--prune] [-d] NAME",
       "Deploy a compose file (version 3) as a stack",
       {"--prune", "-d", "--detach"},
       nullptr},
      {"stack", "ls", "", "List stacks", {}, StackLs},
      {"stack", "rm", "NAME", "Remove a stack", {}, StackRm},
      {"token",
       "create",
       "--role viewer|operator|admin NAME",
       "Create an API token (printed once)",
       {},
       TokenCreate},
      {"token", "ls", "", "List API tokens", {}, TokenLs},
      {"token", "rm", "NAME", "Delete an API token", {}, TokenRm},
      {"audit", "ls", "[--limit N]", "Show the audit log", {}, Audit},
  };
  for (auto& c : cmds) {
    const Command copy = c;
    if (c.group == "service" && c.verb == "create")
      c.run = [copy](const Args& a, const Connection& k) { return ServiceCreate(a, k, copy); };
    if (c.group == "service" && c.verb == "scale")
      c.run = [copy](const Args& a, const Connection& k) { return ServiceScale(a, k, copy); };
    if (c.group == "service" && c.verb == "update")
      c.run = [copy](const Args& a, const Connection& k) { return ServiceUpdate(a, k, copy); };
    if (c.group == "stack" && c.verb == "deploy")
      c.run = [copy](const Args& a, const Connection& k) { return StackDeploy(a, k, copy); };
  }
  return cmds;
}

void Help(const std::vector<Command>& cmds, const std::string& group) {
  std::cout
      << "Usage: musketeer [--endpoint HOST:PORT] [--token TOKEN] [--ca FILE] [--format "
         "table|json] COMMAND\n\n"
         "The musketeer control plane from the command line (docker and docker-machine verbs).\n"
         "Endpoint, token and CA come from flags, "
         "MUSKETEER_ENDPOINT/MUSKETEER_TOKEN/MUSKETEER_CA,\n"
         "or ~/.config/musketeer/config.json (written by scripts/demo).\n\nCommands:\n";
  for (const auto& c : cmds) {
    if (!group.empty() && c.group != group) continue;
    std::cout << "  " << c.group << " " << c.verb
              << std::string(
                     c.group.size() + c.verb.size() < 22 ? 22 - c.group.size() - c.verb.size() : 1,
                     ' ')
              << c.help << "\n";
  }
  std::cout << "\nRun 'musketeer GROUP VERB --help' for a command's flags.\nExit codes: 0 ok, 1 "
               "failed, 2 usage, 3 musketeerd unreachable or credentials refused.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cmds = Commands();
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    Help(cmds, "");
    return args.empty() ? kUsage : kOk;
  }
  // Global flags may come first: musketeer --format json node ls.
  std::vector<std::string> globals;
  while (!args.empty() && args[0].rfind("--", 0) == 0 && args[0] != "--help") {
    globals.push_back(args[0]);
    args.erase(args.begin());
    if (globals.back().find('=') == std::string::npos && !args.empty()) {
      globals.push_back(args[0]);
      args.erase(args.begin());
    }
  }
  if (args.empty()) {
    Help(cmds, "");
    return kUsage;
  }
  std::string group = args[0], verb = args.size() > 1 ? args[1] : "";
  if (group == "ps") group = "service", verb = "ps";  // docker-style shortcuts
  for (const auto& c : cmds) {
    if (c.group != group || c.verb != verb) continue;
    std::vector<std::string> rest(args.begin() + 2, args.end());
    if (std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
        std::find(rest.begin(), rest.end(), "-h") != rest.end()) {
      std::cout << "Usage: musketeer " << c.group << " " << c.verb << " " << c.usage << "\n\n"
                << c.help << "\n";
      return kOk;
    }
    rest.insert(rest.begin(), globals.begin(), globals.end());
    Args parsed(rest, c.booleans, c.interspersed);
    if (!parsed.error().empty()) return Usage(c, parsed.error());
    if (parsed.Has("--format") && parsed.Get("--format") != "json" &&
        parsed.Get("--format") != "table") {
      return Usage(c, "--format is table or json");
    }
    int rc = c.run(parsed, ResolveConnection(parsed));
    if (rc == kUsage) return Usage(c, "wrong arguments");
    return rc;
  }
  std::cerr << "Error: unknown command '"
            << absl::StrJoin(args.begin(), args.begin() + std::min<size_t>(2, args.size()), " ")
            << "'\n\n";
  Help(cmds, group);
  return kUsage;
}
