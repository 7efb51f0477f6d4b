// ServiceSpec (the API's) to the Engine API's service spec, its validation, and the
// compose file parser for stacks.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {

namespace {
engine::UpdateConfig ToPolicy(const pb::UpdatePolicy& p, bool rollback) {
  engine::UpdateConfig c;
  c.parallelism = p.has_parallelism() ? p.parallelism() : 1;  // 0: all at once, as docker's
  c.delay = absl::Milliseconds(p.delay_ms());
  c.failure_action =
      p.failure_action().empty() ? (rollback ? "pause" : "rollback") : p.failure_action();
  // docker's default is 5 s; a task reaches running only after its healthcheck passed (when
  // it has one), so 1 s of watching for failures after the last one mostly saves waiting.
  c.monitor = absl::Milliseconds(p.monitor_ms() ? p.monitor_ms() : 1000);
  c.order = p.order().empty() ? "stop-first" : p.order();
  return c;
}
}  // namespace

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
    if (p.published() == 0 || p.published() > 65535 || p.target() == 0 || p.target() > 65535) {
      return absl::InvalidArgumentError(
          "spec.ports: published and target must be 1-65535, e.g. 8090:8090");
    }
    if (!p.protocol().empty() && p.protocol() != "tcp" && p.protocol() != "udp") {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.ports.protocol: '", Cut(p.protocol()), "' is not tcp or udp"));
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
  if (spec.resources().cpus() < 0 || spec.resources().memory_bytes() < 0) {
    return absl::InvalidArgumentError("spec.resources: limits cannot be negative");
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
  for (const auto& [k, v] : spec.env()) container.env.push_back(absl::StrCat(k, "=", v));
  container.command.assign(spec.entrypoint().begin(), spec.entrypoint().end());
  container.args.assign(spec.command().begin(), spec.command().end());
  container.capability_add.assign(spec.cap_add().begin(), spec.cap_add().end());
  for (const auto& ref : spec.secrets()) {
    engine::SecretReference& r = container.secrets.emplace_back();
    r.secret_name = ref.secret();  // its ID: Cluster::ResolveSecrets
    engine::SecretReferenceFileTarget& file = r.file.emplace();
    file.name = ref.target().empty() ? ref.secret() : ref.target();
    file.uid = "0";
    file.gid = "0";
    file.mode = 0444;
  }
  // No test with timings: the image's test runs with them (docker merges the two).
  if (spec.has_healthcheck()) {
    engine::HealthConfig& h = container.healthcheck.emplace();
    h.test.assign(spec.healthcheck().test().begin(), spec.healthcheck().test().end());
    h.interval = absl::Milliseconds(spec.healthcheck().interval_ms());
    h.timeout = absl::Milliseconds(spec.healthcheck().timeout_ms());
    h.retries = spec.healthcheck().retries();
  }
  for (const auto& [k, v] : spec.labels()) out.labels[k] = v;
  if (!stack.empty()) {
    out.labels["com.docker.stack.namespace"] = stack;
    container.labels["com.docker.stack.namespace"] = stack;
  }
  task.restart_policy.emplace();
  task.restart_policy->condition = "any";
  task.restart_policy->delay = absl::Seconds(1);
  engine::ResourceRequirements& resources = task.resources.emplace();
  engine::Resources& limits = resources.limits.emplace();
  engine::Resources& reservations = resources.reservations.emplace();
  limits.nano_cpus = static_cast<int64_t>(spec.resources().cpus() * 1e9);
  limits.memory_bytes = spec.resources().memory_bytes();
  reservations.nano_cpus = static_cast<int64_t>(spec.resources().reserve_cpus() * 1e9);
  reservations.memory_bytes = spec.resources().reserve_memory_bytes();
  if (spec.constraints_size() > 0) {
    task.placement.emplace().constraints.assign(spec.constraints().begin(),
                                                spec.constraints().end());
  }
  for (const auto& n : spec.networks()) task.networks.emplace_back().target = n;

  if (spec.mode() == "global") {
    out.mode.global.emplace();
  } else {
    out.mode.replicated.emplace().replicas = spec.has_replicas() ? spec.replicas() : 1;
  }
  out.update_config = ToPolicy(spec.update_policy(), false);
  out.rollback_config = ToPolicy(spec.rollback_policy(), true);
  engine::EndpointSpec& endpoint = out.endpoint_spec.emplace();
  endpoint.mode = edge_routed ? "dnsrr" : "vip";
  if (!edge_routed) {
    for (const auto& p : spec.ports()) {
      engine::PortConfig port;
      port.protocol = p.protocol().empty() ? "tcp" : p.protocol();
      port.target_port = p.target();
      port.published_port = p.published();
      port.publish_mode = "ingress";
      endpoint.ports.push_back(std::move(port));
    }
  }
  return out;
}

namespace {

absl::StatusOr<int64_t> ParseDurationMs(const std::string& s, const std::string& field) {
  // compose durations: "10s", "500ms", "1m30s"
  static const std::regex kPart("(\\d+(?:\\.\\d+)?)(ms|s|m|h)");
  int64_t total = 0;
  size_t matched = 0;
  for (std::sregex_iterator it(s.begin(), s.end(), kPart), end; it != end; ++it) {
    double v = std::stod((*it)[1]);
    const std::string unit = (*it)[2];
    total += static_cast<int64_t>(v * (unit == "ms"  ? 1
                                       : unit == "s" ? 1000
                                       : unit == "m" ? 60000
                                                     : 3600000));
    matched += it->length();
  }
  if (matched != s.size() || s.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", s, "' is not a duration like 10s or 500ms"));
  return total;
}

absl::StatusOr<int64_t> ParseBytes(const std::string& s, const std::string& field) {
  static const std::regex kBytes("(\\d+(?:\\.\\d+)?)\\s*([kKmMgG]?)[bB]?");
  std::smatch m;
  if (!std::regex_match(s, m, kBytes))
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", s, "' is not a size like 512M"));
  double v = std::stod(m[1]);
  const char u = m[2].length() ? tolower(m[2].str()[0]) : 'b';
  return static_cast<int64_t>(v * (u == 'k'   ? 1024.0
                                   : u == 'm' ? 1048576.0
                                   : u == 'g' ? 1073741824.0
                                              : 1.0));
}

absl::Status ParsePolicy(const YAML::Node& n, pb::UpdatePolicy* p, const std::string& field) {
  if (!n) return absl::OkStatus();
  if (n["parallelism"]) p->set_parallelism(n["parallelism"].as<unsigned>());
  if (n["delay"]) {
    auto d = ParseDurationMs(n["delay"].as<std::string>(), field + ".delay");
    if (!d.ok()) return d.status();
    p->set_delay_ms(*d);
  }
  if (n["monitor"]) {
    auto d = ParseDurationMs(n["monitor"].as<std::string>(), field + ".monitor");
    if (!d.ok()) return d.status();
    p->set_monitor_ms(*d);
  }
  if (n["failure_action"]) p->set_failure_action(n["failure_action"].as<std::string>());
  if (n["order"]) p->set_order(n["order"].as<std::string>());
  return absl::OkStatus();
}

absl::StatusOr<pb::PortConfig> ParsePort(const YAML::Node& n, const std::string& field) {
  pb::PortConfig p;
  if (n.IsMap()) {
    p.set_target(n["target"].as<unsigned>(0));
    p.set_published(n["published"].as<unsigned>(0));
    p.set_protocol(n["protocol"].as<std::string>("tcp"));
    return p;
  }
  std::string s = n.as<std::string>();
  std::string proto = "tcp";
  if (auto slash = s.find('/'); slash != std::string::npos) {
    proto = s.substr(slash + 1);
    s = s.substr(0, slash);
  }
  std::vector<std::string> parts = absl::StrSplit(s, ':');
  unsigned published = 0, target = 0;
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], &target)) {
    published = target;
  } else if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &published) ||
             !absl::SimpleAtoi(parts[1], &target)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", n.as<std::string>(), "' is not PUBLISHED:TARGET"));
  }
  p.set_published(published);
  p.set_target(target);
  p.set_protocol(proto);
  return p;
}

