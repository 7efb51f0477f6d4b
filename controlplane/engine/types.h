// The Engine API's objects that musketeer reads and writes, as typed structs (field names
// follow the Engine API 1.41 / moby's api/types: ServiceSpec, Service, Task, Node, Network,
// Swarm, Info, events ...), with their Boost.JSON conversions, all in types.cc:
//   engine::ServiceSpec spec = boost::json::value_to<engine::ServiceSpec>(v);
//   boost::json::value v = boost::json::value_from(spec);
//
// Reading is tolerant: a missing field, or one of an unexpected JSON type, leaves the member
// at its default (0, "", empty, nullopt), never throws, never crashes. Writing follows the
// daemon's own encoding (Go's omitempty): empty strings, zero numbers, empty lists and maps
// and empty nested objects are left out, which the daemon reads back as the same zero value.
// Members that are pointers in the daemon's Go types (absent and zero differ, e.g.
// ReplicatedService.Replicas, UpdateConfig) are std::optional and written whenever set.
//
// Objects that musketeer reads, modifies and sends back (ServiceSpec and everything in it,
// NodeSpec, SwarmSpec) carry `extra`: the fields this model does not name, as the engine sent
// them, written back unchanged, so that an update never drops what a newer engine or another
// client put there. The read-only objects (Service, Task, Node, ...) ignore unknown fields.
// Durations are absl::Duration (nanoseconds on the wire).
#ifndef CONTROLPLANE_ENGINE_TYPES_H_
#define CONTROLPLANE_ENGINE_TYPES_H_

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace musketeer::engine {

using Labels = std::map<std::string, std::string>;

// The version (Meta.Version) of a swarm object: an update must quote the current index.
struct ObjectVersion {
  uint64_t index = 0;
  friend bool operator==(const ObjectVersion&, const ObjectVersion&) = default;
};

// ---------------------------------------------------------------- service specs
// Read-modify-written on every update: each struct keeps its unknown fields in `extra`.

struct HealthConfig {
  std::vector<std::string> test;  // ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]
  absl::Duration interval, timeout, start_period;
  int64_t retries = 0;
  boost::json::object extra;
  friend bool operator==(const HealthConfig&, const HealthConfig&) = default;
};

// TaskTemplate.ContainerSpec.Secrets[]: a secret given to the tasks as a file.
struct SecretReferenceFileTarget {
  std::string name;  // under /run/secrets
  std::string uid, gid;
  uint32_t mode = 0;  // e.g. 0444
  boost::json::object extra;
  friend bool operator==(const SecretReferenceFileTarget&,
                         const SecretReferenceFileTarget&) = default;
};
struct SecretReference {
  std::optional<SecretReferenceFileTarget> file;
  std::string secret_id, secret_name;
  boost::json::object extra;
  friend bool operator==(const SecretReference&, const SecretReference&) = default;
};

// TaskTemplate.ContainerSpec.Configs[]: a config given to the tasks as a file (any path).
struct ConfigReference {
  std::optional<SecretReferenceFileTarget> file;  // the same shape as a secret's
  std::string config_id, config_name;
  boost::json::object extra;
  friend bool operator==(const ConfigReference&, const ConfigReference&) = default;
};

struct Driver {  // a volume's DriverConfig, a task's LogDriver
  std::string name;
  Labels options;
  boost::json::object extra;
  friend bool operator==(const Driver&, const Driver&) = default;
};

struct BindOptions {
  std::string propagation;
  bool non_recursive = false;
  boost::json::object extra;
  friend bool operator==(const BindOptions&, const BindOptions&) = default;
};
struct VolumeOptions {
  bool no_copy = false;
  Labels labels;
  std::optional<Driver> driver_config;
  boost::json::object extra;
  friend bool operator==(const VolumeOptions&, const VolumeOptions&) = default;
};
struct TmpfsOptions {
  int64_t size_bytes = 0;
  uint32_t mode = 0;
  boost::json::object extra;
  friend bool operator==(const TmpfsOptions&, const TmpfsOptions&) = default;
};
// TaskTemplate.ContainerSpec.Mounts[].
struct Mount {
  std::string type;  // bind, volume, tmpfs
  std::string source, target;
  bool read_only = false;
  std::string consistency;
  std::optional<BindOptions> bind_options;
  std::optional<VolumeOptions> volume_options;
  std::optional<TmpfsOptions> tmpfs_options;
  boost::json::object extra;
  friend bool operator==(const Mount&, const Mount&) = default;
};

struct Ulimit {
  std::string name;
  int64_t soft = 0, hard = 0;
  boost::json::object extra;
  friend bool operator==(const Ulimit&, const Ulimit&) = default;
};

struct DnsConfig {
  std::vector<std::string> nameservers, search, options;
  boost::json::object extra;
  friend bool operator==(const DnsConfig&, const DnsConfig&) = default;
};

struct ContainerSpec {
  std::string image;
  Labels labels;
  std::vector<std::string> command, args;
  std::string hostname;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string dir, user;
  bool tty = false, open_stdin = false, read_only = false;
  std::vector<Mount> mounts;
  std::optional<absl::Duration> stop_grace_period;
  std::string stop_signal;
  std::optional<HealthConfig> healthcheck;
  std::vector<std::string> hosts;  // "IP NAME..."
  std::optional<DnsConfig> dns_config;
  std::vector<SecretReference> secrets;
  std::vector<ConfigReference> configs;
  std::optional<bool> init;
  Labels sysctls;
  std::vector<std::string> capability_add, capability_drop;
  std::vector<Ulimit> ulimits;
  boost::json::object extra;
  friend bool operator==(const ContainerSpec&, const ContainerSpec&) = default;
};

struct Resources {
  int64_t nano_cpus = 0;
  int64_t memory_bytes = 0;
  int64_t pids = 0;  // limits only
  boost::json::object extra;
  friend bool operator==(const Resources&, const Resources&) = default;
};

struct ResourceRequirements {
  std::optional<Resources> limits, reservations;
  boost::json::object extra;
  friend bool operator==(const ResourceRequirements&, const ResourceRequirements&) = default;
};

struct RestartPolicy {
  std::string condition;  // none, on-failure, any
  std::optional<absl::Duration> delay;
  std::optional<uint64_t> max_attempts;
  std::optional<absl::Duration> window;
  boost::json::object extra;
  friend bool operator==(const RestartPolicy&, const RestartPolicy&) = default;
};

struct SpreadOver {
  std::string spread_descriptor;  // e.g. node.labels.zone
  boost::json::object extra;
  friend bool operator==(const SpreadOver&, const SpreadOver&) = default;
};
struct PlacementPreference {
  std::optional<SpreadOver> spread;
  boost::json::object extra;
  friend bool operator==(const PlacementPreference&, const PlacementPreference&) = default;
};

struct Placement {
  std::vector<std::string> constraints;
  std::vector<PlacementPreference> preferences;
  uint64_t max_replicas = 0;
  boost::json::object extra;
  friend bool operator==(const Placement&, const Placement&) = default;
};

struct NetworkAttachmentConfig {
  std::string target;  // network name or ID
  std::vector<std::string> aliases;
  boost::json::object extra;
  friend bool operator==(const NetworkAttachmentConfig&, const NetworkAttachmentConfig&) = default;
};

struct TaskSpec {
  // A pointer in the daemon's types (plugin tasks have none); musketeer runs containers
  // only, so it is always there, and written whenever it holds anything.
  ContainerSpec container_spec;
  std::optional<ResourceRequirements> resources;
  std::optional<RestartPolicy> restart_policy;
  std::optional<Placement> placement;
  std::vector<NetworkAttachmentConfig> networks;
  std::optional<Driver> log_driver;
  uint64_t force_update = 0;
  boost::json::object extra;
  friend bool operator==(const TaskSpec&, const TaskSpec&) = default;
};

struct ReplicatedService {
  std::optional<uint64_t> replicas;  // absent: the daemon's default (1)
  boost::json::object extra;
  friend bool operator==(const ReplicatedService&, const ReplicatedService&) = default;
};

struct GlobalService {
  boost::json::object extra;
  friend bool operator==(const GlobalService&, const GlobalService&) = default;
};

// One of replicated or global (job modes stay in `extra`).
struct ServiceMode {
  std::optional<ReplicatedService> replicated;
  std::optional<GlobalService> global;
  boost::json::object extra;
  friend bool operator==(const ServiceMode&, const ServiceMode&) = default;
};

struct UpdateConfig {
  uint64_t parallelism = 0;  // 0: all at once
  absl::Duration delay;
  std::string failure_action;  // pause, continue, rollback
  absl::Duration monitor;
  double max_failure_ratio = 0;
  std::string order;  // stop-first, start-first
  boost::json::object extra;
  friend bool operator==(const UpdateConfig&, const UpdateConfig&) = default;
};

struct PortConfig {
  std::string name;
  std::string protocol;  // tcp, udp, sctp
  uint32_t target_port = 0;
  uint32_t published_port = 0;  // 0: none given (the daemon picks one, or the answer omits it)
  std::string publish_mode;     // ingress, host
  boost::json::object extra;
  friend bool operator==(const PortConfig&, const PortConfig&) = default;
};

struct EndpointSpec {
  std::string mode;  // vip, dnsrr
  std::vector<PortConfig> ports;
  boost::json::object extra;
  friend bool operator==(const EndpointSpec&, const EndpointSpec&) = default;
};

struct ServiceSpec {
  std::string name;
  Labels labels;
  TaskSpec task_template;
  ServiceMode mode;
  std::optional<UpdateConfig> update_config, rollback_config;
  std::optional<EndpointSpec> endpoint_spec;
  boost::json::object extra;
  friend bool operator==(const ServiceSpec&, const ServiceSpec&) = default;
};

// ---------------------------------------------------------------- services and tasks

struct UpdateStatus {
  // updating, paused, completed, rollback_started, rollback_paused, rollback_completed
  std::string state;
  std::string started_at, completed_at;
  std::string message;
  friend bool operator==(const UpdateStatus&, const UpdateStatus&) = default;
};

// Only in service lists asked with status=true.
struct ServiceStatus {
  uint64_t running_tasks = 0, desired_tasks = 0, completed_tasks = 0;
  friend bool operator==(const ServiceStatus&, const ServiceStatus&) = default;
};

struct Service {
  std::string id;
  ObjectVersion version;
  std::string created_at, updated_at;
  ServiceSpec spec;
  std::optional<ServiceSpec> previous_spec;  // what a rollback returns to
  std::optional<UpdateStatus> update_status;
  std::optional<ServiceStatus> service_status;
  friend bool operator==(const Service&, const Service&) = default;
};

struct ContainerStatus {
  std::string container_id;
  int64_t pid = 0, exit_code = 0;
  friend bool operator==(const ContainerStatus&, const ContainerStatus&) = default;
};

struct TaskStatus {
  std::string timestamp;
  std::string state;  // new ... running, complete, shutdown, failed, rejected
  std::string message, err;
  ContainerStatus container_status;
  friend bool operator==(const TaskStatus&, const TaskStatus&) = default;
};

struct Task {
  std::string id;
  ObjectVersion version;
  std::string created_at, updated_at;
  std::string name;
  Labels labels;
  TaskSpec spec;
  std::string service_id;
  int64_t slot = 0;  // replicated services; 0 for global ones
  std::string node_id;
  TaskStatus status;
  std::string desired_state;
  friend bool operator==(const Task&, const Task&) = default;
};

// ---------------------------------------------------------------- nodes

struct NodeSpec {
  std::string name;
  Labels labels;
  std::string role;          // worker, manager
  std::string availability;  // active, pause, drain
  boost::json::object extra;
  friend bool operator==(const NodeSpec&, const NodeSpec&) = default;
};

struct EngineDescription {
  std::string engine_version;
  Labels labels;
  friend bool operator==(const EngineDescription&, const EngineDescription&) = default;
};

struct NodeDescription {
  std::string hostname;
  EngineDescription engine;
  friend bool operator==(const NodeDescription&, const NodeDescription&) = default;
};

struct NodeStatus {
  std::string state;  // unknown, down, ready, disconnected
  std::string message, addr;
  friend bool operator==(const NodeStatus&, const NodeStatus&) = default;
};

struct ManagerStatus {
  bool leader = false;
  std::string reachability, addr;
  friend bool operator==(const ManagerStatus&, const ManagerStatus&) = default;
};

struct Node {
  std::string id;
  ObjectVersion version;
  std::string created_at, updated_at;
  NodeSpec spec;
  NodeDescription description;
  NodeStatus status;
  std::optional<ManagerStatus> manager_status;  // managers only
  friend bool operator==(const Node&, const Node&) = default;
};

// ---------------------------------------------------------------- swarm

struct DispatcherConfig {
  absl::Duration heartbeat_period;
  boost::json::object extra;
  friend bool operator==(const DispatcherConfig&, const DispatcherConfig&) = default;
};

// Read-modify-written by token rotation: orchestration, raft, CA ... stay in `extra`.
struct SwarmSpec {
  std::string name;
  Labels labels;
  DispatcherConfig dispatcher;
  boost::json::object extra;
  friend bool operator==(const SwarmSpec&, const SwarmSpec&) = default;
};

struct JoinTokens {
  std::string worker, manager;
  friend bool operator==(const JoinTokens&, const JoinTokens&) = default;
};

// GET /swarm (on a manager).
struct Swarm {
  std::string id;
  ObjectVersion version;
  std::string created_at, updated_at;
  SwarmSpec spec;
  JoinTokens join_tokens;
  friend bool operator==(const Swarm&, const Swarm&) = default;
};

struct SwarmInitRequest {
  std::string listen_addr, advertise_addr, data_path_addr;
  bool force_new_cluster = false;
  SwarmSpec spec;
  friend bool operator==(const SwarmInitRequest&, const SwarmInitRequest&) = default;
};

struct SwarmJoinRequest {
  std::string listen_addr, advertise_addr, data_path_addr;
  std::vector<std::string> remote_addrs;  // managers' "ip:2377"
  std::string join_token;
  std::string availability;  // active (default), pause, drain
  friend bool operator==(const SwarmJoinRequest&, const SwarmJoinRequest&) = default;
};

// ---------------------------------------------------------------- the daemon

// Info.Swarm: this engine's place in a swarm.
struct SwarmInfo {
  std::string node_id, node_addr;
  std::string local_node_state;    // inactive, pending, active, error, locked
  bool control_available = false;  // a manager
  std::string error;
  friend bool operator==(const SwarmInfo&, const SwarmInfo&) = default;
};

// GET /info.
struct SystemInfo {
  std::string id, name;
  std::string server_version, operating_system, kernel_version, architecture;
  int64_t ncpu = 0, mem_total = 0;
  SwarmInfo swarm;
  friend bool operator==(const SystemInfo&, const SystemInfo&) = default;
};

// GET /version.
struct SystemVersion {
  std::string version, api_version, min_api_version, os, arch, kernel_version;
  friend bool operator==(const SystemVersion&, const SystemVersion&) = default;
};

// ---------------------------------------------------------------- networks

struct IpamConfig {
  std::string subnet, ip_range, gateway;
  friend bool operator==(const IpamConfig&, const IpamConfig&) = default;
};

struct Ipam {
  std::string driver;
  std::vector<IpamConfig> config;
  Labels options;
  friend bool operator==(const Ipam&, const Ipam&) = default;
};

struct Network {
  std::string name, id, created;
  std::string scope;  // local, swarm, global
  std::string driver;
  bool internal = false, attachable = false, ingress = false;
  Ipam ipam;
  Labels options;  // the driver's
  Labels labels;
  friend bool operator==(const Network&, const Network&) = default;
};

struct NetworkCreateRequest {
  std::string name;
  bool check_duplicate = false;
  std::string driver;
  bool internal = false, attachable = false;
  std::optional<Ipam> ipam;
  Labels options;  // the driver's
  Labels labels;
  friend bool operator==(const NetworkCreateRequest&, const NetworkCreateRequest&) = default;
};

// The answer to a create (service: "ID", network: "Id"; either is read).
struct CreateResponse {
  std::string id;
  std::string warning;
  friend bool operator==(const CreateResponse&, const CreateResponse&) = default;
};

// ---------------------------------------------------------------- secrets

// POST /secrets/create takes it; GET /secrets answers it without `data`.
struct SecretSpec {
  std::string name;
  Labels labels;
  std::string data;  // base64 of the value; only ever sent, never answered
  boost::json::object extra;
  friend bool operator==(const SecretSpec&, const SecretSpec&) = default;
};
struct Secret {
  std::string id;
  ObjectVersion version;
  std::string created_at, updated_at;
  SecretSpec spec;
  friend bool operator==(const Secret&, const Secret&) = default;
};
// Configs have the same shape (POST /configs/create, GET /configs; a config's data is
// answered by GET /configs/{id}).
using ConfigSpec = SecretSpec;
using Config = Secret;

// ---------------------------------------------------------------- images and containers

// GET /images/json.
struct ImageSummary {
  std::string id;  // "sha256:..."
  std::vector<std::string> repo_tags, repo_digests;
  int64_t size = 0, created = 0;
  friend bool operator==(const ImageSummary&, const ImageSummary&) = default;
};

// ImageInspect.Config: what containers of the image run with unless told otherwise.
struct ImageConfig {
  std::optional<HealthConfig> healthcheck;
  Labels labels;
  friend bool operator==(const ImageConfig&, const ImageConfig&) = default;
};

// GET /images/{name}/json.
struct ImageInspect {
  std::string id;
  std::vector<std::string> repo_tags, repo_digests;
  int64_t size = 0;
  ImageConfig config;
  friend bool operator==(const ImageInspect&, const ImageInspect&) = default;
};

// One line of a streamed answer (build, load, import, pull). `error` also carries
// errorDetail.message when only that is given.
struct JsonMessage {
  std::string stream, status, id, progress, error;
  friend bool operator==(const JsonMessage&, const JsonMessage&) = default;
};

// GET /containers/json.
struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;
  std::string image, state, status;
  std::string image_id;  // "sha256:...": the image it was made from, whatever its name
  Labels labels;
  friend bool operator==(const ContainerSummary&, const ContainerSummary&) = default;
};

