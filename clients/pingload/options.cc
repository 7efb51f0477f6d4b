#include "clients/pingload/options.h"

#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pingload {
namespace {

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

}  // namespace

absl::StatusOr<double> ParseDuration(absl::string_view text) {
  const std::string shown = absl::StrCat("'", text, "'");
  if (text.empty()) return Invalid("empty duration; give e.g. 500ms, 4s, 1m");
  static const std::map<absl::string_view, double> kUnits = {
      {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t number_start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    double value;
    if (i == number_start || !absl::SimpleAtod(text.substr(number_start, i - number_start), &value))
      return Invalid(absl::StrCat(shown, " is not a duration; give e.g. 500ms, 4s, 1m, 1m30s"));
    const size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const absl::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      if (i != text.size())
        return Invalid(absl::StrCat(shown, ": unexpected '", text.substr(i, 1), "'"));
      // A bare number is seconds (wrk and the old pingload took "-d 10"), but only alone.
      if (number_start != 0)
        return Invalid(absl::StrCat(shown, " mixes a bare number with units; write e.g. 1m30s"));
      total = value;
      break;
    }
    auto u = kUnits.find(unit);
    if (u == kUnits.end())
      return Invalid(absl::StrCat(shown, ": unknown unit '", unit, "'; use us, ms, s, m or h"));
    total += value * u->second;
  }
  if (!(total > 0) || !std::isfinite(total))
    return Invalid(absl::StrCat(shown, " is not a positive duration"));
  return total;
}

absl::StatusOr<Target> ParseTarget(absl::string_view text, absl::string_view default_path) {
  const std::string shown = absl::StrCat("'", text, "'");
  absl::string_view rest = text;
  const size_t scheme_end = rest.find("://");
  if (scheme_end != absl::string_view::npos) {
    const std::string scheme = absl::AsciiStrToLower(rest.substr(0, scheme_end));
    if (scheme == "https")
      return Invalid(absl::StrCat(shown, ": https is not supported; use http://"));
    if (scheme != "http")
      return Invalid(absl::StrCat(shown, ": unknown scheme '", scheme, "'; use http://"));
    rest.remove_prefix(scheme_end + 3);
  }
  const bool is_url = scheme_end != absl::string_view::npos;
  const size_t path_start = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, path_start);
  absl::string_view path =
      path_start == absl::string_view::npos ? absl::string_view() : rest.substr(path_start);
  if (const size_t hash = path.find('#'); hash != absl::string_view::npos)
    path = path.substr(0, hash);
  if (authority.find('@') != absl::string_view::npos)
    return Invalid(absl::StrCat(shown, ": user info in URLs is not supported"));

  Target t;
  absl::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos)
      return Invalid(absl::StrCat(shown, ": unclosed '[' in an IPv6 address"));
    t.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Invalid(absl::StrCat(shown, ": junk after ']'"));
      port_text = after.substr(1);
      if (port_text.empty()) return Invalid(absl::StrCat(shown, ": empty port after ':'"));
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos && authority.find(':') != colon)
      return Invalid(absl::StrCat(shown, ": write IPv6 addresses in brackets, e.g. [::1]:8090"));
    t.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return Invalid(absl::StrCat(shown, ": empty port after ':'"));
    }
  }
  if (t.host.empty())
    return Invalid(absl::StrCat(shown, " names no host; give http://HOST:PORT/PATH or HOST:PORT"));
  for (char c : t.host) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return Invalid(absl::StrCat(shown, ": the host contains a space or control character"));
  }
  if (port_text.empty()) {
    if (!is_url)
      return Invalid(absl::StrCat(shown,
                                  " is neither a URL nor HOST:PORT; give e.g. "
                                  "http://127.0.0.1:8090/ping or 127.0.0.1:8090"));
    t.port = 80;
  } else {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535 ||
        !std::isdigit(static_cast<unsigned char>(port_text.front())))
      return Invalid(absl::StrCat(shown, ": port '", port_text, "' is not in 1..65535"));
    t.port = static_cast<uint16_t>(port);
  }
  if (path.empty()) {
    t.path = std::string(default_path);
  } else if (path.front() == '?') {
    t.path = absl::StrCat("/", path);
  } else {
    t.path = std::string(path);
  }
  for (char c : t.path) {
    if (c <= ' ' || c == 0x7f)
      return Invalid(absl::StrCat(shown,
                                  ": the path contains a space or control character; "
                                  "percent-encode it"));
  }
  t.authority = std::string(authority);
  return t;
}

