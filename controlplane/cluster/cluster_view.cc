// Cluster: reads through the live view (live_view.h).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/cluster/cluster.h"

namespace musketeer::cluster {

Cluster::~Cluster() {
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
  sources.log = [](const std::string& line) { std::cerr << "musketeerd: " << line << "\n"; };
  watch_log_ = std::make_unique<WatchLog>(absl::ToUnixMicros(absl::Now()));
  sources.published = [this](const std::shared_ptr<const ViewSnapshot>& s) { FeedWatch(*s); };
  view_ = std::make_unique<LiveView>(std::move(sources), options_.view);
  // Every write through the engines and the drivers is noted, so that reads see it.
  engine_factory_ = NotingWrites(std::move(engine_factory_), view_.get());
  for (auto& [name, driver] : drivers_) {
    noting_drivers_.push_back(NotingWrites(driver, view_.get()));
    driver = noting_drivers_.back().get();
  }
  if (options_.view_background) view_->Start();
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

pb::Node Cluster::Annotated(const std::shared_ptr<const ViewSnapshot>& view, pb::Node node) {
  if (view == nullptr) return node;
  if (auto it = view->streams.find(node.name()); it != view->streams.end())
    node.set_event_stream(it->second);
  node.set_observed_at(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", view->taken, absl::UTCTimeZone()));
  return node;
}

}  // namespace musketeer::cluster