struct ContainerState {
  std::string status;
  bool running = false;
  int64_t pid = 0, exit_code = 0;
  friend bool operator==(const ContainerState&, const ContainerState&) = default;
};

// GET /containers/{id}/json.
struct ContainerInspect {
  std::string id, name, image;
  ContainerState state;
  friend bool operator==(const ContainerInspect&, const ContainerInspect&) = default;
};

// ---------------------------------------------------------------- volumes

// GET /volumes (its "Volumes"), POST /volumes/create's answer.
struct Volume {
  std::string name, driver, mountpoint, created_at, scope;
  Labels labels, options;
  friend bool operator==(const Volume&, const Volume&) = default;
};
struct VolumeCreateRequest {
  std::string name, driver;
  Labels driver_opts, labels;
  friend bool operator==(const VolumeCreateRequest&, const VolumeCreateRequest&) = default;
};

// POST /containers/create: only what a container that is never started needs (one made to
// put files into a volume through PUT /containers/{id}/archive).
struct PortBinding {
  std::string host_ip, host_port;
  friend bool operator==(const PortBinding&, const PortBinding&) = default;
};
struct ContainerRestartPolicy {
  std::string name;  // "", "always", "unless-stopped", "on-failure"
  friend bool operator==(const ContainerRestartPolicy&, const ContainerRestartPolicy&) = default;
};
struct HostConfig {
  std::vector<Mount> mounts;
  std::string network_mode;  // a network's name: the container's only network
  std::map<std::string, std::vector<PortBinding>> port_bindings;  // "8090/tcp" -> host ports
  ContainerRestartPolicy restart_policy;
  friend bool operator==(const HostConfig&, const HostConfig&) = default;
};
struct ContainerCreateRequest {
  std::string name;  // sent as ?name=, not in the body
  std::string image;
  std::vector<std::string> cmd, env;
  Labels labels;
  std::map<std::string, Labels> exposed_ports;  // "8090/tcp" -> {} (Go's empty struct)
  HostConfig host_config;
  friend bool operator==(const ContainerCreateRequest&, const ContainerCreateRequest&) = default;
};

