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
  grpc::Status s = Answered(*ctx, reader->Finish());
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

// docker's healthcheck flags into the spec (and, for an update, its mask paths):
// --no-healthcheck turns off the image's HEALTHCHECK too (test NONE), as in docker; timings
// without --health-cmd apply to the image's command.
// "" or a usage problem.
std::string HealthFromFlags(const Args& a, pb::ServiceSpec* spec,
                            google::protobuf::FieldMask* mask) {
  auto changed = [&](const std::string& path) {
    if (mask != nullptr) mask->add_paths(path);
  };
  pb::Healthcheck* h = spec->mutable_healthcheck();
  if (a.Has("--no-healthcheck")) {
    for (const char* f :
         {"--health-cmd", "--health-interval", "--health-timeout", "--health-retries"})
      if (a.Has(f)) return absl::StrCat("--no-healthcheck conflicts with ", f, ", as in docker");
    h->add_test("NONE");
    changed("healthcheck");
    return "";
  }
  if (a.Has("--health-cmd")) {
    h->add_test("CMD-SHELL");
    h->add_test(a.Get("--health-cmd"));
    changed("healthcheck.test");
  }
  uint32_t ms = 0;
  for (const auto& [flag, sub] : {std::pair{"--health-interval", "interval_ms"},
                                  std::pair{"--health-timeout", "timeout_ms"}}) {
    if (!a.Has(flag)) continue;
    if (!ParseDurationMs(a.Get(flag), &ms)) return absl::StrCat(flag, " takes a duration");
    sub == std::string("interval_ms") ? h->set_interval_ms(ms) : h->set_timeout_ms(ms);
    changed(absl::StrCat("healthcheck.", sub));
  }
  if (a.Has("--health-retries")) {
    if (!absl::SimpleAtoi(a.Get("--health-retries"), &ms)) return "--health-retries takes a number";
    h->set_retries(ms);
    changed("healthcheck.retries");
  }
  return "";
}

// docker's --mount: type=bind|volume|tmpfs,source=S,target=T[,readonly][,volume-nocopy]
// [,volume-label=K=V][,volume-driver=D][,volume-opt=K=V][,tmpfs-size=SIZE][,tmpfs-mode=OCTAL]
// [,bind-propagation=P][,consistency=C]. "" or what is wrong.
std::string ParseMount(const std::string& text, pb::Mount* m) {
  auto flag = [](const std::string& v, bool* out) {
    if (v.empty() || v == "1" || v == "true") return *out = true, true;
    if (v == "0" || v == "false") return *out = false, true;
    return false;
  };
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const std::string field(part);
    const size_t eq = field.find('=');
    const std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
    bool b = false;
    if (k == "type") {
      m->set_type(v);
    } else if (k == "source" || k == "src") {
      m->set_source(v);
    } else if (k == "target" || k == "destination" || k == "dst") {
      m->set_target(v);
    } else if (k == "readonly" || k == "ro") {
      if (!flag(v, &b)) return "--mount: readonly takes true or false";
      m->set_read_only(b);
    } else if (k == "volume-nocopy") {
      if (!flag(v, &b)) return "--mount: volume-nocopy takes true or false";
      m->set_volume_nocopy(b);
    } else if (k == "volume-label" || k == "volume-opt") {
      auto [lk, lv] = SplitKeyValue(v);
      (*(k == "volume-label" ? m->mutable_volume_labels() : m->mutable_volume_driver_options()))[lk] = lv;
    } else if (k == "volume-driver") {
      m->set_volume_driver(v);
    } else if (k == "tmpfs-size") {
      int64_t size = 0;
      if (!ParseBytes(v, &size)) return "--mount: tmpfs-size takes a size, e.g. 64M";
      m->set_tmpfs_size_bytes(size);
    } else if (k == "tmpfs-mode") {
      uint32_t mode = 0;
      for (char ch : v) {
        if (ch < '0' || ch > '7') return "--mount: tmpfs-mode takes an octal mode, e.g. 1770";
        mode = mode * 8 + (ch - '0');
      }
      m->set_tmpfs_mode(mode);
    } else if (k == "bind-propagation") {
      m->set_bind_propagation(v);
    } else if (k == "consistency") {
      m->set_consistency(v);
    } else {
      return "--mount: unknown key '" + k + "' (type, source, target, readonly, volume-*, tmpfs-*, bind-propagation, consistency)";
    }
  }
  if (m->target().empty()) return "--mount needs target=PATH";
  return "";
}

