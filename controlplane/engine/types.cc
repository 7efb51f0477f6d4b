// The one place where Engine API JSON meets the typed model (types.h). Each type lists its
// fields once, in a Fields() function that both directions walk: reading with a Reader
// (tolerant, remembers which fields it used so the rest can be kept in `extra`) and writing
// with a Writer (omitempty, then what `extra` kept).
#include "controlplane/engine/types.h"

#include <algorithm>
#include <concepts>
#include <string_view>
#include <type_traits>

namespace musketeer::engine {
namespace json = boost::json;

namespace {

// A type of this model (one with a tag_invoke of its own).
template <class T>
concept Modeled = requires(const json::value& v) {
  { tag_invoke(json::value_to_tag<T>{}, v) } -> std::same_as<T>;
};

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// ---------------------------------------------------------------- reading
// Each Read leaves `out` as it was and answers false when `v` has another shape.

bool Read(const json::value& v, std::string& out) {
  if (!v.is_string()) return false;
  out = std::string(v.as_string());
  return true;
}

bool Read(const json::value& v, bool& out) {
  if (!v.is_bool()) return false;
  out = v.as_bool();
  return true;
}

template <class N>
requires std::is_arithmetic_v<N>
bool ReadNumber(const json::value& v, N& out) {
  if (!v.is_number()) return false;
  boost::system::error_code ec;
  const N n = v.to_number<N>(ec);  // fails on a fraction, a sign or a range that does not fit
  if (ec) return false;
  out = n;
  return true;
}
bool Read(const json::value& v, int64_t& out) { return ReadNumber(v, out); }
bool Read(const json::value& v, uint64_t& out) { return ReadNumber(v, out); }
bool Read(const json::value& v, uint32_t& out) { return ReadNumber(v, out); }
bool Read(const json::value& v, double& out) { return ReadNumber(v, out); }

bool Read(const json::value& v, absl::Duration& out) {  // nanoseconds
  int64_t ns = 0;
  if (!ReadNumber(v, ns)) return false;
  out = absl::Nanoseconds(ns);
  return true;
}

bool Read(const json::value& v, Labels& out) {
  if (!v.is_object()) return false;
  Labels labels;
  for (const auto& [k, x] : v.as_object()) {
    if (!x.is_string()) return false;
    labels[std::string(k)] = std::string(x.as_string());
  }
  out = std::move(labels);
  return true;
}

template <Modeled T>
bool Read(const json::value& v, T& out) {
  if (!v.is_object()) return false;
  out = json::value_to<T>(v);
  return true;
}

template <class T>
bool Read(const json::value& v, std::vector<T>& out) {
  if (!v.is_array()) return false;
  std::vector<T> list;
  list.reserve(v.as_array().size());
  for (const auto& e : v.as_array()) {
    T x{};
    if (!Read(e, x)) return false;
    list.push_back(std::move(x));
  }
  out = std::move(list);
  return true;
}

template <class T>
bool Read(const json::value& v, std::map<std::string, T>& out) {
  if (!v.is_object()) return false;
  std::map<std::string, T> map;
  for (const auto& [k, e] : v.as_object()) {
    if (!Read(e, map[std::string(k)])) return false;
  }
  out = std::move(map);
  return true;
}

template <class T>
bool Read(const json::value& v, std::optional<T>& out) {
  T x{};
  if (!Read(v, x)) return false;
  out = std::move(x);
  return true;
}

// Reads the fields of one object by name. A field that is missing, or whose shape does
// not fit its member, leaves the member at its default and is left unread, so that Rest()
// keeps it.
class Reader {
 public:
  explicit Reader(const json::value& v) : object_(v.is_object() ? &v.as_object() : nullptr) {}

  template <class T>
  void operator()(std::string_view key, T& out) {
    if (object_ == nullptr) return;
    const json::value* v = object_->if_contains(key);
    if (v != nullptr && Read(*v, out)) read_.push_back(key);
  }

  // The fields no call read: unknown ones, and known ones of an unexpected shape.
  json::object Rest() const {
    json::object rest;
    if (object_ == nullptr) return rest;
    for (const auto& [k, v] : *object_) {
      if (std::find(read_.begin(), read_.end(), std::string_view(k)) == read_.end())
        rest.emplace(k, v);
    }
    return rest;
  }

