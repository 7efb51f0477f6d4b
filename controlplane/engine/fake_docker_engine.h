// A recording fake of DockerEngine for unit tests of the layers above: several fake
// engines share one FakeSwarm (init, join, nodes, networks, services whose tasks run at
// once, spread over the nodes), images kept per host, and every call is recorded as
// "HOST: Method args" (a request as the JSON the real engine would be sent) so a test can
// assert on what the control plane asked for. It keeps the same typed objects (types.h)
// the real engine answers with.
// `FailNext("UpdateService", status)` makes the next such call fail once (e.g. "update
// out of sequence"); `FailTasksOf(image, err)` makes every task of that image be rejected,
// and an update to it roll back by itself when its FailureAction says so. Images have IDs
// ("sha256:" + 64 hex, derived from the name) and can be named by them; a pull succeeds only
// for images put in the fake registry with AddRegistryImage. Thread-safe.
#ifndef CONTROLPLANE_ENGINE_FAKE_DOCKER_ENGINE_H_
#define CONTROLPLANE_ENGINE_FAKE_DOCKER_ENGINE_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controlplane/engine/docker_engine.h"

namespace musketeer::engine {

// A container as the fake keeps it: where it is, what it was made from, whether it runs.
struct FakeContainer {
  std::string id, hostname, volume;  // volume: the one it mounts (filled through PutArchive)
  ContainerCreateRequest request;
  bool running = false;
};

class FakeSwarm {
 public:
  // What an exec in a running container named `container` (on any host) writes: `answer`
  // is given the command. Without one, an exec answers "".
  void SetExecAnswer(const std::string& container,
                     std::function<std::string(const std::vector<std::string>&)> answer);
  // The container of this name on `hostname` (nullopt when there is none).
  std::optional<FakeContainer> Container(const std::string& hostname, const std::string& name);
  std::vector<std::string> Calls();                      // every call so far, in order
  std::string CallsMatching(const std::string& needle);  // the matching ones, one per line
  // `method` may be followed by a space and text the call's record must contain
  // ("CreateService \"Name\":\"web-edge\"").
  void FailNext(const std::string& method, absl::Status status);
  // Marks a node down (as a killed dockerd would be seen by the managers), with the node
  // event a manager sends then.
  void SetNodeDown(const std::string& hostname, bool down);
  // Every call to `hostname`'s engine fails as a dead engine's would (connection refused)
  // until told otherwise; the swarm itself is not told (SetNodeDown is that).
  void SetEngineDown(const std::string& hostname, bool down);
  // GET /info of `hostname` waits until told otherwise, as a manager's does while raft
  // elects a leader.
  void HoldInfo(const std::string& hostname, bool held);
  // Event streams of `hostname` fail (as when its engine dies) until told otherwise.
  void BreakEvents(const std::string& hostname, bool broken);
  // Images live per host, so that engines made later for the same host see them.
  void AddImage(const std::string& hostname, const std::string& image);
  bool HasImage(const std::string& hostname, const std::string& image);
  // The image's HEALTHCHECK (its Config.Healthcheck.Test), on every host.
  void SetImageHealthcheck(const std::string& image, std::vector<std::string> test);
  // An image the registry serves: PullImage of it works, and gives it a RepoDigest.
  void AddRegistryImage(const std::string& image);
  // The ID the fake gives an image of this name ("sha256:" + 64 hex digits).
  static std::string ImageId(const std::string& image);
  // Tasks of `image` are rejected with `err`, three attempts per slot, as a swarm retries.
  void FailTasksOf(const std::string& image, const std::string& err);
  // The tars put into `volume` on `hostname` (through a container that mounts it), in order.
  std::vector<std::string> VolumeFiles(const std::string& hostname, const std::string& volume);
  // The value of a secret as the swarm keeps it (decoded), or "" (tests only: a real
  // swarm never gives it back).
  std::string SecretValue(const std::string& name);

