// DockerEngine: the calls the control plane makes to one Docker Engine, typed by purpose.
// Requests and answers are the Engine API's own objects as typed structs (types.h:
// ServiceSpec, Node, Task ...); their JSON form is made in one place (types.cc), so that
// what a test or a log shows is exactly what the daemon sees. Two implementations:
// HttpDockerEngine (the real one, over EngineClient) and FakeDockerEngine (tests).
// Thread-safety: implementations are thread-safe.
#ifndef CONTROLPLANE_ENGINE_DOCKER_ENGINE_H_
#define CONTROLPLANE_ENGINE_DOCKER_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/engine/engine_client.h"
#include "controlplane/engine/types.h"

namespace musketeer::engine {

// Receives each line of a streamed JSON-lines answer (build output, load progress).
using LineSink = std::function<void(const JsonMessage& line)>;
// Receives log output: stream 1 stdout, 2 stderr.
using LogSink = std::function<bool(int stream, std::string_view data)>;  // false stops

class DockerEngine {
 public:
  virtual ~DockerEngine() = default;
  virtual std::string address() const = 0;  // for messages: "tcp://10.213.0.2:2376"

  virtual absl::Status Ping() = 0;
  virtual absl::StatusOr<SystemInfo> Info() = 0;
  virtual absl::StatusOr<SystemVersion> Version() = 0;

  // Swarm (POST /swarm/init answers the new node's id).
  virtual absl::StatusOr<std::string> SwarmInit(const SwarmInitRequest& request) = 0;
  virtual absl::Status SwarmJoin(const SwarmJoinRequest& request) = 0;
  virtual absl::Status SwarmLeave(bool force) = 0;
  virtual absl::StatusOr<Swarm> SwarmInspect() = 0;
  virtual absl::Status SwarmUpdate(uint64_t version, const SwarmSpec& spec,
                                   bool rotate_worker_token, bool rotate_manager_token) = 0;

  // Swarm nodes (on a manager).
  virtual absl::StatusOr<std::vector<Node>> ListNodes() = 0;
  virtual absl::StatusOr<Node> InspectNode(const std::string& id) = 0;
  virtual absl::Status UpdateNode(const std::string& id, uint64_t version,
                                  const NodeSpec& spec) = 0;
  virtual absl::Status RemoveNode(const std::string& id, bool force) = 0;

  // Networks (create answers the new network's id).
  virtual absl::StatusOr<std::string> CreateNetwork(const NetworkCreateRequest& request) = 0;
  virtual absl::StatusOr<std::vector<Network>> ListNetworks() = 0;
  virtual absl::Status RemoveNetwork(const std::string& id) = 0;

  // Secrets (on a manager; create answers the new secret's id). The value travels only in
  // CreateSecret's request: no answer carries it, and nothing logs it.
  virtual absl::StatusOr<std::string> CreateSecret(const SecretSpec& spec) = 0;
  virtual absl::StatusOr<std::vector<Secret>> ListSecrets() = 0;
  virtual absl::Status RemoveSecret(const std::string& id) = 0;

  // Configs (on a manager), as secrets, but their data can be read back (InspectConfig).
  virtual absl::StatusOr<std::string> CreateConfig(const ConfigSpec& spec) = 0;
  virtual absl::StatusOr<std::vector<Config>> ListConfigs() = 0;
  virtual absl::StatusOr<Config> InspectConfig(const std::string& id_or_name) = 0;
  virtual absl::Status RemoveConfig(const std::string& id) = 0;

  // Services and tasks (on a manager). UpdateService fails with "update out of sequence"
  // (UNKNOWN from a 500) when `version` is stale: callers read, modify and retry.
  virtual absl::StatusOr<std::string> CreateService(const ServiceSpec& spec) = 0;
  virtual absl::StatusOr<Service> InspectService(const std::string& id_or_name) = 0;
  virtual absl::Status UpdateService(const std::string& id, uint64_t version,
                                     const ServiceSpec& spec, bool rollback) = 0;
  virtual absl::Status RemoveService(const std::string& id_or_name) = 0;
  // With ServiceStatus (running and desired task counts).
  virtual absl::StatusOr<std::vector<Service>> ListServices() = 0;
  // Tasks of one service (all services when empty).
  virtual absl::StatusOr<std::vector<Task>> ListTasks(const std::string& service_id) = 0;
  // With follow, `cancelled` is asked while no line arrives; true ends the stream. Each
  // message comes as the engine writes it with timestamps and details:
  // "2026-11-26T12:00:00.123456789Z com.docker.swarm.node.id=...,...task.id=... MESSAGE".
  virtual absl::Status ServiceLogs(const std::string& id, bool follow, int tail,
                                   const LogSink& sink, const std::function<bool()>& cancelled) = 0;

