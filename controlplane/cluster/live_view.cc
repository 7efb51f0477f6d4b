#include "controlplane/cluster/live_view.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace musketeer::cluster {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

namespace {


// Events that may change what the view shows. Health probes alone make exec_* events every
// few seconds per container; those are not worth a read of the manager.
bool Relevant(const engine::Event& e) {
  const std::string& action = e.action;
  if (e.type != "container") return true;  // service and node events
  return action == "create" || action == "start" || action == "die" || action == "destroy" ||
         action == "kill" || action == "oom" || absl::StartsWith(action, "health_status");
}

}  // namespace

absl::Time EventReadAt(absl::Time now, absl::Time last_read_end, absl::Duration last_read_took,
                       const LiveViewOptions& options) {
  const absl::Duration gap = std::clamp(2 * last_read_took, options.debounce,
                                        std::max(options.debounce, options.read_wait / 4));
  return std::max(now + options.debounce, last_read_end + gap);
}

void SnapshotMemo::WarmInto(const ViewSnapshot& next) const {
  std::vector<std::pair<std::string, Entry>> made;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, e] : entries_)
      if (e.unread_since < kWarmFor) made.push_back({key, {nullptr, e.make, e.unread_since + 1}});
  }
  for (auto& [key, e] : made) e.value = e.make(next);  // unlocked: a maker may ask the memo
  std::lock_guard lock(next.derived.mu_);
  for (auto& [key, e] : made) next.derived.entries_.emplace(key, std::move(e));
}

LiveView::LiveView(Sources sources, LiveViewOptions options)
    : sources_(std::move(sources)), options_(options) {
  hub_->event = sources_.event;
}

LiveView::~LiveView() { Stop(); }

void LiveView::Start() {
  std::lock_guard lock(mu_);
  {
    std::lock_guard hub_lock(hub_->mu);
    if (hub_->stopping) return;
  }
  if (started_) return;
  started_ = true;
  refresher_ = std::thread([this] { RefreshLoop(); });
}

void LiveView::Stop() {
  {
    std::lock_guard lock(hub_->mu);
    hub_->stopping = true;
  }
  hub_->cv.notify_all();
  if (refresher_.joinable()) refresher_.join();
  std::lock_guard lock(streams_mu_);
  for (auto& [key, s] : streams_) s->wanted = false;
  streams_.clear();  // their threads end within half a second (or when a connect gives up)
}

void LiveView::NoteWrite() {
  writes_.fetch_add(1);
  hub_->Wake();  // the refresh thread reads the manager again at once
}