// docker's --publish long syntax: published=P,target=T[,protocol=udp][,mode=host], or the
// short PUBLISHED:TARGET[/PROTOCOL].
bool ParsePublish(const std::string& text, pb::PortConfig* p) {
  if (text.find('=') == std::string::npos) return ParsePort(text, p);
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    auto [k, v] = SplitKeyValue(std::string(part));
    unsigned n = 0;
    if (k == "published" && absl::SimpleAtoi(v, &n)) {
      p->set_published(n);
    } else if (k == "target" && absl::SimpleAtoi(v, &n)) {
      p->set_target(n);
    } else if (k == "protocol") {
      p->set_protocol(v);
    } else if (k == "mode") {
      p->set_publish_mode(v);
    } else {
      return false;
    }
  }
  return true;
}

// The container and task settings docker's service create and update take (--mount,
// --hostname, --user, --restart-*, ...). For an update, `mask` gets a path per field set and
// list flags (--mount-add/-rm) edit `current`'s list. "" or a usage problem.
std::string ContainerFromFlags(const Args& a, pb::ServiceSpec* spec, google::protobuf::FieldMask* mask,
                               const pb::ServiceSpec* current) {
  auto changed = [&](const std::string& path) {
    if (mask != nullptr) mask->add_paths(path);
  };
  for (const auto& [flag, set, path] :
       std::vector<std::tuple<const char*, void (pb::ServiceSpec::*)(const std::string&), const char*>>{
           {"--hostname", &pb::ServiceSpec::set_hostname, "hostname"},
           {"--user", &pb::ServiceSpec::set_user, "user"},
           {"--workdir", &pb::ServiceSpec::set_working_dir, "working_dir"},
           {"--stop-signal", &pb::ServiceSpec::set_stop_signal, "stop_signal"},
           {"--endpoint-mode", &pb::ServiceSpec::set_endpoint_mode, "endpoint_mode"}}) {
    if (!a.Has(flag)) continue;
    (spec->*set)(a.Get(flag));
    changed(path);
  }
  for (const auto& [flag, set, path] :
       std::vector<std::tuple<const char*, void (pb::ServiceSpec::*)(bool), const char*>>{
           {"--read-only", &pb::ServiceSpec::set_read_only, "read_only"},
           {"--tty", &pb::ServiceSpec::set_tty, "tty"},
           {"--init", &pb::ServiceSpec::set_init, "init"}}) {
    if (!a.Has(flag)) continue;
    (spec->*set)(true);
    changed(path);
  }
  uint32_t ms = 0;
  if (a.Has("--stop-grace-period")) {
    if (!ParseDurationMs(a.Get("--stop-grace-period"), &ms))
      return "--stop-grace-period takes a duration, e.g. 30s";
    spec->set_stop_grace_period_ms(ms);
    changed("stop_grace_period_ms");
  }
  if (a.Has("--health-start-period")) {
    if (!ParseDurationMs(a.Get("--health-start-period"), &ms))
      return "--health-start-period takes a duration";
    spec->mutable_healthcheck()->set_start_period_ms(ms);
    changed("healthcheck.start_period_ms");
  }
  for (const auto& [flag, path] : {std::pair{"--restart-delay", "delay_ms"},
                                   std::pair{"--restart-window", "window_ms"}}) {
    if (!a.Has(flag)) continue;
    if (!ParseDurationMs(a.Get(flag), &ms)) return absl::StrCat(flag, " takes a duration");
    path == std::string("delay_ms") ? spec->mutable_restart_policy()->set_delay_ms(ms)
                                    : spec->mutable_restart_policy()->set_window_ms(ms);
    changed(absl::StrCat("restart_policy.", path));
  }
  if (a.Has("--restart-condition")) {
    spec->mutable_restart_policy()->set_condition(a.Get("--restart-condition"));
    changed("restart_policy.condition");
  }
  if (a.Has("--restart-max-attempts")) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(a.Get("--restart-max-attempts"), &n))
      return "--restart-max-attempts takes a number";
    spec->mutable_restart_policy()->set_max_attempts(n);
    changed("restart_policy.max_attempts");
  }
  if (a.Has("--limit-pids")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(a.Get("--limit-pids"), &n)) return "--limit-pids takes a number";
    spec->mutable_resources()->set_pids(n);
    changed("resources.pids");
  }
  if (a.Has("--max-replicas")) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(a.Get("--max-replicas"), &n)) return "--max-replicas takes a number";
    spec->set_max_replicas_per_node(n);
    changed("max_replicas_per_node");
  }
  if (a.Has("--log-driver")) {
    spec->mutable_log_driver()->set_name(a.Get("--log-driver"));
    for (const auto& o : a.All("--log-opt")) {
      auto [k, v] = SplitKeyValue(o);
      (*spec->mutable_log_driver()->mutable_options())[k] = v;
    }
    changed("log_driver");
  }
  // Lists given whole on create (and on update, replacing the service's).
  bool any = false;
  for (const auto& [flag, list, path] :
       std::vector<std::tuple<const char*, google::protobuf::RepeatedPtrField<std::string>*, const char*>>{
           {"--dns", spec->mutable_dns()->mutable_nameservers(), "dns"},
           {"--dns-search", spec->mutable_dns()->mutable_search(), "dns"},
           {"--dns-option", spec->mutable_dns()->mutable_options(), "dns"},
           {"--placement-pref", spec->mutable_placement_preferences(), "placement_preferences"}}) {
    for (const auto& v : a.All(flag)) *list->Add() = v;
    if (a.Has(flag)) changed(path), any = true;
  }
  if (!any && spec->has_dns() && spec->dns().nameservers().empty() && spec->dns().search().empty() &&
      spec->dns().options().empty())
    spec->clear_dns();
  for (const auto& h : a.All("--host")) {  // docker's HOST:IP, the engine's "IP HOST"
    const size_t colon = h.find(':');
    if (colon == std::string::npos) return "--host takes HOST:IP";
    spec->add_hosts(h.substr(colon + 1) + " " + h.substr(0, colon));
  }
  if (a.Has("--host")) changed("hosts");
  for (const auto& [flag, map, path] :
       std::vector<std::tuple<const char*, google::protobuf::Map<std::string, std::string>*, const char*>>{
           {"--container-label", spec->mutable_container_labels(), "container_labels"},
           {"--sysctl", spec->mutable_sysctls(), "sysctls"}}) {
    for (const auto& kv : a.All(flag)) {
      auto [k, v] = SplitKeyValue(kv);
      (*map)[k] = v;
    }
    if (a.Has(flag)) changed(path);
  }
  for (const auto& u : a.All("--ulimit")) {  // NAME=SOFT[:HARD]
    auto [name, limits] = SplitKeyValue(u);
    const std::vector<std::string> parts = absl::StrSplit(limits, ':');
    int64_t soft = 0, hard = 0;
    if (name.empty() || parts.size() > 2 || !absl::SimpleAtoi(parts[0], &soft) ||
        !absl::SimpleAtoi(parts.back(), &hard))
      return "--ulimit takes NAME=SOFT[:HARD], e.g. nofile=1024:2048";
    pb::Ulimit* out = spec->add_ulimits();
    out->set_name(name);
    out->set_soft(soft);
    out->set_hard(hard);
  }
  if (a.Has("--ulimit")) changed("ulimits");
  for (const auto& k : a.All("--cap-drop")) {
    if (mask == nullptr) spec->add_cap_drop(k);
  }
  for (const auto& ref : a.All("--config")) {  // NAME or source=NAME,target=PATH,uid,gid,mode
    pb::ConfigReference* r = spec->add_configs();
    if (ref.find('=') == std::string::npos) {
      r->set_config(ref);
      continue;
    }
    for (absl::string_view part : absl::StrSplit(ref, ',')) {
      auto [k, v] = SplitKeyValue(std::string(part));
      if (k == "source" || k == "src") {
        r->set_config(v);
      } else if (k == "target") {
        r->set_target(v);
      } else if (k == "uid") {
        r->set_uid(v);
      } else if (k == "gid") {
        r->set_gid(v);
      } else if (k == "mode") {
        uint32_t mode = 0;
        for (char ch : v) mode = mode * 8 + (ch - '0');
        r->set_mode(mode);
      } else {
        return "--config takes NAME or source=NAME,target=PATH[,uid=U,gid=G,mode=0444]";
      }
    }
  }
  if (a.Has("--config")) changed("configs");
  // Mounts: --mount on create; --mount-add and --mount-rm TARGET on update, as docker's.
  const bool editing = current != nullptr && (a.Has("--mount-add") || a.Has("--mount-rm"));
  if (editing) {
    const auto removed = a.All("--mount-rm");
    for (const auto& m : current->mounts())
      if (std::find(removed.begin(), removed.end(), m.target()) == removed.end())
        *spec->add_mounts() = m;
  }
  for (const auto& text : a.All(current != nullptr ? "--mount-add" : "--mount")) {
    pb::Mount m;
    if (std::string bad = ParseMount(text, &m); !bad.empty()) return bad;
    auto* mounts = spec->mutable_mounts();
    for (int i = mounts->size() - 1; i >= 0; --i)
      if (mounts->Get(i).target() == m.target()) mounts->DeleteSubrange(i, 1);
    *spec->add_mounts() = m;
  }
  if (editing) changed("mounts");
  return "";
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
  // Only when given: the server refuses a count for a global service, as docker does.
  if (a.Has("--replicas")) {
    unsigned replicas = 0;
    if (!absl::SimpleAtoi(a.Get("--replicas"), &replicas))
      return UsageError("--replicas takes a number");
    spec->set_replicas(replicas);
  }
  for (const char* flag : {"-p", "--publish"}) {
    for (const auto& p : a.All(flag))
      if (!ParsePublish(p, spec->add_ports()))
        return UsageError(absl::StrCat(
            flag, " takes PUBLISHED:TARGET[/PROTOCOL] or published=P,target=T[,protocol=udp][,mode=host]"));
  }
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
  if (a.Has("--update-parallelism")) {  // 0: all at once, as docker's
    unsigned parallelism = 0;
    if (!absl::SimpleAtoi(a.Get("--update-parallelism"), &parallelism))
      return UsageError("--update-parallelism takes a number");
    up->set_parallelism(parallelism);
  }
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
  if (std::string bad = HealthFromFlags(a, spec, nullptr); !bad.empty()) return UsageError(bad);
  if (std::string bad = ContainerFromFlags(a, spec, nullptr, nullptr); !bad.empty())
    return UsageError(bad);
  if (spec->has_healthcheck() && spec->healthcheck().test().empty() &&
      !spec->healthcheck().interval_ms() && !spec->healthcheck().timeout_ms() &&
      !spec->healthcheck().retries() && !spec->healthcheck().start_period_ms())
    spec->clear_healthcheck();
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
  req.set_include_internal(a.Has("--all") || a.Has("-a"));  // the edge proxies too
  for (const auto& f : a.All("--filter")) {                 // label=K[=V]
    if (f.rfind("label=", 0) != 0) return UsageError("--filter takes label=KEY[=VALUE]");
    auto [k, v] = SplitKeyValue(f.substr(6));
    (*req.mutable_labels())[k] = v;
  }
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
  if (a.positional().size() > 1) return kUsage;
  pb::ListTasksRequest req;
  req.set_service(a.positional().empty() ? "" : a.positional()[0]);  // none: every service's
  for (const auto& f : a.All("--filter")) {  // node=NAME, desired-state=STATE
    auto [k, v] = SplitKeyValue(f);
    if (k == "node")
      req.set_node(v);
    else if (k == "desired-state")
      req.set_desired_state(v);
    else
      return UsageError("--filter takes node=NAME or desired-state=STATE");
  }
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