  // Images. Build sends a tar stream as the context; output lines go to `sink`.
  virtual absl::Status BuildImage(const std::string& tag, const BodySource& context,
                                  const LineSink& sink) = 0;
  virtual absl::Status ImportImage(const std::string& repo, const std::string& tag,
                                   const BodySource& rootfs) = 0;
  // The image as a tarball stream (docker save), for LoadImage on another engine.
  virtual absl::StatusOr<std::unique_ptr<ResponseStream>> SaveImage(const std::string& name) = 0;
  virtual absl::Status LoadImage(const BodySource& tarball) = 0;
  // Pulls `image` ("name:tag" or "name@sha256:...") from its registry (POST /images/create).
  virtual absl::Status PullImage(const std::string& image) = 0;
  virtual absl::StatusOr<ImageInspect> InspectImage(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<ImageSummary>> ListImages() = 0;
  virtual absl::Status RemoveImage(const std::string& name, bool force) = 0;

  // Containers: the edge proxies (one per node, outside the swarm's scheduler), probes and
  // tests, and filling volumes (a container that is made, never started, given a tar with
  // PutArchive and removed).
  virtual absl::StatusOr<std::vector<ContainerSummary>> ListContainers() = 0;
  virtual absl::StatusOr<ContainerInspect> InspectContainer(const std::string& id) = 0;
  virtual absl::StatusOr<std::string> CreateContainer(const ContainerCreateRequest& request) = 0;
  virtual absl::Status StartContainer(const std::string& id) = 0;
  // Runs `cmd` in the running container `id` and answers what it wrote (stdout and stderr
  // as they came) once it exits. For short commands: the autoscaler's scrape.
  virtual absl::StatusOr<std::string> Exec(const std::string& id,
                                           const std::vector<std::string>& cmd) = 0;
  // Extracts the tar `archive` at `path` in the container's filesystem (its mounts too).
  virtual absl::Status PutArchive(const std::string& id, const std::string& path,
                                  const BodySource& archive) = 0;
  virtual absl::Status RemoveContainer(const std::string& id, bool force) = 0;

  // Volumes (this node's).
  virtual absl::StatusOr<Volume> CreateVolume(const VolumeCreateRequest& request) = 0;
  virtual absl::StatusOr<std::vector<Volume>> ListVolumes() = 0;
  virtual absl::Status RemoveVolume(const std::string& name, bool force) = 0;

  // Events between `since` and `until` (Unix seconds; until 0 = follow until `sink`
  // returns false), filtered by `filters` (e.g. {{"type", {"network"}}}).
  // While following, `cancelled` (when set) is asked twice a second while no event arrives
  // (so only once the stream is open); true ends the stream.
  using EventSink = std::function<bool(const Event& event)>;
  virtual absl::Status Events(int64_t since, int64_t until, const EventFilters& filters,
                              const EventSink& sink, const std::function<bool()>& cancelled) = 0;
};

// The real engine over HTTP. `client` is owned.
// `observer` (optional) is told of every exchange with the engine (metrics).
std::unique_ptr<DockerEngine> NewHttpDockerEngine(Endpoint endpoint,
                                                  CallObserver observer = nullptr);

// Copies `image` from one engine to another without a registry and without holding the
// tarball in memory: GET /images/{name}/get piped into POST /images/load.
absl::Status CopyImage(DockerEngine& from, DockerEngine& to, const std::string& image);

}  // namespace musketeer::engine

#endif  // CONTROLPLANE_ENGINE_DOCKER_ENGINE_H_