 private:
  friend class FakeDockerEngine;
  struct ServiceRecord {
    std::string id;
    ServiceSpec spec;
    std::optional<ServiceSpec> previous;
    uint64_t version = 1;
    std::optional<UpdateStatus> update_status;  // none until the first update
    std::vector<Task>
        abandoned;  // tasks of a version the swarm rolled back (kept, as a swarm does)
  };
  absl::Status Record(const std::string& host, const std::string& call);
  std::set<std::string> engines_down_;  // guarded by mu_
  // UNAVAILABLE while SetEngineDown(host) holds. REQUIRES: mu_ held.
  absl::Status EngineAnswers(const std::string& host) const;
  // A secret or config into `into` (by name), as the swarm refuses and answers it.
  // REQUIRES: mu_ held.
  absl::StatusOr<std::string> CreateData(std::map<std::string, Secret>& into, const char* kind,
                                         const char* prefix, const SecretSpec& spec);
  // Removes one by name or ID, refused while a service references it (`referenced`: the IDs
  // a container spec names). REQUIRES: mu_ held.
  absl::Status RemoveData(std::map<std::string, Secret>& from, const char* kind,
                          const std::string& id,
                          std::vector<std::string> (*referenced)(const ContainerSpec&));

  std::mutex mu_;
  std::vector<std::string> calls_;
  std::map<std::string, absl::Status> fail_next_;
  bool initialized_ = false;
  std::string worker_token_ = "SWMTKN-worker", manager_token_ = "SWMTKN-manager";
  std::vector<Node> nodes_;
  std::map<std::string, Network> networks_;              // by name
  std::map<std::string, Secret> secrets_;                // by name, with the value (base64)
  std::map<std::string, Config> configs_;                // by name, with the data (base64)
  std::map<std::string, std::map<std::string, Volume>> volumes_;  // by hostname, then name
  // Files put into volumes: hostname -> volume -> the tars put there, in order.
  std::map<std::string, std::map<std::string, std::vector<std::string>>> volume_files_;
  std::map<std::string, FakeContainer> containers_;  // by ID
  std::map<std::string, std::function<std::string(const std::vector<std::string>&)>>
      exec_answers_;  // by container name
  std::map<std::string, ServiceRecord> services_;        // by name
  std::map<std::string, std::set<std::string>> images_;  // by hostname
  std::map<std::string, std::string> failing_images_;    // image -> task error
  std::set<std::string> registry_;                       // images a pull can fetch
  std::map<std::string, std::vector<std::string>> image_healthchecks_;
  // Followed by Events(until = 0): each with the host whose stream has it ("": every host's,
  // as a swarm event is on every manager's).
  std::vector<std::pair<std::string, Event>> events_;
  // A container's event on its host's stream, with its name and labels, as dockerd sends it.
  void ContainerEvent(const FakeContainer& c, const std::string& action);
  std::set<std::string> broken_events_;  // hosts whose event streams fail
  std::condition_variable events_cv_;
  std::set<std::string> held_info_;  // hosts whose GET /info waits
  std::condition_variable info_cv_;
  int next_id_ = 1;
};

class FakeDockerEngine : public DockerEngine {
 public:
  FakeDockerEngine(std::shared_ptr<FakeSwarm> swarm, std::string hostname, std::string addr)
      : swarm_(std::move(swarm)), hostname_(std::move(hostname)), addr_(std::move(addr)) {}

