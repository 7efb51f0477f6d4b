// The typed Engine API model (controlplane/engine/types.h): its JSON conversions on the
// answers a real dockerd gives, answers missing fields, unknown fields that an update must
// send back, and fields of an unexpected type. Fast, no daemon.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/types.h"

namespace musketeer::engine {
namespace {
namespace json = boost::json;
namespace pb = ::musketeer::v1;

// GET /services/{id} as dockerd 20.10 answers it: every non-omitempty zero field present,
// and fields this model does not name (Mounts, StopGracePeriod, DNSConfig, Isolation,
// Platforms, Runtime, Endpoint ...).
constexpr const char* kServiceAnswer = R"({
  "ID": "9mnpnzenvg8p8tdbtq4wvbkcz",
  "Version": {"Index": 19},
  "CreatedAt": "2026-11-25T10:00:00.000000001Z",
  "UpdatedAt": "2026-11-25T10:01:00.000000002Z",
  "Spec": {
    "Name": "judge_swarm",
    "Labels": {"com.docker.stack.namespace": "judge"},
    "TaskTemplate": {
      "ContainerSpec": {
        "Image": "judge_server:1.0",
        "Labels": {"com.docker.stack.namespace": "judge"},
        "Env": ["JUDGE_TOKEN=t"],
        "Init": false,
        "StopGracePeriod": 10000000000,
        "DNSConfig": {},
        "Mounts": [{"Type": "bind", "Source": "/srv/cases", "Target": "/cases"}],
        "CapabilityAdd": ["SYS_ADMIN"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 3000000000, "Retries": 3},
        "Isolation": "default"
      },
      "Resources": {"Limits": {"NanoCPUs": 500000000}, "Reservations": {}},
      "RestartPolicy": {"Condition": "any", "Delay": 1000000000, "MaxAttempts": 0},
      "Placement": {"Constraints": ["node.role==worker"],
                    "Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
      "Networks": [{"Target": "k6tqlch8i3sdbl5w9m0qmvj9x", "Aliases": ["server"]}],
      "ForceUpdate": 0,
      "Runtime": "container"
    },
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {"Parallelism": 1, "FailureAction": "rollback", "Monitor": 5000000000,
                     "MaxFailureRatio": 0, "Order": "stop-first"},
    "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000,
                       "MaxFailureRatio": 0, "Order": "stop-first"},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 8090,
                     "PublishedPort": 8090, "PublishMode": "ingress"}]}
  },
  "PreviousSpec": {"Name": "judge_swarm", "TaskTemplate": {"ContainerSpec": {"Image": "judge_server:0.9"}},
                   "Mode": {"Replicated": {"Replicas": 3}}},
  "Endpoint": {"Spec": {"Mode": "vip"}, "VirtualIPs": [{"NetworkID": "k6tq", "Addr": "10.0.1.2/24"}]},
  "UpdateStatus": {"State": "completed", "StartedAt": "2026-11-25T10:00:30Z",
                   "CompletedAt": "2026-11-25T10:01:00Z", "Message": "update completed"}
})";

// What the daemon reads back the same way: zero values (Go's omitempty) and empty objects
// removed, recursively.
json::value DropZeros(const json::value& v) {
  if (v.is_object()) {
    json::object out;
    for (const auto& [k, x] : v.as_object()) {
      json::value y = DropZeros(x);
      const bool zero = (y.is_number() && y.to_number<double>() == 0) ||
                        (y.is_string() && y.as_string().empty()) || (y.is_bool() && !y.as_bool()) ||
                        (y.is_array() && y.as_array().empty()) ||
                        (y.is_object() && y.as_object().empty()) || y.is_null();
      if (!zero) out[k] = std::move(y);
    }
    return out;
  }
  if (v.is_array()) {
    json::array out;
    for (const auto& x : v.as_array()) out.push_back(DropZeros(x));
    return out;
  }
  return v;
}

