// The autoscaler: a service's replicas follow a gauge its tasks serve on GET /metrics
// (Swarm has none; Kubernetes' HPA is the model). Every look scrapes each task over the
// overlay (from the service's edge proxy container, which is on the service's network),
// wants ceil(sum / target) replicas within [min, max], scales up at once and down only when
// no look in the cooldown wanted more. An operator's own scale (through musketeer or
// docker) pauses it until resumed. Policies, pauses and decisions live in the state
// database; the last look's figures in memory.
#include <algorithm>
#include <cmath>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/service_parts.h"
#include "controlplane/telemetry/log.h"

namespace musketeer::cluster {
namespace {

constexpr uint32_t kDefaultCooldownSeconds = 60;
constexpr uint32_t kMaxReplicas = 1000;
// Within 10% of the target, nothing changes (HPA's tolerance): no flapping on noise.
constexpr double kTolerance = 0.1;

// The figures of a look live in memory only: the stored state is the policy, the pause and
// the decisions.
void ClearLook(pb::Autoscale& state) {
  state.clear_current();
  state.clear_tasks_scraped();
  state.clear_wanted();
  state.clear_observed_at();
  state.clear_error();
}

absl::Duration Cooldown(const pb::AutoscalePolicy& p) {
  return absl::Seconds(p.cooldown_seconds() ? p.cooldown_seconds() : kDefaultCooldownSeconds);
}

// Asks every task behind `backend` (tasks.NAME, from Swarm's DNS) for GET /metrics on
// `port`, with bash alone (the edge image has no HTTP client): "### IP" before each answer.
const char* kScrapeScript = R"sh(
for ip in $(getent ahostsv4 "$1" | awk '{print $1}' | sort -u); do
  echo "### $ip"
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET /metrics HTTP/1.0\r\nHost: musketeer\r\n\r\n" >&3 && cat <&3' "$ip" "$2" 2>&1
done
)sh";

}  // namespace

absl::Status ValidateAutoscalePolicy(const pb::AutoscalePolicy& p) {
  static const std::regex kMetricName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  if (p.min() < 1)
    return absl::InvalidArgumentError(
        "policy.min: at least 1 (with no task there is nothing to read the metric from)");
  if (p.max() < p.min() || p.max() > kMaxReplicas)
    return absl::InvalidArgumentError(absl::StrCat("policy.max: ", p.max(), " must be between min (",
                                                   p.min(), ") and ", kMaxReplicas));
  if (!std::regex_match(p.metric(), kMetricName))
    return absl::InvalidArgumentError(absl::StrCat(
        "policy.metric: '", Cut(p.metric()),
        "' is not a Prometheus metric name (e.g. judge_queue_depth, a gauge on each task's "
        "/metrics)"));
  if (!(p.target() > 0) || !std::isfinite(p.target()))
    return absl::InvalidArgumentError(
        "policy.target: the metric's value per replica to aim at, a number above 0");
  if (p.cooldown_seconds() > 86400)
    return absl::InvalidArgumentError("policy.cooldown_seconds: at most a day (86400)");
  if (p.port() > 65535) return absl::InvalidArgumentError("policy.port: at most 65535");
  return absl::OkStatus();
}

ScrapeResult ParseScrape(const std::string& text, const std::string& metric) {
  ScrapeResult out;
  bool in_task = false, sampled = false;
  auto close = [&] {
    if (in_task && sampled) ++out.tasks;
    sampled = false;
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (absl::StartsWith(line, "### ")) {
      close();
      in_task = true;
      ++out.asked;
      continue;
    }
    // `metric value` or `metric{labels} value` (every series of it summed).
    if (!absl::StartsWith(line, metric)) continue;
    const absl::string_view rest = line.substr(metric.size());
    if (rest.empty() || (rest[0] != ' ' && rest[0] != '{')) continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &value) ||
        !std::isfinite(value))
      continue;
    out.sum += value;
    sampled = true;
  }
  close();
  return out;
}

