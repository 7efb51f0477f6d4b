// Cluster: reads through the live view (live_view.h), and the threads of background work.
#include <atomic>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/telemetry/log.h"

namespace musketeer::cluster {

Cluster::~Cluster() {
  StopBackground();
  if (view_) view_->Stop();
}

void Cluster::StartLiveView() {
  LiveView::Sources sources;
  sources.nodes = [this] {
    std::vector<nodes::Node> out;
    for (auto& h : AllNodes()) out.push_back(h.node);
    return out;
  };
  sources.manager = [this] { return Manager(); };
  sources.engine = [this](const nodes::Node& n) { return Engine(n); };
  sources.log = [](const std::string& line) { telemetry::LogWarning(line); };
  sources.event = [this](const nodes::Node& n, const engine::Event& e) { NoteEdgeEvent(n, e); };
  watch_log_ = std::make_unique<WatchLog>(absl::ToUnixMicros(absl::Now()));
  sources.published = [this](const std::shared_ptr<const ViewSnapshot>& s) {
    FeedWatch(*s);
    CountView(*s);
    if (s->manager.ok()) NoteManagers(s->swarm_nodes);
  };
  if (options_.metrics != nullptr) {
    telemetry::Metrics& m = *options_.metrics;
    m.DescribeGauge("musketeer_live_view_age_seconds",
                    "how old the snapshot reads are served from is (bounded by --view-resync, "
                    "or 2.5 s while every change comes as an event, plus one read of the "
                    "manager)");
    m.DescribeGauge("musketeer_live_view_events_cover_changes",
                    "1 while every change would reach the view as an event (a steady swarm "
                    "whose every ready node streams its events): it is then read every 2.5 s "
                    "instead of every --view-resync");
    m.DescribeHistogram("musketeer_live_view_resync_seconds",
                        "time to read the cluster (nodes, services, tasks) from the manager");
    m.DescribeGauge("musketeer_nodes", "nodes by driver state and swarm state");
    m.DescribeGauge("musketeer_services", "swarm services");
    m.DescribeGauge("musketeer_tasks", "swarm tasks by state");
    m.DescribeGauge("musketeer_managers",
                    "swarm managers by raft reachability (quorum: more than half reachable)");
    m.DescribeGauge("musketeer_manager_reachable",
                    "1 when the view reached a manager on its last read, else 0");
    // Shared with the collector, which may outlive this cluster in the registry.
    auto taken = view_taken_;
    m.AddCollector([taken](telemetry::Metrics& metrics) {
      const int64_t micros = taken->load();
      if (micros == 0) return;
      metrics.Set("musketeer_live_view_age_seconds", {},
                  (absl::ToUnixMicros(absl::Now()) - micros) / 1e6);
    });
  }
  view_ = std::make_unique<LiveView>(std::move(sources), options_.view);
  // Every write through the engines and the drivers is noted, so that reads see it.
  engine_factory_ = NotingWrites(std::move(engine_factory_), view_.get());
  for (auto& [name, driver] : drivers_) {
    noting_drivers_.push_back(NotingWrites(driver, view_.get()));
    driver = noting_drivers_.back().get();
  }
  if (options_.view_background) view_->Start();
}

void Cluster::CountView(const ViewSnapshot& view) {
  view_taken_->store(absl::ToUnixMicros(view.taken));
  if (options_.metrics == nullptr) return;
  telemetry::Metrics& m = *options_.metrics;
  m.Observe("musketeer_live_view_resync_seconds", {},
            absl::ToDoubleSeconds(absl::Now() - view.taken));
  std::map<std::pair<std::string, std::string>, double> nodes;
  std::map<std::string, std::string> swarm_state;  // by hostname
  for (const auto& n : view.swarm_nodes) swarm_state[n.description.hostname] = n.status.state;
  for (const auto& n : view.nodes) {
    auto it = swarm_state.find(n.name);
    ++nodes[{std::string(nodes::NodeStateName(n.state)),
             it == swarm_state.end() ? "none" : it->second}];
  }
  std::vector<std::pair<telemetry::Labels, double>> series;
  for (const auto& [k, count] : nodes)
    series.push_back({{{"state", k.first}, {"swarm_state", k.second}}, count});
  m.SetGauges("musketeer_nodes", series);
  std::map<std::string, double> tasks;
  for (const auto& t : view.tasks) ++tasks[t.status.state];
  series.clear();
  for (const auto& [state, count] : tasks) series.push_back({{{"state", state}}, count});
  m.SetGauges("musketeer_tasks", series);
  std::map<std::string, double> managers;
  for (const auto& n : view.swarm_nodes)
    if (n.manager_status) ++managers[n.manager_status->reachability];
  series.clear();
  for (const auto& [r, count] : managers) series.push_back({{{"reachability", r}}, count});
  m.SetGauges("musketeer_managers", series);
  m.Set("musketeer_services", {}, static_cast<double>(view.services.size()));
  m.Set("musketeer_manager_reachable", {}, view.manager.ok() ? 1 : 0);
  m.Set("musketeer_live_view_events_cover_changes", {}, view.events_cover_changes ? 1 : 0);
}

void Cluster::StartPeriodic(absl::Duration every, std::function<void()> work) {
  StartPeriodic([every, work = std::move(work)] {
    work();
    return every;
  });
}

void Cluster::StartPeriodic(std::function<absl::Duration()> work, std::function<bool()> due) {
  background_.emplace_back([this, work = std::move(work), due = std::move(due)] {
    std::unique_lock lock(background_mu_);
    while (!background_stop_) {
      lock.unlock();
      const absl::Duration wait = work();
      lock.lock();
      background_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait),
                              [&] { return background_stop_ || (due && due()); });
    }
  });
}

void Cluster::StopBackground() {
  {
    std::lock_guard lock(background_mu_);
    background_stop_ = true;
  }
  background_cv_.notify_all();
  for (auto& t : background_) t.join();
  background_.clear();
}

std::shared_ptr<const ViewSnapshot> Cluster::ReadView() { return view_ ? view_->Read() : nullptr; }

absl::StatusOr<std::pair<nodes::Node, std::shared_ptr<engine::DockerEngine>>> Cluster::ViewManager(
    const std::shared_ptr<const ViewSnapshot>& view) {
  if (!view->manager.ok()) return view->manager.status();
  return std::make_pair(*view->manager, LiveView::ReadOnlyEngine(view));
}

std::vector<Cluster::NodeHandle> Cluster::ViewNodes(const ViewSnapshot& view) {
  std::vector<NodeHandle> out;
  for (const auto& n : view.nodes) {
    auto it = drivers_.find(n.driver);
    out.push_back({n, it == drivers_.end() ? nullptr : it->second});
  }
  return out;
}

absl::StatusOr<Cluster::NodeHandle> Cluster::ViewNode(const ViewSnapshot& view,
                                                      const std::string& name) {
  for (auto& h : ViewNodes(view))
    if (h.node.name == name) return h;
  return FindNode(name);  // its error names what is wrong with the name
}

pb::Node Cluster::Annotated(const ViewSnapshot* view, pb::Node node) {
  if (view == nullptr) return node;
  if (auto it = view->streams.find(node.name()); it != view->streams.end())
    node.set_event_stream(it->second);
  node.set_observed_at(Rfc3339(view->taken));
  return node;
}

}  // namespace musketeer::cluster
