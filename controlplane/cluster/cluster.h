// Cluster: the control plane's operations on nodes, the swarm, networks, images, services
// and stacks. Plain C++ over three interfaces (node drivers, DockerEngine through a
// factory, StateStore); the gRPC layer only authenticates, converts and streams.
// The API's messages (musketeer.v1) double as the value types here: they are plain data,
// and one set of types keeps the two layers from drifting apart.
//
// Thread-safety: thread-safe. Operations on one service are serialized; different
// services proceed in parallel.
#ifndef CONTROLPLANE_CLUSTER_CLUSTER_H_
#define CONTROLPLANE_CLUSTER_CLUSTER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/cluster/image_ref.h"
#include "controlplane/cluster/live_view.h"
#include "controlplane/telemetry/metrics.h"
#include "controlplane/cluster/watch_log.h"
#include "controlplane/engine/docker_engine.h"
#include "controlplane/nodes/node_driver.h"
#include "controlplane/state/state_store.h"
#include "musketeer/v1/musketeer.pb.h"

namespace musketeer::cluster {

namespace pb = ::musketeer::v1;

using EngineFactory = std::function<std::unique_ptr<engine::DockerEngine>(const nodes::Node&)>;
// Answers /ping of host:port: the body, or an error.
using PingProbe =
    std::function<absl::StatusOr<std::string>(const std::string& host, uint16_t port)>;
// Receives progress; returns false when the listener has gone (stop streaming).
using ProgressSink = std::function<bool(const pb::ServiceProgress&)>;
using ImageSink = std::function<void(const pb::ImageProgress&)>;
// Receives each log line with the task, slot, node and time it came from; false stops.
using LogChunkSink = std::function<bool(const pb::LogChunk&)>;

// The order of the node and task lists (and of their pages): nodes by name; tasks by service,
// then slot, the newest task of a slot first (as `service ps` shows them), then id.
bool NodeListOrder(const pb::Node& a, const pb::Node& b);
bool TaskListOrder(const pb::Task& a, const pb::Task& b);

// A list as its readers share it (one per live view snapshot): the items, and each one
// serialized, which API answers are assembled from without copying a message.
template <class T>
struct SharedList {
  explicit SharedList(std::vector<T> list) : items(std::move(list)) {
    wire.reserve(items.size());
    for (const auto& item : items) wire.push_back(item.SerializeAsString());
  }
  std::vector<T> items;
  std::vector<std::string> wire;  // wire[i]: items[i]'s bytes
};

struct ClusterOptions {
  // Whether the nodes' kernels have IPVS (the ingress routing mesh needs it). Detected at
  // start from /proc/net/ip_vs; tests set it.
  bool ipvs = false;
  std::string edge_image = "musketeer/edge:1";
  absl::Duration poll_interval = absl::Milliseconds(100);  // progress: 3 manager reads each
  absl::Duration stable_for = absl::Milliseconds(500);     // converged state must hold this long
  int probe_requests = 12;  // /ping requests per node after convergence
  // How long the probe keeps asking a node until every replica answered there.
  absl::Duration probe_patience = absl::Seconds(10);
  // Serve reads (nodes, services, tasks) from a live view kept fresh by the engines' events
  // (live_view.h); `view_background` runs its refresh and event threads.
  bool live_view = false;
  bool view_background = true;
  LiveViewOptions view;
  // Where the live view reports its age, its resyncs and the cluster's counts (may be null).
  telemetry::Metrics* metrics = nullptr;
};

// The autoscaler's parts that need no cluster (autoscaler.cc): a policy's checks, and the
// sum of `metric` in a scrape's output ("### IP" before each task's /metrics answer).
absl::Status ValidateAutoscalePolicy(const pb::AutoscalePolicy& policy);
struct ScrapeResult {
  double sum = 0;
  uint32_t tasks = 0;  // tasks whose answer had the metric
  uint32_t asked = 0;  // tasks asked
};
ScrapeResult ParseScrape(const std::string& text, const std::string& metric);

class Cluster {
 public:
  Cluster(std::map<std::string, nodes::NodeDriver*> drivers, EngineFactory engines,
          state::StateStore& store, PingProbe probe, ClusterOptions options);
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster();

