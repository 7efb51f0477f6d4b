// LiveView: an in-memory view of the cluster that API reads are served from, so that a read
// costs microseconds instead of a round of Engine calls (GET /info, then /nodes, /services,
// /tasks on the manager) made again by every caller.
//
// What it holds: one snapshot at a time (immutable; readers share it): the nodes as their
// drivers see them, which node is a reachable manager, and the manager's nodes, services
// (with their task counts) and tasks.
//
// How it stays fresh, and how stale it can be:
// - every node's engine streams its events (containers, services, nodes) to the view; each
//   event makes it read the manager again (events are coalesced for `debounce`, and a
//   second read follows `settle` later, because the manager learns of a task's new state a
//   moment after the node does);
// - the view is read again every `resync` whether or not an event came, which bounds the
//   staleness of a read to `resync` plus one read of the manager (a few ms), even for
//   changes that emit no event or arrive while a node's stream is broken; while every change
//   would come as an event (EventsCoverChanges: a steady swarm whose every ready node
//   streams), every `quiet_resync` instead (the reads then only back the events up, and at
//   1,000 nodes each costs the manager and musketeerd a tenth of a second);
// - every write made through the control plane (an Engine call that changes something, a
//   node driver action) is noted, and a read that follows it is served from a snapshot
//   taken after it (read-your-writes): that read waits for one refresh.
// A node whose event stream breaks is marked ("broken since T: why") and its stream is
// retried every `stream_retry`; the snapshot says so per node (`streams`).
// The view never holds a reader up for long: when no snapshot that is recent enough (and
// covers the reader's writes) comes within `read_wait`, Read() answers the last one that
// reached a manager (stale, with its time; the drivers' nodes read again for writes since),
// or null when there is none: the reader asks the engines itself, as without a view.
//
// Thread-safety: thread-safe. Start() runs a refresh thread and one event thread per node.
#ifndef CONTROLPLANE_CLUSTER_LIVE_VIEW_H_
#define CONTROLPLANE_CLUSTER_LIVE_VIEW_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/engine/docker_engine.h"
#include "controlplane/nodes/node_driver.h"

namespace musketeer::cluster {

// A time as the API writes it: RFC 3339, UTC, milliseconds ("2026-12-07T04:11:02.123Z").
std::string Rfc3339(absl::Time t);

struct LiveViewOptions {
  absl::Duration resync = absl::Seconds(1);
  absl::Duration quiet_resync = absl::Milliseconds(2500);  // at most max_age / 2
  absl::Duration debounce = absl::Milliseconds(20);
  absl::Duration settle = absl::Milliseconds(250);
  absl::Duration stream_retry = absl::Seconds(1);
  absl::Duration read_wait = absl::Seconds(2);
  // Older than this and than two resyncs (the refresh thread is stuck on an engine), a
  // snapshot is not served.
  absl::Duration max_age = absl::Seconds(5);
};

// When the read for an event that came at `now` begins: after `debounce` (the burst it
// begins is all seen by that read), and reads that take long are spaced by twice their time,
// counted from the end of the last one (at most a quarter of read_wait: a reader waiting
// for its own write still gets it). An event after a quiet spell is read at once, not two
// reads' time later (at 1,000 nodes that was a third of a second).
absl::Time EventReadAt(absl::Time now, absl::Time last_read_end, absl::Duration last_read_took,
                       const LiveViewOptions& options);

struct ViewSnapshot;

// Whether every change to the swarm after `snap` would reach the view as an event: the
// manager answered, every node the swarm counts as ready streams its events to the view, and
// nothing is on its way (every task is running as desired or ended as desired, no service
// update is under way). The scheduler's own steps (a task pending, assigned, rejected, a
// replacement made) come as no event, so a swarm in motion is read every `resync`.
bool EventsCoverChanges(const ViewSnapshot& snap);

// How long after a read the view is read again: every resync, or quiet_resync while the
// current snapshot's changes would all come as events; or five reads' time if that is longer
// (at most a fifth of a core), but never so seldom that a snapshot would reach max_age
// (stale) between two: a read that waited long on a manager (raft electing) must not
// stretch how long a snapshot is served.
absl::Duration ResyncPeriod(bool events_cover_changes, absl::Duration last_read_took,
                            const LiveViewOptions& options);

// What reads derive from one snapshot (an API list, say), made once by the first read that
// needs it and shared by the later ones: at 1,000 nodes a list costs a few milliseconds to
// build, sort and serialize, and readers ask a thousand times a second. What readers asked
// of one snapshot lately is made for the next by the refresh thread (WarmInto) before
// readers get it, so that no reader waits on those milliseconds after every resync. A copy
// starts empty, since a snapshot is copied only to be patched.
class SnapshotMemo {
 public:
  template <class T>
  using Make = std::function<T(const ViewSnapshot&)>;