// Fills an update from docker-style flags: map keys (env, labels) and message fields
// (resources, policies, healthcheck) go as their own mask paths; list edits (ports, networks,
// constraints, capabilities) are applied to `current` and sent whole. "" or a usage problem.
std::string UpdateFromFlags(const Args& a, const pb::Service& current,
                            pb::UpdateServiceRequest* req) {
  pb::ServiceSpec* spec = req->mutable_spec();
  auto* mask = req->mutable_update_mask();
  const pb::ServiceSpec& cur = current.spec();
  if (a.Has("--image")) req->set_image(a.Get("--image"));
  if (a.Has("--pull")) req->set_pull(a.Get("--pull"));
  if (a.Has("--replicas")) {
    unsigned r = 0;
    if (!absl::SimpleAtoi(a.Get("--replicas"), &r)) return "--replicas takes a number";
    req->set_replicas(r);
  }
  for (const auto& [flag, field] : {std::pair{"--env", "env"}, std::pair{"--label", "labels"}}) {
    auto* map = field == std::string("env") ? spec->mutable_env() : spec->mutable_labels();
    for (const auto& e : a.All(absl::StrCat(flag, "-add"))) {
      auto [k, v] = SplitKeyValue(e);
      if (k.empty()) return absl::StrCat(flag, "-add takes KEY=VALUE");
      (*map)[k] = v;
      mask->add_paths(absl::StrCat(field, ".", k));
    }
    for (const auto& k : a.All(absl::StrCat(flag, "-rm")))
      mask->add_paths(absl::StrCat(field, ".", k));
  }
  // List edits: add and remove on what the service has now.
  auto edit = [&](const char* add_flag, const char* rm_flag, const char* path,
                  const google::protobuf::RepeatedPtrField<std::string>& have,
                  google::protobuf::RepeatedPtrField<std::string>* out) {
    if (!a.Has(add_flag) && !a.Has(rm_flag)) return;
    const auto removed = a.All(rm_flag);
    for (const auto& x : have)
      if (std::find(removed.begin(), removed.end(), x) == removed.end()) *out->Add() = x;
    for (const auto& x : a.All(add_flag))
      if (std::find(out->begin(), out->end(), x) == out->end()) *out->Add() = x;
    mask->add_paths(path);
  };
  edit("--network-add", "--network-rm", "networks", cur.networks(), spec->mutable_networks());
  edit("--constraint-add", "--constraint-rm", "constraints", cur.constraints(),
       spec->mutable_constraints());
  edit("--cap-add", "--cap-drop", "cap_add", cur.cap_add(), spec->mutable_cap_add());
  if (a.Has("--publish-add") || a.Has("--publish-rm")) {
    // --publish-rm TARGET[/PROTOCOL] removes the ports to that target port, as docker's
    // (`--publish-rm 8090` unpublishes 8092:8090); PUBLISHED:TARGET removes that mapping only.
    std::vector<std::pair<pb::PortConfig, bool>> removed;  // the port, whether PUB:TARGET
    for (const auto& r : a.All("--publish-rm")) {
      pb::PortConfig p;
      if (!ParsePort(r, &p)) return "--publish-rm takes TARGET[/PROTOCOL] or PUBLISHED:TARGET";
      removed.emplace_back(p, r.find(':') != std::string::npos);
    }
    for (const auto& p : cur.ports()) {
      const std::string protocol = p.protocol().empty() ? "tcp" : p.protocol();
      if (std::none_of(removed.begin(), removed.end(), [&](const auto& r) {
            return r.first.target() == p.target() && r.first.protocol() == protocol &&
                   (!r.second || r.first.published() == p.published());
          }))
        *spec->add_ports() = p;
    }
    for (const auto& text : a.All("--publish-add")) {
      pb::PortConfig p;
      if (!ParsePort(text, &p)) return "--publish-add takes PUBLISHED:TARGET, e.g. 8091:8090";
      auto* ports = spec->mutable_ports();
      for (int i = ports->size() - 1; i >= 0; --i)
        if (ports->Get(i).published() == p.published()) ports->DeleteSubrange(i, 1);
      *spec->add_ports() = p;
    }
    mask->add_paths("ports");
  }
  // docker's --args (the entrypoint's arguments: ServiceSpec.command) and --entrypoint.
  for (const auto& [flag, path] :
       {std::pair{"--args", "command"}, std::pair{"--entrypoint", "entrypoint"}}) {
    if (!a.Has(flag)) continue;
    auto* out =
        path == std::string("command") ? spec->mutable_command() : spec->mutable_entrypoint();
    for (auto part : absl::StrSplit(a.Get(flag), ' ', absl::SkipEmpty()))
      out->Add(std::string(part));
    mask->add_paths(path);
  }
  double cpus = 0;
  int64_t bytes = 0;
  for (const auto& [flag, path] :
       {std::pair{"--limit-cpu", "cpus"}, std::pair{"--reserve-cpu", "reserve_cpus"}}) {
    if (!a.Has(flag)) continue;
    if (!absl::SimpleAtod(a.Get(flag), &cpus))
      return absl::StrCat(flag, " takes a number, e.g. 0.5");
    path == std::string("cpus") ? spec->mutable_resources()->set_cpus(cpus)
                                : spec->mutable_resources()->set_reserve_cpus(cpus);
    mask->add_paths(absl::StrCat("resources.", path));
  }
  for (const auto& [flag, path] : {std::pair{"--limit-memory", "memory_bytes"},
                                   std::pair{"--reserve-memory", "reserve_memory_bytes"}}) {
    if (!a.Has(flag)) continue;
    if (!ParseBytes(a.Get(flag), &bytes)) return absl::StrCat(flag, " takes a size, e.g. 512M");
    path == std::string("memory_bytes")
        ? spec->mutable_resources()->set_memory_bytes(bytes)
        : spec->mutable_resources()->set_reserve_memory_bytes(bytes);
    mask->add_paths(absl::StrCat("resources.", path));
  }
  for (const char* kind : {"update", "rollback"}) {
    pb::UpdatePolicy* p = kind == std::string("update") ? spec->mutable_update_policy()
                                                        : spec->mutable_rollback_policy();
    const std::string prefix = absl::StrCat("--", kind, "-");
    const std::string field = absl::StrCat(kind, "_policy.");
    uint32_t n = 0;
    if (a.Has(prefix + "parallelism")) {
      if (!absl::SimpleAtoi(a.Get(prefix + "parallelism"), &n))
        return prefix + "parallelism takes a number";
      p->set_parallelism(n);
      mask->add_paths(field + "parallelism");
    }
    for (const auto& [flag, sub] :
         {std::pair{"delay", "delay_ms"}, std::pair{"monitor", "monitor_ms"}}) {
      if (!a.Has(prefix + flag)) continue;
      if (!ParseDurationMs(a.Get(prefix + flag), &n))
        return absl::StrCat(prefix, flag, " takes a duration, e.g. 2s");
      sub == std::string("delay_ms") ? p->set_delay_ms(n) : p->set_monitor_ms(n);
      mask->add_paths(field + sub);
    }
    if (a.Has(prefix + "failure-action")) {
      p->set_failure_action(a.Get(prefix + "failure-action"));
      mask->add_paths(field + "failure_action");
    }
    if (a.Has(prefix + "order")) {
      p->set_order(a.Get(prefix + "order"));
      mask->add_paths(field + "order");
    }
  }
  if (std::string bad = HealthFromFlags(a, spec, mask); !bad.empty()) return bad;
  if (std::string bad = ContainerFromFlags(a, spec, mask, &cur); !bad.empty()) return bad;
  req->set_request_id(a.Get("--request-id"));
  return "";
}