TEST(EngineTypesTest, AServiceAnswerReadsIntoTypedFields) {
  auto svc = json::value_to<Service>(json::parse(kServiceAnswer));
  EXPECT_EQ(svc.id, "9mnpnzenvg8p8tdbtq4wvbkcz");
  EXPECT_EQ(svc.version.index, 19u);
  EXPECT_EQ(svc.spec.name, "judge_swarm");
  EXPECT_EQ(svc.spec.labels.at("com.docker.stack.namespace"), "judge");
  const ContainerSpec& c = svc.spec.task_template.container_spec;
  EXPECT_EQ(c.image, "judge_server:1.0");
  EXPECT_EQ(c.env, std::vector<std::string>{"JUDGE_TOKEN=t"});
  EXPECT_EQ(c.capability_add, std::vector<std::string>{"SYS_ADMIN"});
  ASSERT_TRUE(c.healthcheck.has_value());
  EXPECT_EQ(c.healthcheck->interval, absl::Seconds(3));
  EXPECT_EQ(c.healthcheck->retries, 3);
  ASSERT_TRUE(svc.spec.task_template.resources && svc.spec.task_template.resources->limits);
  EXPECT_EQ(svc.spec.task_template.resources->limits->nano_cpus, 500000000);
  ASSERT_TRUE(svc.spec.task_template.restart_policy);
  EXPECT_EQ(svc.spec.task_template.restart_policy->delay, absl::Seconds(1));
  EXPECT_EQ(svc.spec.task_template.restart_policy->max_attempts, 0u) << "present, zero";
  EXPECT_EQ(svc.spec.task_template.networks.at(0).target, "k6tqlch8i3sdbl5w9m0qmvj9x");
  ASSERT_TRUE(svc.spec.mode.replicated && svc.spec.mode.replicated->replicas);
  EXPECT_EQ(*svc.spec.mode.replicated->replicas, 3u);
  EXPECT_FALSE(svc.spec.mode.global);
  ASSERT_TRUE(svc.spec.update_config);
  EXPECT_EQ(svc.spec.update_config->failure_action, "rollback");
  EXPECT_EQ(svc.spec.update_config->monitor, absl::Seconds(5));
  ASSERT_TRUE(svc.spec.endpoint_spec);
  EXPECT_EQ(svc.spec.endpoint_spec->ports.at(0).published_port, 8090u);
  ASSERT_TRUE(svc.previous_spec);
  EXPECT_EQ(svc.previous_spec->task_template.container_spec.image, "judge_server:0.9");
  ASSERT_TRUE(svc.update_status);
  EXPECT_EQ(svc.update_status->state, "completed");
  EXPECT_FALSE(svc.service_status) << "only in lists asked with status=true";
}

TEST(EngineTypesTest, ASpecRoundTripsWithEverythingTheDaemonWouldReadBack) {
  const json::value answer = json::parse(kServiceAnswer);
  const json::value& spec_json = answer.at("Spec");
  auto spec = json::value_to<ServiceSpec>(spec_json);
  const json::value written = json::value_from(spec);
  EXPECT_EQ(DropZeros(written), DropZeros(spec_json)) << json::serialize(written);
  // Nothing is invented: every written field was in the answer.
  for (const auto& [k, v] : written.as_object())
    EXPECT_TRUE(spec_json.as_object().contains(k)) << k;
  // Present-but-zero fields that are pointers in the daemon's types stay present.
  EXPECT_EQ(written.at("TaskTemplate").at("RestartPolicy").at("MaxAttempts"), 0);
  EXPECT_EQ(json::value_to<ServiceSpec>(written), spec) << "typed -> JSON -> typed is lossless";
}

TEST(EngineTypesTest, AnUpdateKeepsTheFieldsThisModelDoesNotName) {
  auto spec = json::value_to<ServiceSpec>(json::parse(kServiceAnswer).at("Spec"));
  // What UpdateService does for `service update --image ... --replicas ...`.
  spec.task_template.container_spec.image = "judge_server:2.0";
  spec.mode.replicated->replicas = 5;
  spec.task_template.container_spec.env.push_back("EXTRA=1");
  const json::value sent = json::value_from(spec);
  const json::value& container = sent.at("TaskTemplate").at("ContainerSpec");
  EXPECT_EQ(container.at("Image"), "judge_server:2.0");
  EXPECT_EQ(sent.at("Mode").at("Replicated").at("Replicas"), 5);
  EXPECT_EQ(container.at("Env").as_array().size(), 2u);
  // Unknown fields at every level went back as they came.
  EXPECT_EQ(container.at("Mounts").at(0).at("Source"), "/srv/cases");
  EXPECT_EQ(container.at("StopGracePeriod"), 10000000000);
  EXPECT_EQ(container.at("Isolation"), "default");
  EXPECT_EQ(sent.at("TaskTemplate").at("Runtime"), "container");
  EXPECT_EQ(sent.at("TaskTemplate").at("Placement").at("Platforms").at(0).at("OS"), "linux");
  EXPECT_EQ(sent.at("TaskTemplate").at("Networks").at(0).at("Aliases").at(0), "server");
}