// Refuses a key this parser does not read: dropping it silently would deploy something other
// than the file says (a volume, a user, a restart policy ...). `ignored` are the keys docker
// stack deploy itself ignores; extension keys (x-...) are the file's own.
absl::Status OnlyKeys(const YAML::Node& n, const std::string& field,
                      const std::vector<const char*>& known,
                      const std::vector<const char*>& ignored = {}) {
  if (!n || !n.IsMap()) return absl::OkStatus();
  for (const auto& it : n) {
    const std::string key = it.first.as<std::string>();
    if (absl::StartsWith(key, "x-")) continue;
    auto is = [&](const char* k) { return key == k; };
    if (std::any_of(known.begin(), known.end(), is) ||
        std::any_of(ignored.begin(), ignored.end(), is))
      continue;
    std::vector<std::string> names(known.begin(), known.end());
    return absl::InvalidArgumentError(
        absl::StrCat(field.empty() ? "" : field + ".", Cut(key),
                     ": not supported by musketeer's stack deploy; remove it (supported here: ",
                     absl::StrJoin(names, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SplitShellWords(std::string_view text,
                                                         const std::string& field) {
  // As compose splits a string command (POSIX shell quoting, no expansion).
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote == '\'') {
      if (c == '\'') {
        quote = 0;
      } else {
        word += c;
      }
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < text.size() &&
                 std::string_view("\"\\$`").find(text[i + 1]) != std::string_view::npos) {
        word += text[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0)
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", Cut(text), "' has an unterminated ", std::string(1, quote), " quote"));
  if (in_word) out.push_back(std::move(word));
  return out;
}

}  // namespace

absl::StatusOr<ComposeFile> ParseCompose(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("compose_yaml: not valid YAML: ", e.what()));
  }
  if (!root.IsMap() || !root["services"] || !root["services"].IsMap()) {
    return absl::InvalidArgumentError("compose_yaml: needs a top-level 'services' mapping");
  }
  if (root["version"]) {
    const std::string v = root["version"].as<std::string>();
    if (v.empty() || v[0] != '3')
      return absl::InvalidArgumentError(
          absl::StrCat("compose_yaml: version '", v, "' is not supported; use version 3.x"));
  }
  ComposeFile out;
  try {
    if (auto s = OnlyKeys(root, "", {"version", "services", "networks", "secrets"}); !s.ok())
      return s;
    if (root["networks"] && root["networks"].IsMap()) {
      for (const auto& it : root["networks"]) {
        pb::CreateNetworkRequest n;
        n.set_name(it.first.as<std::string>());
        const YAML::Node& def = it.second;
        const std::string field = "networks." + n.name();
        if (auto s = OnlyKeys(def, field, {"driver", "attachable", "ipam", "external", "name"});
            !s.ok())
          return s;
        if (def && def["external"] && def["external"].as<bool>(false)) {
          // A network made outside the stack: used by its name, neither made nor removed.
          out.external_networks[n.name()] = def["name"] ? def["name"].as<std::string>() : n.name();
          continue;
        }
        if (def && def["name"])
          return absl::InvalidArgumentError(
              field +
              ".name: only an external network may name itself; the stack's networks "
              "are STACK_NAME");
        n.set_driver(def && def["driver"] ? def["driver"].as<std::string>() : "overlay");
        if (n.driver() != "overlay")
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".driver: '", Cut(n.driver()),
                           "' is not supported; swarm networks are overlay"));
        if (def && def["attachable"]) n.set_attachable(def["attachable"].as<bool>());
        if (def && def["ipam"]) {
          if (auto s = OnlyKeys(def["ipam"], field + ".ipam", {"driver", "config"}); !s.ok())
            return s;
          const YAML::Node config = def["ipam"]["config"];
          if (config && (!config.IsSequence() || config.size() > 1))
            return absl::InvalidArgumentError(
                field + ".ipam.config: give one entry with a subnet (one subnet per network)");
          if (config && config.size() == 1) {
            if (auto s = OnlyKeys(config[0], field + ".ipam.config", {"subnet"}); !s.ok()) return s;
            if (config[0]["subnet"]) n.set_subnet(config[0]["subnet"].as<std::string>());
          }
        }
        out.networks.push_back(n);
      }
    }
    // Secrets: external ones only (made with `musketeer secret create`): a file's contents
    // would have to travel from the client's machine, and a compose file is read here.
    if (root["secrets"] && root["secrets"].IsMap()) {
      for (const auto& it : root["secrets"]) {
        const std::string key = it.first.as<std::string>();
        const YAML::Node& def = it.second;
        if (auto s = OnlyKeys(def, "secrets." + key, {"external", "name", "file"}); !s.ok())
          return s;
        if (!def || !def["external"] || !def["external"].as<bool>(false)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "secrets.", Cut(key),
              ": only external secrets are supported; create it with `musketeer secret create ",
              Cut(key), " FILE` and declare it `external: true`"));
        }
        out.secrets[key] = def["name"] ? def["name"].as<std::string>() : key;
      }
    }
    for (const auto& it : root["services"]) {
      const std::string name = it.first.as<std::string>();
      const std::string field = "services." + name;
      const YAML::Node& s = it.second;
      if (auto st = OnlyKeys(s, field,
                             {"image", "pull_policy", "command", "entrypoint", "environment",
                              "ports", "networks", "cap_add", "secrets", "healthcheck", "deploy"},
                             {"build", "container_name", "depends_on", "restart", "links"});
          !st.ok())
        return st;
      pb::ServiceSpec spec;
      spec.set_name(name);
      if (!s["image"])
        return absl::InvalidArgumentError(field +
                                          ".image: required (building from compose is not "
                                          "supported; build with `musketeer image build` first)");
      spec.set_image(s["image"].as<std::string>());
      if (s["pull_policy"]) {  // compose's if_not_present is docker's missing
        const std::string pull = s["pull_policy"].as<std::string>();
        spec.set_pull(pull == "if_not_present" ? "missing" : pull);
      }
      for (const auto& [key, out] : {std::pair{"command", spec.mutable_command()},
                                     std::pair{"entrypoint", spec.mutable_entrypoint()}}) {
        const YAML::Node v = s[key];
        if (!v) continue;
        if (v.IsSequence()) {
          for (const auto& c : v) out->Add(c.as<std::string>());
        } else {  // a string is split into words as a shell would, without running one
          auto words = SplitShellWords(v.as<std::string>(), field + "." + key);
          if (!words.ok()) return words.status();
          for (auto& w : *words) out->Add(std::move(w));
        }
      }
      if (s["environment"]) {
        if (s["environment"].IsMap()) {
          for (const auto& e : s["environment"])
            (*spec.mutable_env())[e.first.as<std::string>()] = e.second.as<std::string>("");
        } else {
          for (const auto& e : s["environment"]) {
            std::string kv = e.as<std::string>();
            auto eq = kv.find('=');
            (*spec.mutable_env())[kv.substr(0, eq)] =
                eq == std::string::npos ? "" : kv.substr(eq + 1);
          }
        }
      }
      for (const auto& p : s["ports"]) {
        if (auto st = OnlyKeys(p, field + ".ports", {"target", "published", "protocol", "mode"});
            !st.ok())
          return st;
        if (p.IsMap() && p["mode"] && p["mode"].as<std::string>() != "ingress")
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".ports.mode: '", Cut(p["mode"].as<std::string>()),
                           "' is not supported; ports are published through the ingress (or "
                           "the edge proxy)"));
        auto port = ParsePort(p, field + ".ports");
        if (!port.ok()) return port.status();
        *spec.add_ports() = *port;
      }
      if (s["networks"]) {
        if (s["networks"].IsMap()) {
          for (const auto& n : s["networks"]) spec.add_networks(n.first.as<std::string>());
        } else {
          for (const auto& n : s["networks"]) spec.add_networks(n.as<std::string>());
        }
      }
      for (const auto& c : s["cap_add"]) spec.add_cap_add(c.as<std::string>());
      for (const auto& ref : s["secrets"]) {
        if (auto st = OnlyKeys(ref, field + ".secrets", {"source", "target"}); !st.ok()) return st;
        auto* r = spec.add_secrets();
        if (ref.IsMap()) {
          r->set_secret(ref["source"].as<std::string>(""));
          r->set_target(ref["target"].as<std::string>(""));
        } else {
          r->set_secret(ref.as<std::string>());
        }
        auto it = out.secrets.find(r->secret());
        if (it == out.secrets.end()) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".secrets: '", Cut(r->secret()),
                                                         "' is not declared under secrets"));
        }
        r->set_secret(it->second);  // the swarm's name of it
      }
      if (const YAML::Node hc = s["healthcheck"]) {
        if (auto st = OnlyKeys(hc, field + ".healthcheck",
                               {"test", "interval", "timeout", "retries", "disable"});
            !st.ok())
          return st;
        auto* h = spec.mutable_healthcheck();
        if (hc["disable"] && hc["disable"].as<bool>()) {
          h->add_test("NONE");  // compose's meaning: the image's HEALTHCHECK does not run
        } else if (hc["test"].IsSequence()) {
          for (const auto& t : hc["test"]) h->add_test(t.as<std::string>());
        } else if (hc["test"]) {
          h->add_test("CMD-SHELL");
          h->add_test(hc["test"].as<std::string>());
        }
        for (auto [key, setter] : {std::pair<const char*, void (pb::Healthcheck::*)(uint32_t)>{
                                       "interval", &pb::Healthcheck::set_interval_ms},
                                   {"timeout", &pb::Healthcheck::set_timeout_ms}}) {
          if (hc[key]) {
            auto d = ParseDurationMs(hc[key].as<std::string>(), field + ".healthcheck." + key);
            if (!d.ok()) return d.status();
            (h->*setter)(*d);
          }
        }
        if (hc["retries"]) h->set_retries(hc["retries"].as<unsigned>());
      }
      if (const YAML::Node d = s["deploy"]) {
        const std::string in = field + ".deploy";
        const auto sub = [](const YAML::Node& n, const char* key) {
          return n && n.IsMap() && n[key] ? n[key] : YAML::Node();
        };
        const YAML::Node resources = sub(d, "resources");
        for (const auto& [node, where, keys] :
             std::vector<std::tuple<YAML::Node, std::string, std::vector<const char*>>>{
                 {d,
                  in,
                  {"mode", "replicas", "placement", "labels", "resources", "update_config",
                   "rollback_config", "endpoint_mode"}},
                 {sub(d, "placement"), in + ".placement", {"constraints"}},
                 {resources, in + ".resources", {"limits", "reservations"}},
                 {sub(resources, "limits"), in + ".resources.limits", {"cpus", "memory"}},
                 {sub(resources, "reservations"),
                  in + ".resources.reservations",
                  {"cpus", "memory"}},
                 {sub(d, "update_config"),
                  in + ".update_config",
                  {"parallelism", "delay", "monitor", "failure_action", "order"}},
                 {sub(d, "rollback_config"),
                  in + ".rollback_config",
                  {"parallelism", "delay", "monitor", "failure_action", "order"}}}) {
          if (auto st = OnlyKeys(node, where, keys); !st.ok()) return st;
        }
        if (d["endpoint_mode"] && d["endpoint_mode"].as<std::string>() != "vip")
          return absl::InvalidArgumentError(
              in +
              ".endpoint_mode: only vip (the default) is supported; musketeer chooses "
              "dnsrr itself where a service's ports go through the edge proxy");
        if (d["mode"]) spec.set_mode(d["mode"].as<std::string>());
        if (d["replicas"]) spec.set_replicas(d["replicas"].as<unsigned>());
        if (d["placement"] && d["placement"]["constraints"]) {
          for (const auto& c : d["placement"]["constraints"])
            spec.add_constraints(c.as<std::string>());
        }
        if (d["labels"] && d["labels"].IsMap()) {
          for (const auto& l : d["labels"])
            (*spec.mutable_labels())[l.first.as<std::string>()] = l.second.as<std::string>("");
        } else if (d["labels"]) {  // the list form: "KEY=VALUE"
          for (const auto& l : d["labels"]) {
            const std::string kv = l.as<std::string>();
            const size_t eq = kv.find('=');
            (*spec.mutable_labels())[kv.substr(0, eq)] =
                eq == std::string::npos ? "" : kv.substr(eq + 1);
          }
        }
        if (const YAML::Node lim = resources ? resources["limits"] : YAML::Node()) {
          if (lim["cpus"])
            spec.mutable_resources()->set_cpus(std::stod(lim["cpus"].as<std::string>()));
          if (lim["memory"]) {
            auto b = ParseBytes(lim["memory"].as<std::string>(),
                                field + ".deploy.resources.limits.memory");
            if (!b.ok()) return b.status();
            spec.mutable_resources()->set_memory_bytes(*b);
          }
        }
        if (const YAML::Node res = resources ? resources["reservations"] : YAML::Node()) {
          if (res["cpus"])
            spec.mutable_resources()->set_reserve_cpus(std::stod(res["cpus"].as<std::string>()));
          if (res["memory"]) {
            auto b = ParseBytes(res["memory"].as<std::string>(),
                                field + ".deploy.resources.reservations.memory");
            if (!b.ok()) return b.status();
            spec.mutable_resources()->set_reserve_memory_bytes(*b);
          }
        }
        if (auto st = ParsePolicy(d["update_config"], spec.mutable_update_policy(),
                                  field + ".deploy.update_config");
            !st.ok())
          return st;
        if (auto st = ParsePolicy(d["rollback_config"], spec.mutable_rollback_policy(),
                                  field + ".deploy.rollback_config");
            !st.ok())
          return st;
      }
      if (auto st = ValidateServiceSpec(spec); !st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": ", st.message()));
      }
      out.services.push_back(std::move(spec));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("compose_yaml: ", e.what()));
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("compose_yaml: a number was expected: ", e.what()));
  }
  return out;
}

}  // namespace musketeer::cluster