absl::StatusOr<ScrapeResult> Cluster::Scrape(const std::string& service,
                                             const pb::AutoscalePolicy& policy) {
  auto routing = store_.GetRouting(service);
  if (!routing || routing->mode != "edge-proxy")
    return absl::FailedPreconditionError(absl::StrCat(
        "the autoscaler reads the tasks' /metrics from the service's edge proxy, and '", service,
        "' has none (it publishes no port, or the swarm has IPVS)"));
  uint32_t port = policy.port();
  if (port == 0) {
    for (const auto& p : routing->Ports())
      if (p.protocol != "udp") {
        port = p.target;
        break;
      }
  }
  if (port == 0)
    return absl::FailedPreconditionError("policy.port: the service publishes no TCP port; set one");
  std::string last_error = "no node runs its edge proxy";
  for (auto& target : EdgeNodes()) {
    if (!target.skipped.empty()) continue;
    auto containers = target.engine->ListContainers();
    if (!containers.ok()) continue;
    for (const auto& c : *containers) {
      if (c.state != "running" ||
          std::find(c.names.begin(), c.names.end(), "/" + EdgeName(service)) == c.names.end())
        continue;
      auto out = target.engine->Exec(
          c.id, {"/bin/bash", "-c", kScrapeScript, "scrape", "tasks." + service, absl::StrCat(port)});
      if (!out.ok()) {
        last_error = absl::StrCat(target.node.name, ": ", out.status().message());
        continue;
      }
      ScrapeResult r = ParseScrape(*out, policy.metric());
      if (r.tasks == 0) {
        last_error = absl::StrCat(r.asked, " tasks asked on port ", port, ", none serves ",
                                  policy.metric(), " on /metrics");
        return absl::NotFoundError(last_error);
      }
      return r;
    }
  }
  return absl::UnavailableError(last_error);
}

std::map<std::string, pb::Autoscale> Cluster::StoredAutoscale() {
  std::map<std::string, pb::Autoscale> out;
  for (const auto& [service, bytes] : store_.ListAutoscale())
    if (pb::Autoscale a; a.ParseFromString(bytes)) out[service] = std::move(a);
  return out;
}

std::optional<pb::Autoscale> Cluster::AutoscaleOf(const std::string& service) {
  auto stored = store_.GetAutoscale(service);
  pb::Autoscale a;
  if (!stored || !a.ParseFromString(*stored)) return std::nullopt;
  std::lock_guard lock(mu_);
  if (auto m = autoscale_looks_.find(service); m != autoscale_looks_.end()) a.MergeFrom(m->second);
  return a;
}

absl::StatusOr<pb::Service> Cluster::SetAutoscale(const pb::SetAutoscaleRequest& req) {
  if (req.name().empty()) return absl::InvalidArgumentError("name: the service to autoscale");
  const int modes = (req.has_policy() ? 1 : 0) + (req.off() ? 1 : 0) + (req.resume() ? 1 : 0);
  if (modes != 1)
    return absl::InvalidArgumentError(
        "give one of policy (set it), off (remove it) or resume (resume a paused one)");
  if (req.has_policy())
    if (auto s = ValidateAutoscalePolicy(req.policy()); !s.ok()) return s;
  {
    std::lock_guard service_lock(ServiceMutex(req.name()));
    auto m = Manager();
    if (!m.ok()) return m.status();
    auto svc = m->second->InspectService(req.name());
    if (!svc.ok())
      return absl::NotFoundError(absl::StrCat("service '", Cut(req.name()), "' does not exist"));
    if (!svc->spec.mode.replicated)
      return absl::FailedPreconditionError(
          absl::StrCat("service '", req.name(), "' is global: it has no replicas to scale"));
    const uint32_t replicas = static_cast<uint32_t>(svc->spec.mode.replicated->replicas.value_or(1));
    auto stored = AutoscaleOf(req.name());
    if (req.off()) {
      if (!stored)
        return absl::NotFoundError(absl::StrCat("service '", req.name(), "' has no autoscale policy"));
      store_.DeleteAutoscale(req.name());
      std::lock_guard lock(mu_);
      autoscale_looks_.erase(req.name());
      autoscale_memory_.erase(req.name());
    } else {
      pb::Autoscale state;
      if (stored) state = *stored;
      if (req.resume() && !stored)
        return absl::NotFoundError(absl::StrCat("service '", req.name(), "' has no autoscale policy"));
      if (req.has_policy()) {
        // The scrape path exists before the policy is taken.
        if (auto routing = store_.GetRouting(req.name()); !routing || routing->mode != "edge-proxy")
          return absl::FailedPreconditionError(absl::StrCat(
              "the autoscaler reads the tasks' /metrics through the service's edge proxy, and '",
              req.name(), "' has none: publish its metrics port (-p)"));
        *state.mutable_policy() = req.policy();
      }
      // Resumed (or set): what runs now is the starting point, not an operator's change.
      state.set_paused(false);
      state.clear_paused_reason();
      state.set_replicas_set(replicas);
      ClearLook(state);
      if (auto s = store_.PutAutoscale(req.name(), state.SerializeAsString()); !s.ok()) return s;
      std::lock_guard lock(mu_);
      autoscale_memory_[req.name()] = {};
    }
  }
  return GetService(req.name());
}