  SnapshotMemo() = default;
  SnapshotMemo(const SnapshotMemo&) {}
  SnapshotMemo& operator=(const SnapshotMemo&) = delete;

  // The value under `key` for `snapshot` (the one that holds this memo), made by `make` on
  // the first call. A key names one type, and `make` reads nothing but the snapshot.
  template <class T>
  std::shared_ptr<const T> Get(const std::string& key, const ViewSnapshot& snapshot,
                               Make<T> make) const {
    std::lock_guard lock(mu_);  // held while making: later callers wait for the one value
    Entry& e = entries_[key];
    e.unread_since = 0;
    if (e.value == nullptr) {
      e.make = [make = std::move(make)](const ViewSnapshot& s) -> std::shared_ptr<const void> {
        return std::make_shared<const T>(make(s));
      };
      e.value = e.make(snapshot);
    }
    return std::static_pointer_cast<const T>(e.value);
  }
  // Makes, in the memo of `next` (not yet published), what readers asked of this memo in
  // the last kWarmFor snapshots.
  void WarmInto(const ViewSnapshot& next) const;

 private:
  static constexpr int kWarmFor = 3;
  struct Entry {
    std::shared_ptr<const void> value;
    std::function<std::shared_ptr<const void>(const ViewSnapshot&)> make;
    int unread_since = 0;  // snapshots made since a reader last asked for it
  };
  mutable std::mutex mu_;
  mutable std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

struct ViewSnapshot {
  uint64_t generation = 0;
  absl::Time taken;                // when the reads of this snapshot began
  uint64_t covers_writes = 0;      // writes noted before the reads began
  std::vector<nodes::Node> nodes;  // as the drivers see them, sorted by name
  // A reachable manager, or why there is none (the error a read then returns).
  absl::StatusOr<nodes::Node> manager = absl::UnavailableError("the view has not been read yet");
  // The manager's answers.
  std::vector<engine::Node> swarm_nodes;
  std::vector<engine::Service> services;  // with their task counts (ServiceStatus)
  std::vector<engine::Task> tasks;
  // Per node: "live", "stopped" (its engine is not running), or "broken since T: why".
  std::map<std::string, std::string> streams;
  bool events_cover_changes = false;  // EventsCoverChanges, when it was taken
  SnapshotMemo derived;
};

class LiveView {
 public:
  using ManagerAndEngine = std::pair<nodes::Node, std::shared_ptr<engine::DockerEngine>>;
  struct Sources {
    std::function<std::vector<nodes::Node>()> nodes;            // every node, from its driver
    std::function<absl::StatusOr<ManagerAndEngine>()> manager;  // a reachable manager
    std::function<std::shared_ptr<engine::DockerEngine>(const nodes::Node&)> engine;
    std::function<void(const std::string&)> log;  // slow or failed reads of the manager
    // Change notification: called with every new snapshot, in the order they were taken
    // (one at a time, on the thread that read it) and before Read() can return it, e.g. to
    // derive the watch's revisions.
    std::function<void(const std::shared_ptr<const ViewSnapshot>&)> published;
    // Every event of a node's stream, on that stream's thread (so: short), never after
    // Stop(): work an event makes due on its node (an edge proxy removed, say).
    std::function<void(const nodes::Node&, const engine::Event&)> event;
  };
  LiveView(Sources sources, LiveViewOptions options);
  ~LiveView();  // stops the threads
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  // Starts the refresh thread and the event streams. Without Start(), the view is read
  // only on demand (Read after a write, Refresh).
  void Start();
  void Stop();

