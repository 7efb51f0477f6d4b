#include "clients/pingload/report.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace pingload {
namespace {

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          snprintf(b, sizeof(b), "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

template <typename Map>
std::string JsonCounts(const Map& m) {
  std::string out = "{";
  for (const auto& [k, n] : m) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, JsonString(k), ":", n);
  }
  return out + "}";
}

int64_t Sum(const std::map<std::string, int64_t, std::less<>>& m) {
  int64_t total = 0;
  for (const auto& [_, n] : m) total += n;
  return total;
}

std::string Bar(double fraction, int width) {
  const int n = static_cast<int>(std::lround(fraction * width));
  std::string s;
  for (int i = 0; i < n; ++i) s += "\u2588";
  return s + std::string(width - n, ' ');
}

std::string Fixed(double v, int decimals) {
  char b[64];
  snprintf(b, sizeof(b), "%.*f", decimals, v);
  return b;
}

struct Totals {
  int64_t ok = 0, errors = 0;
  std::map<std::string, int64_t, std::less<>> errors_by_kind;
};

Totals Total(const LoadResult& r) {
  Totals t;
  for (const TargetResult& target : r.targets) {
    t.ok += target.ok;
    t.errors += target.errors;
    for (const auto& [k, n] : target.errors_by_kind) t.errors_by_kind[k] += n;
  }
  return t;
}

std::string Xml(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double Rps(const Totals& t, const LoadResult& r) { return r.seconds > 0 ? t.ok / r.seconds : 0; }

}  // namespace