// ---------------------------------------------------------------- events

struct EventActor {
  std::string id;
  Labels attributes;
  friend bool operator==(const EventActor&, const EventActor&) = default;
};

// One line of GET /events.
struct Event {
  std::string type;    // container, image, network, node, service ...
  std::string action;  // create, destroy, update ...
  std::string scope;   // local, swarm
  EventActor actor;
  int64_t time = 0, time_nano = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

// The Engine API's event filters: {"type": ["network"], "network": ["ID"]}.
using EventFilters = std::map<std::string, std::vector<std::string>>;

// ---------------------------------------------------------------- conversions
// value_to<T>(v) and value_from(x) for every type above; defined in types.cc.
#define MUSKETEER_ENGINE_JSON(T)                                           \
  T tag_invoke(boost::json::value_to_tag<T>, const boost::json::value& v); \
  void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const T& x)

MUSKETEER_ENGINE_JSON(ObjectVersion);
MUSKETEER_ENGINE_JSON(HealthConfig);
MUSKETEER_ENGINE_JSON(SecretReferenceFileTarget);
MUSKETEER_ENGINE_JSON(SecretReference);
MUSKETEER_ENGINE_JSON(ConfigReference);
MUSKETEER_ENGINE_JSON(Driver);
MUSKETEER_ENGINE_JSON(BindOptions);
MUSKETEER_ENGINE_JSON(VolumeOptions);
MUSKETEER_ENGINE_JSON(TmpfsOptions);
MUSKETEER_ENGINE_JSON(Mount);
MUSKETEER_ENGINE_JSON(Ulimit);
MUSKETEER_ENGINE_JSON(DnsConfig);
MUSKETEER_ENGINE_JSON(SpreadOver);
MUSKETEER_ENGINE_JSON(PlacementPreference);
MUSKETEER_ENGINE_JSON(ContainerSpec);
MUSKETEER_ENGINE_JSON(Resources);
MUSKETEER_ENGINE_JSON(ResourceRequirements);
MUSKETEER_ENGINE_JSON(RestartPolicy);
MUSKETEER_ENGINE_JSON(Placement);
MUSKETEER_ENGINE_JSON(NetworkAttachmentConfig);
MUSKETEER_ENGINE_JSON(TaskSpec);
MUSKETEER_ENGINE_JSON(ReplicatedService);
MUSKETEER_ENGINE_JSON(GlobalService);
MUSKETEER_ENGINE_JSON(ServiceMode);
MUSKETEER_ENGINE_JSON(UpdateConfig);
MUSKETEER_ENGINE_JSON(PortConfig);
MUSKETEER_ENGINE_JSON(EndpointSpec);
MUSKETEER_ENGINE_JSON(ServiceSpec);
MUSKETEER_ENGINE_JSON(UpdateStatus);
MUSKETEER_ENGINE_JSON(ServiceStatus);
MUSKETEER_ENGINE_JSON(Service);
MUSKETEER_ENGINE_JSON(ContainerStatus);
MUSKETEER_ENGINE_JSON(TaskStatus);
MUSKETEER_ENGINE_JSON(Task);
MUSKETEER_ENGINE_JSON(NodeSpec);
MUSKETEER_ENGINE_JSON(EngineDescription);
MUSKETEER_ENGINE_JSON(NodeDescription);
MUSKETEER_ENGINE_JSON(NodeStatus);
MUSKETEER_ENGINE_JSON(ManagerStatus);
MUSKETEER_ENGINE_JSON(Node);
MUSKETEER_ENGINE_JSON(DispatcherConfig);
MUSKETEER_ENGINE_JSON(SwarmSpec);
MUSKETEER_ENGINE_JSON(JoinTokens);
MUSKETEER_ENGINE_JSON(Swarm);
MUSKETEER_ENGINE_JSON(SwarmInitRequest);
MUSKETEER_ENGINE_JSON(SwarmJoinRequest);
MUSKETEER_ENGINE_JSON(SwarmInfo);
MUSKETEER_ENGINE_JSON(SystemInfo);
MUSKETEER_ENGINE_JSON(SystemVersion);
MUSKETEER_ENGINE_JSON(IpamConfig);
MUSKETEER_ENGINE_JSON(Ipam);
MUSKETEER_ENGINE_JSON(Network);
MUSKETEER_ENGINE_JSON(NetworkCreateRequest);
MUSKETEER_ENGINE_JSON(CreateResponse);
MUSKETEER_ENGINE_JSON(SecretSpec);
MUSKETEER_ENGINE_JSON(Secret);
MUSKETEER_ENGINE_JSON(ImageSummary);
MUSKETEER_ENGINE_JSON(ImageConfig);
MUSKETEER_ENGINE_JSON(ImageInspect);
MUSKETEER_ENGINE_JSON(JsonMessage);
MUSKETEER_ENGINE_JSON(ContainerSummary);
MUSKETEER_ENGINE_JSON(ContainerState);
MUSKETEER_ENGINE_JSON(ContainerInspect);
MUSKETEER_ENGINE_JSON(Volume);
MUSKETEER_ENGINE_JSON(VolumeCreateRequest);
MUSKETEER_ENGINE_JSON(PortBinding);
MUSKETEER_ENGINE_JSON(ContainerRestartPolicy);
MUSKETEER_ENGINE_JSON(HostConfig);
MUSKETEER_ENGINE_JSON(ContainerCreateRequest);
MUSKETEER_ENGINE_JSON(EventActor);
MUSKETEER_ENGINE_JSON(Event);

#undef MUSKETEER_ENGINE_JSON

}  // namespace musketeer::engine

#endif  // CONTROLPLANE_ENGINE_TYPES_H_
