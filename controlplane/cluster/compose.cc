// The compose loader and converter (compose.h). Three passes: each file is read, its merge
// keys applied and its strings interpolated into a fresh tree (Resolve); the files are merged
// as docker merges them (MergeInto); the result is converted service by service.
#include "controlplane/cluster/compose.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/service_parts.h"

namespace musketeer::cluster {

namespace {

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// ---------------------------------------------------------------- keys

// The service keys docker's compose schema (3.x) allows, and what docker does with those it
// does not convert: refuses (forbidden), ignores with a warning (unsupported, deprecated).
const std::set<std::string>& ServiceKeys() {
  static const auto* keys = new std::set<std::string>{
      "cap_add",      "cap_drop",     "cgroup_parent",   "cgroupns_mode", "command",
      "configs",      "container_name", "credential_spec", "depends_on",  "deploy",
      "devices",      "dns",          "dns_search",      "domainname",    "entrypoint",
      "env_file",     "environment",  "expose",          "external_links", "extra_hosts",
      "healthcheck",  "hostname",     "image",           "init",          "ipc",
      "isolation",    "labels",       "links",           "logging",       "mac_address",
      "network_mode", "networks",     "pid",             "ports",         "privileged",
      "read_only",    "restart",      "secrets",         "security_opt",  "shm_size",
      "stdin_open",   "stop_grace_period", "stop_signal", "sysctls",      "tmpfs",
      "tty",          "ulimits",      "user",            "userns_mode",   "volumes",
      "working_dir",  "build",        "pull_policy"};
  return *keys;
}
const std::map<std::string, std::string>& ForbiddenKeys() {
  static const auto* keys = new std::map<std::string, std::string>{
      {"extends", "Support for `extends` is not implemented yet."},
      {"volume_driver",
       "Instead of setting the volume driver on the service, define a volume using the top-level "
       "`volumes` option and specify the driver there."},
      {"volumes_from",
       "To share a volume between services, define it using the top-level `volumes` option and "
       "reference it from each service that shares it using the service-level `volumes` option."},
      {"cpu_quota", "Set resource limits using deploy.resources"},
      {"cpu_shares", "Set resource limits using deploy.resources"},
      {"cpuset", "Set resource limits using deploy.resources"},
      {"mem_limit", "Set resource limits using deploy.resources"},
      {"memswap_limit", "Set resource limits using deploy.resources"}};
  return *keys;
}
const std::set<std::string>& UnsupportedKeys() {
  static const auto* keys = new std::set<std::string>{
      "build",   "cgroupns_mode", "cgroup_parent", "devices",      "domainname",   "external_links",
      "ipc",     "links",         "mac_address",   "network_mode", "pid",          "privileged",
      "restart", "security_opt",  "shm_size",      "userns_mode"};
  return *keys;
}
const std::map<std::string, std::string>& DeprecatedKeys() {
  static const auto* keys = new std::map<std::string, std::string>{
      {"container_name", "Setting the container name is not supported."},
      {"expose",
       "Exposing ports is unnecessary - services on the same network can access each other's "
       "containers on any port."}};
  return *keys;
}

// INVALID_ARGUMENT for a key of `n` that is neither in `known` nor an x- extension, as
// docker's schema: "services.web.foo: not allowed ...".
absl::Status OnlyKeys(const YAML::Node& n, const std::string& field,
                      const std::set<std::string>& known) {
  if (!n || !n.IsMap()) return absl::OkStatus();
  for (const auto& it : n) {
    const std::string key = it.first.as<std::string>();
    if (absl::StartsWith(key, "x-") || known.count(key)) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        field.empty() ? "" : field + ".", Cut(key),
        ": not allowed in a compose file (version 3) here; allowed: ",
        absl::StrJoin(known, ", ")));
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

// ---------------------------------------------------------------- pass 1: resolve

struct Resolver {
  const std::map<std::string, std::string>& env;
  std::vector<std::string>* unset;

  // A copy of `n` with merge keys (<<) applied and every string value interpolated.
  absl::StatusOr<YAML::Node> Resolve(const YAML::Node& n, const std::string& path) {
    switch (n.Type()) {
      case YAML::NodeType::Scalar: {
        auto s = Interpolate(n.Scalar(), env, path, unset);
        if (!s.ok()) return s.status();
        return YAML::Node(*s);
      }
      case YAML::NodeType::Sequence: {
        YAML::Node out(YAML::NodeType::Sequence);
        for (const auto& item : n) {
          auto r = Resolve(item, path + ".[]");
          if (!r.ok()) return r.status();
          out.push_back(*r);
        }
        return out;
      }
      case YAML::NodeType::Map: {
        YAML::Node out(YAML::NodeType::Map);
        std::vector<YAML::Node> merged;  // the maps `<<` names: explicit keys win, then earlier
        for (const auto& it : n) {
          const std::string key = it.first.as<std::string>();
          if (key == "<<") {
            if (it.second.IsMap()) merged.push_back(it.second);
            for (const auto& m : it.second.IsSequence() ? it.second : YAML::Node())
              if (m.IsMap()) merged.push_back(m);
            continue;
          }
          auto r = Resolve(it.second, path.empty() ? key : path + "." + key);
          if (!r.ok()) return r.status();
          out[key] = *r;
        }
        for (const auto& m : merged) {
          for (const auto& it : m) {
            const std::string key = it.first.as<std::string>();
            if (out[key].IsDefined() && !out[key].IsNull()) continue;
            auto r = Resolve(it.second, path.empty() ? key : path + "." + key);
            if (!r.ok()) return r.status();
            out[key] = *r;
          }
        }
        return out;
      }
      default:
        return YAML::Node();
    }
  }
};

// ---------------------------------------------------------------- scalars

std::string Str(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : ""; }

absl::StatusOr<bool> Bool(const YAML::Node& n, const std::string& field) {
  const std::string s = absl::AsciiStrToLower(Str(n));
  if (s == "true" || s == "yes" || s == "y" || s == "on") return true;
  if (s == "false" || s == "no" || s == "n" || s == "off") return false;
  return Invalid(field, absl::StrCat("'", Cut(Str(n)), "' is not a boolean (true or false)"));
}

// Go's ParseInt(s, 0, 64): decimal, 0x hex, 0o or leading-0 octal, `_` separators.
absl::StatusOr<int64_t> Int(const YAML::Node& n, const std::string& field) {
  std::string s = Str(n);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  bool negative = false;
  absl::string_view v = s;
  if (absl::ConsumePrefix(&v, "-")) negative = true;
  int base = 10;
  if (absl::ConsumePrefix(&v, "0x") || absl::ConsumePrefix(&v, "0X")) {
    base = 16;
  } else if (absl::ConsumePrefix(&v, "0o") || absl::ConsumePrefix(&v, "0O")) {
    base = 8;
  } else if (v.size() > 1 && v[0] == '0') {
    base = 8;
  }
  uint64_t out = 0;
  const bool ok = base == 10   ? absl::SimpleAtoi(v, &out)
                  : base == 16 ? absl::SimpleHexAtoi(v, &out)
                               : [&] {
                                   if (v.empty()) return false;
                                   for (char c : v) {
                                     if (c < '0' || c > '7') return false;
                                     out = out * 8 + (c - '0');
                                   }
                                   return true;
                                 }();
  if (!ok || out > static_cast<uint64_t>(INT64_MAX))
    return Invalid(field, absl::StrCat("'", Cut(Str(n)), "' is not an integer"));
  return negative ? -static_cast<int64_t>(out) : static_cast<int64_t>(out);
}

absl::StatusOr<uint64_t> Unsigned(const YAML::Node& n, const std::string& field) {
  auto v = Int(n, field);
  if (!v.ok()) return v.status();
  if (*v < 0) return Invalid(field, "cannot be negative");
  return static_cast<uint64_t>(*v);
}

// Go's time.ParseDuration, to milliseconds (the API's unit).
absl::StatusOr<int64_t> DurationMs(const YAML::Node& n, const std::string& field) {
  const std::string s = Str(n);
  if (s == "0") return 0;
  static const std::regex kPart("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|µs|ms|s|m|h)");
  double total = 0;
  size_t matched = 0;
  for (std::sregex_iterator it(s.begin(), s.end(), kPart), end; it != end; ++it) {
    if (it->position() != static_cast<long>(matched)) break;
    const double v = std::stod((*it)[1]);
    const std::string unit = (*it)[2];
    total += v * (unit == "ns"                    ? 1e-6
                  : unit == "us" || unit == "µs" ? 1e-3
                  : unit == "ms"                  ? 1
                  : unit == "s"                   ? 1e3
                  : unit == "m"                   ? 6e4
                                                  : 3.6e6);
    matched += it->length();
  }
  if (s.empty() || matched != s.size())
    return Invalid(field, absl::StrCat("'", Cut(s), "' is not a duration like 10s, 1m30s or 500ms"));
  return static_cast<int64_t>(std::llround(total));
}

// docker's RAMInBytes: binary units k, m, g, t, p, optional b or ib, decimals allowed.
absl::StatusOr<int64_t> Bytes(const YAML::Node& n, const std::string& field) {
  static const std::regex kSize("(\\d+(?:\\.\\d+)?)\\s*([kKmMgGtTpP]?)(?:[iI]?[bB])?");
  const std::string s = Str(n);
  std::smatch m;
  if (!std::regex_match(s, m, kSize))
    return Invalid(field, absl::StrCat("'", Cut(s), "' is not a size like 512M or 1.5g"));
  const double v = std::stod(m[1]);
  const char u = m[2].length() ? static_cast<char>(tolower(m[2].str()[0])) : 'b';
  const double unit = u == 'k'   ? 1024.0
                      : u == 'm' ? 1048576.0
                      : u == 'g' ? 1073741824.0
                      : u == 't' ? 1099511627776.0
                      : u == 'p' ? 1125899906842624.0
                                 : 1.0;
  return static_cast<int64_t>(v * unit);
}

// docker's ParseCPUs: an exact decimal number of CPUs, in nano-CPUs.
absl::StatusOr<double> Cpus(const YAML::Node& n, const std::string& field) {
  double v = 0;
  if (!absl::SimpleAtod(Str(n), &v) || v < 0)
    return Invalid(field, absl::StrCat("'", Cut(Str(n)), "' is not a number of CPUs like 0.5"));
  if (std::fabs(v * 1e9 - std::llround(v * 1e9)) > 1e-3)
    return Invalid(field, absl::StrCat("'", Cut(Str(n)), "': value is too precise"));
  return v;
}

// A string or a list of strings, as a list.
std::vector<std::string> Strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n && n.IsScalar()) out.push_back(n.Scalar());
  if (n && n.IsSequence())
    for (const auto& x : n) out.push_back(Str(x));
  return out;
}