  // Nodes.
  // `progress` (may be empty) hears each step of drivers that report them (ssh).
  absl::StatusOr<pb::Node> CreateNode(const pb::CreateNodeRequest& req,
                                      nodes::ProgressFn progress = nullptr);
  absl::StatusOr<pb::Node> GetNode(const std::string& name);
  // In NodeListOrder; shared by every read of one live view snapshot.
  absl::StatusOr<std::shared_ptr<const SharedList<pb::Node>>> ListNodes();
  absl::Status DeleteNode(const std::string& name, bool force, bool purge_engine = false);
  absl::StatusOr<pb::Node> NodeAction(const std::string& name, const std::string& action);
  absl::StatusOr<pb::Node> UpdateNode(const pb::UpdateNodeRequest& req);
  absl::StatusOr<pb::NodeEnv> NodeEnv(const std::string& name);
  absl::StatusOr<pb::NodePreflight> Preflight(const std::string& name);

  // Swarm.
  absl::StatusOr<pb::Swarm> InitSwarm(const pb::InitSwarmRequest& req);
  absl::StatusOr<pb::Node> JoinSwarm(const pb::JoinSwarmRequest& req);
  absl::Status LeaveSwarm(const std::string& node, bool force);
  absl::StatusOr<pb::Swarm> GetSwarm(bool show_tokens);
  absl::StatusOr<pb::Swarm> RotateJoinTokens(bool worker, bool manager);
  // Managers and quorum (managers.cc).
  absl::StatusOr<pb::Swarm> UpdateSwarm(const pb::UpdateSwarmRequest& req, absl::Time deadline);
  absl::StatusOr<pb::Swarm> RecoverSwarm(const std::string& node);

  // Networks.
  absl::StatusOr<pb::Network> CreateNetwork(const pb::CreateNetworkRequest& req);
  absl::StatusOr<std::vector<pb::Network>> ListNetworks();
  absl::Status DeleteNetwork(const std::string& name);
  // By name or ID (or an unambiguous ID prefix); inventory.cc.
  absl::StatusOr<pb::Network> GetNetwork(const std::string& name);

  // Images.
  absl::Status BuildImage(const pb::BuildImageRequest& req, const ImageSink& sink);
  absl::Status ImportImage(const pb::ImportImageRequest& req, const ImageSink& sink);
  absl::Status DistributeImage(const pb::DistributeImageRequest& req, const ImageSink& sink);
  absl::StatusOr<std::vector<pb::Image>> ListImages(const std::string& node);
  // inventory.cc. FAILED_PRECONDITION when a service runs the image or can roll back to it.
  absl::StatusOr<pb::DeleteImageResponse> DeleteImage(const pb::DeleteImageRequest& req);
  // Removes dangling (or, with all, unused) images; never one a container or service needs.
  absl::StatusOr<pb::PruneImagesResponse> PruneImages(const pb::PruneImagesRequest& req);

  // Services. With wait, the call returns once converged (routing probed), or fails with
  // the reason it cannot converge; `deadline` bounds the wait.
  absl::StatusOr<pb::Service> CreateService(const pb::CreateServiceRequest& req,
                                            absl::Time deadline);
  absl::StatusOr<pb::Service> GetService(const std::string& name);
  absl::StatusOr<std::vector<pb::Service>> ListServices(const std::string& stack);
  absl::StatusOr<pb::Service> UpdateService(const pb::UpdateServiceRequest& req,
                                            absl::Time deadline);
  absl::StatusOr<pb::Service> RollbackService(const std::string& name, bool wait,
                                              absl::Time deadline,
                                              const std::string& request_id = "");
  absl::Status DeleteService(const std::string& name);
  // One service's tasks, or (service "") every service's, in TaskListOrder; shared by every
  // read of one live view snapshot.
  absl::StatusOr<std::shared_ptr<const SharedList<pb::Task>>> ListTasks(
      const std::string& service);
  // Streams progress until converged, failed, rolled back, the deadline, or `sink` says stop.
  absl::StatusOr<pb::ServiceProgress> WatchService(const std::string& name, absl::Time deadline,
                                                   const ProgressSink& sink);
  // Streams until the end (or, with follow, until `cancelled` says the reader has gone).
  absl::Status ServiceLogs(const std::string& name, bool follow, int tail, const LogChunkSink& sink,
                           const std::function<bool()>& cancelled = {});