absl::StatusOr<std::string> ParseHeader(absl::string_view text) {
  const size_t colon = text.find(':');
  const std::string shown = absl::StrCat("'", text, "'");
  if (colon == absl::string_view::npos)
    return Invalid(absl::StrCat("header ", shown, " has no ':'; give \"Name: value\""));
  const absl::string_view name = absl::StripAsciiWhitespace(text.substr(0, colon));
  if (name.empty()) return Invalid(absl::StrCat("header ", shown, " has an empty name"));
  for (char c : name) {
    if (!IsTokenChar(c))
      return Invalid(absl::StrCat("header name '", name, "' has a character not allowed in names"));
  }
  const absl::string_view value = absl::StripAsciiWhitespace(text.substr(colon + 1));
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0')
      return Invalid(absl::StrCat("header ", shown, " has a line break or NUL in its value"));
  }
  return absl::StrCat(name, ": ", value);
}

absl::StatusOr<Options> ParseArgs(const std::vector<std::string>& args) {
  Options o;
  std::vector<std::string> targets;
  // Each option: its names, whether it takes a value, and what it does with it.
  struct Spec {
    absl::string_view long_name;
    char short_name;
    bool takes_value;
    std::function<absl::Status(const std::string&)> apply;
  };
  auto positive_int = [](absl::string_view name, int64_t max, auto* out) {
    return [name, max, out](const std::string& v) -> absl::Status {
      int64_t n;
      if (!absl::SimpleAtoi(v, &n) || n < 1 || n > max)
        return Invalid(absl::StrCat(name, " takes a whole number in 1..", max, ", not '", v, "'"));
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(n);
      return absl::OkStatus();
    };
  };
  auto duration = [](absl::string_view name, double max_s, double* out, bool* set) {
    return [name, max_s, out, set](const std::string& v) -> absl::Status {
      absl::StatusOr<double> d = ParseDuration(v);
      if (!d.ok()) return Invalid(absl::StrCat(name, ": ", d.status().message()));
      if (*d > max_s)
        return Invalid(absl::StrCat(name, " is at most ", max_s, " s, not '", v, "'"));
      *out = *d;
      if (set) *set = true;
      return absl::OkStatus();
    };
  };
  const std::vector<Spec> specs = {
      {"connections", 'c', true, positive_int("--connections", 10000, &o.connections)},
      {"duration", 'd', true, duration("--duration", 3600, &o.duration_s, &o.duration_set)},
      {"requests", 'n', true, positive_int("--requests", int64_t{1} << 40, &o.requests)},
      {"threads", 't', true, positive_int("--threads", 256, &o.threads)},
      {"rate", 'R', true,
       [&](const std::string& v) -> absl::Status {
         double r;
         if (!absl::SimpleAtod(v, &r) || !(r > 0) || !std::isfinite(r) || r > 1e8)
           return Invalid(
               absl::StrCat("--rate takes requests per second over all connections "
                            "(a number above 0, e.g. 200), not '",
                            v, "'"));
         o.rate = r;
         return absl::OkStatus();
       }},
      {"timeout", 'T', true, duration("--timeout", 3600, &o.timeout_s, nullptr)},
      {"header", 'H', true,
       [&](const std::string& v) -> absl::Status {
         absl::StatusOr<std::string> h = ParseHeader(v);
         if (!h.ok()) return Invalid(absl::StrCat("--header: ", h.status().message()));
         o.headers.push_back(*std::move(h));
         return absl::OkStatus();
       }},
      {"path", 0, true,
       [&](const std::string& v) -> absl::Status {
         if (v.empty() || v.front() != '/')
           return Invalid(absl::StrCat("--path takes an absolute path like /ping, not '", v, "'"));
         o.path = v;
         return absl::OkStatus();
       }},
      {"svg", 0, true,
       [&](const std::string& v) -> absl::Status {
         if (v.empty()) return Invalid("--svg takes a file name");
         o.svg = v;
         return absl::OkStatus();
       }},
      {"sched", 0, true,
       [&](const std::string& v) -> absl::Status {
         if (v != "batch" && v != "normal")
           return Invalid(absl::StrCat("--sched takes batch or normal, not '", v, "'"));
         o.sched_batch = v == "batch";
         return absl::OkStatus();
       }},
      {"json", 0, false, [&](const std::string&) { return (o.json = true, absl::OkStatus()); }},
      {"help", 'h', false, [&](const std::string&) { return (o.help = true, absl::OkStatus()); }},
      {"version", 'v', false,
       [&](const std::string&) { return (o.version = true, absl::OkStatus()); }},
  };

  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      targets.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    const Spec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;
    if (a[1] == '-') {
      absl::string_view name = absl::string_view(a).substr(2);
      if (const size_t eq = name.find('='); eq != absl::string_view::npos) {
        inline_value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      for (const Spec& s : specs) {
        if (s.long_name == name) spec = &s;
      }
      shown = absl::StrCat("--", name);
    } else {
      for (const Spec& s : specs) {
        if (s.short_name == a[1]) spec = &s;
      }
      shown = a.substr(0, 2);
      if (a.size() > 2) {
        if (spec == nullptr || !spec->takes_value)
          return Invalid(absl::StrCat("unknown option '", a, "'; see pingload --help"));
        inline_value = a.substr(2);  // "-c64", as getopt allows
      }
    }
    if (spec == nullptr)
      return Invalid(absl::StrCat("unknown option '", a, "'; see pingload --help"));
    std::string value;
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Invalid(absl::StrCat(shown, " needs a value; see pingload --help"));
      }
    } else if (inline_value) {
      return Invalid(absl::StrCat(shown, " takes no value"));
    }
    if (absl::Status s = spec->apply(value); !s.ok()) return s;
  }
  if (o.help || o.version) return o;
  if (targets.empty())
    return Invalid("give at least one target, e.g. http://127.0.0.1:8090/ping or 10.213.0.2:8090");
  for (const std::string& t : targets) {
    absl::StatusOr<Target> target = ParseTarget(t, o.path);
    if (!target.ok()) return target.status();
    o.targets.push_back(*std::move(target));
  }
  return o;
}