std::shared_ptr<const ViewSnapshot> LiveView::Read() {
  const uint64_t writes = writes_.load();
  const absl::Time until = absl::Now() + options_.read_wait;
  std::unique_lock lock(mu_);
  auto fresh = [&]() -> bool {
    if (current_ == nullptr || current_->covers_writes < writes) return false;
    // Without the refresh thread, reaching the resync age makes a snapshot stale.
    // A refreshed view is replaced every resync: only one older than two of those (and
    // than max_age) means the refresh thread is stuck.
    const absl::Duration limit = std::max(options_.max_age, 2 * options_.resync);
    return absl::Now() - current_->taken < (started_ ? limit : options_.resync);
  };
  if (fresh()) return current_;
  if (started_) {
    // The refresh thread is stuck on a manager that does not answer (while raft elects a
    // new leader, every manager's answer waits for it): the last snapshot is still the best
    // answer there is, and its time says how old it is (observed_at).
    if (absl::Now() - reading_since_ <= options_.read_wait &&
        published_.wait_until(lock, absl::ToChronoTime(until), fresh))
      return current_;  // the refresh thread, woken by the write or its resync, read it
    std::shared_ptr<const ViewSnapshot> last = current_;
    lock.unlock();
    if (last == nullptr || !last->manager.ok()) return nullptr;
    if (last->covers_writes >= writes) return last;
    // Writes since (a node killed, say): what the drivers say can be read without the
    // manager, so the caller sees its own node actions; the swarm's part stays as last read.
    auto patched = std::make_shared<ViewSnapshot>(*last);
    patched->covers_writes = writes;
    patched->nodes = sources_.nodes();
    std::sort(patched->nodes.begin(), patched->nodes.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return patched;
  }
  lock.unlock();
  std::lock_guard refresh_lock(refresh_mu_);
  lock.lock();
  if (fresh()) return current_;  // read by another caller meanwhile
  lock.unlock();
  return RefreshLocked();
}

std::shared_ptr<const ViewSnapshot> LiveView::Current() {
  std::lock_guard lock(mu_);
  return current_;
}

std::shared_ptr<const ViewSnapshot> LiveView::Refresh() {
  std::lock_guard refresh_lock(refresh_mu_);
  return RefreshLocked();
}

std::shared_ptr<const ViewSnapshot> LiveView::RefreshLocked() {
  const absl::Time start = absl::Now();
  {
    std::lock_guard lock(mu_);
    reading_since_ = start;
  }
  auto snap = std::make_shared<ViewSnapshot>();
  snap->covers_writes = writes_.load();
  snap->taken = absl::Now();
  snap->nodes = sources_.nodes();
  std::sort(snap->nodes.begin(), snap->nodes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  if (auto m = sources_.manager(); !m.ok()) {
    snap->manager = m.status();
  } else {
    engine::DockerEngine& manager = *m->second;
    auto swarm_nodes = manager.ListNodes();
    auto services = swarm_nodes.ok() ? manager.ListServices() : swarm_nodes.status();
    auto tasks = services.ok() ? manager.ListTasks("") : services.status();
    if (!tasks.ok()) {
      snap->manager = tasks.status();
    } else {
      snap->manager = m->first;
      snap->swarm_nodes = std::move(*swarm_nodes);
      snap->services = std::move(*services);
      snap->tasks = std::move(*tasks);
    }
  }
  bool started;
  {
    std::lock_guard lock(mu_);
    started = started_;
  }
  {
    std::lock_guard lock(hub_->mu);
    started = started && !hub_->stopping;
    for (const auto& n : snap->nodes) {
      auto it = hub_->stream_states.find(n.EngineKey());
      snap->streams[n.name] = n.state != nodes::NodeState::kRunning ? "stopped"
                              : it != hub_->stream_states.end()     ? it->second
                              : started                             ? "connecting"
                                                                    : "not watched";
    }
  }
  snap->events_cover_changes = EventsCoverChanges(*snap);
  snap->generation = ++generation_;
  if (auto previous = Current(); previous != nullptr && snap->manager.ok())
    previous->derived.WarmInto(*snap);
  // Before readers get it (a reader that saw this snapshot finds it in what the
  // notification fed, e.g. the watch's state), and under refresh_mu_: in order.
  if (sources_.published) sources_.published(snap);
  const absl::Duration took = absl::Now() - start;
  {
    std::lock_guard lock(mu_);
    current_ = snap;
    reading_since_ = absl::InfiniteFuture();
    last_read_took_ = took;
    last_read_end_ = start + took;
  }
  published_.notify_all();
  if (sources_.log) {
    if (took > absl::Seconds(1))
      sources_.log(
          absl::StrCat("live view: reading the cluster took ", absl::FormatDuration(took)));
    // Only changes: "no swarm yet" would otherwise repeat every resync.
    const std::string error(snap->manager.ok() ? "" : snap->manager.status().message());
    if (error != last_error_logged_) {
      sources_.log(error.empty() ? "live view: the manager answers"
                                 : absl::StrCat("live view: ", error));
      last_error_logged_ = error;
    }
  }
  if (started) ReconcileStreams(snap->nodes);
  return snap;
}

bool EventsCoverChanges(const ViewSnapshot& snap) {
  if (!snap.manager.ok()) return false;
  for (const auto& n : snap.swarm_nodes) {
    if (n.status.state != "ready") continue;  // its tasks are the manager's: node events
    auto it = snap.streams.find(n.description.hostname);
    if (it == snap.streams.end() || it->second != "live") return false;
  }
  for (const auto& s : snap.services)
    if (s.update_status && (s.update_status->state == "updating" ||
                            s.update_status->state == "rollback_started"))
      return false;
  // Never destroyed: the refresh thread may still ask while the process exits.
  static const auto* kEnded = new std::set<std::string>{"complete", "shutdown", "failed",
                                                        "rejected", "orphaned", "remove"};
  for (const auto& t : snap.tasks) {
    const bool settled = t.desired_state == "running" ? t.status.state == "running"
                                                      : kEnded->count(t.status.state) > 0;
    if (!settled) return false;
  }
  return true;
}

absl::Duration ResyncPeriod(bool events_cover_changes, absl::Duration last_read_took,
                            const LiveViewOptions& options) {
  const absl::Duration every =
      events_cover_changes ? std::max(options.resync, options.quiet_resync) : options.resync;
  return std::min(std::max(every, 5 * last_read_took),
                  std::max(options.resync, options.max_age / 2));
}

void LiveView::Hub::Wake() {
  {
    std::lock_guard lock(mu);
    woken = true;
  }
  cv.notify_all();
}

void LiveView::Hub::Deliver(const nodes::Node& node, const engine::Event& e) {
  std::lock_guard lock(mu);
  if (event && !stopping) event(node, e);
}

void LiveView::Hub::SetStreamState(const std::string& key, std::string state) {
  std::lock_guard lock(mu);
  stream_states[key] = std::move(state);
}

void LiveView::RefreshLoop() {
  absl::Time next_resync = absl::Now();  // the first read at once
  absl::Time settle_at = absl::InfiniteFuture();
  for (;;) {
    bool by_event = false;
    {
      std::unique_lock lock(hub_->mu);
      const absl::Time until = std::min(next_resync, settle_at);
      hub_->cv.wait_until(lock, absl::ToChronoTime(until),
                          [&] { return hub_->stopping || hub_->woken || absl::Now() >= until; });
      if (hub_->stopping) return;
      by_event = hub_->woken;
      hub_->woken = false;
    }
    if (by_event) {
      absl::Time at;
      {
        std::lock_guard lock(mu_);
        at = EventReadAt(absl::Now(), last_read_end_, last_read_took_, options_);
      }
      std::unique_lock lock(hub_->mu);
      if (hub_->cv.wait_until(lock, absl::ToChronoTime(at), [&] { return hub_->stopping; }))
        return;
      hub_->woken = false;
      settle_at = absl::Now() + options_.settle;
    } else if (absl::Now() >= settle_at) {
      settle_at = absl::InfiniteFuture();
    }
    {
      std::lock_guard refresh_lock(refresh_mu_);
      RefreshLocked();
    }
    std::lock_guard lock(mu_);
    next_resync = absl::Now() + ResyncPeriod(current_ != nullptr && current_->events_cover_changes,
                                             last_read_took_, options_);
  }
}

void LiveView::ReconcileStreams(const std::vector<nodes::Node>& all) {
  std::lock_guard lock(streams_mu_);
  {
    std::lock_guard hub_lock(hub_->mu);
    if (hub_->stopping) return;
  }
  std::map<std::string, const nodes::Node*> running;
  for (const auto& n : all)
    if (n.state == nodes::NodeState::kRunning) running[n.EngineKey()] = &n;
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (running.count(it->first)) {
      ++it;
      continue;
    }
    it->second->wanted = false;  // its thread ends on its own
    hub_->cv.notify_all();
    {
      std::lock_guard hub_lock(hub_->mu);
      hub_->stream_states.erase(it->first);
    }
    it = streams_.erase(it);
  }
  for (const auto& [key, node] : running) {
    if (streams_.count(key)) continue;
    auto s = std::make_shared<Stream>();
    s->node = *node;
    s->engine = sources_.engine(*node);
    std::thread(StreamLoop, hub_, s, options_).detach();
    streams_[key] = std::move(s);
  }
}

void LiveView::StreamLoop(std::shared_ptr<Hub> hub, std::shared_ptr<Stream> s,
                          LiveViewOptions options) {
  const std::string key = s->node.EngineKey();
  const engine::EventFilters filters{{"type", {"container", "service", "node"}}};
  while (s->wanted) {
    bool open = false;
    // The engine asks `cancelled` only while the stream is open and waiting: the first ask
    // means the stream is up. Events missed while it was down are caught by a read then.
    auto opened = [&] {
      if (open || !s->wanted) return;
      open = true;
      hub->SetStreamState(key, "live");
      hub->Wake();
    };
    absl::Status st = s->engine->Events(
        absl::ToUnixSeconds(absl::Now()), 0, filters,
        [&](const engine::Event& e) {
          opened();
          if (Relevant(e)) hub->Wake();
          if (s->wanted) hub->Deliver(s->node, e);
          return s->wanted.load();
        },
        [&] {
          opened();
          return !s->wanted.load();
        });
    if (!s->wanted) return;
    hub->SetStreamState(key, absl::StrCat("broken since ", Rfc3339(absl::Now()), ": ",
                                          st.ok() ? "the engine ended the event stream"
                                                  : std::string(st.message())));
    hub->Wake();  // the node may be gone: what the manager says now matters
    std::unique_lock lock(hub->mu);
    hub->cv.wait_for(lock, absl::ToChronoNanoseconds(options.stream_retry),
                     [&] { return hub->stopping || !s->wanted; });
    if (hub->stopping) return;
  }
}

// ---------------------------------------------------------------- the read-only engine

namespace {

class SnapshotEngine : public engine::DockerEngine {
 public:
  explicit SnapshotEngine(std::shared_ptr<const ViewSnapshot> snap) : snap_(std::move(snap)) {}
  std::string address() const override { return "live view"; }

  absl::StatusOr<std::vector<engine::Node>> ListNodes() override { return snap_->swarm_nodes; }
  absl::StatusOr<engine::Node> InspectNode(const std::string& id) override {
    for (const auto& n : snap_->swarm_nodes)
      if (n.id == id) return n;
    return absl::NotFoundError("node " + id + " not found");
  }
  absl::StatusOr<std::vector<engine::Service>> ListServices() override { return snap_->services; }
  absl::StatusOr<engine::Service> InspectService(const std::string& id_or_name) override {
    for (const auto& s : snap_->services)
      if (s.id == id_or_name || s.spec.name == id_or_name) return s;
    return absl::NotFoundError("service " + id_or_name + " not found");
  }
  absl::StatusOr<std::vector<engine::Task>> ListTasks(const std::string& service_id) override {
    if (service_id.empty()) return snap_->tasks;
    std::vector<engine::Task> out;
    for (const auto& t : snap_->tasks)
      if (t.service_id == service_id) out.push_back(t);
    return out;
  }

  // Everything else is not in the view.
  absl::Status Ping() override { return No(); }
  absl::StatusOr<engine::SystemInfo> Info() override { return No(); }
  absl::StatusOr<engine::SystemVersion> Version() override { return No(); }
  absl::StatusOr<std::string> SwarmInit(const engine::SwarmInitRequest&) override { return No(); }
  absl::Status SwarmJoin(const engine::SwarmJoinRequest&) override { return No(); }
  absl::Status SwarmLeave(bool) override { return No(); }
  absl::StatusOr<engine::Swarm> SwarmInspect() override { return No(); }
  absl::Status SwarmUpdate(uint64_t, const engine::SwarmSpec&, bool, bool) override { return No(); }
  absl::Status UpdateNode(const std::string&, uint64_t, const engine::NodeSpec&) override {
    return No();
  }
  absl::Status RemoveNode(const std::string&, bool) override { return No(); }
  absl::StatusOr<std::string> CreateNetwork(const engine::NetworkCreateRequest&) override {
    return No();
  }
  absl::StatusOr<std::vector<engine::Network>> ListNetworks() override { return No(); }
  absl::Status RemoveNetwork(const std::string&) override { return No(); }
  absl::StatusOr<std::string> CreateSecret(const engine::SecretSpec&) override { return No(); }
  absl::StatusOr<std::vector<engine::Secret>> ListSecrets() override { return No(); }
  absl::Status RemoveSecret(const std::string&) override { return No(); }
  absl::StatusOr<std::string> CreateContainer(const engine::ContainerCreateRequest&) override {
    return No();
  }
  absl::Status StartContainer(const std::string&) override { return No(); }
  absl::StatusOr<std::string> Exec(const std::string&, const std::vector<std::string>&) override {
    return No();
  }
  absl::Status PutArchive(const std::string&, const std::string&,
                          const engine::BodySource&) override {
    return No();
  }
  absl::Status RemoveContainer(const std::string&, bool) override { return No(); }
  absl::StatusOr<engine::Volume> CreateVolume(const engine::VolumeCreateRequest&) override {
    return No();
  }
  absl::StatusOr<std::vector<engine::Volume>> ListVolumes() override { return No(); }
  absl::Status RemoveVolume(const std::string&, bool) override { return No(); }
  absl::StatusOr<std::string> CreateConfig(const engine::ConfigSpec&) override { return No(); }
  absl::StatusOr<std::vector<engine::Config>> ListConfigs() override { return No(); }
  absl::StatusOr<engine::Config> InspectConfig(const std::string&) override { return No(); }
  absl::Status RemoveConfig(const std::string&) override { return No(); }
  absl::StatusOr<std::string> CreateService(const engine::ServiceSpec&) override { return No(); }
  absl::Status UpdateService(const std::string&, uint64_t, const engine::ServiceSpec&,
                             bool) override {
    return No();
  }
  absl::Status RemoveService(const std::string&) override { return No(); }
  absl::Status ServiceLogs(const std::string&, bool, int, const engine::LogSink&,
                           const std::function<bool()>&) override {
    return No();
  }
  absl::Status BuildImage(const std::string&, const engine::BodySource&,
                          const engine::LineSink&) override {
    return No();
  }
  absl::Status ImportImage(const std::string&, const std::string&,
                           const engine::BodySource&) override {
    return No();
  }
  absl::StatusOr<std::unique_ptr<engine::ResponseStream>> SaveImage(const std::string&) override {
    return No();
  }
  absl::Status LoadImage(const engine::BodySource&) override { return No(); }
  absl::Status PullImage(const std::string&) override { return No(); }
  absl::StatusOr<engine::ImageInspect> InspectImage(const std::string&) override { return No(); }
  absl::StatusOr<std::vector<engine::ImageSummary>> ListImages() override { return No(); }
  absl::Status RemoveImage(const std::string&, bool) override { return No(); }
  absl::StatusOr<std::vector<engine::ContainerSummary>> ListContainers() override { return No(); }
  absl::StatusOr<engine::ContainerInspect> InspectContainer(const std::string&) override {
    return No();
  }
  absl::Status Events(int64_t, int64_t, const engine::EventFilters&, const EventSink&,
                      const std::function<bool()>&) override {
    return No();
  }

 private:
  static absl::Status No() {
    return absl::FailedPreconditionError("the live view answers reads of nodes, services, tasks");
  }
  const std::shared_ptr<const ViewSnapshot> snap_;
};

// Forwards every call; notes the ones that change something.
class NotingEngine : public engine::DockerEngine {
 public:
  NotingEngine(std::unique_ptr<engine::DockerEngine> inner, LiveView* view)
      : inner_(std::move(inner)), view_(view) {}
  std::string address() const override { return inner_->address(); }

  absl::Status Ping() override { return inner_->Ping(); }
  absl::StatusOr<engine::SystemInfo> Info() override { return inner_->Info(); }
  absl::StatusOr<engine::SystemVersion> Version() override { return inner_->Version(); }
  absl::StatusOr<std::string> SwarmInit(const engine::SwarmInitRequest& r) override {
    return Noted(inner_->SwarmInit(r));
  }
  absl::Status SwarmJoin(const engine::SwarmJoinRequest& r) override {
    return Noted(inner_->SwarmJoin(r));
  }
  absl::Status SwarmLeave(bool force) override { return Noted(inner_->SwarmLeave(force)); }
  absl::StatusOr<engine::Swarm> SwarmInspect() override { return inner_->SwarmInspect(); }
  absl::Status SwarmUpdate(uint64_t version, const engine::SwarmSpec& spec, bool w,
                           bool m) override {
    return Noted(inner_->SwarmUpdate(version, spec, w, m));
  }
  absl::StatusOr<std::vector<engine::Node>> ListNodes() override { return inner_->ListNodes(); }
  absl::StatusOr<engine::Node> InspectNode(const std::string& id) override {
    return inner_->InspectNode(id);
  }
  absl::Status UpdateNode(const std::string& id, uint64_t version,
                          const engine::NodeSpec& spec) override {
    return Noted(inner_->UpdateNode(id, version, spec));
  }
  absl::Status RemoveNode(const std::string& id, bool force) override {
    return Noted(inner_->RemoveNode(id, force));
  }
  absl::StatusOr<std::string> CreateNetwork(const engine::NetworkCreateRequest& r) override {
    return Noted(inner_->CreateNetwork(r));
  }
  absl::StatusOr<std::vector<engine::Network>> ListNetworks() override {
    return inner_->ListNetworks();
  }
  absl::Status RemoveNetwork(const std::string& id) override {
    return Noted(inner_->RemoveNetwork(id));
  }
  absl::StatusOr<std::string> CreateSecret(const engine::SecretSpec& spec) override {
    return inner_->CreateSecret(spec);  // not in the view
  }
  absl::StatusOr<std::vector<engine::Secret>> ListSecrets() override {
    return inner_->ListSecrets();
  }
  absl::Status RemoveSecret(const std::string& id) override { return inner_->RemoveSecret(id); }
  absl::StatusOr<std::string> CreateContainer(const engine::ContainerCreateRequest& r) override {
    return inner_->CreateContainer(r);  // containers and volumes are not in the view
  }
  absl::Status StartContainer(const std::string& id) override { return inner_->StartContainer(id); }
  absl::StatusOr<std::string> Exec(const std::string& id,
                                   const std::vector<std::string>& cmd) override {
    return inner_->Exec(id, cmd);
  }
  absl::Status PutArchive(const std::string& id, const std::string& path,
                          const engine::BodySource& archive) override {
    return inner_->PutArchive(id, path, archive);
  }
  absl::Status RemoveContainer(const std::string& id, bool force) override {
    return inner_->RemoveContainer(id, force);
  }
  absl::StatusOr<engine::Volume> CreateVolume(const engine::VolumeCreateRequest& r) override {
    return inner_->CreateVolume(r);
  }
  absl::StatusOr<std::vector<engine::Volume>> ListVolumes() override {
    return inner_->ListVolumes();
  }
  absl::Status RemoveVolume(const std::string& name, bool force) override {
    return inner_->RemoveVolume(name, force);
  }
  absl::StatusOr<std::string> CreateConfig(const engine::ConfigSpec& spec) override {
    return inner_->CreateConfig(spec);  // not in the view
  }
  absl::StatusOr<std::vector<engine::Config>> ListConfigs() override {
    return inner_->ListConfigs();
  }
  absl::StatusOr<engine::Config> InspectConfig(const std::string& id) override {
    return inner_->InspectConfig(id);
  }
  absl::Status RemoveConfig(const std::string& id) override { return inner_->RemoveConfig(id); }
  absl::StatusOr<std::string> CreateService(const engine::ServiceSpec& spec) override {
    return Noted(inner_->CreateService(spec));
  }
  absl::StatusOr<engine::Service> InspectService(const std::string& id) override {
    return inner_->InspectService(id);
  }
  absl::Status UpdateService(const std::string& id, uint64_t version,
                             const engine::ServiceSpec& spec, bool rollback) override {
    return Noted(inner_->UpdateService(id, version, spec, rollback));
  }
  absl::Status RemoveService(const std::string& id) override {
    return Noted(inner_->RemoveService(id));
  }
  absl::StatusOr<std::vector<engine::Service>> ListServices() override {
    return inner_->ListServices();
  }
  absl::StatusOr<std::vector<engine::Task>> ListTasks(const std::string& id) override {
    return inner_->ListTasks(id);
  }
  absl::Status ServiceLogs(const std::string& id, bool follow, int tail,
                           const engine::LogSink& sink,
                           const std::function<bool()>& cancelled) override {
    return inner_->ServiceLogs(id, follow, tail, sink, cancelled);
  }
  absl::Status BuildImage(const std::string& tag, const engine::BodySource& context,
                          const engine::LineSink& sink) override {
    return inner_->BuildImage(tag, context, sink);
  }
  absl::Status ImportImage(const std::string& repo, const std::string& tag,
                           const engine::BodySource& rootfs) override {
    return inner_->ImportImage(repo, tag, rootfs);
  }
  absl::StatusOr<std::unique_ptr<engine::ResponseStream>> SaveImage(
      const std::string& name) override {
    return inner_->SaveImage(name);
  }
  absl::Status LoadImage(const engine::BodySource& tarball) override {
    return inner_->LoadImage(tarball);
  }
  absl::Status PullImage(const std::string& image) override { return inner_->PullImage(image); }
  absl::StatusOr<engine::ImageInspect> InspectImage(const std::string& name) override {
    return inner_->InspectImage(name);
  }
  absl::StatusOr<std::vector<engine::ImageSummary>> ListImages() override {
    return inner_->ListImages();
  }
  absl::Status RemoveImage(const std::string& name, bool force) override {
    return inner_->RemoveImage(name, force);
  }
  absl::StatusOr<std::vector<engine::ContainerSummary>> ListContainers() override {
    return inner_->ListContainers();
  }
  absl::StatusOr<engine::ContainerInspect> InspectContainer(const std::string& id) override {
    return inner_->InspectContainer(id);
  }
  absl::Status Events(int64_t since, int64_t until, const engine::EventFilters& filters,
                      const EventSink& sink, const std::function<bool()>& cancelled) override {
    return inner_->Events(since, until, filters, sink, cancelled);
  }

 private:
  template <class T>
  T Noted(T result) {
    view_->NoteWrite();  // failed calls too: they may have changed something
    return result;
  }
  std::unique_ptr<engine::DockerEngine> inner_;
  LiveView* view_;
};

class NotingDriver : public nodes::NodeDriver {
 public:
  NotingDriver(nodes::NodeDriver* inner, LiveView* view) : inner_(inner), view_(view) {}
  const char* name() const override { return inner_->name(); }
  absl::StatusOr<nodes::Node> Create(const std::string& name,
                                     const nodes::RemoteSpec* remote) override {
    return Noted(inner_->Create(name, remote));
  }
  absl::StatusOr<nodes::Node> CreateWith(const std::string& name,
                                         const nodes::CreateOptions& options) override {
    return Noted(inner_->CreateWith(name, options));
  }
  absl::Status RemoveWith(const std::string& name, const nodes::RemoveOptions& options) override {
    return Noted(inner_->RemoveWith(name, options));
  }
  absl::Status Start(const std::string& name) override { return Noted(inner_->Start(name)); }
  absl::Status Stop(const std::string& name) override { return Noted(inner_->Stop(name)); }
  absl::Status Kill(const std::string& name) override { return Noted(inner_->Kill(name)); }
  absl::Status Remove(const std::string& name) override { return Noted(inner_->Remove(name)); }
  absl::StatusOr<nodes::Node> Inspect(const std::string& name) override {
    return inner_->Inspect(name);
  }
  std::vector<nodes::Node> List() override { return inner_->List(); }
  absl::Status RegenerateCerts(const std::string& name) override {
    return Noted(inner_->RegenerateCerts(name));
  }
  absl::Status ProbeTcp(const std::string& from, const std::string& ip, uint16_t port) override {
    return inner_->ProbeTcp(from, ip, port);
  }

 private:
  template <class T>
  T Noted(T result) {
    view_->NoteWrite();
    return result;
  }
  nodes::NodeDriver* inner_;
  LiveView* view_;
};

}  // namespace

std::shared_ptr<engine::DockerEngine> LiveView::ReadOnlyEngine(
    std::shared_ptr<const ViewSnapshot> snapshot) {
  return std::make_shared<SnapshotEngine>(std::move(snapshot));
}

EngineFactory NotingWrites(EngineFactory engines, LiveView* view) {
  return [engines = std::move(engines), view](const nodes::Node& n) {
    return std::unique_ptr<engine::DockerEngine>(new NotingEngine(engines(n), view));
  };
}

std::unique_ptr<nodes::NodeDriver> NotingWrites(nodes::NodeDriver* driver, LiveView* view) {
  return std::make_unique<NotingDriver>(driver, view);
}

}  // namespace musketeer::cluster