  // Secrets (secrets.cc): Swarm secrets. Their values are never returned, logged or kept
  // by the control plane; services reference them by name (ServiceSpec.secrets).
  absl::StatusOr<pb::Secret> CreateSecret(const pb::CreateSecretRequest& req);
  absl::StatusOr<std::vector<pb::Secret>> ListSecrets();
  absl::Status DeleteSecret(const std::string& name);
  // Configs (secrets.cc too): Swarm configs, as secrets but readable (GetConfig has data).
  absl::StatusOr<pb::Config> CreateConfig(const pb::CreateConfigRequest& req);
  absl::StatusOr<std::vector<pb::Config>> ListConfigs();
  absl::StatusOr<pb::Config> GetConfig(const std::string& name);
  absl::Status DeleteConfig(const std::string& name);

  // Volumes (volumes.cc): named volumes on every node; one made with content is filled on
  // every node, and on every node that joins (or starts) later.
  absl::StatusOr<std::vector<pb::Volume>> CreateVolume(const pb::CreateVolumeRequest& req);
  absl::StatusOr<std::vector<pb::Volume>> ListVolumes(const pb::ListVolumesRequest& req);
  absl::Status DeleteVolume(const pb::DeleteVolumeRequest& req);
  absl::StatusOr<std::vector<pb::Volume>> RefreshVolume(const pb::RefreshVolumeRequest& req);

  // Stacks (compose version 3, as `docker stack deploy`).
  absl::StatusOr<pb::Stack> DeployStack(const pb::DeployStackRequest& req, absl::Time deadline);
  absl::StatusOr<std::vector<pb::Stack>> ListStacks();
  absl::Status DeleteStack(const std::string& name);

  // After a restart: settles operations a crash interrupted (half-made edge proxies).
  void Reconcile();
  // Keeps every node's edge proxies (no IPVS) as the services want them, each node every
  // `every` (KeepEdgesTurn; at most a node every 50 ms), and a node at once when its events
  // say its edge is gone (NoteEdgeEvent), in a thread of its own until the Cluster goes.
  void StartEdgeKeeper(absl::Duration every);
  // Autoscale (autoscaler.cc): sets, removes or resumes a service's policy (SetAutoscaleRequest).
  absl::StatusOr<pb::Service> SetAutoscale(const pb::SetAutoscaleRequest& req);
  // One look at every policy as of `now`: scrape, decide, scale. The autoscaler's thread
  // (StartAutoscaler) calls it every `every`; tests call it with a clock of their own.
  void AutoscaleOnce(absl::Time now);
  void StartAutoscaler(absl::Duration every);
  // One round of the keeper over every node: edges placed where missing (a node back up, a
  // crash before they were placed), replaced where their configuration changed, orphans
  // removed, and global edge services of older versions replaced.
  void KeepEdges();
  // One turn of the keeper: the nodes an event made due, else the next of the running nodes
  // (in name order, round after round); returns how long to wait for the next turn (a
  // round within `every`, but at most a node every 50 ms). The nodes are visited spread over
  // the period, not all at once: a round over ten real engines at once stalled the API's
  // reads 30 to 60 ms every 5 s.
  absl::Duration KeepEdgesTurn(absl::Duration every);
  // An event of `node`'s engine (the live view's streams): an edge proxy removed or stopped
  // there makes the node due for the keeper, which places it again at once instead of
  // within its period.
  void NoteEdgeEvent(const nodes::Node& node, const engine::Event& e);