int ServiceUpdate(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return UsageError("give one service");
  // Read, change, write with the version read: a concurrent change makes the write ABORTED,
  // and the change is made again on what is there then.
  for (int attempt = 0;; ++attempt) {
    pb::GetServiceRequest get;
    get.set_name(a.positional()[0]);
    pb::Service current;
    if (grpc::Status s = Unary(c, 60, &pb::Services::Stub::GetService, get, &current); !s.ok())
      return Report(s);
    pb::UpdateServiceRequest req;
    req.set_name(a.positional()[0]);
    if (std::string problem = UpdateFromFlags(a, current, &req); !problem.empty())
      return UsageError(problem);
    if (a.Has("--version")) {
      uint64_t v = 0;
      if (!absl::SimpleAtoi(a.Get("--version"), &v)) return UsageError("--version takes a number");
      req.set_version(v);
    } else {
      req.set_version(current.version());
    }
    if (req.update_mask().paths_size() == 0) {  // a plain patch (image, replicas, pull)
      req.clear_spec();
      req.clear_update_mask();
    }
    pb::Service out;
    grpc::Status s = Unary(c, 120, &pb::Services::Stub::UpdateService, req, &out);
    if (s.error_code() == grpc::StatusCode::ABORTED && !a.Has("--version") && attempt < 3) continue;
    if (!s.ok()) return Report(s);
    std::cout << req.name() << "\n";
    if (Detach(a)) return kOk;
    return Follow(c, req.name(), Json(a));
  }
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

// The autoscale block of `service inspect`'s human form, and of `service autoscale`.
void PrintAutoscale(const pb::Autoscale& s) {
  const pb::AutoscalePolicy& p = s.policy();
  std::cout << "autoscale: " << p.min() << " to " << p.max() << " replicas on " << p.metric()
            << ", target " << p.target() << " per replica, cooldown "
            << (p.cooldown_seconds() ? p.cooldown_seconds() : 60) << " s\n";
  if (s.paused()) std::cout << "  " << s.paused_reason() << "\n";
  if (!s.observed_at().empty()) {
    if (!s.error().empty())
      std::cout << "  last look (" << s.observed_at() << "): " << s.error() << "\n";
    else
      std::cout << "  last look (" << s.observed_at() << "): " << p.metric() << " " << s.current()
                << " over " << s.tasks_scraped() << " tasks, wants " << s.wanted() << "\n";
  }
  if (s.has_last_decision())
    std::cout << "  last decision (" << s.last_decision().at() << "): " << s.last_decision().from()
              << " -> " << s.last_decision().to() << ", " << s.last_decision().reason() << "\n";
}

int ServiceAutoscale(const Args& a, const Connection& c) {
  if (a.positional().size() != 1) return kUsage;
  pb::SetAutoscaleRequest req;
  req.set_name(a.positional()[0]);
  if (a.Has("--off")) {
    req.set_off(true);
  } else if (a.Has("--resume")) {
    req.set_resume(true);
  } else {
    pb::AutoscalePolicy& p = *req.mutable_policy();
    for (const auto& [flag, set] :
         std::vector<std::pair<const char*, std::function<void(uint32_t)>>>{
             {"--min", [&](uint32_t v) { p.set_min(v); }},
             {"--max", [&](uint32_t v) { p.set_max(v); }},
             {"--port", [&](uint32_t v) { p.set_port(v); }}}) {
      if (!a.Has(flag)) continue;
      uint32_t v = 0;
      if (!absl::SimpleAtoi(a.Get(flag), &v))
        return UsageError(absl::StrCat(flag, ": '", a.Get(flag), "' is not a count"));
      set(v);
    }
    if (!a.Has("--min") || !a.Has("--max") || !a.Has("--metric") || !a.Has("--target"))
      return UsageError("give --min, --max, --metric and --target (or --off, or --resume)");
    p.set_metric(a.Get("--metric"));
    double target = 0;
    if (!absl::SimpleAtod(a.Get("--target"), &target))
      return UsageError("--target: '" + a.Get("--target") + "' is not a number");
    p.set_target(target);
    if (a.Has("--cooldown")) {
      uint32_t ms = 0;
      if (!ParseDurationMs(a.Get("--cooldown"), &ms))
        return UsageError("--cooldown: '" + a.Get("--cooldown") + "' is not a duration (60s, 2m)");
      p.set_cooldown_seconds((ms + 999) / 1000);
    }
  }
  pb::Service out;
  if (grpc::Status s = Unary(c, 30, &pb::Services::Stub::SetAutoscale, req, &out); !s.ok())
    return Report(s);
  if (Json(a)) return PrintJson(out), kOk;
  if (req.off())
    std::cout << req.name() << ": autoscale off (the replicas stay at " << out.spec().replicas()
              << ")\n";
  else
    PrintAutoscale(out.autoscale());
  return kOk;
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
  // docker's --tail: N lines (0: none, only what follows with -f), or all (the default).
  if (a.Has("--tail") && a.Get("--tail") != "all") {
    int tail = 0;
    if (!absl::SimpleAtoi(a.Get("--tail"), &tail) || tail < 0)
      return UsageError("--tail takes a number of lines, or all");
    req.set_tail(tail);
  }
  auto ctx = Context(c, req.follow() ? 0 : 60);
  auto reader = pb::Services::NewStub(Dial(c))->ServiceLogs(ctx.get(), req);
  // As docker prints them: "SERVICE.SLOT.TASK@NODE    | line" (--raw: the line alone).
  const bool raw = a.Has("--raw"), ids = !a.Has("--no-task-ids"),
             stamps = a.Has("--timestamps") || a.Has("-t");
  pb::LogChunk chunk;
  while (reader->Read(&chunk)) {
    std::string prefix;
    if (stamps && !chunk.timestamp().empty()) prefix = chunk.timestamp() + " ";
    if (!raw && !chunk.task_id().empty()) {
      absl::StrAppend(&prefix, req.name(), chunk.slot() ? absl::StrCat(".", chunk.slot()) : "",
                      ids ? "." + chunk.task_id().substr(0, 12) : "", "@", chunk.node(), " | ");
    }
    (chunk.stderr() ? std::cerr : std::cout) << prefix << chunk.data() << std::flush;
  }
  return Report(Answered(*ctx, reader->Finish()));
}

}  // namespace