 private:
  const json::object* object_;
  std::vector<std::string_view> read_;
};

// ---------------------------------------------------------------- writing

json::value Write(const std::string& s) { return json::string(s); }
json::value Write(bool b) { return b; }
json::value Write(int64_t n) { return n; }
json::value Write(uint64_t n) { return n; }
json::value Write(uint32_t n) { return uint64_t{n}; }
json::value Write(double n) { return n; }
json::value Write(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }
json::value Write(const Labels& labels) {
  json::object o;
  for (const auto& [k, v] : labels) o[k] = v;
  return o;
}
template <Modeled T>
json::value Write(const T& x) {
  return json::value_from(x);
}
template <class T>
json::value Write(const std::vector<T>& list) {
  json::array a;
  a.reserve(list.size());
  for (const auto& x : list) a.push_back(Write(x));
  return a;
}
template <class T>
json::value Write(const std::map<std::string, T>& map) {
  json::object o;
  for (const auto& [k, v] : map) o[k] = Write(v);
  return o;
}

// Go's omitempty: zero values are not written (the daemon reads an absent field as zero).
bool Empty(const std::string& s) { return s.empty(); }
bool Empty(bool b) { return !b; }
template <class N>
requires std::is_arithmetic_v<N>
bool Empty(N n) { return n == 0; }
bool Empty(absl::Duration d) { return d == absl::ZeroDuration(); }
bool Empty(const Labels& labels) { return labels.empty(); }
template <class T>
bool Empty(const std::map<std::string, T>& map) {
  return map.empty();
}
template <class T>
bool Empty(const std::vector<T>& list) {
  return list.empty();
}

// Builds one object: every known field that is set, then the kept unknown ones (and known
// ones that could not be read and were not set since).
class Writer {
 public:
  explicit Writer(const json::object* extra = nullptr) : extra_(extra) {}

  template <class T>
  void operator()(std::string_view key, const T& x) {
    if constexpr (IsOptional<T>::value) {
      if (x.has_value()) object_[key] = Write(*x);  // a pointer in Go: set means written
    } else if constexpr (Modeled<T>) {
      json::value v = Write(x);  // a nested struct: written when it holds anything
      if (!v.as_object().empty()) object_[key] = std::move(v);
    } else if (!Empty(x)) {
      object_[key] = Write(x);
    }
  }

  json::value Done() {
    if (extra_ != nullptr) {
      for (const auto& [k, v] : *extra_) {
        if (!object_.contains(k)) object_.emplace(k, v);
      }
    }
    return std::move(object_);
  }