  // The cluster-wide watch (cluster_watch.cc; musketeer.v1.ClusterWatch): the state, then
  // every change to nodes, services and tasks as the live view sees it, resumable from a
  // revision. Returns when `sink` says stop or `cancelled` holds (asked every second);
  // FAILED_PRECONDITION without a live view.
  absl::Status Watch(const pb::WatchRequest& req,
                     const std::function<bool(const pb::WatchEvent&)>& sink,
                     const std::function<bool()>& cancelled);

 private:
  struct NodeHandle {
    nodes::Node node;
    nodes::NodeDriver* driver = nullptr;
  };
  absl::StatusOr<NodeHandle> FindNode(const std::string& name);
  std::vector<NodeHandle> AllNodes();  // in name order
  std::vector<nodes::Node> RunningNodes();  // those of AllNodes whose driver says running
  // The node of `all` that a raft member is: by raft's address (its IP names the machine;
  // an ssh node's hostname is its host's, not its musketeer name), else by hostname.
  static const NodeHandle* NodeOfManager(const std::vector<NodeHandle>& all,
                                         const std::string& ip, const std::string& hostname);
  // A raft member's musketeer node name (its hostname when it is none of our nodes).
  std::string NodeNameOf(const engine::Node& raft_member);
  // Whether `node` is being removed or is leaving the swarm right now (DeleteNode,
  // LeaveSwarm): operations place nothing there and do not fail for it.
  bool Leaving(const std::string& node);
  // Marks `node` leaving for its lifetime.
  class LeavingMark {
   public:
    LeavingMark(Cluster& cluster, std::string node);
    ~LeavingMark();
    LeavingMark(const LeavingMark&) = delete;
    LeavingMark& operator=(const LeavingMark&) = delete;