void Cluster::AutoscaleOnce(absl::Time now) {
  for (const auto& [service, bytes] : store_.ListAutoscale()) {
    pb::Autoscale state;
    if (!state.ParseFromString(bytes)) continue;
    std::lock_guard service_lock(ServiceMutex(service));
    auto m = Manager();
    if (!m.ok()) return;  // no swarm to ask: no look at all
    auto svc = m->second->InspectService(service);
    if (svc.status().code() == absl::StatusCode::kNotFound) {  // removed: its policy goes
      store_.DeleteAutoscale(service);
      std::lock_guard lock(mu_);
      autoscale_looks_.erase(service);
      autoscale_memory_.erase(service);
      continue;
    }
    if (!svc.ok() || !svc->spec.mode.replicated) continue;
    const uint32_t replicas = static_cast<uint32_t>(svc->spec.mode.replicated->replicas.value_or(1));
    const pb::AutoscalePolicy& policy = state.policy();
    bool changed = false;
    if (!state.paused() && state.replicas_set() != 0 && replicas != state.replicas_set()) {
      state.set_paused(true);
      state.set_paused_reason(absl::StrCat(
          "paused at ", Rfc3339(now), ": the replicas were set to ", replicas,
          " outside the autoscaler (it had set ", state.replicas_set(),
          "); it never fights an operator's scale. `musketeer service autoscale ", service,
          " --resume` resumes it"));
      changed = true;
    }
    // The look: what the tasks say, and what that asks for.
    pb::Autoscale look;
    look.set_observed_at(Rfc3339(now));
    auto scraped = Scrape(service, policy);
    uint32_t wanted = replicas;
    if (scraped.ok()) {
      wanted = static_cast<uint32_t>(std::ceil(scraped->sum / policy.target() - 1e-9));
      const double ratio = scraped->sum / (policy.target() * std::max<uint32_t>(replicas, 1));
      if (std::abs(ratio - 1) <= kTolerance) wanted = replicas;
      wanted = std::clamp(wanted, policy.min(), policy.max());
      look.set_current(scraped->sum);
      look.set_tasks_scraped(scraped->tasks);
      look.set_wanted(wanted);
    } else {
      look.set_error(std::string(scraped.status().message()));
      wanted = std::clamp(replicas, policy.min(), policy.max());  // bounds still hold
    }
    // Scale down only to the most any look in the cooldown wanted, and not within a cooldown
    // of the last change.
    uint32_t down_to = wanted;
    bool cooled = true;
    {
      std::lock_guard lock(mu_);
      autoscale_looks_[service] = look;
      AutoscaleMemory& memory = autoscale_memory_[service];
      if (scraped.ok()) memory.wanted.push_back({now, wanted});
      while (!memory.wanted.empty() && memory.wanted.front().first < now - Cooldown(policy))
        memory.wanted.pop_front();
      for (const auto& [at, w] : memory.wanted) down_to = std::max(down_to, w);
      if (memory.last_change == absl::InfinitePast()) memory.last_change = now;  // a start counts
      cooled = now - memory.last_change >= Cooldown(policy);
    }
    if (options_.metrics != nullptr) {
      options_.metrics->Set("musketeer_autoscale_metric", {{"service", service}}, look.current());
      options_.metrics->Set("musketeer_autoscale_replicas", {{"service", service}}, replicas);
      options_.metrics->Set("musketeer_autoscale_wanted", {{"service", service}}, wanted);
      options_.metrics->Set("musketeer_autoscale_paused", {{"service", service}}, state.paused());
    }
    uint32_t to = replicas;
    std::string why;
    const std::string figures =
        scraped.ok() ? absl::StrCat(policy.metric(), " ", scraped->sum, " over ", scraped->tasks,
                                    " tasks, target ", policy.target(), " per replica")
                     : std::string();
    if (!state.paused()) {
      if (replicas < policy.min() || replicas > policy.max()) {
        to = std::clamp(replicas, policy.min(), policy.max());
        why = absl::StrCat("outside [", policy.min(), ", ", policy.max(), "]");
      } else if (scraped.ok() && wanted > replicas) {
        to = wanted;
        why = absl::StrCat(figures, ": up");
      } else if (scraped.ok() && down_to < replicas && cooled) {
        to = down_to;
        why = absl::StrCat(figures, ": down (no look in the last ", Cooldown(policy) / absl::Seconds(1),
                           " s wanted more)");
      }
    }
    if (to != replicas) {
      absl::Status s = UpdateSpec(service, [&](engine::ServiceSpec& spec) {
        if (!spec.mode.replicated) return absl::FailedPreconditionError("no longer replicated");
        spec.mode.replicated->replicas = to;
        return absl::OkStatus();
      }, /*rollback=*/false);
      store_.Audit("autoscaler", "ScaleService",
                   absl::StrCat(service, " ", replicas, "->", to, " (", why, ")"), s);
      if (s.ok()) {
        pb::AutoscaleDecision& d = *state.mutable_last_decision();
        d.set_at(Rfc3339(now));
        d.set_from(replicas);
        d.set_to(to);
        d.set_reason(why);
        state.set_replicas_set(to);
        changed = true;
        telemetry::LogInfo(absl::StrCat("autoscale ", service, ": ", replicas, " -> ", to, " (", why, ")"));
        if (options_.metrics != nullptr)
          options_.metrics->Add("musketeer_autoscale_decisions_total",
                                {{"service", service}, {"direction", to > replicas ? "up" : "down"}});
        std::lock_guard lock(mu_);
        autoscale_memory_[service].last_change = now;
      } else {
        telemetry::LogWarning(absl::StrCat("autoscale ", service, ": ", s.message()));
      }
    }
    if (changed) {
      ClearLook(state);
      (void)store_.PutAutoscale(service, state.SerializeAsString());
    }
  }
}

void Cluster::StartAutoscaler(absl::Duration every) {
  if (options_.metrics != nullptr) {
    telemetry::Metrics& m = *options_.metrics;
    m.DescribeGauge("musketeer_autoscale_metric", "the autoscaled metric's sum over the tasks");
    m.DescribeGauge("musketeer_autoscale_replicas", "an autoscaled service's replicas");
    m.DescribeGauge("musketeer_autoscale_wanted", "the replicas the last look asked for");
    m.DescribeGauge("musketeer_autoscale_paused", "1 while an operator's scale pauses it");
    m.DescribeCounter("musketeer_autoscale_decisions_total", "scales the autoscaler made");
  }
  StartPeriodic(every, [this] { AutoscaleOnce(absl::Now()); });
}

}  // namespace musketeer::cluster