  // Something changed through the control plane: the next Read returns a later snapshot.
  void NoteWrite();
  // A snapshot covering every write noted before this call and younger than max_age:
  // the current one, or the next the refresh thread takes (without it: one read now, which
  // serves every caller waiting for it). When none comes within read_wait because the
  // manager does not answer (an election), the last snapshot that reached a manager, older
  // (its `taken` says so), with the drivers' nodes read again when writes came since (the
  // caller's own node actions show). Null when no snapshot ever reached a manager.
  std::shared_ptr<const ViewSnapshot> Read();
  // The current snapshot as it is, without waiting (null before the first).
  std::shared_ptr<const ViewSnapshot> Current();
  // Reads the manager now, whatever the current snapshot.
  std::shared_ptr<const ViewSnapshot> Refresh();

  // A read-only DockerEngine answering from `snapshot` what a manager answers for its nodes,
  // services and tasks (ListNodes, InspectNode, ListServices, InspectService, ListTasks);
  // every other call fails with FAILED_PRECONDITION.
  static std::shared_ptr<engine::DockerEngine> ReadOnlyEngine(
      std::shared_ptr<const ViewSnapshot> snapshot);

 private:
  // What the refresh thread and the event threads share. Event threads own a reference, so
  // that one stuck connecting to a vanished host can be let go (detached) at once.
  struct Hub {
    std::mutex mu;
    std::condition_variable cv;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    bool woken ABSL_GUARDED_BY(mu) = false;  // an event came: refresh soon
    std::map<std::string, std::string> stream_states ABSL_GUARDED_BY(mu);  // by node key
    std::function<void(const nodes::Node&, const engine::Event&)> event;  // Sources::event
    void Wake();
    // Passes `e` to `event` unless stopping (under mu: none after Stop()).
    void Deliver(const nodes::Node& node, const engine::Event& e);
    void SetStreamState(const std::string& key, std::string state);
  };
  struct Stream {
    nodes::Node node;
    std::shared_ptr<engine::DockerEngine> engine;
    std::atomic<bool> wanted{true};
  };
  static void StreamLoop(std::shared_ptr<Hub> hub, std::shared_ptr<Stream> stream,
                         LiveViewOptions options);
  std::shared_ptr<const ViewSnapshot> RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);
  void RefreshLoop();
  // Starts streams for new running nodes and lets go of those of nodes gone or stopped.
  void ReconcileStreams(const std::vector<nodes::Node>& nodes);

  const Sources sources_;
  const LiveViewOptions options_;
  std::atomic<uint64_t> writes_{0};
  const std::shared_ptr<Hub> hub_ = std::make_shared<Hub>();

  std::mutex refresh_mu_;  // one read of the manager at a time
  uint64_t generation_ ABSL_GUARDED_BY(refresh_mu_) = 0;
  std::string last_error_logged_ ABSL_GUARDED_BY(refresh_mu_);

  std::mutex mu_;
  std::condition_variable published_;  // a new snapshot in current_
  std::shared_ptr<const ViewSnapshot> current_ ABSL_GUARDED_BY(mu_);
  // When the read of the manager under way began (InfiniteFuture when none is).
  absl::Time reading_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // How long the last read of the cluster took: the refresh thread paces itself by it, so
  // that a large cluster's reads (1.5 s at 1,000 nodes) leave the cores to the API.
  absl::Duration last_read_took_ ABSL_GUARDED_BY(mu_);
  absl::Time last_read_end_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread refresher_;

  std::mutex streams_mu_;
  std::map<std::string, std::shared_ptr<Stream>> streams_ ABSL_GUARDED_BY(streams_mu_);
};

// Decorators that note every write made through them (Engine calls that change something,
// node driver actions) in `view`, so that reads that follow see it.
using EngineFactory = std::function<std::unique_ptr<engine::DockerEngine>(const nodes::Node&)>;
EngineFactory NotingWrites(EngineFactory engines, LiveView* view);
std::unique_ptr<nodes::NodeDriver> NotingWrites(nodes::NodeDriver* driver, LiveView* view);

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_LIVE_VIEW_H_