   private:
    Cluster& cluster_;
    std::string node_;
  };
  std::shared_ptr<engine::DockerEngine> Engine(const nodes::Node& node);
  // A reachable manager (any when `preferred` is empty). FAILED_PRECONDITION without a swarm.
  absl::StatusOr<std::pair<nodes::Node, std::shared_ptr<engine::DockerEngine>>> Manager(
      const std::string& preferred = "");
  std::map<std::string, std::string> SwarmNodeNames(engine::DockerEngine& manager);  // id -> name
  // OK, or FAILED_PRECONDITION when fewer than a majority of the managers last listed have
  // an engine that answers: raft cannot have a leader then, and every swarm call would hang
  // until the engine's own timeout. Says which managers answer and how to recover.
  absl::Status CheckQuorum();
  // Remembers the managers of a listing (for CheckQuorum); ForgetManager drops one that
  // left or was removed through musketeer.
  void NoteManagers(const std::vector<engine::Node>& swarm_nodes);
  void ForgetManager(const nodes::Node& node);
  // Waits until raft lists the node as a reachable manager (`manager`) or as a worker.
  absl::Status WaitForRole(engine::DockerEngine& manager, const std::string& node_id,
                           const std::string& role, absl::Time deadline);
  // Read-modify-writes a swarm node's spec (retried when it changed meanwhile).
  absl::Status UpdateNodeSpec(engine::DockerEngine& manager, const std::string& id,
                              const std::function<void(engine::NodeSpec&)>& change);
  // Quorum figures and warnings of a listing, into `out`.
  void DescribeManagers(const std::vector<engine::Node>& swarm_nodes, pb::Swarm& out);
  pb::Node ToProto(const nodes::Node& n, const engine::Node* swarm_node);
  std::mutex& ServiceMutex(const std::string& name);
  // Network ID -> name, covering the networks of `specs` when a manager can tell: from a
  // cache (an ID never changes its network), else asked of `reader` (or of a manager, when
  // `reader` is the live view, which keeps no networks).
  std::map<std::string, std::string> NetworkNames(
      engine::DockerEngine& reader, const std::vector<const engine::ServiceSpec*>& specs);
  // Makes the volume and puts `tar` in it on every running node (those in `only`, when set);
  // UNAVAILABLE naming the nodes where it failed.
  absl::StatusOr<std::vector<pb::Volume>> FillVolume(const engine::VolumeCreateRequest& request,
                                                     const std::string& tar,
                                                     const std::vector<std::string>& only);
  // Every image the services run (and can roll back to) that `target` lacks, copied to it
  // from a node that has it (a late joiner, before it takes tasks).
  absl::Status CopyServiceImagesTo(const nodes::Node& target, engine::DockerEngine& manager);
  // The swarm availability of the node `node` is (active, pause, drain).
  absl::Status SetAvailability(engine::DockerEngine& manager, engine::DockerEngine& node,
                               const std::string& availability);
  // Every volume with kept content, filled on `node` (after it joined or started).
  absl::Status FillVolumesOn(const std::string& node);
  // Fills in the IDs of the secrets `spec` references by name (secrets.cc); NOT_FOUND
  // naming spec.secrets for one that does not exist.
  absl::Status ResolveSecrets(engine::DockerEngine& manager, engine::ServiceSpec& spec);
  // The same for configs (spec.configs).
  absl::Status ResolveConfigs(engine::DockerEngine& manager, engine::ServiceSpec& spec);
  // Every node runs the edge proxy (no IPVS), so every running node needs its image:
  // FAILED_PRECONDITION naming the first that lacks it.
  absl::Status CheckEdgeImageEverywhere();
  // Edge proxies (edges.cc): one container per node and edge-routed service.
  struct EdgeNode {
    nodes::Node node;
    std::shared_ptr<engine::DockerEngine> engine;
    std::string skipped;  // why no edge goes there now ("": it does)
  };
  // The running nodes, each with its engine and whether it takes edges now (it answers and
  // is in the swarm); asked in parallel.
  std::vector<EdgeNode> EdgeNodes();
  EdgeNode EdgeNodeOf(const nodes::Node& node);  // one of them
  // The keeper's work on one node (KeepEdges, KeepEdgesTurn): its orphans removed, then its
  // missing or changed edges placed.
  void KeepEdgesOn(const EdgeNode& target);
  void RemoveLegacyEdgeServices();  // once, at the first turn a manager answers
  // The edge of `routing` on `node`: kept when it is the same and running, started when
  // stopped, replaced when its configuration changed.
  absl::Status PlaceEdge(engine::DockerEngine& node, const state::ServiceRouting& routing);
  // On every node that takes edges, in parallel; FAILED_PRECONDITION naming the nodes where
  // it failed. REQUIRES: the service's mutex held.
  absl::Status PlaceEdges(const state::ServiceRouting& routing);
  // Every edge-routed service's edge on `node` (a joiner); takes each service's mutex.
  absl::Status PlaceEdgesOn(engine::DockerEngine& node);
  // Removes the service's edges from every node that answers.
  void RemoveEdges(const std::string& service);

