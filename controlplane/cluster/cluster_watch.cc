// Cluster: the cluster-wide watch, derived from the live view's snapshots (watch_log.h).
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/service_parts.h"

namespace musketeer::cluster {

void Cluster::FeedWatch(const ViewSnapshot& view) {
  std::vector<pb::WatchEvent> objects;
  std::set<std::string> kinds = {"node"};
  std::map<std::string, const engine::Node*> swarm_nodes;  // by hostname
  std::map<std::string, std::string> node_names;           // swarm id -> name
  for (const auto& n : view.swarm_nodes) {
    swarm_nodes[n.description.hostname] = &n;
    node_names[n.id] = n.description.hostname;
  }
  for (const auto& h : ViewNodes(view)) {
    pb::WatchEvent e;
    e.set_kind("node");
    e.set_name(h.node.name);
    auto it = swarm_nodes.find(h.node.name);
    pb::Node* node = e.mutable_node();
    *node = ToProto(h.node, it == swarm_nodes.end() ? nullptr : it->second);
    if (auto s = view.streams.find(h.node.name); s != view.streams.end())
      node->set_event_stream(s->second);
    objects.push_back(std::move(e));
  }
  // Without an answer from the manager the services and tasks stay as last seen (they did
  // not go away because the manager did not answer).
  if (view.manager.ok()) {
    kinds.insert({"service", "task"});
    std::map<std::string, std::string> service_names;  // id -> name
    std::map<std::string, uint32_t> running;           // by service id
    std::map<std::string, std::set<std::string>> global_nodes;
    for (const auto& s : view.services) service_names[s.id] = s.spec.name;
    for (const auto& t : view.tasks) {
      if (t.desired_state == "running" && t.status.state == "running") ++running[t.service_id];
      if (t.desired_state == "running") global_nodes[t.service_id].insert(t.node_id);
      pb::WatchEvent e;
      e.set_kind("task");
      e.set_name(t.id);
      *e.mutable_task() = TaskProto(t, service_names[t.service_id], node_names[t.node_id]);
      objects.push_back(std::move(e));
    }
    const auto autoscale = StoredAutoscale();
    for (const auto& v : view.services) {
      pb::WatchEvent e;
      e.set_kind("service");
      e.set_name(v.spec.name);
      pb::Service* out = e.mutable_service();
      auto routing = store_.GetRouting(v.spec.name);
      *out->mutable_spec() = FromEngineSpec(v.spec, routing ? &*routing : nullptr);
      out->set_id(v.id);
      out->set_version(v.version.index);
      out->set_created_at(v.created_at);
      out->set_updated_at(v.updated_at);
      if (v.update_status) {
        out->set_update_state(v.update_status->state);
        out->set_update_message(v.update_status->message);
      }
      if (auto it = v.spec.labels.find(kStackLabel); it != v.spec.labels.end())
        out->set_stack(it->second);
      if (routing) {
        out->mutable_routing()->set_mode(routing->mode);
        out->mutable_routing()->set_edge_service(routing->edge_service);
      }
      if (auto it = autoscale.find(v.spec.name); it != autoscale.end())
        *out->mutable_autoscale() = it->second;
      out->set_running(running[v.id]);
      out->set_desired(out->spec().mode() == "global" ? global_nodes[v.id].size()
                                                      : out->spec().replicas());
      objects.push_back(std::move(e));
    }
  }
  watch_log_->Update(kinds, std::move(objects), Rfc3339(view.taken));
}

absl::Status Cluster::Watch(const pb::WatchRequest& req,
                            const std::function<bool(const pb::WatchEvent&)>& sink,
                            const std::function<bool()>& cancelled) {
  if (!view_ || !options_.view_background)
    return absl::FailedPreconditionError(
        "the watch follows the live view, and this musketeerd runs without it; start it with "
        "--view on");
  static const std::set<std::string> kKinds = {"node", "service", "task"};
  std::set<std::string> kinds;
  for (const auto& k : req.kinds()) {
    if (!kKinds.count(k))
      return absl::InvalidArgumentError(absl::StrCat(
          "kinds: '", k.substr(0, 40), "' is not one of node, service, task (empty: all)"));
    kinds.insert(k);
  }
  if (kinds.empty()) kinds = kKinds;
  // The state sent first covers the caller's own writes (when the view comes within its
  // read_wait; else the stream starts with what the log holds, and the rest follows).
  (void)view_->Read();
  auto send = [&](const WatchLog::Catchup& c, bool synced) {
    if (c.reset) {
      pb::WatchEvent reset;
      reset.set_type(pb::WatchEvent::RESET);
      reset.set_revision(c.revision);
      if (!sink(reset)) return false;
    }
    for (const auto& e : c.events)
      if (kinds.count(e->kind()) && !sink(*e)) return false;
    if (synced) {
      pb::WatchEvent done;
      done.set_type(pb::WatchEvent::SYNCED);
      done.set_revision(c.revision);
      if (!sink(done)) return false;
    }
    return true;
  };
  WatchLog::Catchup c = watch_log_->Since(req.since_revision());
  if (!send(c, /*synced=*/true)) return absl::OkStatus();
  uint64_t at = c.revision;
  while (!cancelled()) {
    if (!watch_log_->WaitNewer(at, absl::Now() + absl::Seconds(1))) continue;
    c = watch_log_->Since(at);
    // A client too slow for the history gets the state again (and SYNCED after it).
    if (!send(c, /*synced=*/c.reset)) return absl::OkStatus();
    at = c.revision;
  }
  return absl::OkStatus();
}

}  // namespace musketeer::cluster
