// musketeer service ...: create, list, inspect, scale, update, roll back, remove, tasks and
// logs, following each change until the swarm converges as `docker service` does.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

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
                << (!probe.answered() ? "no answer: " + probe.error()
                    : probe.warming_up()
                        ? absl::StrCat(probe.hostnames_size(), " of ", probe.expected(),
                                       " replicas answered, still warming up: ",
                                       absl::StrJoin(probe.hostnames(), ", "))
                        : absl::StrCat(probe.hostnames_size(), " replicas answered: ",
                                       absl::StrJoin(probe.hostnames(), ", ")))
                << "\n";
    }
  }
  return kOk;
}

// -p PUBLISHED:TARGET[/PROTOCOL], or -p PORT for the same port on both sides.
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

int ServiceCreate(const Args& a, const Connection& c) {
  if (a.positional().empty()) return UsageError("an image is required");
  pb::CreateServiceRequest req;
  pb::ServiceSpec* spec = req.mutable_spec();
  spec->set_name(a.Get("--name"));
  spec->set_image(a.positional()[0]);
  for (size_t i = 1; i < a.positional().size(); ++i) spec->add_command(a.positional()[i]);
  for (auto part : absl::StrSplit(a.Get("--entrypoint"), ' ', absl::SkipEmpty()))
    spec->add_entrypoint(std::string(part));
  spec->set_mode(a.Get("--mode", "replicated"));
  spec->set_pull(a.Get("--pull"));  // the server names a bad policy
  unsigned replicas = 1;
  if (a.Has("--replicas") && !absl::SimpleAtoi(a.Get("--replicas"), &replicas))
    return UsageError("--replicas takes a number");
  spec->set_replicas(replicas);
  for (const auto& p : a.All("-p"))
    if (!ParsePort(p, spec->add_ports()))
      return UsageError("-p takes PUBLISHED:TARGET, e.g. 8090:8090");
  for (const auto& p : a.All("--publish"))
    if (!ParsePort(p, spec->add_ports())) return UsageError("--publish takes PUBLISHED:TARGET");
  for (const auto& n : a.All("--network")) spec->add_networks(n);
  for (const auto& flag : {"-e", "--env"}) {
    for (const auto& e : a.All(flag)) {
      auto [k, v] = SplitKeyValue(e);
      (*spec->mutable_env())[k] = v;
    }
  }
  for (const auto& k : a.All("--constraint")) spec->add_constraints(k);
  for (const auto& k : a.All("--cap-add")) spec->add_cap_add(k);
  for (const auto& ref : a.All("--secret")) {
    // NAME, or docker's source=NAME,target=FILE (FILE under /run/secrets).
    auto* r = spec->add_secrets();
    if (ref.find('=') == std::string::npos) {
      r->set_secret(ref);
      continue;
    }
    for (absl::string_view part : absl::StrSplit(ref, ',')) {
      auto [k, v] = SplitKeyValue(std::string(part));
      if (k == "source" || k == "src")
        r->set_secret(v);
      else if (k == "target")
        r->set_target(v);
      else
        return UsageError("--secret takes NAME or source=NAME,target=FILE");
    }
  }
  for (const auto& l : a.All("--label")) {
    auto [k, v] = SplitKeyValue(l);
    (*spec->mutable_labels())[k] = v;
  }
  double cpus = 0;
  if (a.Has("--limit-cpu")) {
    if (!absl::SimpleAtod(a.Get("--limit-cpu"), &cpus))
      return UsageError("--limit-cpu takes a number, e.g. 0.5");
    spec->mutable_resources()->set_cpus(cpus);
  }
  int64_t memory = 0;
  if (a.Has("--limit-memory")) {
    if (!ParseBytes(a.Get("--limit-memory"), &memory))
      return UsageError("--limit-memory takes a size, e.g. 512M");
    spec->mutable_resources()->set_memory_bytes(memory);
  }
  auto* up = spec->mutable_update_policy();
  unsigned parallelism = 0;
  if (a.Has("--update-parallelism") &&
      !absl::SimpleAtoi(a.Get("--update-parallelism"), &parallelism))
    return UsageError("--update-parallelism takes a number");
  up->set_parallelism(parallelism);
  uint32_t ms = 0;
  if (a.Has("--update-delay")) {
    if (!ParseDurationMs(a.Get("--update-delay"), &ms))
      return UsageError("--update-delay takes a duration, e.g. 2s");
    up->set_delay_ms(ms);
  }
  if (a.Has("--update-monitor")) {
    if (!ParseDurationMs(a.Get("--update-monitor"), &ms))
      return UsageError("--update-monitor takes a duration, e.g. 5s");
    up->set_monitor_ms(ms);
  }
  up->set_failure_action(a.Get("--update-failure-action"));
  up->set_order(a.Get("--update-order"));
  req.set_request_id(a.Get("--request-id"));
  pb::Service out;
  if (grpc::Status s = Unary(c, 120, &pb::Services::Stub::CreateService, req, &out); !s.ok())
    return Report(s);
  if (Detach(a)) {
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

// scale and update: send the patch, print the name, then follow unless detached.
int ServiceUpdateCall(const Args& a, const Connection& c, const pb::UpdateServiceRequest& req) {
  pb::Service out;
  if (grpc::Status s = Unary(c, 120, &pb::Services::Stub::UpdateService, req, &out); !s.ok())
    return Report(s);
  std::cout << req.name() << "\n";
  if (Detach(a)) return kOk;
  return Follow(c, req.name(), Json(a));
}

int ServiceScale(const Args& a, const Connection& c) {
  if (a.positional().empty()) return UsageError("give SERVICE=REPLICAS");
  int rc = kOk;
  for (const auto& arg : a.positional()) {
    auto eq = arg.find('=');
    unsigned replicas = 0;
    if (eq == std::string::npos || !absl::SimpleAtoi(arg.substr(eq + 1), &replicas))
      return UsageError("'" + arg + "' is not SERVICE=REPLICAS");
    pb::UpdateServiceRequest req;
    req.set_name(arg.substr(0, eq));
    req.set_replicas(replicas);
    if (int r = ServiceUpdateCall(a, c, req); r != kOk) rc = r;
  }
  return rc;
}

int ServiceUpdate(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return UsageError("give one service");
  pb::UpdateServiceRequest req;
  req.set_name(a.positional()[0]);
  if (a.Has("--image")) req.set_image(a.Get("--image"));
  if (a.Has("--pull")) req.set_pull(a.Get("--pull"));
  if (a.Has("--replicas")) {
    unsigned r = 0;
    if (!absl::SimpleAtoi(a.Get("--replicas"), &r)) return UsageError("--replicas takes a number");
    req.set_replicas(r);
  }
  for (const auto& e : a.All("--env-add")) {
    auto [k, v] = SplitKeyValue(e);
    (*req.mutable_set_env())[k] = v;
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
  if (Detach(a)) return kOk;
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

}  // namespace

std::vector<Command> ServiceCommands() {
  return {
      {"service",
       "create",
       "--name NAME [--replicas N] [--mode replicated|global] [-p PUB:TARGET] [--network NET] "
       "[--pull always|missing|never] [--entrypoint CMD] [-e "
       "K=V] [--secret NAME|source=NAME,target=FILE] [--constraint C] [--cap-add CAP] "
       "[--limit-cpu N] [--limit-memory SIZE] "
       "[--update-parallelism N] [--update-delay D] [--update-failure-action A] [--request-id ID] "
       "[-d] IMAGE [COMMAND...]",
       "Create a service and follow it until it converges",
       {"-d", "--detach"},
       ServiceCreate,
       /*interspersed=*/false},
      {"service",
       "ls",
       "[--stack NAME]",
       "List services with running/desired replicas",
       {},
       ServiceLs},
      {"service", "ps", "SERVICE", "List a service's tasks", {}, ServicePs},
      {"service", "inspect", "SERVICE", "Show a service as JSON", {}, ServiceInspect},
      {"service",
       "scale",
       "SERVICE=REPLICAS...",
       "Scale services",
       {"-d", "--detach"},
       ServiceScale},
      {"service",
       "update",
       "[--image IMAGE] [--pull always|missing|never] [--replicas N] [--env-add K=V] [-d] SERVICE",
       "Update a service (rolling)",
       {"-d", "--detach"},
       ServiceUpdate},
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
  };
}

}  // namespace musketeer::cli