  // Request ids (AIP-155), REQUIRES: the target's service mutex held. A new id begins an
  // operation; a finished one is replayed (`replay`: OK when done, else the first call's
  // error); one a stopped musketeerd left running is resumed (`resumed`). An id given to
  // another request (kind, target or content) is INVALID_ARGUMENT.
  struct OperationStart {
    int64_t id = 0;
    std::optional<absl::Status> replay;
    bool resumed = false;
  };
  absl::StatusOr<OperationStart> StartOperation(const std::string& request_id,
                                                const std::string& kind, const std::string& target,
                                                const std::string& fingerprint);
  // Makes the service (and its edge proxies), all or nothing; no wait.
  absl::Status CreateServiceLocked(const pb::ServiceSpec& spec, const std::string& stack);
  // A create that was done (or interrupted) made whole: the service made when it is missing,
  // its edge proxy when that is missing. REQUIRES: the service's mutex held.
  absl::Status MakeWhole(const pb::ServiceSpec& spec);
  // What a create refers to, checked before anything is made: the networks and the
  // published ports (free in the swarm). An update with ports or networks too.
  absl::Status CheckServiceReferences(engine::DockerEngine& manager, const pb::ServiceSpec& spec);
  // The ports part of it: FAILED_PRECONDITION naming the service that publishes one already.
  absl::Status CheckPortsFree(engine::DockerEngine& manager, const pb::ServiceSpec& spec);
  // Edge-routed ingress ports given as 0 get one, as the swarm would give them: the lowest
  // free port from 30000.
  absl::Status PickPublishedPorts(engine::DockerEngine& manager, pb::ServiceSpec& spec);
  // An automatic rollback means the change failed, unless a rollback is what was asked.
  absl::StatusOr<pb::Service> WaitAndDescribe(const std::string& name, bool wait,
                                              absl::Time deadline,
                                              bool rollback_is_success = false);
  // Read-modify-write of a service's Engine spec, retried on "update out of sequence";
  // with `version`, ABORTED instead when the service is not (or no longer) at that version.
  absl::Status UpdateSpec(const std::string& name,
                          const std::function<absl::Status(engine::ServiceSpec&)>& edit,
                          bool rollback, std::optional<uint64_t> version = std::nullopt);
  // The update itself (service_update.cc), under the service's lock: `want` is the spec
  // with the request's mask applied (none without a mask), `changed` its changed fields.
  absl::Status UpdateServiceLocked(const pb::UpdateServiceRequest& req,
                                   std::optional<pb::ServiceSpec> want,
                                   const std::set<std::string>& changed,
                                   std::optional<uint64_t> version);
  // ABORTED: the service changed since `version`, saying where it is now.
  absl::Status StaleVersion(const std::string& name, uint64_t version);
  // Probes the published port on every node until `expected` replicas answered on each, or
  // `until`.
  pb::Routing Probe(const state::ServiceRouting& routing, uint32_t expected, absl::Time until);
  // Makes `ref` present on every ready swarm node and pins it (image_ref.h); image_ref.cc.
  absl::StatusOr<PinnedImage> PinServiceImage(const nodes::Node& manager_node,
                                              engine::DockerEngine& manager, const std::string& ref,
                                              PullPolicy policy);
  // The image an update sets (or the current one under a new policy), pinned; the policy
  // it was pinned under goes to `policy`.
  absl::StatusOr<PinnedImage> PinUpdatedImage(const pb::UpdateServiceRequest& req,
                                              PullPolicy* policy);
  absl::Status RemoveServiceAndEdge(engine::DockerEngine& manager, const std::string& name);

  // Reads through the live view (cluster_view.cc). ReadView() is null without one; with one,
  // ViewManager/ViewNodes/ViewNode answer from its snapshot what Manager/AllNodes/FindNode
  // answer from the engines and drivers.
  void StartLiveView();
  std::shared_ptr<const ViewSnapshot> ReadView();
  absl::StatusOr<std::pair<nodes::Node, std::shared_ptr<engine::DockerEngine>>> ViewManager(
      const std::shared_ptr<const ViewSnapshot>& view);
  std::vector<NodeHandle> ViewNodes(const ViewSnapshot& view);
  absl::StatusOr<NodeHandle> ViewNode(const ViewSnapshot& view, const std::string& name);
  // Adds the view's stream state and time to a node read from it (unchanged without one).
  static pb::Node Annotated(const ViewSnapshot* view, pb::Node node);
  // The node list (NodeListOrder) from the drivers' nodes and the manager's, annotated with
  // `view` when they come from one.
  std::vector<pb::Node> NodeList(const std::vector<nodes::Node>& nodes,
                                 const std::vector<engine::Node>& swarm_nodes,
                                 const ViewSnapshot* view);
  // Records what a new snapshot of the view changed in watch_log_ (cluster_watch.cc).
  void FeedWatch(const ViewSnapshot& view);
  // Sets the view's metrics from a new snapshot: its resync time, nodes, services and tasks.
  void CountView(const ViewSnapshot& view);