// A mapping written as a map or as a list of "KEY=VALUE" (labels, sysctls: "KEY" alone is "").
std::map<std::string, std::string> KeyValues(const YAML::Node& n) {
  std::map<std::string, std::string> out;
  if (n && n.IsMap()) {
    for (const auto& it : n) out[it.first.as<std::string>()] = Str(it.second);
  } else if (n && n.IsSequence()) {
    for (const auto& x : n) {
      const std::string kv = Str(x);
      const size_t eq = kv.find('=');
      out[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
  }
  return out;
}

// ---------------------------------------------------------------- pass 2: merge

// Normalizes the list forms that merge by key into maps (environment, labels, sysctls,
// networks), so that files can be merged key by key as docker's loader does.
void NormalizeService(YAML::Node& s) {
  for (const char* key : {"labels", "sysctls"}) {
    if (s[key] && s[key].IsSequence()) {
      YAML::Node m(YAML::NodeType::Map);
      for (const auto& [k, v] : KeyValues(s[key])) m[k] = v;
      s[key] = m;
    }
  }
  if (s["deploy"] && s["deploy"]["labels"] && s["deploy"]["labels"].IsSequence()) {
    YAML::Node m(YAML::NodeType::Map);
    for (const auto& [k, v] : KeyValues(s["deploy"]["labels"])) m[k] = v;
    s["deploy"]["labels"] = m;
  }
  if (s["environment"] && s["environment"].IsSequence()) {
    YAML::Node m(YAML::NodeType::Map);
    for (const auto& x : s["environment"]) {
      const std::string kv = Str(x);
      const size_t eq = kv.find('=');
      if (eq == std::string::npos)
        m[kv] = YAML::Node();  // a bare KEY: from the caller's environment
      else
        m[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    s["environment"] = m;
  }
  if (s["networks"] && s["networks"].IsSequence()) {
    YAML::Node m(YAML::NodeType::Map);
    for (const auto& x : s["networks"]) m[Str(x)] = YAML::Node();
    s["networks"] = m;
  }
}

// The identity a list item merges by (ports by published port, volumes by target, secrets and
// configs by source), or "" for lists that are appended.
std::string MergeKey(const std::string& list, const YAML::Node& item) {
  if (list == "volumes") {
    if (item.IsMap()) return Str(item["target"]);
    const std::vector<std::string> parts = absl::StrSplit(Str(item), ':');
    return parts.size() >= 2 ? parts[1] : parts[0];
  }
  if (list == "secrets" || list == "configs") return item.IsMap() ? Str(item["source"]) : Str(item);
  if (list == "ports") {  // zero-padded: the merged list is in published order, as docker's
    std::string published;
    if (item.IsMap()) {
      published = Str(item["published"]);
    } else {
      std::string s = Str(item);
      s = s.substr(0, s.find('/'));
      const std::vector<std::string> parts = absl::StrSplit(s, ':');
      published = parts.size() >= 2 ? parts[parts.size() - 2] : "";
    }
    return std::string(published.size() < 5 ? 5 - published.size() : 0, '0') + published;
  }
  return "";
}

// Merges `over` into `base` (both resolved trees), as docker's loader merges -c files.
void MergeMaps(YAML::Node base, const YAML::Node& over, const std::string& path) {
  for (const auto& it : over) {
    const std::string key = it.first.as<std::string>();
    const YAML::Node& v = it.second;
    YAML::Node b = base[key];
    const std::string here = path.empty() ? key : path + "." + key;
    if (!b || b.IsNull()) {
      base[key] = YAML::Clone(v);
    } else if (here == "logging" && Str(b["driver"]) != Str(v["driver"]) &&
               !Str(b["driver"]).empty() && !Str(v["driver"]).empty()) {
      base[key] = YAML::Clone(v);  // another driver: its options only
    } else if (b.IsMap() && v.IsMap()) {
      if (here == "environment") {  // an empty override does not clobber a value
        for (const auto& e : v)
          if (!Str(e.second).empty() || !b[e.first.as<std::string>()]) b[e.first] = e.second;
      } else {
        MergeMaps(b, v, here);
      }
    } else if (b.IsSequence() && v.IsSequence() &&
               (key == "command" || key == "entrypoint")) {
      base[key] = YAML::Clone(v);
    } else if (b.IsSequence() && v.IsSequence()) {
      if (key == "ports" || key == "volumes" || key == "secrets" || key == "configs") {
        std::map<std::string, YAML::Node> by_key;
        for (const auto& x : b) by_key[MergeKey(key, x)] = static_cast<const YAML::Node&>(x);
        for (const auto& x : v) by_key[MergeKey(key, x)] = static_cast<const YAML::Node&>(x);
        YAML::Node out(YAML::NodeType::Sequence);
        for (const auto& [k, x] : by_key) out.push_back(x);
        base[key] = out;
      } else {  // appended, as mergo.WithAppendSlice
        for (const auto& x : v) b.push_back(YAML::Clone(x));
      }
    } else if (!(v.IsScalar() && v.Scalar().empty())) {
      base[key] = YAML::Clone(v);
    }
  }
}

void MergeInto(YAML::Node& base, const YAML::Node& over) {
  for (const char* section : {"networks", "volumes", "secrets", "configs"}) {
    if (!over[section] || !over[section].IsMap()) continue;
    if (!base[section] || !base[section].IsMap()) base[section] = YAML::Node(YAML::NodeType::Map);
    for (const auto& it : over[section]) base[section][it.first] = YAML::Clone(it.second);
  }
  if (!over["services"] || !over["services"].IsMap()) return;
  if (!base["services"] || !base["services"].IsMap())
    base["services"] = YAML::Node(YAML::NodeType::Map);
  for (const auto& it : over["services"]) {
    YAML::Node b = base["services"][it.first.as<std::string>()];
    if (!b || !b.IsMap())
      base["services"][it.first] = YAML::Clone(it.second);
    else
      MergeMaps(b, it.second, "");
  }
}

// ---------------------------------------------------------------- pass 3: convert

struct Converter {
  const ComposeInput& in;
  YAML::Node root;
  ComposeStack out;
  std::set<std::string> used_networks, used_secrets, used_configs;

  std::string Scoped(const std::string& key) const { return in.stack + "_" + key; }

  // The swarm's name of a top-level object: its `name`, else STACK_KEY (external: the key).
  std::string NameOf(const char* section, const std::string& key) const {
    const YAML::Node def = root[section] ? root[section][key] : YAML::Node();
    if (def && def.IsMap()) {
      if (!Str(def["name"]).empty()) return Str(def["name"]);
      if (def["external"]) {
        const YAML::Node ext = def["external"];
        if (ext.IsMap()) return Str(ext["name"]).empty() ? key : Str(ext["name"]);
        if (Str(ext) == "true") return key;
      }
    }
    return Scoped(key);
  }
  bool IsExternal(const char* section, const std::string& key) const {
    const YAML::Node def = root[section] ? root[section][key] : YAML::Node();
    return def && def.IsMap() && def["external"] &&
           (def["external"].IsMap() || Str(def["external"]) == "true");
  }
  bool Declared(const char* section, const std::string& key) const {
    return root[section] && root[section].IsMap() && root[section][key];
  }

  absl::Status Port(const YAML::Node& p, const std::string& field, pb::ServiceSpec& spec) {
    if (p.IsMap()) {
      if (auto s = OnlyKeys(p, field, {"mode", "target", "published", "protocol"}); !s.ok())
        return s;
      pb::PortConfig port;
      if (p["target"]) {
        auto t = Unsigned(p["target"], field + ".target");
        if (!t.ok()) return t.status();
        port.set_target(*t);
      }
      if (p["published"]) {
        auto v = Unsigned(p["published"], field + ".published");
        if (!v.ok()) return v.status();
        port.set_published(*v);
      }
      port.set_protocol(Str(p["protocol"]));
      port.set_publish_mode(Str(p["mode"]));
      *spec.add_ports() = port;
      return absl::OkStatus();
    }
    // [ip:][published[-end]:]target[-end][/protocol]
    std::string s = Str(p);
    std::string protocol = "tcp";
    if (auto slash = s.rfind('/'); slash != std::string::npos) {
      protocol = absl::AsciiStrToLower(s.substr(slash + 1));
      s = s.substr(0, slash);
    }
    if (protocol != "tcp" && protocol != "udp" && protocol != "sctp")
      return Invalid(field, absl::StrCat("invalid proto: ", Cut(protocol)));
    std::string ip, published, target;
    const size_t last = s.rfind(':');
    target = last == std::string::npos ? s : s.substr(last + 1);
    if (last != std::string::npos) {
      const std::string rest = s.substr(0, last);
      const size_t colon = rest.rfind(':');
      published = colon == std::string::npos ? rest : rest.substr(colon + 1);
      if (colon != std::string::npos) ip = rest.substr(0, colon);
    }
    if (!ip.empty()) {
      const std::string bare = absl::StrCat(absl::StripSuffix(absl::StripPrefix(ip, "["), "]"));
      static const std::regex kIp("[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*");
      if (!std::regex_match(bare, kIp))
        return Invalid(field, absl::StrCat("invalid IP address: ", Cut(ip)));
      if (bare != "0.0.0.0" && bare != "::")
        out.warnings.push_back(absl::StrCat("ignoring IP-address (", Cut(Str(p)),
                                            ") service will listen on '0.0.0.0'"));
    }
    auto range = [&](const std::string& r, uint32_t* lo, uint32_t* hi) {
      const size_t dash = r.find('-');
      const std::string a = r.substr(0, dash), b = dash == std::string::npos ? a : r.substr(dash + 1);
      return absl::SimpleAtoi(a, lo) && absl::SimpleAtoi(b, hi) && *lo <= *hi && *lo > 0 &&
             *hi <= 65535;
    };
    uint32_t t_lo = 0, t_hi = 0, p_lo = 0, p_hi = 0;
    if (!range(target, &t_lo, &t_hi) || (!published.empty() && !range(published, &p_lo, &p_hi)))
      return Invalid(field, absl::StrCat("'", Cut(Str(p)),
                                         "' is not [IP:][PUBLISHED:]TARGET[/PROTOCOL]"));
    const uint32_t targets = t_hi - t_lo + 1;
    if (!published.empty() && targets > 1 && p_hi - p_lo + 1 != targets)
      return Invalid(field, absl::StrCat("invalid ranges specified for container and host Ports: ",
                                         target, " and ", published));
    const uint32_t count = published.empty() || targets > 1 ? targets : p_hi - p_lo + 1;
    for (uint32_t i = 0; i < count; ++i) {
      pb::PortConfig& port = *spec.add_ports();
      port.set_target(targets > 1 ? t_lo + i : t_lo);
      port.set_published(published.empty() ? 0 : p_lo + i);
      port.set_protocol(protocol);
      port.set_publish_mode("ingress");
    }
    return absl::OkStatus();
  }

  // docker's volumespec.Parse and convertVolumeToMount.
  absl::Status Volume(const YAML::Node& v, const std::string& field, pb::ServiceSpec& spec) {
    pb::Mount m;
    std::string volume_key;  // a named volume's key in the file
    if (v.IsMap()) {
      if (auto s = OnlyKeys(v, field,
                            {"type", "source", "target", "read_only", "consistency", "bind",
                             "volume", "tmpfs"});
          !s.ok())
        return s;
      if (auto s = OnlyKeys(v["bind"], field + ".bind", {"propagation"}); !s.ok()) return s;
      if (auto s = OnlyKeys(v["volume"], field + ".volume", {"nocopy"}); !s.ok()) return s;
      if (auto s = OnlyKeys(v["tmpfs"], field + ".tmpfs", {"size"}); !s.ok()) return s;
      m.set_type(Str(v["type"]));
      if (m.type().empty()) return Invalid(field + ".type", "required (volume, bind or tmpfs)");
      m.set_source(Str(v["source"]));
      m.set_target(Str(v["target"]));
      if (v["read_only"]) {
        auto b = Bool(v["read_only"], field + ".read_only");
        if (!b.ok()) return b.status();
        m.set_read_only(*b);
      }
      m.set_consistency(Str(v["consistency"]));
      for (const auto& [option, type] :
           {std::pair{"bind", "bind"}, std::pair{"volume", "volume"}, std::pair{"tmpfs", "tmpfs"}}) {
        if (v[option] && m.type() != type)
          return Invalid(field, absl::StrCat(option, " options are incompatible with type ",
                                             m.type()));
      }
      if (v["bind"]) m.set_bind_propagation(Str(v["bind"]["propagation"]));
      if (v["volume"] && v["volume"]["nocopy"]) {
        auto b = Bool(v["volume"]["nocopy"], field + ".volume.nocopy");
        if (!b.ok()) return b.status();
        m.set_volume_nocopy(*b);
      }
      if (v["tmpfs"] && v["tmpfs"]["size"]) {  // bytes: docker's schema takes no units here
        auto size = Unsigned(v["tmpfs"]["size"], field + ".tmpfs.size");
        if (!size.ok()) return size.status();
        m.set_tmpfs_size_bytes(*size);
      }
      if (m.type() == "bind" && m.source().empty())
        return Invalid(field, "invalid bind source, source cannot be empty");
      if (m.type() == "tmpfs" && !m.source().empty())
        return Invalid(field, "invalid tmpfs source, source must be empty");
      if (m.type() != "volume" && m.type() != "bind" && m.type() != "tmpfs")
        return Invalid(field + ".type",
                       absl::StrCat("'", Cut(m.type()), "': musketeer mounts volume, bind or tmpfs"));
      if (m.type() == "volume") volume_key = m.source();
    } else {
      const std::string text = Str(v);
      std::vector<std::string> parts = absl::StrSplit(text, ':');
      if (text.size() <= 2 || parts.size() == 1) {
        m.set_type("volume");
        m.set_target(text);
      } else {
        if (parts.size() > 3) return Invalid(field, absl::StrCat("invalid spec: ", Cut(text), ": too many colons"));
        for (const auto& p : parts)
          if (p.empty())
            return Invalid(field, absl::StrCat("invalid spec: ", Cut(text), ": empty section between colons"));
        const std::string& source = parts[0];
        const bool bind = source[0] == '.' || source[0] == '/' || source[0] == '~';
        m.set_type(bind ? "bind" : "volume");
        m.set_source(source);
        m.set_target(parts[1]);
        if (parts.size() == 3) {
          for (absl::string_view option : absl::StrSplit(parts[2], ',')) {
            if (option == "ro") {
              m.set_read_only(true);
            } else if (option == "rw") {
              m.set_read_only(false);
            } else if (option == "nocopy") {
              m.set_volume_nocopy(true);
            } else if (option == "private" || option == "rprivate" || option == "shared" ||
                       option == "rshared" || option == "slave" || option == "rslave") {
              m.set_bind_propagation(std::string(option));
            }  // anything else (z, Z, cached ...) docker ignores too
          }
        }
        if (!bind) volume_key = source;
      }
      if (m.type() == "volume") m.clear_bind_propagation();
      if (m.type() == "bind") m.set_volume_nocopy(false);
    }
    if (m.type() == "bind") {
      std::string source = m.source();
      if (absl::StartsWith(source, "~")) {
        auto home = in.environment.find("HOME");
        if (home == in.environment.end())
          out.warnings.push_back("cannot expand '~', because the environment lacks HOME");
        else
          source = home->second + source.substr(1);
      }
      if (!source.empty() && source[0] != '/') {
        if (in.working_dir.empty())
          return Invalid(field, absl::StrCat("the relative bind source '", Cut(source),
                                             "' needs the compose file's directory; send "
                                             "working_dir (the CLI does) or use an absolute path"));
        source = JoinPath(in.working_dir, source);
      }
      m.set_source(source);
    }
    if (m.type() == "volume" && !volume_key.empty()) {
      if (!Declared("volumes", volume_key))
        return Invalid(field, absl::StrCat("undefined volume \"", Cut(volume_key),
                                           "\"; declare it under the top-level volumes"));
      m.set_source(NameOf("volumes", volume_key));
      if (!IsExternal("volumes", volume_key)) {
        const YAML::Node def = root["volumes"][volume_key];
        for (const auto& [k, x] : KeyValues(def["labels"])) (*m.mutable_volume_labels())[k] = x;
        (*m.mutable_volume_labels())[kStackLabel] = in.stack;
        m.set_volume_driver(Str(def["driver"]));
        for (const auto& [k, x] : KeyValues(def["driver_opts"]))
          (*m.mutable_volume_driver_options())[k] = x;
      }
    } else if (m.type() == "volume") {
      m.set_volume_nocopy(false);  // an anonymous volume gets no options (docker's)
    }
    *spec.add_mounts() = m;
    return absl::OkStatus();
  }

  static std::string JoinPath(const std::string& dir, const std::string& rel) {
    std::vector<std::string> parts;
    for (const auto& p : absl::StrSplit(dir + "/" + rel, '/', absl::SkipEmpty())) {
      if (p == ".") continue;
      if (p == "..") {
        if (!parts.empty()) parts.pop_back();
        continue;
      }
      parts.emplace_back(p);
    }
    return "/" + absl::StrJoin(parts, "/");
  }

  // docker's capability normalization: upper case, CAP_ prefix, ALL alone, drop minus add.
  static void Capabilities(const YAML::Node& add, const YAML::Node& drop, pb::ServiceSpec& spec) {
    auto normalize = [](const YAML::Node& n) {
      std::set<std::string> out;
      for (const std::string& name : Strings(n)) {
        const std::string c = CapabilityName(name);
        if (c == "RESET" || c == "CAP_") continue;  // RESET: docker drops it; CAP_: empty
        out.insert(c);
      }
      if (out.count("ALL")) out = {"ALL"};
      return out;
    };
    const std::set<std::string> a = normalize(add);
    std::set<std::string> d = normalize(drop);
    for (const auto& c : a) d.erase(c);
    for (const auto& c : a) spec.add_cap_add(c);
    for (const auto& c : d) spec.add_cap_drop(c);
  }

  absl::Status Environment(const YAML::Node& s, const std::string& field, pb::ServiceSpec& spec) {
    std::map<std::string, std::optional<std::string>> env;
    for (const std::string& path : Strings(s["env_file"])) {
      auto it = in.files_content.find(path);
      if (it == in.files_content.end())
        return Invalid(field + ".env_file", absl::StrCat("'", Cut(path),
                                                         "' was not sent with the request (the CLI reads it)"));
      for (absl::string_view line : absl::StrSplit(it->second, '\n')) {
        line = absl::StripLeadingAsciiWhitespace(absl::StripSuffix(line, "\r"));
        if (line.empty() || line[0] == '#') continue;
        const size_t eq = line.find('=');
        const std::string key(line.substr(0, eq));
        if (key.find_first_of(" \t") != std::string::npos)
          return Invalid(field + ".env_file", absl::StrCat("invalid env file (", Cut(path),
                                                           "): variable '", Cut(key),
                                                           "' contains whitespaces"));
        if (eq == std::string::npos) {
          if (auto e = in.environment.find(key); e != in.environment.end()) env[key] = e->second;
        } else {
          env[key] = std::string(line.substr(eq + 1));
        }
      }
    }
    if (s["environment"] && s["environment"].IsMap()) {
      for (const auto& it : s["environment"]) {
        const std::string key = it.first.as<std::string>();
        if (it.second.IsNull() || !it.second.IsDefined())
          env[key] = std::nullopt;
        else
          env[key] = Str(it.second);
      }
    }
    for (auto& [key, value] : env) {
      // Empty or bare: the caller's value when it has one, as docker's.
      if (!value || value->empty()) {
        if (auto e = in.environment.find(key); e != in.environment.end()) value = e->second;
      }
      if (!value) {
        out.warnings.push_back(absl::StrCat(field, ".environment: ", Cut(key),
                                            " has no value and the caller's environment has "
                                            "none; it is set empty"));
        value = "";
      }
      (*spec.mutable_env())[key] = *value;
    }
    return absl::OkStatus();
  }

  absl::Status Healthcheck(const YAML::Node& hc, const std::string& field, pb::ServiceSpec& spec) {
    if (auto s = OnlyKeys(hc, field,
                          {"test", "interval", "timeout", "retries", "start_period", "disable"});
        !s.ok())
      return s;
    pb::Healthcheck& h = *spec.mutable_healthcheck();
    bool disable = false;
    if (hc["disable"]) {
      auto b = Bool(hc["disable"], field + ".disable");
      if (!b.ok()) return b.status();
      disable = *b;
    }
    const bool has_test = hc["test"] && !(hc["test"].IsSequence() && hc["test"].size() == 0);
    if (disable) {
      if (has_test) return Invalid(field, "test and disable can't be set at the same time");
      h.add_test("NONE");
      return absl::OkStatus();
    }
    if (hc["test"] && hc["test"].IsSequence()) {
      for (const auto& t : hc["test"]) h.add_test(Str(t));
    } else if (hc["test"]) {
      h.add_test("CMD-SHELL");
      h.add_test(Str(hc["test"]));
    }
    for (auto [key, setter] : {std::pair<const char*, void (pb::Healthcheck::*)(uint32_t)>{
                                   "interval", &pb::Healthcheck::set_interval_ms},
                               {"timeout", &pb::Healthcheck::set_timeout_ms},
                               {"start_period", &pb::Healthcheck::set_start_period_ms}}) {
      if (!hc[key]) continue;
      auto d = DurationMs(hc[key], field + "." + key);
      if (!d.ok()) return d.status();
      (h.*setter)(*d);
    }
    if (hc["retries"]) {
      auto r = Unsigned(hc["retries"], field + ".retries");
      if (!r.ok()) return r.status();
      h.set_retries(*r);
    }
    return absl::OkStatus();
  }

  static absl::Status Policy(const YAML::Node& n, const std::string& field, pb::UpdatePolicy* p) {
    if (auto s = OnlyKeys(n, field,
                          {"parallelism", "delay", "failure_action", "monitor", "max_failure_ratio",
                           "order"});
        !s.ok())
      return s;
    p->set_parallelism(1);  // docker's default when the section is there
    if (n["parallelism"]) {
      auto v = Unsigned(n["parallelism"], field + ".parallelism");
      if (!v.ok()) return v.status();
      p->set_parallelism(*v);
    }
    for (auto [key, setter] : {std::pair<const char*, void (pb::UpdatePolicy::*)(uint32_t)>{
                                   "delay", &pb::UpdatePolicy::set_delay_ms},
                               {"monitor", &pb::UpdatePolicy::set_monitor_ms}}) {
      if (!n[key]) continue;
      auto d = DurationMs(n[key], field + "." + key);
      if (!d.ok()) return d.status();
      (p->*setter)(*d);
    }
    p->set_failure_action(Str(n["failure_action"]));
    p->set_order(Str(n["order"]));
    if (n["max_failure_ratio"]) {
      double r = 0;
      if (!absl::SimpleAtod(Str(n["max_failure_ratio"]), &r))
        return Invalid(field + ".max_failure_ratio", "not a number");
      p->set_max_failure_ratio(r);
    }
    return absl::OkStatus();
  }

  absl::Status Deploy(const YAML::Node& d, const std::string& in_field, const YAML::Node& restart,
                      pb::ServiceSpec& spec) {
    const auto sub = [](const YAML::Node& n, const char* key) {
      return n && n.IsMap() && n[key] && !n[key].IsNull() ? n[key]
                                                          : YAML::Node(YAML::NodeType::Undefined);
    };
    const YAML::Node resources = sub(d, "resources");
    for (const auto& [node, where, keys] :
         std::vector<std::tuple<YAML::Node, std::string, std::set<std::string>>>{
             {d,
              in_field,
              {"mode", "replicas", "placement", "labels", "resources", "update_config",
               "rollback_config", "endpoint_mode", "restart_policy"}},
             {sub(d, "placement"),
              in_field + ".placement",
              {"constraints", "preferences", "max_replicas_per_node"}},
             {resources, in_field + ".resources", {"limits", "reservations"}},
             {sub(resources, "limits"), in_field + ".resources.limits", {"cpus", "memory", "pids"}},
             {sub(resources, "reservations"),
              in_field + ".resources.reservations",
              {"cpus", "memory", "generic_resources"}},
             {sub(d, "restart_policy"),
              in_field + ".restart_policy",
              {"condition", "delay", "max_attempts", "window"}}}) {
      if (auto st = OnlyKeys(node, where, keys); !st.ok()) return st;
    }
    const std::string mode = Str(sub(d, "mode"));
    if (!mode.empty() && mode != "replicated" && mode != "global")
      return Invalid(in_field + ".mode", absl::StrCat("unknown mode: ", Cut(mode),
                                                      " (musketeer runs replicated and global)"));
    spec.set_mode(mode.empty() ? "replicated" : mode);
    if (sub(d, "replicas")) {
      if (mode == "global")
        return Invalid(in_field + ".replicas", "replicas can only be used with replicated mode");
      auto r = Unsigned(d["replicas"], in_field + ".replicas");
      if (!r.ok()) return r.status();
      spec.set_replicas(*r);
    }
    for (const auto& [k, v] : KeyValues(sub(d, "labels"))) (*spec.mutable_labels())[k] = v;
    const YAML::Node placement = sub(d, "placement");
    for (const auto& c : Strings(sub(placement, "constraints"))) spec.add_constraints(c);
    for (const auto& p : sub(placement, "preferences")) {
      if (auto st = OnlyKeys(p, in_field + ".placement.preferences", {"spread"}); !st.ok())
        return st;
      spec.add_placement_preferences("spread=" + Str(p["spread"]));
    }
    if (sub(placement, "max_replicas_per_node")) {
      auto m = Unsigned(placement["max_replicas_per_node"],
                        in_field + ".placement.max_replicas_per_node");
      if (!m.ok()) return m.status();
      spec.set_max_replicas_per_node(*m);
    }
    if (const YAML::Node lim = sub(resources, "limits")) {
      if (lim["cpus"]) {
        auto c = Cpus(lim["cpus"], in_field + ".resources.limits.cpus");
        if (!c.ok()) return c.status();
        spec.mutable_resources()->set_cpus(*c);
      }
      if (lim["memory"]) {
        auto b = Bytes(lim["memory"], in_field + ".resources.limits.memory");
        if (!b.ok()) return b.status();
        spec.mutable_resources()->set_memory_bytes(*b);
      }
      if (lim["pids"]) {
        auto p = Int(lim["pids"], in_field + ".resources.limits.pids");
        if (!p.ok()) return p.status();
        spec.mutable_resources()->set_pids(*p);
      }
    }
    if (const YAML::Node res = sub(resources, "reservations")) {
      if (res["generic_resources"])
        return Invalid(in_field + ".resources.reservations.generic_resources",
                       "not supported by musketeer (no node advertises generic resources)");
      if (res["cpus"]) {
        auto c = Cpus(res["cpus"], in_field + ".resources.reservations.cpus");
        if (!c.ok()) return c.status();
        spec.mutable_resources()->set_reserve_cpus(*c);
      }
      if (res["memory"]) {
        auto b = Bytes(res["memory"], in_field + ".resources.reservations.memory");
        if (!b.ok()) return b.status();
        spec.mutable_resources()->set_reserve_memory_bytes(*b);
      }
    }
    if (const YAML::Node rp = sub(d, "restart_policy")) {
      pb::RestartPolicy& r = *spec.mutable_restart_policy();
      r.set_condition(Str(rp["condition"]));
      for (auto [key, setter] : {std::pair<const char*, void (pb::RestartPolicy::*)(uint32_t)>{
                                     "delay", &pb::RestartPolicy::set_delay_ms},
                                 {"window", &pb::RestartPolicy::set_window_ms}}) {
        if (!rp[key]) continue;
        auto v = DurationMs(rp[key], in_field + ".restart_policy." + key);
        if (!v.ok()) return v.status();
        (r.*setter)(*v);
      }
      if (rp["max_attempts"]) {
        auto v = Unsigned(rp["max_attempts"], in_field + ".restart_policy.max_attempts");
        if (!v.ok()) return v.status();
        r.set_max_attempts(*v);
      }
    } else if (!Str(restart).empty()) {  // the top-level `restart`, as docker converts it
      const std::string text = Str(restart);
      const size_t colon = text.find(':');
      const std::string name = text.substr(0, colon);
      int64_t attempts = 0;
      if (colon != std::string::npos) {
        if (name.empty())
          return Invalid(in_field, "invalid restart policy format: no policy provided before colon");
        if (!absl::SimpleAtoi(text.substr(colon + 1), &attempts))
          return Invalid(in_field, "invalid restart policy format: maximum retry count must be an integer");
        if (attempts < 0)
          return Invalid(in_field, "invalid restart policy: maximum retry count cannot be negative");
      }
      if (name != "no" && name != "always" && name != "unless-stopped" && name != "on-failure")
        return Invalid(in_field, absl::StrCat("invalid restart policy: unknown policy '", Cut(name),
                                              "' (must be one of 'no', 'always', 'on-failure', or "
                                              "'unless-stopped')"));
      if (name != "no") {
        pb::RestartPolicy& r = *spec.mutable_restart_policy();
        r.set_condition(name == "on-failure" ? "on-failure" : "any");
        if (attempts > 0) r.set_max_attempts(attempts);
      }
    }
    if (const YAML::Node u = sub(d, "update_config")) {
      if (auto st = Policy(u, in_field + ".update_config", spec.mutable_update_policy()); !st.ok())
        return st;
    }
    if (const YAML::Node u = sub(d, "rollback_config")) {
      if (auto st = Policy(u, in_field + ".rollback_config", spec.mutable_rollback_policy());
          !st.ok())
        return st;
    }
    spec.set_endpoint_mode(absl::AsciiStrToLower(Str(sub(d, "endpoint_mode"))));
    return absl::OkStatus();
  }

  // A service's secrets or configs (`kind`: "secrets" or "configs").
  template <class Ref>
  absl::Status References(const YAML::Node& list, const char* kind, const std::string& field,
                          google::protobuf::RepeatedPtrField<Ref>* refs,
                          std::set<std::string>* used) {
    for (const auto& r : list) {
      if (auto st = OnlyKeys(r, field, {"source", "target", "uid", "gid", "mode"}); !st.ok())
        return st;
      const std::string source = r.IsMap() ? Str(r["source"]) : Str(r);
      if (!Declared(kind, source))
        return Invalid(field, absl::StrCat("undefined ", std::string(kind).substr(0, 6), " \"",
                                           Cut(source), "\"; declare it under the top-level ",
                                           kind));
      used->insert(source);
      Ref& ref = *refs->Add();
      if constexpr (std::is_same_v<Ref, pb::SecretReference>) {
        ref.set_secret(NameOf(kind, source));
        // The file: target, else the source key (docker's).
        ref.set_target(r.IsMap() && !Str(r["target"]).empty() ? Str(r["target"]) : source);
      } else {
        ref.set_config(NameOf(kind, source));
        ref.set_target(r.IsMap() && !Str(r["target"]).empty() ? Str(r["target"]) : source);
      }
      if (r.IsMap()) {
        ref.set_uid(Str(r["uid"]));
        ref.set_gid(Str(r["gid"]));
        if (r["mode"]) {
          auto mode = Unsigned(r["mode"], field + ".mode");
          if (!mode.ok()) return mode.status();
          ref.set_mode(*mode);
        }
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<pb::ServiceSpec> Service(const std::string& key, const YAML::Node& s) {
    const std::string field = "services." + key;
    if (!s.IsMap()) return Invalid(field, "must be a mapping");
    pb::ServiceSpec spec;
    spec.set_name(Scoped(key));
    spec.set_image(Str(s["image"]));
    if (spec.image().empty())
      return Invalid(field + ".image",
                     "required (building from compose is not supported; build with `musketeer "
                     "image build` first)");
    if (s["pull_policy"]) {  // compose's if_not_present is docker's missing
      const std::string pull = Str(s["pull_policy"]);
      spec.set_pull(pull == "if_not_present" ? "missing" : pull);
    }
    for (const auto& [k, out_list] : {std::pair{"command", spec.mutable_command()},
                                      std::pair{"entrypoint", spec.mutable_entrypoint()}}) {
      const YAML::Node v = s[k];
      if (!v || v.IsNull()) continue;
      if (v.IsSequence()) {
        for (const auto& c : v) out_list->Add(Str(c));
      } else {  // a string is split into words as a shell would, without running one
        auto words = SplitShellWords(Str(v), field + "." + k);
        if (!words.ok()) return words.status();
        for (auto& w : *words) out_list->Add(std::move(w));
      }
    }
    if (auto st = Environment(s, field, spec); !st.ok()) return st;
    for (const auto& p : s["ports"]) {
      if (auto st = Port(p, field + ".ports", spec); !st.ok()) return st;
    }
    for (const auto& v : s["volumes"]) {
      if (auto st = Volume(v, field + ".volumes", spec); !st.ok()) return st;
    }
    // Networks: the file's, or `default`; each with the service's short name as an alias.
    std::map<std::string, YAML::Node> networks;
    if (s["networks"] && s["networks"].IsMap())
      for (const auto& it : s["networks"]) networks[it.first.as<std::string>()] = it.second;
    if (networks.empty()) networks["default"] = YAML::Node();
    for (const auto& [net, def] : networks) {
      if (auto st = OnlyKeys(def, field + ".networks." + net,
                             {"aliases", "ipv4_address", "ipv6_address", "driver_opts"});
          !st.ok())
        return st;
      if (net != "default" && !Declared("networks", net))
        return Invalid(field + ".networks", absl::StrCat("undefined network \"", Cut(net),
                                                         "\"; declare it under the top-level "
                                                         "networks"));
      if (def && def["driver_opts"])
        return Invalid(field + ".networks." + net + ".driver_opts",
                       "not supported by musketeer (per-attachment driver options)");
      used_networks.insert(net);
      const std::string target = NameOf("networks", net);
      spec.add_networks(target);
      pb::NetworkAliases& aliases = (*spec.mutable_network_aliases())[target];
      for (const auto& a : Strings(def ? def["aliases"] : YAML::Node())) aliases.add_aliases(a);
      aliases.add_aliases(key);
    }
    Capabilities(s["cap_add"], s["cap_drop"], spec);
    if (auto st = References(s["secrets"], "secrets", field + ".secrets", spec.mutable_secrets(),
                             &used_secrets);
        !st.ok())
      return st;
    if (auto st = References(s["configs"], "configs", field + ".configs", spec.mutable_configs(),
                             &used_configs);
        !st.ok())
      return st;
    if (const YAML::Node hc = s["healthcheck"]) {
      if (auto st = Healthcheck(hc, field + ".healthcheck", spec); !st.ok()) return st;
    }
    spec.set_hostname(Str(s["hostname"]));
    spec.set_user(Str(s["user"]));
    spec.set_working_dir(Str(s["working_dir"]));
    spec.set_stop_signal(Str(s["stop_signal"]));
    for (const auto& [k, setter] :
         {std::pair<const char*, void (pb::ServiceSpec::*)(bool)>{"read_only",
                                                                   &pb::ServiceSpec::set_read_only},
          {"tty", &pb::ServiceSpec::set_tty},
          {"stdin_open", &pb::ServiceSpec::set_stdin_open},
          {"init", &pb::ServiceSpec::set_init}}) {
      if (!s[k]) continue;
      auto b = Bool(s[k], field + "." + k);
      if (!b.ok()) return b.status();
      (spec.*setter)(*b);
    }
    if (s["stop_grace_period"]) {
      auto d = DurationMs(s["stop_grace_period"], field + ".stop_grace_period");
      if (!d.ok()) return d.status();
      spec.set_stop_grace_period_ms(*d);
    }
    for (const auto& [k, v] : KeyValues(s["labels"])) (*spec.mutable_container_labels())[k] = v;
    for (const auto& [k, v] : KeyValues(s["sysctls"])) (*spec.mutable_sysctls())[k] = v;
    if (s["ulimits"] && s["ulimits"].IsMap()) {
      for (const auto& it : s["ulimits"]) {  // a std::map walk: sorted by name, as docker's
        pb::Ulimit& u = *spec.add_ulimits();
        u.set_name(it.first.as<std::string>());
        const std::string where = field + ".ulimits." + u.name();
        if (it.second.IsMap()) {
          if (auto st = OnlyKeys(it.second, where, {"soft", "hard"}); !st.ok()) return st;
          auto soft = Int(it.second["soft"], where + ".soft");
          auto hard = Int(it.second["hard"], where + ".hard");
          if (!soft.ok()) return soft.status();
          if (!hard.ok()) return hard.status();
          u.set_soft(*soft);
          u.set_hard(*hard);
        } else {
          auto single = Int(it.second, where);
          if (!single.ok()) return single.status();
          u.set_soft(*single);
          u.set_hard(*single);
        }
      }
      std::sort(spec.mutable_ulimits()->begin(), spec.mutable_ulimits()->end(),
                [](const auto& a, const auto& b) { return a.name() < b.name(); });
    }
    // extra_hosts "host:ip" (or "host=ip", or a map) -> the engine's "ip host".
    std::vector<std::string> hosts;
    if (s["extra_hosts"] && s["extra_hosts"].IsMap()) {
      for (const auto& it : s["extra_hosts"])
        if (!it.second.IsNull()) hosts.push_back(it.first.as<std::string>() + ":" + Str(it.second));
      std::sort(hosts.begin(), hosts.end());
    } else {
      hosts = Strings(s["extra_hosts"]);
    }
    for (const auto& h : hosts) {
      size_t cut = h.find('=');
      if (cut == std::string::npos) cut = h.find(':');
      if (cut == std::string::npos) continue;  // docker drops it too
      std::string ip = h.substr(cut + 1);
      if (ip.size() > 1 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
      spec.add_hosts(ip + " " + h.substr(0, cut));
    }
    const std::vector<std::string> dns = Strings(s["dns"]), search = Strings(s["dns_search"]);
    if (!dns.empty() || !search.empty()) {
      for (const auto& x : dns) spec.mutable_dns()->add_nameservers(x);
      for (const auto& x : search) spec.mutable_dns()->add_search(x);
    }
    if (const YAML::Node log = s["logging"]) {
      if (auto st = OnlyKeys(log, field + ".logging", {"driver", "options"}); !st.ok()) return st;
      spec.mutable_log_driver()->set_name(Str(log["driver"]));
      for (const auto& [k, v] : KeyValues(log["options"]))
        (*spec.mutable_log_driver()->mutable_options())[k] = v;
    }
    if (s["credential_spec"])
      return Invalid(field + ".credential_spec", "not supported (Windows containers only)");
    if (const std::string iso = Str(s["isolation"]); !iso.empty() && iso != "default")
      return Invalid(field + ".isolation",
                     absl::StrCat("'", Cut(iso), "': Linux nodes run only the default isolation"));
    spec.set_mode("replicated");
    if (auto st = Deploy(s["deploy"], field + ".deploy", s["restart"], spec); !st.ok()) return st;
    if (auto st = ValidateServiceSpec(spec); !st.ok()) return Invalid(field, std::string(st.message()));
    return spec;
  }

  absl::Status Data(const char* section, const std::set<std::string>& used,
                    std::vector<ComposeData>* into) {
    for (const auto& key : used) {
      const YAML::Node def = root[section][key];
      const std::string field = absl::StrCat(section, ".", key);
      if (auto st = OnlyKeys(def, field, {"file", "external", "name", "labels"}); !st.ok())
        return st;
      ComposeData d;
      d.key = key;
      d.name = NameOf(section, key);
      d.external = IsExternal(section, key);
      if (!d.external) {
        const std::string path = Str(def["file"]);
        if (path.empty())
          return Invalid(field, "needs `file` (or `external: true` for one made with `musketeer " +
                                    std::string(section).substr(0, 6) + " create`)");
        auto it = in.files_content.find(path);
        if (it == in.files_content.end())
          return Invalid(field + ".file", absl::StrCat("'", Cut(path),
                                                       "' was not sent with the request (the CLI "
                                                       "reads it beside the compose file)"));
        d.data = it->second;
        d.labels = KeyValues(def["labels"]);
        d.labels[kStackLabel] = in.stack;
      }
      into->push_back(std::move(d));
    }
    return absl::OkStatus();
  }

  absl::Status Networks() {
    for (const auto& key : used_networks) {
      const YAML::Node def = root["networks"] ? root["networks"][key] : YAML::Node();
      const std::string field = "networks." + key;
      if (auto st = OnlyKeys(def, field,
                             {"driver", "driver_opts", "attachable", "internal", "labels", "ipam",
                              "external", "name"});
          !st.ok())
        return st;
      ComposeNetwork n;
      n.key = key;
      n.name = NameOf("networks", key);
      n.external = IsExternal("networks", key);
      if (!n.external && def && def.IsMap()) {
        if (!Str(def["driver"]).empty()) n.driver = Str(def["driver"]);
        if (n.driver != "overlay")
          return Invalid(field + ".driver", absl::StrCat("'", Cut(n.driver),
                                                         "' is not supported; a stack's networks "
                                                         "are swarm overlay networks"));
        n.driver_opts = KeyValues(def["driver_opts"]);
        n.labels = KeyValues(def["labels"]);
        for (const auto& [k, member] : {std::pair{"attachable", &n.attachable},
                                        std::pair{"internal", &n.internal}}) {
          if (!def[k]) continue;
          auto b = Bool(def[k], field + "." + k);
          if (!b.ok()) return b.status();
          *member = *b;
        }
        if (const YAML::Node ipam = def["ipam"]) {
          if (auto st = OnlyKeys(ipam, field + ".ipam", {"driver", "config"}); !st.ok()) return st;
          n.ipam_driver = Str(ipam["driver"]);
          for (const auto& c : ipam["config"]) {
            if (auto st = OnlyKeys(c, field + ".ipam.config", {"subnet"}); !st.ok()) return st;
            if (auto st = ValidateSubnet(field + ".ipam.config.subnet", Str(c["subnet"])); !st.ok())
              return st;
            n.subnets.push_back(Str(c["subnet"]));
          }
        }
      }
      if (!n.external) n.labels[kStackLabel] = in.stack;
      out.networks.push_back(std::move(n));
    }
    std::sort(out.networks.begin(), out.networks.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return absl::OkStatus();
  }

  absl::Status TopLevel() {
    if (auto st = OnlyKeys(root, "", {"version", "services", "networks", "volumes", "secrets",
                                      "configs"});
        !st.ok())
      return st;
    for (const char* section : {"networks", "volumes", "secrets", "configs"}) {
      if (!root[section] || root[section].IsNull()) continue;
      if (!root[section].IsMap()) return Invalid(section, "must be a mapping");
      for (const auto& it : root[section]) {
        const std::string key = it.first.as<std::string>();
        const YAML::Node def = it.second;
        const std::string field = absl::StrCat(section, ".", key);
        if (!def || def.IsNull()) continue;
        if (!def.IsMap()) return Invalid(field, "must be a mapping");
        if (def["external"] && def["external"].IsMap()) {
          if (!Str(def["name"]).empty() && !Str(def["external"]["name"]).empty())
            return Invalid(field, absl::StrCat(section, ".external.name and ", section,
                                               ".name conflict; only use ", section, ".name"));
          out.warnings.push_back(absl::StrCat(field, ": external.name is deprecated in favor of name"));
        } else if (def["external"]) {
          auto b = Bool(def["external"], field + ".external");
          if (!b.ok()) return b.status();
        }
        if (std::string(section) == "volumes") {
          if (auto st = OnlyKeys(def, field, {"driver", "driver_opts", "external", "labels", "name"});
              !st.ok())
            return st;
          if (IsExternal("volumes", key) && (def["driver"] || def["driver_opts"] || def["labels"]))
            return Invalid(field, absl::StrCat("conflicting parameters \"external\" and \"",
                                               def["driver"] ? "driver" : def["driver_opts"] ? "driver_opts" : "labels",
                                               "\" specified for volume \"", Cut(key), "\""));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Run() {
    if (auto st = TopLevel(); !st.ok()) return st;
    std::set<std::string> unsupported;
    std::map<std::string, std::string> deprecated;
    for (const auto& it : root["services"]) {
      const std::string key = it.first.as<std::string>();
      const YAML::Node& s = it.second;
      for (const auto& k : s) {
        const std::string name = k.first.as<std::string>();
        if (UnsupportedKeys().count(name)) unsupported.insert(name);
        if (auto d = DeprecatedKeys().find(name); d != DeprecatedKeys().end())
          deprecated[d->first] = d->second;
      }
      if (auto st = OnlyKeys(s, "services." + key, ServiceKeys()); !st.ok()) return st;
      auto spec = Service(key, s);
      if (!spec.ok()) return spec.status();
      out.services.push_back(std::move(*spec));
    }
    if (!unsupported.empty())
      out.warnings.push_back(absl::StrCat("Ignoring unsupported options: ",
                                          absl::StrJoin(unsupported, ", ")));
    for (const auto& [k, why] : deprecated)
      out.warnings.push_back(absl::StrCat("Ignoring deprecated options: ", k, ": ", why));
    if (auto st = Networks(); !st.ok()) return st;
    if (auto st = Data("secrets", used_secrets, &out.secrets); !st.ok()) return st;
    return Data("configs", used_configs, &out.configs);
  }
};

}  // namespace

absl::StatusOr<std::string> Interpolate(const std::string& text,
                                        const std::map<std::string, std::string>& env,
                                        const std::string& field, std::vector<std::string>* unset) {
  auto invalid = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid interpolation format for ", field, ": \"", Cut(why),
                     "\"; you may need to escape any $ with another $"));
  };
  auto name_char = [](char c, bool first) {
    return c == '_' || absl::ascii_isalpha(static_cast<unsigned char>(c)) ||
           (!first && absl::ascii_isdigit(static_cast<unsigned char>(c)));
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::string expr;  // NAME with its modifier
    if (i + 1 < text.size() && text[i + 1] == '{') {
      const size_t close = text.find('}', i + 2);
      if (close == std::string::npos) return invalid(text);
      expr = text.substr(i + 2, close - i - 2);
      i = close;
    } else if (i + 1 < text.size() && name_char(text[i + 1], true)) {
      size_t j = i + 1;
      while (j < text.size() && name_char(text[j], false)) ++j;
      // docker's quirk: an unbraced name takes a modifier too, to the end (or a '}').
      if (j < text.size() && (text[j] == '-' || text[j] == '?' ||
                              (text[j] == ':' && j + 1 < text.size() &&
                               (text[j + 1] == '-' || text[j + 1] == '?')))) {
        size_t end = text.find('}', j);
        if (end == std::string::npos) end = text.size();
        expr = text.substr(i + 1, end - i - 1);
        i = end == text.size() ? end - 1 : end - 1;
      } else {
        expr = text.substr(i + 1, j - i - 1);
        i = j - 1;
      }
    } else {
      return invalid(text);
    }
    size_t n = 0;
    while (n < expr.size() && name_char(expr[n], n == 0)) ++n;
    if (n == 0) return invalid(text);
    auto lookup = [&](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    // Tried in docker's order: ":-", "-", ":?", "?".
    std::string value;
    if (size_t p = expr.find(":-"); p != std::string::npos) {
      auto v = lookup(expr.substr(0, p));
      value = v && !v->empty() ? *v : expr.substr(p + 2);
    } else if (size_t p = expr.find('-'); p != std::string::npos) {
      auto v = lookup(expr.substr(0, p));
      value = v ? *v : expr.substr(p + 1);
    } else if (size_t p = expr.find(":?"); p != std::string::npos) {
      auto v = lookup(expr.substr(0, p));
      if (!v || v->empty()) {
        const std::string msg = expr.substr(p + 2);
        return invalid(absl::StrCat("required variable ", expr.substr(0, p),
                                    " is missing a value", msg.empty() ? "" : ": " + msg));
      }
      value = *v;
    } else if (size_t p = expr.find('?'); p != std::string::npos) {
      auto v = lookup(expr.substr(0, p));
      if (!v) {
        const std::string msg = expr.substr(p + 1);
        return invalid(absl::StrCat("required variable ", expr.substr(0, p),
                                    " is missing a value", msg.empty() ? "" : ": " + msg));
      }
      value = *v;
    } else {
      if (n != expr.size()) return invalid(text);
      auto v = lookup(expr);
      if (!v && unset != nullptr &&
          std::find(unset->begin(), unset->end(), expr) == unset->end())
        unset->push_back(expr);
      value = v.value_or("");
    }
    out += value;
  }
  return out;
}

absl::StatusOr<ComposeStack> LoadCompose(const ComposeInput& input) {
  if (input.files.empty()) return absl::InvalidArgumentError("compose_yaml: required");
  std::vector<std::string> unset;
  YAML::Node merged;
  std::string version;
  try {
    for (size_t i = 0; i < input.files.size(); ++i) {
      const std::string which = input.files.size() > 1 ? absl::StrCat(" (file ", i + 1, ")") : "";
      YAML::Node raw;
      try {
        raw = YAML::Load(input.files[i]);
      } catch (const YAML::Exception& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("compose_yaml", which, ": not valid YAML: ", e.what()));
      }
      if (!raw.IsMap())
        return absl::InvalidArgumentError(
            absl::StrCat("compose_yaml", which, ": top-level object must be a mapping"));
      // The version first, then the forbidden keys (before interpolation, as docker's).
      std::string v = raw["version"] ? Str(raw["version"]) : "";
      if (v.empty() || v == "3") v = "3.13";
      static const std::regex kVersion("3\\.(\\d|1[0-3])");
      if (!std::regex_match(v, kVersion))
        return absl::InvalidArgumentError(absl::StrCat("compose_yaml", which,
                                                       ": unsupported Compose file version: ", v,
                                                       " (use 3.0 to 3.13)"));
      if (!version.empty() && version != v)
        return absl::InvalidArgumentError(absl::StrCat(
            "version mismatched between two composefiles : ", version, " and ", v));
      version = v;
      if (!raw["services"] || !raw["services"].IsMap())
        return absl::InvalidArgumentError(
            absl::StrCat("compose_yaml", which, ": needs a top-level 'services' mapping"));
      std::vector<std::string> forbidden;
      for (const auto& s : raw["services"]) {
        if (!s.second.IsMap()) continue;
        for (const auto& k : s.second) {
          auto f = ForbiddenKeys().find(k.first.as<std::string>());
          if (f != ForbiddenKeys().end()) forbidden.push_back(f->first + ": " + f->second);
        }
      }
      if (!forbidden.empty()) {
        std::sort(forbidden.begin(), forbidden.end());
        forbidden.erase(std::unique(forbidden.begin(), forbidden.end()), forbidden.end());
        return absl::InvalidArgumentError(absl::StrCat(
            "compose file contains unsupported options: ", absl::StrJoin(forbidden, "; ")));
      }
      Resolver resolver{input.environment, &unset};
      auto resolved = resolver.Resolve(raw, "");
      if (!resolved.ok()) return resolved.status();
      for (auto it : (*resolved)["services"]) {
        YAML::Node s = it.second;
        if (s.IsMap()) NormalizeService(s);
      }
      if (i == 0)
        merged = *resolved;
      else
        MergeInto(merged, *resolved);
    }
    Converter converter{input, merged, {}, {}, {}, {}};
    if (auto st = converter.Run(); !st.ok()) return st;
    for (const auto& name : unset)
      converter.out.warnings.push_back(
          absl::StrCat("The \"", name, "\" variable is not set. Defaulting to a blank string."));
    return std::move(converter.out);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("compose_yaml: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("compose_yaml: ", e.what()));
  }
}

}  // namespace musketeer::cluster
