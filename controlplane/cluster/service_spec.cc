// ServiceSpec (the API's) to the Engine API's service spec, and its validation.
#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/service_parts.h"

namespace musketeer::cluster {

namespace {
// Fields left unset stay unset: the swarm reads them as its defaults, which are docker's
// (failure action pause, monitor 5 s, stop-first), and `docker stack deploy` writes them so.
engine::UpdateConfig ToPolicy(const pb::UpdatePolicy& p) {
  engine::UpdateConfig c;
  c.parallelism = p.has_parallelism() ? p.parallelism() : 1;  // 0: all at once, as docker's
  c.delay = absl::Milliseconds(p.delay_ms());
  c.failure_action = p.failure_action();
  c.monitor = absl::Milliseconds(p.monitor_ms());
  c.max_failure_ratio = p.max_failure_ratio();
  c.order = p.order();
  return c;
}

engine::SecretReferenceFileTarget FileTarget(const std::string& name, const std::string& uid,
                                             const std::string& gid, uint32_t mode) {
  return {name, uid.empty() ? "0" : uid, gid.empty() ? "0" : gid, mode ? mode : 0444, {}};
}

engine::Mount ToEngineMount(const pb::Mount& m) {
  engine::Mount out;
  out.type = m.type().empty() ? "volume" : m.type();
  out.source = m.source();
  out.target = m.target();
  out.read_only = m.read_only();
  out.consistency = m.consistency();
  if (!m.bind_propagation().empty()) out.bind_options.emplace().propagation = m.bind_propagation();
  if (m.volume_nocopy() || !m.volume_labels().empty() || !m.volume_driver().empty() ||
      !m.volume_driver_options().empty()) {
    engine::VolumeOptions& v = out.volume_options.emplace();
    v.no_copy = m.volume_nocopy();
    for (const auto& [k, x] : m.volume_labels()) v.labels[k] = x;
    if (!m.volume_driver().empty() || !m.volume_driver_options().empty()) {
      engine::Driver& d = v.driver_config.emplace();
      d.name = m.volume_driver();
      for (const auto& [k, x] : m.volume_driver_options()) d.options[k] = x;
    }
  }
  if (m.tmpfs_size_bytes() || m.tmpfs_mode()) {
    out.tmpfs_options.emplace();
    out.tmpfs_options->size_bytes = m.tmpfs_size_bytes();
    out.tmpfs_options->mode = m.tmpfs_mode();
  }
  return out;
}
}  // namespace

bool HostMode(const pb::PortConfig& p) { return p.publish_mode() == "host"; }

std::string CapabilityName(std::string_view cap) {
  std::string c = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(absl::string_view(cap.data(), cap.size())));
  return c == "ALL" || c == "RESET" || absl::StartsWith(c, "CAP_") ? c : "CAP_" + c;
}

pb::Mount FromEngineMount(const engine::Mount& m) {
  pb::Mount out;
  out.set_type(m.type);
  out.set_source(m.source);
  out.set_target(m.target);
  out.set_read_only(m.read_only);
  out.set_consistency(m.consistency);
  if (m.bind_options) out.set_bind_propagation(m.bind_options->propagation);
  if (m.volume_options) {
    out.set_volume_nocopy(m.volume_options->no_copy);
    for (const auto& [k, v] : m.volume_options->labels) (*out.mutable_volume_labels())[k] = v;
    if (m.volume_options->driver_config) {
      out.set_volume_driver(m.volume_options->driver_config->name);
      for (const auto& [k, v] : m.volume_options->driver_config->options)
        (*out.mutable_volume_driver_options())[k] = v;
    }
  }
  if (m.tmpfs_options) {
    out.set_tmpfs_size_bytes(m.tmpfs_options->size_bytes);
    out.set_tmpfs_mode(m.tmpfs_options->mode);
  }
  return out;
}

std::string Cut(std::string_view input) {
  constexpr size_t kShown = 64;
  if (input.size() <= kShown) return std::string(input);
  size_t end = kShown;  // not inside a UTF-8 sequence
  while (end > 0 && (static_cast<unsigned char>(input[end]) & 0xC0) == 0x80) --end;
  return std::string(input.substr(0, end)) + "...";
}