TEST(EngineTypesTest, UnknownFieldsInsideListElementsAndNewModesAreKept) {
  auto spec = json::value_to<ServiceSpec>(json::parse(R"({
    "Name": "job",
    "Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}},
    "EndpointSpec": {"Ports": [{"TargetPort": 53, "Protocol": "udp", "FutureField": true}]},
    "Networks": [{"Target": "old-style"}],
    "SomethingNew": {"Nested": [1, 2, 3]}
  })"));
  EXPECT_FALSE(spec.mode.replicated);
  EXPECT_FALSE(spec.mode.global);
  const json::value sent = json::value_from(spec);
  EXPECT_EQ(sent.at("Mode").at("ReplicatedJob").at("TotalCompletions"), 4);
  EXPECT_EQ(sent.at("EndpointSpec").at("Ports").at(0).at("FutureField"), true);
  EXPECT_EQ(sent.at("Networks").at(0).at("Target"), "old-style");
  EXPECT_EQ(sent.at("SomethingNew").at("Nested").at(2), 3);
}

TEST(EngineTypesTest, MissingFieldsTakeTheirDefaultsAndNothingThrows) {
  for (const char* text : {"{}", "null", "[]", "42", "\"text\""}) {
    const json::value v = json::parse(text);
    EXPECT_NO_THROW({
      auto svc = json::value_to<Service>(v);
      EXPECT_EQ(svc.id, "");
      EXPECT_EQ(svc.version.index, 0u);
      EXPECT_FALSE(svc.spec.mode.replicated);
      EXPECT_FALSE(svc.spec.endpoint_spec);
      auto task = json::value_to<Task>(v);
      EXPECT_EQ(task.slot, 0);
      EXPECT_EQ(task.status.state, "");
      auto node = json::value_to<Node>(v);
      EXPECT_EQ(node.description.hostname, "");
      auto info = json::value_to<SystemInfo>(v);
      EXPECT_FALSE(info.swarm.control_available);
      auto swarm = json::value_to<Swarm>(v);
      EXPECT_EQ(swarm.join_tokens.worker, "");
      (void)json::value_to<Network>(v);
      (void)json::value_to<Event>(v);
      (void)json::value_to<ImageInspect>(v);
    }) << text;
  }
  // Deeper: a task whose status has no container, a node without a description.
  auto task = json::value_to<Task>(json::parse(R"({"ID": "t1", "Status": {"State": "running"}})"));
  EXPECT_EQ(task.status.container_status.container_id, "");
  auto node = json::value_to<Node>(json::parse(R"({"ID": "n1", "Spec": {"Role": "worker"}})"));
  EXPECT_EQ(node.spec.role, "worker");
  EXPECT_FALSE(node.manager_status);
}

TEST(EngineTypesTest, APortWithoutPublishedPortReadsAsZeroInsteadOfCrashing) {
  // An engine may answer a port it has not published (dnsrr, or a target-only port)
  // without PublishedPort; reading it used to dereference a missing field.
  auto svc = json::value_to<Service>(json::parse(R"({
    "ID": "abc", "Spec": {"Name": "web",
      "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 8090}]}}})"));
  ASSERT_TRUE(svc.spec.endpoint_spec);
  ASSERT_EQ(svc.spec.endpoint_spec->ports.size(), 1u);
  EXPECT_EQ(svc.spec.endpoint_spec->ports[0].published_port, 0u);
  EXPECT_EQ(svc.spec.endpoint_spec->ports[0].target_port, 8090u);
  // And the API's view of it, as GetService builds it.
  pb::ServiceSpec api = cluster::FromEngineSpec(svc.spec, nullptr);
  ASSERT_EQ(api.ports_size(), 1);
  EXPECT_EQ(api.ports(0).published(), 0u);
  EXPECT_EQ(api.ports(0).target(), 8090u);
  EXPECT_EQ(api.mode(), "replicated");
  EXPECT_EQ(api.replicas(), 0u);
}

TEST(EngineTypesTest, FieldsOfAnUnexpectedTypeAreNotTrustedButKept) {
  auto spec = json::value_to<ServiceSpec>(json::parse(R"({
    "Name": 7,
    "Labels": {"a": 1},
    "Mode": {"Replicated": {"Replicas": -1}},
    "TaskTemplate": {"ContainerSpec": {"Image": "x", "Env": "A=1"}}})"));
  EXPECT_EQ(spec.name, "");
  EXPECT_TRUE(spec.labels.empty());
  ASSERT_TRUE(spec.mode.replicated);
  EXPECT_FALSE(spec.mode.replicated->replicas) << "-1 is no replica count";
  EXPECT_TRUE(spec.task_template.container_spec.env.empty());
  const json::value sent = json::value_from(spec);
  EXPECT_EQ(sent.at("Name"), 7) << "sent back as it came, for the daemon to judge";
  EXPECT_EQ(sent.at("Mode").at("Replicated").at("Replicas"), -1);
  EXPECT_EQ(sent.at("TaskTemplate").at("ContainerSpec").at("Env"), "A=1");
  // Setting the field replaces what could not be read.
  spec.name = "fixed";
  EXPECT_EQ(json::value_from(spec).at("Name"), "fixed");
}

TEST(EngineTypesTest, KnownFieldsAreWrittenFirstThenTheKeptOnes) {
  auto spec = json::value_to<ServiceSpec>(
      json::parse(R"({"Zeta": 1, "Name": "web", "Alpha": 2, "Labels": {"a": "b"}})"));
  const json::object sent = json::value_from(spec).as_object();
  std::vector<std::string> keys;
  for (const auto& [k, v] : sent) keys.emplace_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"Name", "Labels", "Zeta", "Alpha"}));
}