  std::map<std::string, nodes::NodeDriver*> drivers_;
  EngineFactory engine_factory_;
  state::StateStore& store_;
  PingProbe probe_;
  const ClusterOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<engine::DockerEngine>> engines_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<std::mutex>> service_mu_ ABSL_GUARDED_BY(mu_);
  std::string last_manager_ ABSL_GUARDED_BY(mu_);
  std::multiset<std::string> leaving_ ABSL_GUARDED_BY(mu_);  // see Leaving()
  // The swarm's managers as last listed (raft members: hostname and raft address): what
  // quorum is counted against when no manager can list them (managers.cc).
  struct KnownManager {
    std::string name, ip;
  };
  std::vector<KnownManager> known_managers_ ABSL_GUARDED_BY(mu_);
  // GET /info of engines, at once; one call per engine in flight however many callers ask
  // (a manager mid-election holds it until raft has a leader: up to the engine deadline).
  struct InfoProbes;
  const std::shared_ptr<InfoProbes> info_probes_;
  // The index of the first of `nodes` whose engine manages the swarm, without waiting for
  // the others (which go on in the background); `silent` gets those that did not answer.
  std::optional<size_t> FirstManager(const std::vector<nodes::Node>& nodes,
                                     std::vector<std::string>* silent);
  std::map<std::string, std::string> network_names_ ABSL_GUARDED_BY(mu_);  // ID -> name
  // Background work (the edge keeper, the autoscaler): `work` now and every `every` after
  // it ends, on a thread of its own; StopBackground (first on destruction) ends them all.
  void StartPeriodic(absl::Duration every, std::function<void()> work);
  // Waits what `work` returns, or until `due` says there is work sooner (asked under
  // background_mu_, woken by background_cv_).
  void StartPeriodic(std::function<absl::Duration()> work, std::function<bool()> due = nullptr);
  void StopBackground();
  std::mutex background_mu_;
  std::condition_variable background_cv_;
  bool background_stop_ ABSL_GUARDED_BY(background_mu_) = false;
  std::vector<std::thread> background_;  // started and joined by the owner's thread only
  std::atomic<bool> legacy_edges_gone_{false};  // KeepEdges: older edge services removed
  size_t edge_turn_ = 0;  // KeepEdgesTurn: where the next turn starts (the keeper's thread)
  // Nodes whose edge proxy an event said is gone (NoteEdgeEvent): the keeper's next turn
  // visits them first, at once.
  std::set<std::string> edges_due_ ABSL_GUARDED_BY(background_mu_);
  // The autoscaler's memory: each service's last look, and the replicas its looks wanted
  // within the cooldown (a scale down goes to the most of them).
  absl::StatusOr<ScrapeResult> Scrape(const std::string& service, const pb::AutoscalePolicy& policy);
  // The stored policy and state with the last look's figures (nullopt: no policy).
  std::optional<pb::Autoscale> AutoscaleOf(const std::string& service);
  // Every stored policy and state, by service, without the looks' figures (lists and the
  // watch: a look's figures change every 2 s, the rest only with a decision).
  std::map<std::string, pb::Autoscale> StoredAutoscale();
  struct AutoscaleMemory {
    std::deque<std::pair<absl::Time, uint32_t>> wanted;
    absl::Time last_change = absl::InfinitePast();
  };
  std::map<std::string, pb::Autoscale> autoscale_looks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, AutoscaleMemory> autoscale_memory_ ABSL_GUARDED_BY(mu_);
  // With a live view: the drivers wrapped so that their actions are noted, then the view
  // (stopped first on destruction, while what it reads from still exists).
  std::vector<std::unique_ptr<nodes::NodeDriver>> noting_drivers_;
  std::unique_ptr<WatchLog> watch_log_;  // with a live view: fed by every snapshot
  std::unique_ptr<LiveView> view_;
  // When the view's current snapshot was taken (Unix µs; 0: none yet), for its age metric.
  std::shared_ptr<std::atomic<int64_t>> view_taken_ = std::make_shared<std::atomic<int64_t>>(0);
};

// Converts a ServiceSpec to the Engine API's spec. An edge-routed service is in dnsrr mode
// without published ports (the edge proxy publishes them instead); others use vip mode.
absl::StatusOr<engine::ServiceSpec> ToEngineSpec(const pb::ServiceSpec& spec, bool edge_routed,
                                                 const std::string& stack);
// The API's view of an Engine service spec. The published ports are the routing record's
// when there is one (an edge-routed spec has none of its own), else the spec's own.
// `network_names` (network ID -> name) turns the IDs the swarm stores back into names.
pb::ServiceSpec FromEngineSpec(const engine::ServiceSpec& spec,
                               const state::ServiceRouting* routing,
                               const std::map<std::string, std::string>* network_names = nullptr);
// Docker's limit for a service name (a DNS label).
inline constexpr size_t kMaxServiceName = 63;
// Input echoed in an error message: at most its first 64 characters, then "...". Messages
// travel in gRPC metadata, whose size is limited; a client's own input should never make
// its error unreadable.
std::string Cut(std::string_view input);
// INVALID_ARGUMENT naming `field` unless `subnet` is an IPv4 or IPv6 CIDR ("10.10.0.0/24").
absl::Status ValidateSubnet(const std::string& field, const std::string& subnet);
// INVALID_ARGUMENT naming `field` unless `name` is a Docker secret name (1-64 of
// [a-zA-Z0-9_.-], starting and ending with a letter or digit).
absl::Status ValidateSecretName(const std::string& field, const std::string& name);
absl::Status ValidateServiceSpec(const pb::ServiceSpec& spec);
// The mounts' part of ValidateServiceSpec: types, absolute targets (each once), sources and
// options that fit the type.
absl::Status ValidateMounts(const pb::ServiceSpec& spec);
// A request's fingerprint (SHA-256 of its deterministic serialization): a retry with the
// same request_id must carry the same request.
std::string Fingerprint(const google::protobuf::Message& m);
// Adds to `s` what FromEngineSpec reads beyond name, image, mode, ports, networks, env and
// labels, command, entrypoint and secrets: the container's settings (mounts, user, hostname,
// capabilities ...), resources, placement, policies, healthcheck, log driver.
void ReadBackSpecFields(const engine::ServiceSpec& spec, pb::ServiceSpec* s);
// Applies `mask` (paths into ServiceSpec: fields, message.field, env.KEY, labels.KEY) from
// `src` onto `dst`; the top-level fields it touched go to `changed`. INVALID_ARGUMENT for
// unknown paths and for name or mode changes.
absl::Status ApplyUpdateMask(const pb::ServiceSpec& src, const google::protobuf::FieldMask& mask,
                             pb::ServiceSpec* dst, std::set<std::string>* changed);
// INVALID_ARGUMENT naming `field` unless `ref` is a Docker image reference.
absl::Status ValidateImageReference(const std::string& field, const std::string& ref);
// "host:5000/a/b:1.0" -> {"host:5000/a/b", "1.0"}; the tag is "latest" when absent.
std::pair<std::string, std::string> SplitImageReference(const std::string& ref);
// One message of /services/{id}/logs?timestamps=1&details=1: "TIMESTAMP DETAILS MESSAGE".
struct LogLine {
  std::string timestamp;                       // RFC 3339 with nanoseconds
  std::map<std::string, std::string> details;  // com.docker.swarm.task.id, ...node.id ...
  std::string message;
};
// False when `data` is not in that form (then it is the message alone).
bool ParseLogLine(std::string_view data, LogLine* out);

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_CLUSTER_H_