absl::Status ValidateImageReference(const std::string& field, const std::string& ref) {
  // Docker's reference grammar: [host[:port]/]name[/name...][:tag][@sha256:digest].
  static const std::regex kRef(
      "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*("
      "?::[0-9]+)?/)?"
      "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
      "(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?");
  if (ref.empty())
    return absl::InvalidArgumentError(absl::StrCat(field, ": required, e.g. judge_server:1.0"));
  if (ref.size() > 255 || !std::regex_match(ref, kRef)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", Cut(ref),
        "' is not an image reference; use lowercase name[:tag], e.g. judge_server:1.0"));
  }
  return absl::OkStatus();
}

std::pair<std::string, std::string> SplitImageReference(const std::string& ref) {
  const std::string name = ref.substr(0, ref.find('@'));
  const size_t colon = name.rfind(':');
  if (colon == std::string::npos || name.find('/', colon) != std::string::npos)
    return {name, "latest"};
  return {name.substr(0, colon), name.substr(colon + 1)};
}

absl::Status ValidateServiceSpec(const pb::ServiceSpec& spec) {
  static const std::regex kName("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}");
  if (spec.name().size() > kMaxServiceName || !std::regex_match(spec.name(), kName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.name: '", Cut(spec.name()), "' (", spec.name().size(),
                     " characters) is invalid; use 1-63 of [a-zA-Z0-9_.-], starting with a "
                     "letter or digit"));
  }
  if (auto s = ValidateImageReference("spec.image", spec.image()); !s.ok()) return s;
  if (!spec.mode().empty() && spec.mode() != "replicated" && spec.mode() != "global") {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.mode: '", Cut(spec.mode()), "' is not replicated or global"));
  }
  if (spec.replicas() > 1000) return absl::InvalidArgumentError("spec.replicas: at most 1000");
  // As docker refuses --replicas with --mode global: a count it would silently not run.
  if (spec.mode() == "global" && spec.has_replicas())
    return absl::InvalidArgumentError(
        "spec.replicas: a global service runs one task per node; leave replicas unset, or use "
        "mode replicated");
  for (const auto& p : spec.ports()) {
    // published 0: the swarm picks one (30000 and up), as docker's.
    if (p.published() > 65535 || p.target() == 0 || p.target() > 65535) {
      return absl::InvalidArgumentError(
          "spec.ports: target must be 1-65535 and published 0-65535 (0: one is picked), e.g. "
          "8090:8090");
    }
    if (!p.protocol().empty() && p.protocol() != "tcp" && p.protocol() != "udp" &&
        p.protocol() != "sctp") {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.ports.protocol: '", Cut(p.protocol()), "' is not tcp, udp or sctp"));
    }
  }
  for (const auto& [field, policy] : {std::pair<const char*, const pb::UpdatePolicy*>{
                                          "spec.update_policy", &spec.update_policy()},
                                      {"spec.rollback_policy", &spec.rollback_policy()}}) {
    const auto& a = policy->failure_action();
    // A rollback cannot itself roll back: docker accepts only pause or continue there.
    const bool rollback = field == std::string_view("spec.rollback_policy");
    if (!a.empty() && a != "pause" && a != "continue" && (rollback || a != "rollback")) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".failure_action: '", Cut(a),
                                                     "' is not pause, continue",
                                                     rollback ? "" : " or rollback"));
    }
    if (!policy->order().empty() && policy->order() != "stop-first" &&
        policy->order() != "start-first") {
      return absl::InvalidArgumentError(absl::StrCat(field, ".order: '", Cut(policy->order()),
                                                     "' is not stop-first or start-first"));
    }
  }
  for (const auto& [k, v] : spec.env()) {
    if (k.empty())
      return absl::InvalidArgumentError("spec.env: a variable has an empty name; use NAME=VALUE");
    if (k.find('=') != std::string::npos || k.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.env: the name '", Cut(k),
                       "' contains '=' (or a NUL); a name ends at the first '=', so send "
                       "{name: value} with the value after it"));
    }
  }
  if (auto p = ParsePullPolicy("spec.pull", spec.pull()); !p.ok()) return p.status();
  for (const auto& [k, v] : spec.labels()) {
    if (absl::StartsWith(k, kReservedLabelPrefix))
      return absl::InvalidArgumentError(absl::StrCat("spec.labels: '", Cut(k), "' is reserved (",
                                                     kReservedLabelPrefix,
                                                     "* labels are musketeer's own)"));
  }
  std::set<std::string> targets;
  for (const auto& ref : spec.secrets()) {
    if (auto s = ValidateSecretName("spec.secrets.secret", ref.secret()); !s.ok()) return s;
    const std::string& target = ref.target().empty() ? ref.secret() : ref.target();
    if (target.size() > 255 || target == "." || target == ".." ||
        target.find('/') != std::string::npos || target.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.secrets.target: '", Cut(target),
                       "' is not a file name (it goes under /run/secrets; no '/')"));
    }
    if (!targets.insert(target).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.secrets.target: two secrets would be the same file /run/secrets/", Cut(target)));
    }
  }
  if (spec.resources().cpus() < 0 || spec.resources().memory_bytes() < 0 ||
      spec.resources().pids() < 0 || spec.resources().reserve_cpus() < 0 ||
      spec.resources().reserve_memory_bytes() < 0) {
    return absl::InvalidArgumentError("spec.resources: limits cannot be negative");
  }
  for (const auto& ref : spec.configs()) {
    if (auto s = ValidateSecretName("spec.configs.config", ref.config()); !s.ok()) return s;
    if (!ref.target().empty() && ref.target().find('\0') != std::string::npos)
      return absl::InvalidArgumentError("spec.configs.target: contains a NUL");
  }
  if (auto s = ValidateMounts(spec); !s.ok()) return s;
  if (const auto& c = spec.restart_policy().condition();
      !c.empty() && c != "none" && c != "on-failure" && c != "any") {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.restart_policy.condition: '", Cut(c), "' is not none, on-failure or any"));
  }
  if (const auto& e = spec.endpoint_mode(); !e.empty() && e != "vip" && e != "dnsrr")
    return absl::InvalidArgumentError(
        absl::StrCat("spec.endpoint_mode: '", Cut(e), "' is not vip or dnsrr"));
  for (const auto& p : spec.ports()) {
    if (!p.publish_mode().empty() && p.publish_mode() != "ingress" && p.publish_mode() != "host")
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.ports.publish_mode: '", Cut(p.publish_mode()), "' is not ingress or host"));
  }
  for (const auto& p : spec.placement_preferences()) {
    if (!absl::StartsWith(p, "spread=") || p.size() == 7)
      return absl::InvalidArgumentError(
          absl::StrCat("spec.placement_preferences: '", Cut(p),
                       "' is not spread=DESCRIPTOR (e.g. spread=node.labels.zone)"));
  }
  for (const auto& u : spec.ulimits()) {
    if (u.name().empty() || u.soft() > u.hard() || u.soft() < -1)
      return absl::InvalidArgumentError(
          absl::StrCat("spec.ulimits: '", Cut(u.name()), "' needs a name and soft <= hard"));
  }
  for (const auto& [network, aliases] : spec.network_aliases()) {
    if (std::find(spec.networks().begin(), spec.networks().end(), network) ==
        spec.networks().end())
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.network_aliases: '", Cut(network), "' is not one of spec.networks"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMounts(const pb::ServiceSpec& spec) {
  std::set<std::string> targets;
  for (const auto& m : spec.mounts()) {
    const std::string type = m.type().empty() ? "volume" : m.type();
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.mounts: ", type, " mount at '", Cut(m.target()), "': ", why));
    };
    if (type != "volume" && type != "bind" && type != "tmpfs")
      return bad("the type is not volume, bind or tmpfs");
    if (m.target().empty() || m.target()[0] != '/')
      return bad("the target must be an absolute path in the container");
    if (!targets.insert(m.target()).second) return bad("two mounts have this target");
    if (type == "bind" && (m.source().empty() || m.source()[0] != '/'))
      return bad("a bind mount's source must be an absolute path on the node");
    if (type == "tmpfs" && !m.source().empty()) return bad("a tmpfs mount takes no source");
    if (type != "bind" && !m.bind_propagation().empty())
      return bad("bind propagation is for bind mounts");
    if (type != "volume" && (m.volume_nocopy() || !m.volume_labels().empty() ||
                             !m.volume_driver().empty() || !m.volume_driver_options().empty()))
      return bad("volume options are for volume mounts");
    if (type != "tmpfs" && (m.tmpfs_size_bytes() || m.tmpfs_mode()))
      return bad("tmpfs options are for tmpfs mounts");
    if (m.tmpfs_size_bytes() < 0) return bad("the tmpfs size cannot be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<engine::ServiceSpec> ToEngineSpec(const pb::ServiceSpec& spec, bool edge_routed,
                                                 const std::string& stack) {
  if (auto s = ValidateServiceSpec(spec); !s.ok()) return s;
  engine::ServiceSpec out;
  out.name = spec.name();
  engine::TaskSpec& task = out.task_template;
  engine::ContainerSpec& container = task.container_spec;
  container.image = spec.image();
  // Sorted, as docker writes them (a map has no order of its own).
  for (const auto& [k, v] : spec.env()) container.env.push_back(absl::StrCat(k, "=", v));
  std::sort(container.env.begin(), container.env.end());
  container.command.assign(spec.entrypoint().begin(), spec.entrypoint().end());
  container.args.assign(spec.command().begin(), spec.command().end());
  for (const auto& c : spec.cap_add()) container.capability_add.push_back(CapabilityName(c));
  for (const auto& c : spec.cap_drop()) container.capability_drop.push_back(CapabilityName(c));
  container.hostname = spec.hostname();
  container.user = spec.user();
  container.dir = spec.working_dir();
  container.read_only = spec.read_only();
  container.tty = spec.tty();
  container.open_stdin = spec.stdin_open();
  if (spec.has_init()) container.init = spec.init();
  container.stop_signal = spec.stop_signal();
  if (spec.has_stop_grace_period_ms())
    container.stop_grace_period = absl::Milliseconds(spec.stop_grace_period_ms());
  container.hosts.assign(spec.hosts().begin(), spec.hosts().end());
  for (const auto& [k, v] : spec.sysctls()) container.sysctls[k] = v;
  for (const auto& u : spec.ulimits()) container.ulimits.push_back({u.name(), u.soft(), u.hard(), {}});
  if (spec.has_dns()) {
    engine::DnsConfig& dns = container.dns_config.emplace();
    dns.nameservers.assign(spec.dns().nameservers().begin(), spec.dns().nameservers().end());
    dns.search.assign(spec.dns().search().begin(), spec.dns().search().end());
    dns.options.assign(spec.dns().options().begin(), spec.dns().options().end());
  }
  for (const auto& m : spec.mounts()) container.mounts.push_back(ToEngineMount(m));
  for (const auto& ref : spec.secrets()) {
    engine::SecretReference& r = container.secrets.emplace_back();
    r.secret_name = ref.secret();  // its ID: Cluster::ResolveSecrets
    r.file = FileTarget(ref.target().empty() ? ref.secret() : ref.target(), ref.uid(), ref.gid(),
                        ref.mode());
  }
  for (const auto& ref : spec.configs()) {
    engine::ConfigReference& r = container.configs.emplace_back();
    r.config_name = ref.config();  // its ID: Cluster::ResolveConfigs
    // A relative target is under / in the container (docker's default: the config's name).
    r.file = FileTarget(ref.target().empty() ? ref.config() : ref.target(), ref.uid(), ref.gid(),
                        ref.mode());
  }
  // As docker sorts them: by name.
  std::stable_sort(container.secrets.begin(), container.secrets.end(),
                   [](const auto& a, const auto& b) { return a.secret_name < b.secret_name; });
  std::stable_sort(container.configs.begin(), container.configs.end(),
                   [](const auto& a, const auto& b) { return a.config_name < b.config_name; });
  // No test with timings: the image's test runs with them (docker merges the two).
  if (spec.has_healthcheck()) {
    engine::HealthConfig& h = container.healthcheck.emplace();
    h.test.assign(spec.healthcheck().test().begin(), spec.healthcheck().test().end());
    h.interval = absl::Milliseconds(spec.healthcheck().interval_ms());
    h.timeout = absl::Milliseconds(spec.healthcheck().timeout_ms());
    h.start_period = absl::Milliseconds(spec.healthcheck().start_period_ms());
    h.retries = spec.healthcheck().retries();
  }
  for (const auto& [k, v] : spec.labels()) out.labels[k] = v;
  for (const auto& [k, v] : spec.container_labels()) container.labels[k] = v;
  if (!stack.empty()) {  // as docker's stack deploy labels them
    out.labels[kStackLabel] = stack;
    out.labels[kStackImageLabel] = spec.image();
    container.labels[kStackLabel] = stack;
  }
  if (spec.has_restart_policy()) {  // unset: the swarm's own default (any, 5 s), as docker's
    const pb::RestartPolicy& r = spec.restart_policy();
    engine::RestartPolicy& policy = task.restart_policy.emplace();
    policy.condition = r.condition();
    if (r.has_delay_ms()) policy.delay = absl::Milliseconds(r.delay_ms());
    if (r.has_max_attempts()) policy.max_attempts = r.max_attempts();
    if (r.has_window_ms()) policy.window = absl::Milliseconds(r.window_ms());
  }
  if (spec.has_log_driver()) {
    engine::Driver& log = task.log_driver.emplace();
    log.name = spec.log_driver().name();
    for (const auto& [k, v] : spec.log_driver().options()) log.options[k] = v;
  }
  engine::ResourceRequirements& resources = task.resources.emplace();
  engine::Resources& limits = resources.limits.emplace();
  engine::Resources& reservations = resources.reservations.emplace();
  limits.nano_cpus = static_cast<int64_t>(std::llround(spec.resources().cpus() * 1e9));
  limits.memory_bytes = spec.resources().memory_bytes();
  limits.pids = spec.resources().pids();
  reservations.nano_cpus = static_cast<int64_t>(std::llround(spec.resources().reserve_cpus() * 1e9));
  reservations.memory_bytes = spec.resources().reserve_memory_bytes();
  engine::Placement& placement = task.placement.emplace();
  placement.constraints.assign(spec.constraints().begin(), spec.constraints().end());
  for (const auto& p : spec.placement_preferences())
    placement.preferences.emplace_back().spread.emplace().spread_descriptor =
        p.substr(p.find('=') + 1);
  placement.max_replicas = spec.max_replicas_per_node();
  for (const auto& n : spec.networks()) {
    engine::NetworkAttachmentConfig& attachment = task.networks.emplace_back();
    attachment.target = n;
    if (auto it = spec.network_aliases().find(n); it != spec.network_aliases().end())
      attachment.aliases.assign(it->second.aliases().begin(), it->second.aliases().end());
  }
  std::stable_sort(task.networks.begin(), task.networks.end(),
                   [](const auto& a, const auto& b) { return a.target < b.target; });

  if (spec.mode() == "global") {
    out.mode.global.emplace();
  } else {
    out.mode.replicated.emplace().replicas = spec.has_replicas() ? spec.replicas() : 1;
  }
  if (spec.has_update_policy()) out.update_config = ToPolicy(spec.update_policy());
  if (spec.has_rollback_policy()) out.rollback_config = ToPolicy(spec.rollback_policy());
  engine::EndpointSpec& endpoint = out.endpoint_spec.emplace();
  endpoint.mode = edge_routed ? "dnsrr" : spec.endpoint_mode();
  for (const auto& p : spec.ports()) {
    // Edge-routed: the edge proxy publishes the ingress ports; host-mode ones stay here.
    if (edge_routed && !HostMode(p)) continue;
    engine::PortConfig port;
    port.protocol = p.protocol().empty() ? "tcp" : p.protocol();
    port.target_port = p.target();
    port.published_port = p.published();
    port.publish_mode = HostMode(p) ? "host" : "ingress";
    endpoint.ports.push_back(std::move(port));
  }
  std::stable_sort(endpoint.ports.begin(), endpoint.ports.end(), [](const auto& a, const auto& b) {
    return std::tie(a.published_port, a.target_port, a.protocol, a.publish_mode) <
           std::tie(b.published_port, b.target_port, b.protocol, b.publish_mode);
  });
  return out;
}

}  // namespace musketeer::cluster