TEST(EngineTypesTest, OptionalFieldsTellAbsentFromZero) {
  ServiceSpec spec;
  spec.name = "scaled-to-zero";
  spec.mode.replicated.emplace().replicas = 0;
  json::value sent = json::value_from(spec);
  EXPECT_EQ(sent.at("Mode").at("Replicated").at("Replicas"), 0) << "0 replicas is not 1";
  EXPECT_FALSE(sent.as_object().contains("UpdateConfig")) << "unset: the daemon's defaults";
  spec.update_config.emplace();
  spec.mode.replicated->replicas.reset();
  spec.mode.global.emplace();
  spec.mode.replicated.reset();
  sent = json::value_from(spec);
  EXPECT_TRUE(sent.at("UpdateConfig").as_object().empty()) << "set, even if all zero";
  EXPECT_EQ(sent.at("Mode"), json::parse(R"({"Global": {}})"));
  // Plain fields follow omitempty: nothing is written for zero values.
  EXPECT_FALSE(sent.as_object().contains("Labels"));
  EXPECT_FALSE(sent.as_object().contains("TaskTemplate"));
}

TEST(EngineTypesTest, NodeAndSwarmSpecsKeepWhatTheyDoNotNameThroughAnUpdate) {
  auto node = json::value_to<Node>(json::parse(R"({
    "ID": "n1", "Version": {"Index": 7},
    "Spec": {"Role": "worker", "Availability": "active", "Labels": {"zone": "a"},
             "FutureSetting": "kept"},
    "Description": {"Hostname": "worker1", "Engine": {"EngineVersion": "20.10.24"},
                    "Resources": {"NanoCPUs": 2000000000}},
    "Status": {"State": "ready", "Addr": "10.213.0.3"},
    "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.213.0.3:2377"}})"));
  EXPECT_EQ(node.version.index, 7u);
  EXPECT_EQ(node.description.engine.engine_version, "20.10.24");
  ASSERT_TRUE(node.manager_status);
  EXPECT_TRUE(node.manager_status->leader);
  NodeSpec spec = node.spec;
  spec.availability = "drain";
  spec.labels.erase("zone");
  const json::value sent = json::value_from(spec);
  EXPECT_EQ(sent, json::parse(R"({"Role": "worker", "Availability": "drain",
                                   "FutureSetting": "kept"})"));

  auto swarm = json::value_to<Swarm>(json::parse(R"({
    "ID": "s1", "Version": {"Index": 11},
    "Spec": {"Name": "default", "Labels": {},
             "Orchestration": {"TaskHistoryRetentionLimit": 5},
             "Raft": {"SnapshotInterval": 10000, "ElectionTick": 10, "HeartbeatTick": 1},
             "Dispatcher": {"HeartbeatPeriod": 5000000000},
             "CAConfig": {"NodeCertExpiry": 7776000000000000}},
    "JoinTokens": {"Worker": "SWMTKN-1-w", "Manager": "SWMTKN-1-m"}})"));
  EXPECT_EQ(swarm.spec.dispatcher.heartbeat_period, absl::Seconds(5));
  EXPECT_EQ(swarm.join_tokens.manager, "SWMTKN-1-m");
  const json::value back = json::value_from(swarm.spec);
  EXPECT_EQ(back.at("Raft").at("ElectionTick"), 10);
  EXPECT_EQ(back.at("CAConfig").at("NodeCertExpiry"), 7776000000000000);
  EXPECT_EQ(back.at("Orchestration").at("TaskHistoryRetentionLimit"), 5);
  EXPECT_EQ(back.at("Dispatcher").at("HeartbeatPeriod"), 5000000000);
}