std::vector<Command> ServiceCommands() {
  return {
      {"service",
       "create",
       "--name NAME [--replicas N] [--mode replicated|global] [-p|--publish PUB:TARGET] "
       "[--network NET] [--pull always|missing|never] [--entrypoint CMD] [-e|--env K=V] "
       "[--label K=V] [--secret NAME|source=NAME,target=FILE] [--constraint C] [--cap-add CAP] "
       "[--limit-cpu N] [--limit-memory SIZE] [--update-parallelism N] [--update-delay D] "
       "[--update-monitor D] [--update-failure-action A] [--update-order O] "
       "[--health-cmd CMD] [--health-interval D] [--health-timeout D] [--health-retries N] "
       "[--no-healthcheck] [--health-start-period D] [--mount SPEC] [--hostname H] [--user U] "
       "[--workdir DIR] [--read-only] [--tty] [--init] [--stop-signal S] [--stop-grace-period D] "
       "[--cap-drop CAP] [--container-label K=V] [--sysctl K=V] [--ulimit N=S[:H]] "
       "[--host HOST:IP] [--dns IP] [--dns-search D] [--dns-option O] [--config NAME|source=,target=] "
       "[--log-driver D] [--log-opt K=V] [--endpoint-mode vip|dnsrr] [--placement-pref spread=X] "
       "[--max-replicas N] [--limit-pids N] [--restart-condition C] [--restart-delay D] "
       "[--restart-max-attempts N] [--restart-window D] [--request-id ID] [-d] IMAGE [COMMAND...]",
       "Create a service and follow it until it converges",
       {"-d", "--detach", "--no-healthcheck", "--read-only", "--tty", "--init"},
       ServiceCreate,
       /*interspersed=*/false},
      {"service",
       "ls",
       "[--stack NAME] [--filter label=K[=V]] [-a|--all]",
       "List services with running/desired replicas (--all: with the internal edge proxies)",
       {"-a", "--all"},
       ServiceLs},
      {"service",
       "ps",
       "[--filter node=NAME] [--filter desired-state=STATE] [SERVICE]",
       "List a service's tasks (every service's without SERVICE)",
       {},
       ServicePs},
      {"service", "inspect", "SERVICE", "Show a service as JSON", {}, ServiceInspect},
      {"service",
       "scale",
       "SERVICE=REPLICAS...",
       "Scale services",
       {"-d", "--detach"},
       ServiceScale},
      {"service",
       "update",
       "[--image IMAGE] [--pull P] [--replicas N] [--env-add K=V] [--env-rm K] [--label-add K=V] "
       "[--label-rm K] [--publish-add PUB:TARGET] [--publish-rm TARGET] [--network-add NET] "
       "[--network-rm NET] [--constraint-add C] [--constraint-rm C] [--cap-add CAP] "
       "[--cap-drop CAP] [--args \"A B\"] [--entrypoint \"CMD\"] [--limit-cpu N] [--limit-memory "
       "SIZE] "
       "[--reserve-cpu N] [--reserve-memory SIZE] [--update-parallelism N] [--update-delay D] "
       "[--update-monitor D] [--update-failure-action A] [--update-order O] "
       "[--rollback-parallelism N] [--rollback-delay D] [--rollback-monitor D] "
       "[--rollback-failure-action A] [--rollback-order O] "
       "[--health-cmd CMD] [--health-interval D] [--health-timeout D] [--health-retries N] "
       "[--no-healthcheck] [--health-start-period D] [--mount-add SPEC] [--mount-rm TARGET] "
       "[--hostname H] [--user U] [--workdir DIR] [--stop-signal S] [--stop-grace-period D] "
       "[--restart-condition C] [--restart-delay D] [--restart-max-attempts N] "
       "[--restart-window D] [--limit-pids N] [--max-replicas N] [--endpoint-mode M] "
       "[--version N] [--request-id ID] [-d] SERVICE",
       "Update a service (rolling); --version N refuses it if the service changed since N",
       {"-d", "--detach", "--no-healthcheck"},
       ServiceUpdate},
      {"service",
       "rollback",
       "[-d] SERVICE",
       "Roll a service back to its previous spec",
       {"-d", "--detach"},
       ServiceRollback},
      {"service",
       "autoscale",
       "[--min N --max N --metric NAME --target X [--cooldown D] [--port P]] [--off] "
       "[--resume] SERVICE",
       "Scale a service from its tasks' own /metrics (paused by an operator's scale)",
       {"--off", "--resume"},
       ServiceAutoscale},
      {"service", "rm", "SERVICE...", "Remove services", {}, ServiceRm},
      {"service",
       "logs",
       "[-f] [--tail N|all] [-t] [--raw] [--no-task-ids] SERVICE",
       "Print a service's logs, each line with its task and node",
       {"-f", "--follow", "-t", "--timestamps", "--raw", "--no-task-ids"},
       ServiceLogs},
  };
}

}  // namespace musketeer::cli