std::string PlainNumber(double v, int decimals) {
  if (!std::isfinite(v)) v = 0;
  std::string s = Fixed(v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string RenderJson(const Options& o, const LoadResult& r, const ProcessCost& u) {
  const Totals t = Total(r);
  const auto& h = r.latency;
  std::string out = absl::StrCat(
      "{\"requests\":", t.ok + t.errors, ",\"ok\":", t.ok, ",\"errors\":", t.errors,
      ",\"seconds\":", PlainNumber(r.seconds, 3), ",\"rps\":", PlainNumber(Rps(t, r), 1),
      ",\"connections\":", r.connections, ",\"threads\":", r.threads,
      ",\"sched\":", o.sched_batch ? "\"batch\"" : "\"normal\"",
      ",\"target_rps\":", o.rate > 0 ? PlainNumber(o.rate, 3) : "null",
      ",\"latency_from\":", o.rate > 0 ? "\"intended_start\"" : "\"send\"",
      ",\"latency_us\":{\"p50\":", PlainNumber(h.Percentile(50), 1),
      ",\"p90\":", PlainNumber(h.Percentile(90), 1), ",\"p99\":", PlainNumber(h.Percentile(99), 1),
      ",\"p999\":", PlainNumber(h.Percentile(99.9), 1), ",\"max\":", PlainNumber(h.Max(), 1),
      ",\"mean\":", PlainNumber(h.Mean(), 1), "}");
  absl::StrAppend(&out, ",\"cpu_seconds\":", PlainNumber(u.cpu_seconds, 3),
                  ",\"max_rss_kb\":", u.max_rss_kb,
                  ",\"errors_by_kind\":", JsonCounts(t.errors_by_kind), ",\"targets\":[");
  for (size_t i = 0; i < r.targets.size(); ++i) {
    const TargetResult& tr = r.targets[i];
    absl::StrAppend(&out, i ? "," : "", "{\"target\":", JsonString(tr.target),
                    ",\"url\":", JsonString(tr.url), ",\"ok\":", tr.ok, ",\"errors\":", tr.errors,
                    ",\"errors_by_kind\":", JsonCounts(tr.errors_by_kind),
                    ",\"hostnames\":", JsonCounts(tr.hostnames), "}");
  }
  return out + "]}\n";
}

std::string RenderTable(const Options& o, const LoadResult& r, const ProcessCost& u) {
  const Totals t = Total(r);
  const auto& h = r.latency;
  std::string out = absl::StrCat(
      "requests   ", t.ok + t.errors, " in ", Fixed(r.seconds, 1), " s over ", r.connections,
      r.connections == 1 ? " connection, " : " connections, ", r.threads,
      r.threads == 1 ? " thread" : " threads", " (", t.errors, " errors)\n", "rate       ",
      Fixed(Rps(t, r), 1), " req/s",
      o.rate > 0 ? absl::StrCat(" (asked for ", PlainNumber(o.rate, 3), ")") : "", "\n",
      "latency    p50 ", Fixed(h.Percentile(50) / 1000, 2), " ms   p90 ",
      Fixed(h.Percentile(90) / 1000, 2), " ms   p99 ", Fixed(h.Percentile(99) / 1000, 2),
      " ms   p99.9 ", Fixed(h.Percentile(99.9) / 1000, 2), " ms   max ", Fixed(h.Max() / 1000, 2),
      " ms\n");
  if (o.rate > 0) {
    absl::StrAppend(&out,
                    "           measured from each request's intended start (corrected for "
                    "coordinated omission)\n");
  }
  for (const auto& [k, n] : t.errors_by_kind)
    absl::StrAppend(&out, "error      ", n, " x ", k, "\n");
  absl::StrAppend(&out, "client     ", Fixed(u.cpu_seconds, 2), " s CPU, ", u.max_rss_kb / 1024,
                  " MB max RSS\n\n");
  for (const TargetResult& tr : r.targets) {
    const int64_t total = Sum(tr.hostnames);
    absl::StrAppend(&out, tr.url, "  (", tr.hostnames.size(),
                    tr.hostnames.size() == 1 ? " replica answered)\n" : " replicas answered)\n");
    for (const auto& [host, n] : tr.hostnames) {
      char line[64];
      snprintf(line, sizeof(line), " %8lld  %5.1f%%\n", static_cast<long long>(n),
               total ? 100.0 * n / total : 0.0);
      std::string name = host;
      if (name.size() < 16) name.resize(16, ' ');
      absl::StrAppend(&out, "  ", name, " ", Bar(total ? double(n) / total : 0, 40), line);
    }
  }
  return out;
}

absl::Status WriteSvg(const std::string& path, const LoadResult& r) {
  std::ofstream out(path);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  const int w = 800, h = 300;
  double tmax = 0, lmax = 1;
  for (const auto& [t, l] : r.timeline) tmax = std::max(tmax, t), lmax = std::max(lmax, l);
  int rows = 0;
  for (const TargetResult& t : r.targets) rows += 1 + t.hostnames.size();
  out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='"
      << h + 60 + 16 * rows << "' font-family='monospace' font-size='12'>\n";
  out << "<text x='10' y='15'>latency (us, log scale) over time (s): max "
      << static_cast<int64_t>(lmax) << " us</text>\n";
  const size_t step = std::max<size_t>(1, r.timeline.size() / 5000);
  for (size_t i = 0; i < r.timeline.size(); i += step) {
    const double x = 10 + (w - 20) * r.timeline[i].first / std::max(tmax, 1e-9);
    const double y =
        25 + h -
        h * std::log10(std::max(r.timeline[i].second, 1.0)) / std::log10(std::max(lmax, 10.0));
    out << "<circle cx='" << PlainNumber(x, 1) << "' cy='" << PlainNumber(y, 1)
        << "' r='1' fill='steelblue'/>\n";
  }
  int y = h + 50;
  for (const TargetResult& t : r.targets) {
    const int64_t total = Sum(t.hostnames);
    out << "<text x='10' y='" << y << "'>" << Xml(t.url) << "</text>\n";
    y += 16;
    for (const auto& [host, n] : t.hostnames) {
      const double bw = total ? 500.0 * n / total : 0;
      out << "<rect x='160' y='" << y - 11 << "' width='" << PlainNumber(bw, 1)
          << "' height='12' fill='seagreen'/><text x='20' y='" << y << "'>" << Xml(host)
          << "</text><text x='" << PlainNumber(165 + bw, 1) << "' y='" << y << "'>" << n
          << "</text>\n";
      y += 16;
    }
  }
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace pingload