 private:
  const json::object* extra_;
  json::object object_;
};

// ---------------------------------------------------------------- the fields of each type
// Fields(x, f) calls f(key, member) for every field of one type; `S` is T when reading and
// const T when writing, so one list serves both directions.
#define FIELDS(T)                                  \
  template <class S, class F>                      \
  requires std::same_as<std::remove_const_t<S>, T> \
  void Fields([[maybe_unused]] S& x, [[maybe_unused]] F& f)

FIELDS(ObjectVersion) { f("Index", x.index); }

FIELDS(HealthConfig) {
  f("Test", x.test);
  f("Interval", x.interval);
  f("Timeout", x.timeout);
  f("StartPeriod", x.start_period);
  f("Retries", x.retries);
}

FIELDS(SecretReferenceFileTarget) {
  f("Name", x.name);
  f("UID", x.uid);
  f("GID", x.gid);
  f("Mode", x.mode);
}

FIELDS(SecretReference) {
  f("File", x.file);
  f("SecretID", x.secret_id);
  f("SecretName", x.secret_name);
}

FIELDS(SecretSpec) {
  f("Name", x.name);
  f("Labels", x.labels);
  f("Data", x.data);
}

FIELDS(Secret) {
  f("ID", x.id);
  f("Version", x.version);
  f("CreatedAt", x.created_at);
  f("UpdatedAt", x.updated_at);
  f("Spec", x.spec);
}

FIELDS(ConfigReference) {
  f("File", x.file);
  f("ConfigID", x.config_id);
  f("ConfigName", x.config_name);
}

FIELDS(Driver) {
  f("Name", x.name);
  f("Options", x.options);
}

FIELDS(BindOptions) {
  f("Propagation", x.propagation);
  f("NonRecursive", x.non_recursive);
}

FIELDS(VolumeOptions) {
  f("NoCopy", x.no_copy);
  f("Labels", x.labels);
  f("DriverConfig", x.driver_config);
}

FIELDS(TmpfsOptions) {
  f("SizeBytes", x.size_bytes);
  f("Mode", x.mode);
}

FIELDS(Mount) {
  f("Type", x.type);
  f("Source", x.source);
  f("Target", x.target);
  f("ReadOnly", x.read_only);
  f("Consistency", x.consistency);
  f("BindOptions", x.bind_options);
  f("VolumeOptions", x.volume_options);
  f("TmpfsOptions", x.tmpfs_options);
}

FIELDS(Ulimit) {
  f("Name", x.name);
  f("Soft", x.soft);
  f("Hard", x.hard);
}

FIELDS(DnsConfig) {
  f("Nameservers", x.nameservers);
  f("Search", x.search);
  f("Options", x.options);
}

FIELDS(ContainerSpec) {
  f("Image", x.image);
  f("Labels", x.labels);
  f("Command", x.command);
  f("Args", x.args);
  f("Hostname", x.hostname);
  f("Env", x.env);
  f("Dir", x.dir);
  f("User", x.user);
  f("TTY", x.tty);
  f("OpenStdin", x.open_stdin);
  f("ReadOnly", x.read_only);
  f("Mounts", x.mounts);
  f("StopGracePeriod", x.stop_grace_period);
  f("StopSignal", x.stop_signal);
  f("Healthcheck", x.healthcheck);
  f("Hosts", x.hosts);
  f("DNSConfig", x.dns_config);
  f("Secrets", x.secrets);
  f("Configs", x.configs);
  f("Init", x.init);
  f("Sysctls", x.sysctls);
  f("CapabilityAdd", x.capability_add);
  f("CapabilityDrop", x.capability_drop);
  f("Ulimits", x.ulimits);
}

FIELDS(Resources) {
  f("NanoCPUs", x.nano_cpus);
  f("MemoryBytes", x.memory_bytes);
  f("Pids", x.pids);
}

FIELDS(ResourceRequirements) {
  f("Limits", x.limits);
  f("Reservations", x.reservations);
}

FIELDS(RestartPolicy) {
  f("Condition", x.condition);
  f("Delay", x.delay);
  f("MaxAttempts", x.max_attempts);
  f("Window", x.window);
}

FIELDS(SpreadOver) { f("SpreadDescriptor", x.spread_descriptor); }

FIELDS(PlacementPreference) { f("Spread", x.spread); }

FIELDS(Placement) {
  f("Constraints", x.constraints);
  f("Preferences", x.preferences);
  f("MaxReplicas", x.max_replicas);
}

FIELDS(NetworkAttachmentConfig) {
  f("Target", x.target);
  f("Aliases", x.aliases);
}

FIELDS(TaskSpec) {
  f("ContainerSpec", x.container_spec);
  f("Resources", x.resources);
  f("RestartPolicy", x.restart_policy);
  f("Placement", x.placement);
  f("Networks", x.networks);
  f("LogDriver", x.log_driver);
  f("ForceUpdate", x.force_update);
}

FIELDS(ReplicatedService) { f("Replicas", x.replicas); }

FIELDS(GlobalService) {}

FIELDS(ServiceMode) {
  f("Replicated", x.replicated);
  f("Global", x.global);
}

FIELDS(UpdateConfig) {
  f("Parallelism", x.parallelism);
  f("Delay", x.delay);
  f("FailureAction", x.failure_action);
  f("Monitor", x.monitor);
  f("MaxFailureRatio", x.max_failure_ratio);
  f("Order", x.order);
}

FIELDS(PortConfig) {
  f("Name", x.name);
  f("Protocol", x.protocol);
  f("TargetPort", x.target_port);
  f("PublishedPort", x.published_port);
  f("PublishMode", x.publish_mode);
}

FIELDS(EndpointSpec) {
  f("Mode", x.mode);
  f("Ports", x.ports);
}

FIELDS(ServiceSpec) {
  f("Name", x.name);
  f("Labels", x.labels);
  f("TaskTemplate", x.task_template);
  f("Mode", x.mode);
  f("UpdateConfig", x.update_config);
  f("RollbackConfig", x.rollback_config);
  f("EndpointSpec", x.endpoint_spec);
}

FIELDS(UpdateStatus) {
  f("State", x.state);
  f("StartedAt", x.started_at);
  f("CompletedAt", x.completed_at);
  f("Message", x.message);
}

FIELDS(ServiceStatus) {
  f("RunningTasks", x.running_tasks);
  f("DesiredTasks", x.desired_tasks);
  f("CompletedTasks", x.completed_tasks);
}

FIELDS(Service) {
  f("ID", x.id);
  f("Version", x.version);
  f("CreatedAt", x.created_at);
  f("UpdatedAt", x.updated_at);
  f("Spec", x.spec);
  f("PreviousSpec", x.previous_spec);
  f("UpdateStatus", x.update_status);
  f("ServiceStatus", x.service_status);
}

FIELDS(ContainerStatus) {
  f("ContainerID", x.container_id);
  f("PID", x.pid);
  f("ExitCode", x.exit_code);
}

FIELDS(TaskStatus) {
  f("Timestamp", x.timestamp);
  f("State", x.state);
  f("Message", x.message);
  f("Err", x.err);
  f("ContainerStatus", x.container_status);
}

FIELDS(Task) {
  f("ID", x.id);
  f("Version", x.version);
  f("CreatedAt", x.created_at);
  f("UpdatedAt", x.updated_at);
  f("Name", x.name);
  f("Labels", x.labels);
  f("Spec", x.spec);
  f("ServiceID", x.service_id);
  f("Slot", x.slot);
  f("NodeID", x.node_id);
  f("Status", x.status);
  f("DesiredState", x.desired_state);
}

FIELDS(NodeSpec) {
  f("Name", x.name);
  f("Labels", x.labels);
  f("Role", x.role);
  f("Availability", x.availability);
}

FIELDS(EngineDescription) {
  f("EngineVersion", x.engine_version);
  f("Labels", x.labels);
}

FIELDS(NodeDescription) {
  f("Hostname", x.hostname);
  f("Engine", x.engine);
}

FIELDS(NodeStatus) {
  f("State", x.state);
  f("Message", x.message);
  f("Addr", x.addr);
}

FIELDS(ManagerStatus) {
  f("Leader", x.leader);
  f("Reachability", x.reachability);
  f("Addr", x.addr);
}

FIELDS(Node) {
  f("ID", x.id);
  f("Version", x.version);
  f("CreatedAt", x.created_at);
  f("UpdatedAt", x.updated_at);
  f("Spec", x.spec);
  f("Description", x.description);
  f("Status", x.status);
  f("ManagerStatus", x.manager_status);
}

FIELDS(DispatcherConfig) { f("HeartbeatPeriod", x.heartbeat_period); }

FIELDS(SwarmSpec) {
  f("Name", x.name);
  f("Labels", x.labels);
  f("Dispatcher", x.dispatcher);
}

FIELDS(JoinTokens) {
  f("Worker", x.worker);
  f("Manager", x.manager);
}

FIELDS(Swarm) {
  f("ID", x.id);
  f("Version", x.version);
  f("CreatedAt", x.created_at);
  f("UpdatedAt", x.updated_at);
  f("Spec", x.spec);
  f("JoinTokens", x.join_tokens);
}

FIELDS(SwarmInitRequest) {
  f("ListenAddr", x.listen_addr);
  f("AdvertiseAddr", x.advertise_addr);
  f("DataPathAddr", x.data_path_addr);
  f("ForceNewCluster", x.force_new_cluster);
  f("Spec", x.spec);
}

FIELDS(SwarmJoinRequest) {
  f("ListenAddr", x.listen_addr);
  f("AdvertiseAddr", x.advertise_addr);
  f("DataPathAddr", x.data_path_addr);
  f("RemoteAddrs", x.remote_addrs);
  f("JoinToken", x.join_token);
  f("Availability", x.availability);
}

FIELDS(SwarmInfo) {
  f("NodeID", x.node_id);
  f("NodeAddr", x.node_addr);
  f("LocalNodeState", x.local_node_state);
  f("ControlAvailable", x.control_available);
  f("Error", x.error);
}

FIELDS(SystemInfo) {
  f("ID", x.id);
  f("Name", x.name);
  f("ServerVersion", x.server_version);
  f("OperatingSystem", x.operating_system);
  f("KernelVersion", x.kernel_version);
  f("Architecture", x.architecture);
  f("NCPU", x.ncpu);
  f("MemTotal", x.mem_total);
  f("Swarm", x.swarm);
}

FIELDS(SystemVersion) {
  f("Version", x.version);
  f("ApiVersion", x.api_version);
  f("MinAPIVersion", x.min_api_version);
  f("Os", x.os);
  f("Arch", x.arch);
  f("KernelVersion", x.kernel_version);
}

FIELDS(IpamConfig) {
  f("Subnet", x.subnet);
  f("IPRange", x.ip_range);
  f("Gateway", x.gateway);
}

FIELDS(Ipam) {
  f("Driver", x.driver);
  f("Config", x.config);
  f("Options", x.options);
}

FIELDS(Network) {
  f("Name", x.name);
  f("Id", x.id);
  f("Created", x.created);
  f("Scope", x.scope);
  f("Driver", x.driver);
  f("Internal", x.internal);
  f("Attachable", x.attachable);
  f("Ingress", x.ingress);
  f("IPAM", x.ipam);
  f("Options", x.options);
  f("Labels", x.labels);
}

FIELDS(NetworkCreateRequest) {
  f("Name", x.name);
  f("CheckDuplicate", x.check_duplicate);
  f("Driver", x.driver);
  f("Internal", x.internal);
  f("Attachable", x.attachable);
  f("IPAM", x.ipam);
  f("Options", x.options);
  f("Labels", x.labels);
}

FIELDS(Volume) {
  f("Name", x.name);
  f("Driver", x.driver);
  f("Mountpoint", x.mountpoint);
  f("CreatedAt", x.created_at);
  f("Scope", x.scope);
  f("Labels", x.labels);
  f("Options", x.options);
}

FIELDS(VolumeCreateRequest) {
  f("Name", x.name);
  f("Driver", x.driver);
  f("DriverOpts", x.driver_opts);
  f("Labels", x.labels);
}

FIELDS(PortBinding) {
  f("HostIp", x.host_ip);
  f("HostPort", x.host_port);
}

FIELDS(ContainerRestartPolicy) { f("Name", x.name); }

FIELDS(HostConfig) {
  f("Mounts", x.mounts);
  f("NetworkMode", x.network_mode);
  f("PortBindings", x.port_bindings);
  f("RestartPolicy", x.restart_policy);
}

FIELDS(ContainerCreateRequest) {
  f("Image", x.image);
  f("Cmd", x.cmd);
  f("Env", x.env);
  f("Labels", x.labels);
  f("ExposedPorts", x.exposed_ports);
  f("HostConfig", x.host_config);
}

FIELDS(ImageSummary) {
  f("Id", x.id);
  f("RepoTags", x.repo_tags);
  f("RepoDigests", x.repo_digests);
  f("Size", x.size);
  f("Created", x.created);
}

FIELDS(ImageConfig) {
  f("Healthcheck", x.healthcheck);
  f("Labels", x.labels);
}

FIELDS(ImageInspect) {
  f("Id", x.id);
  f("RepoTags", x.repo_tags);
  f("RepoDigests", x.repo_digests);
  f("Size", x.size);
  f("Config", x.config);
}

FIELDS(ContainerSummary) {
  f("Id", x.id);
  f("Names", x.names);
  f("Image", x.image);
  f("ImageID", x.image_id);
  f("State", x.state);
  f("Status", x.status);
  f("Labels", x.labels);
}

FIELDS(ContainerState) {
  f("Status", x.status);
  f("Running", x.running);
  f("Pid", x.pid);
  f("ExitCode", x.exit_code);
}

FIELDS(ContainerInspect) {
  f("Id", x.id);
  f("Name", x.name);
  f("Image", x.image);
  f("State", x.state);
}

FIELDS(EventActor) {
  f("ID", x.id);
  f("Attributes", x.attributes);
}

FIELDS(Event) {
  f("Type", x.type);
  f("Action", x.action);
  f("scope", x.scope);
  f("Actor", x.actor);
  f("time", x.time);
  f("timeNano", x.time_nano);
}

#undef FIELDS

// Both directions of one type from its Fields(): the unread fields go to `extra` when the
// type has one, and come back after the known ones when it is written.
template <class T>
T FromJson(const json::value& v) {
  T x;
  Reader r(v);
  Fields(x, r);
  if constexpr (requires { x.extra; }) x.extra = r.Rest();
  return x;
}

template <class T>
json::value ToJson(const T& x) {
  const json::object* extra = nullptr;
  if constexpr (requires { x.extra; }) extra = &x.extra;
  Writer w(extra);
  Fields(x, w);
  return w.Done();
}

}  // namespace

#define CONVERSIONS(T)                                                                 \
  T tag_invoke(json::value_to_tag<T>, const json::value& v) { return FromJson<T>(v); } \
  void tag_invoke(json::value_from_tag, json::value& v, const T& x) { v = ToJson(x); }

CONVERSIONS(ObjectVersion)
CONVERSIONS(HealthConfig)
CONVERSIONS(SecretReferenceFileTarget)
CONVERSIONS(SecretReference)
CONVERSIONS(SecretSpec)
CONVERSIONS(Secret)
CONVERSIONS(ConfigReference)
CONVERSIONS(Driver)
CONVERSIONS(BindOptions)
CONVERSIONS(VolumeOptions)
CONVERSIONS(TmpfsOptions)
CONVERSIONS(Mount)
CONVERSIONS(Ulimit)
CONVERSIONS(DnsConfig)
CONVERSIONS(SpreadOver)
CONVERSIONS(PlacementPreference)
CONVERSIONS(ContainerSpec)
CONVERSIONS(Resources)
CONVERSIONS(ResourceRequirements)
CONVERSIONS(RestartPolicy)
CONVERSIONS(Placement)
CONVERSIONS(NetworkAttachmentConfig)
CONVERSIONS(TaskSpec)
CONVERSIONS(ReplicatedService)
CONVERSIONS(GlobalService)
CONVERSIONS(ServiceMode)
CONVERSIONS(UpdateConfig)
CONVERSIONS(PortConfig)
CONVERSIONS(EndpointSpec)
CONVERSIONS(ServiceSpec)
CONVERSIONS(UpdateStatus)
CONVERSIONS(ServiceStatus)
CONVERSIONS(Service)
CONVERSIONS(ContainerStatus)
CONVERSIONS(TaskStatus)
CONVERSIONS(Task)
CONVERSIONS(NodeSpec)
CONVERSIONS(EngineDescription)
CONVERSIONS(NodeDescription)
CONVERSIONS(NodeStatus)
CONVERSIONS(ManagerStatus)
CONVERSIONS(Node)
CONVERSIONS(DispatcherConfig)
CONVERSIONS(SwarmSpec)
CONVERSIONS(JoinTokens)
CONVERSIONS(Swarm)
CONVERSIONS(SwarmInitRequest)
CONVERSIONS(SwarmJoinRequest)
CONVERSIONS(SwarmInfo)
CONVERSIONS(SystemInfo)
CONVERSIONS(SystemVersion)
CONVERSIONS(IpamConfig)
CONVERSIONS(Ipam)
CONVERSIONS(Network)
CONVERSIONS(NetworkCreateRequest)
CONVERSIONS(ImageSummary)
CONVERSIONS(ImageConfig)
CONVERSIONS(ImageInspect)
CONVERSIONS(ContainerSummary)
CONVERSIONS(ContainerState)
CONVERSIONS(ContainerInspect)
CONVERSIONS(Volume)
CONVERSIONS(VolumeCreateRequest)
CONVERSIONS(PortBinding)
CONVERSIONS(ContainerRestartPolicy)
CONVERSIONS(HostConfig)
CONVERSIONS(ContainerCreateRequest)
CONVERSIONS(EventActor)
CONVERSIONS(Event)

#undef CONVERSIONS

// Two answers have a shape of their own.

// A create answers {"ID": ...} (services) or {"Id": ...} (networks), with a warning.
CreateResponse tag_invoke(json::value_to_tag<CreateResponse>, const json::value& v) {
  CreateResponse x;
  Reader r(v);
  r("ID", x.id);
  r("Id", x.id);
  r("Warning", x.warning);
  return x;
}
void tag_invoke(json::value_from_tag, json::value& v, const CreateResponse& x) {
  Writer w;
  w("Id", x.id);
  w("Warning", x.warning);
  v = w.Done();
}

// A streamed line may carry its error only in errorDetail.message.
JsonMessage tag_invoke(json::value_to_tag<JsonMessage>, const json::value& v) {
  JsonMessage x;
  Reader r(v);
  r("stream", x.stream);
  r("status", x.status);
  r("id", x.id);
  r("progress", x.progress);
  r("error", x.error);
  if (x.error.empty() && v.is_object()) {
    if (const json::value* detail = v.as_object().if_contains("errorDetail")) {
      Reader d(*detail);
      d("message", x.error);
    }
  }
  return x;
}
void tag_invoke(json::value_from_tag, json::value& v, const JsonMessage& x) {
  Writer w;
  w("stream", x.stream);
  w("status", x.status);
  w("id", x.id);
  w("progress", x.progress);
  w("error", x.error);
  v = w.Done();
}

}  // namespace musketeer::engine