TEST(EngineTypesTest, RequestsAreWrittenWithTheEngineApisNames) {
  SwarmInitRequest init;
  init.listen_addr = "0.0.0.0:2377";
  init.advertise_addr = "10.213.0.2";
  init.spec.dispatcher.heartbeat_period = absl::Seconds(5);
  EXPECT_EQ(json::value_from(init), json::parse(R"({"ListenAddr": "0.0.0.0:2377",
      "AdvertiseAddr": "10.213.0.2", "Spec": {"Dispatcher": {"HeartbeatPeriod": 5000000000}}})"));
  SwarmJoinRequest join;
  join.remote_addrs = {"10.213.0.2:2377"};
  join.join_token = "SWMTKN-1-w";
  EXPECT_EQ(json::value_from(join),
            json::parse(R"({"RemoteAddrs": ["10.213.0.2:2377"], "JoinToken": "SWMTKN-1-w"})"));
  NetworkCreateRequest net;
  net.name = "judge_net";
  net.driver = "overlay";
  net.check_duplicate = true;
  net.labels["com.docker.stack.namespace"] = "judge";
  net.ipam.emplace().config.emplace_back().subnet = "10.10.0.0/24";
  EXPECT_EQ(json::value_from(net), json::parse(R"({"Name": "judge_net", "Driver": "overlay",
      "CheckDuplicate": true, "Labels": {"com.docker.stack.namespace": "judge"},
      "IPAM": {"Config": [{"Subnet": "10.10.0.0/24"}]}})"));
}

TEST(EngineTypesTest, AnswersWithTheirOwnShapes) {
  EXPECT_EQ(json::value_to<CreateResponse>(json::parse(R"({"ID": "svc1", "Warning": "w"})")).id,
            "svc1");
  EXPECT_EQ(json::value_to<CreateResponse>(json::parse(R"({"Id": "net1"})")).id, "net1");
  auto line = json::value_to<JsonMessage>(
      json::parse(R"({"errorDetail": {"message": "pull access denied"}})"));
  EXPECT_EQ(line.error, "pull access denied");
  EXPECT_EQ(json::value_to<JsonMessage>(json::parse(R"({"stream": "Step 1/3\n"})")).stream,
            "Step 1/3\n");
  auto event = json::value_to<Event>(json::parse(R"({"Type": "network", "Action": "create",
      "Actor": {"ID": "n1", "Attributes": {"name": "x", "type": "bridge"}},
      "scope": "local", "time": 1764064800, "timeNano": 1764064800123456789})"));
  EXPECT_EQ(event.type, "network");
  EXPECT_EQ(event.action, "create");
  EXPECT_EQ(event.actor.attributes.at("name"), "x");
  EXPECT_EQ(event.scope, "local");
  EXPECT_EQ(event.time_nano, 1764064800123456789);
  auto image = json::value_to<ImageSummary>(json::parse(
      R"({"Id": "sha256:ab", "RepoTags": null, "RepoDigests": ["judge@sha256:cd"], "Size": 9})"));
  EXPECT_TRUE(image.repo_tags.empty()) << "null is none";
  auto inspected = json::value_to<ImageInspect>(json::parse(R"({"Id": "sha256:ab",
      "Config": {"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5000000000},
                 "Env": ["PATH=/usr/bin"]}})"));
  ASSERT_TRUE(inspected.config.healthcheck);
  EXPECT_EQ(inspected.config.healthcheck->test.at(0), "CMD-SHELL");
  EXPECT_EQ(inspected.config.healthcheck->interval, absl::Seconds(5));
  EXPECT_EQ(image.repo_digests.at(0), "judge@sha256:cd");
  EXPECT_EQ(image.size, 9);
}

}  // namespace
}  // namespace musketeer::engine