std::string Usage() {
  return R"(usage: pingload [OPTIONS] URL...
Load-tests HTTP endpoints (by default judge_server's /ping) over keep-alive connections, one
request at a time per connection (no pipelining), and shows latency percentiles and which
replicas ("hostname" in each reply) answered on every target.

Targets: http://HOST[:PORT][/PATH] (port 80 by default), or HOST:PORT (path from --path).
Several targets share the connections round-robin.

Options (value after a space or '='; short options also as -c64):
  -c, --connections N   keep-alive connections over all targets (default 16)
  -d, --duration D      how long to run: 500ms, 4s, 1m, 1m30s; a bare number is seconds
                        (default 10s; with --requests, an upper bound if given)
  -n, --requests N      send exactly N requests, then stop
  -R, --rate RPS        requests per second over all connections (open loop, paced per
                        connection); latency is then measured from each request's intended
                        start, corrected for coordinated omission as wrk2 does
  -t, --threads N       event-loop threads, each with its share of the connections
                        (default: the number of cores, at most the connections)
  -T, --timeout D       per request, from connect or send to the whole answer (default 5s);
                        a request over it counts as a "timeout" error
  -H, --header 'N: V'   add a request header (repeatable); a Host header replaces ours
      --path /PATH      path for HOST:PORT targets (default /ping)
      --sched POLICY    normal (default) or batch: load threads as SCHED_BATCH, so an
                        answer that wakes one does not preempt the server sharing its core
                        (less CPU per request on both sides), but under other load they
                        wait for their turn and the rate can drop sharply
      --json            print one JSON object instead of the table (fields: see docs/pingload.md)
      --svg FILE        also write latency over time and the per-replica tally as SVG
  -h, --help            this text
  -v, --version         print the version

Exit status: 0 some requests succeeded, 1 none did, 2 usage error.
Examples:
  pingload -c 64 -d 4s http://127.0.0.1:8090/ping
  pingload --connections 12 --duration 10s 10.213.0.2:8090 10.213.0.3:8090
  pingload -R 200 -d 2s --json -H 'X-Judge-Server-Token: ...' http://127.0.0.1:8090/ping
)";
}

}  // namespace pingload