  std::string address() const override { return "fake://" + hostname_; }
  absl::Status Ping() override;
  absl::StatusOr<SystemInfo> Info() override;
  absl::StatusOr<SystemVersion> Version() override;
  absl::StatusOr<std::string> SwarmInit(const SwarmInitRequest& request) override;
  absl::Status SwarmJoin(const SwarmJoinRequest& request) override;
  absl::Status SwarmLeave(bool force) override;
  absl::StatusOr<Swarm> SwarmInspect() override;
  absl::Status SwarmUpdate(uint64_t version, const SwarmSpec& spec, bool rotate_worker,
                           bool rotate_manager) override;
  absl::StatusOr<std::vector<Node>> ListNodes() override;
  absl::StatusOr<Node> InspectNode(const std::string& id) override;
  absl::Status UpdateNode(const std::string& id, uint64_t version, const NodeSpec& spec) override;
  absl::Status RemoveNode(const std::string& id, bool force) override;
  absl::StatusOr<std::string> CreateNetwork(const NetworkCreateRequest& request) override;
  absl::StatusOr<std::vector<Network>> ListNetworks() override;
  absl::Status RemoveNetwork(const std::string& id) override;
  absl::StatusOr<std::string> CreateSecret(const SecretSpec& spec) override;
  absl::StatusOr<std::vector<Secret>> ListSecrets() override;
  absl::Status RemoveSecret(const std::string& id) override;
  absl::StatusOr<std::string> CreateContainer(const ContainerCreateRequest& request) override;
  absl::Status StartContainer(const std::string& id) override;
  absl::StatusOr<std::string> Exec(const std::string& id,
                                   const std::vector<std::string>& cmd) override;
  absl::Status PutArchive(const std::string& id, const std::string& path,
                          const BodySource& archive) override;
  absl::Status RemoveContainer(const std::string& id, bool force) override;
  absl::StatusOr<Volume> CreateVolume(const VolumeCreateRequest& request) override;
  absl::StatusOr<std::vector<Volume>> ListVolumes() override;
  absl::Status RemoveVolume(const std::string& name, bool force) override;
  absl::StatusOr<std::string> CreateConfig(const ConfigSpec& spec) override;
  absl::StatusOr<std::vector<Config>> ListConfigs() override;
  absl::StatusOr<Config> InspectConfig(const std::string& id_or_name) override;
  absl::Status RemoveConfig(const std::string& id) override;
  absl::StatusOr<std::string> CreateService(const ServiceSpec& spec) override;
  absl::StatusOr<Service> InspectService(const std::string& id_or_name) override;
  absl::Status UpdateService(const std::string& id, uint64_t version, const ServiceSpec& spec,
                             bool rollback) override;
  absl::Status RemoveService(const std::string& id_or_name) override;
  absl::StatusOr<std::vector<Service>> ListServices() override;
  absl::StatusOr<std::vector<Task>> ListTasks(const std::string& service_id) override;
  absl::Status ServiceLogs(const std::string& id, bool follow, int tail, const LogSink& sink,
                           const std::function<bool()>& cancelled) override;
  absl::Status BuildImage(const std::string& tag, const BodySource& context,
                          const LineSink& sink) override;
  absl::Status ImportImage(const std::string& repo, const std::string& tag,
                           const BodySource& rootfs) override;
  absl::StatusOr<std::unique_ptr<ResponseStream>> SaveImage(const std::string& name) override;
  absl::Status LoadImage(const BodySource& tarball) override;
  absl::Status PullImage(const std::string& image) override;
  absl::StatusOr<ImageInspect> InspectImage(const std::string& name) override;
  absl::StatusOr<std::vector<ImageSummary>> ListImages() override;
  absl::Status RemoveImage(const std::string& name, bool force) override;
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers() override;
  absl::StatusOr<ContainerInspect> InspectContainer(const std::string& id) override;
  absl::Status Events(int64_t since, int64_t until, const EventFilters& filters,
                      const EventSink& sink, const std::function<bool()>& cancelled) override;

 private:
  bool InSwarm();  // REQUIRES: swarm_->mu_ held
  // REQUIRES: swarm_->mu_ held.
  FakeSwarm::ServiceRecord* FindService(const std::string& id_or_name);
  // A service as GET /services/{id} (and each element of GET /services) shows it.
  static Service ServiceObject(const FakeSwarm::ServiceRecord& s);
  // The error tasks of this service spec fail with (FailTasksOf), or null. REQUIRES: mu_ held.
  const std::string* TaskErrorOf(const ServiceSpec& spec);
  // Network names in the spec's TaskTemplate.Networks become IDs, as a swarm stores them;
  // NOT_FOUND for one that does not exist. Secret references must name a secret by ID and
  // name, as a swarm wants them (INVALID_ARGUMENT otherwise). REQUIRES: mu_ held.
  absl::Status ResolveNetworks(ServiceSpec& spec);
  // The name of the image `name_or_id` names on this host, or "". REQUIRES: mu_ held.
  std::string FindImage(const std::string& name_or_id);

  std::shared_ptr<FakeSwarm> swarm_;
  const std::string hostname_, addr_;
};

}  // namespace musketeer::engine

#endif  // CONTROLPLANE_ENGINE_FAKE_DOCKER_ENGINE_H_
