// The compose loader as docker's stack deploy reads a file: interpolation, merge keys,
// several files, every key converted as docker converts it, and refusals naming the key.
// (The same files against the real `docker stack deploy` are diffed in tests/e2e.)
#include "controlplane/cluster/compose.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace musketeer {
namespace {
namespace pb = ::musketeer::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<cluster::ComposeStack> Load(const std::string& yaml,
                                           std::map<std::string, std::string> env = {},
                                           std::map<std::string, std::string> files = {}) {
  return cluster::LoadCompose({"st", {yaml}, std::move(env), std::move(files), "/srv/app"});
}

std::vector<std::string> List(const google::protobuf::RepeatedPtrField<std::string>& l) {
  return {l.begin(), l.end()};
}

TEST(InterpolateTest, EveryFormAsDockers) {
  const std::map<std::string, std::string> env = {{"SET", "v"}, {"EMPTY", ""}};
  struct Case {
    std::string in, out;
  };
  for (const auto& c : std::vector<Case>{{"${SET}", "v"},
                                         {"$SET/x", "v/x"},
                                         {"a${UNSET}b", "ab"},
                                         {"${UNSET:-d}", "d"},
                                         {"${EMPTY:-d}", "d"},
                                         {"${EMPTY-d}", ""},
                                         {"${UNSET-d}", "d"},
                                         {"${SET:?must}", "v"},
                                         {"${EMPTY?must}", ""},
                                         {"$$SET costs $$5", "$SET costs $5"},
                                         {"no dollars", "no dollars"}}) {
    std::vector<std::string> unset;
    auto r = cluster::Interpolate(c.in, env, "services.a.image", &unset);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status();
    EXPECT_EQ(*r, c.out) << c.in;
  }
  std::vector<std::string> unset;
  ASSERT_TRUE(cluster::Interpolate("${UNSET} $UNSET", env, "f", &unset).ok());
  EXPECT_THAT(unset, ElementsAre("UNSET")) << "named once, for the warning";
  for (const auto& [in, why] : std::vector<std::pair<std::string, std::string>>{
           {"${EMPTY:?give it}", "required variable EMPTY is missing a value: give it"},
           {"${UNSET?}", "required variable UNSET is missing a value"},
           {"${", "\"${\""},
           {"$1", "\"$1\""},
           {"${ foo}", "\"${ foo}\""}}) {
    auto r = cluster::Interpolate(in, env, "services.a.image", nullptr);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << in;
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr("invalid interpolation format for services.a.image"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(why));
  }
}

TEST(ComposeTest, InterpolatesValuesFromTheCallersEnvironmentNotKeys) {
  auto c = Load(R"(services:
  web:
    image: "${REGISTRY:-local}/web:${TAG}"
    environment:
      $KEEP: "${GREETING}"
    deploy:
      replicas: ${REPLICAS}
)",
                {{"TAG", "2"}, {"REPLICAS", "4"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const pb::ServiceSpec& s = c->services[0];
  EXPECT_EQ(s.image(), "local/web:2");
  EXPECT_EQ(s.replicas(), 4u);
  EXPECT_EQ(s.env().count("$KEEP"), 1u) << "keys are not interpolated";
  EXPECT_THAT(c->warnings, testing::Contains(HasSubstr("\"GREETING\" variable is not set")));
}

TEST(ComposeTest, MergeKeysAndAnchorsAsYamlSaysWithExplicitKeysWinning) {
  auto c = Load(R"(x-common: &common
  image: base:1
  environment: {A: "1"}
  deploy: {replicas: 2}
services:
  a:
    <<: *common
    deploy: {replicas: 5}
  b: {<<: *common}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->services.size(), 2u);
  EXPECT_EQ(c->services[0].name(), "st_a");
  EXPECT_EQ(c->services[0].image(), "base:1");
  EXPECT_EQ(c->services[0].replicas(), 5u);
  EXPECT_EQ(c->services[1].replicas(), 2u);
  EXPECT_EQ(c->services[1].env().at("A"), "1");
}

TEST(ComposeTest, SeveralFilesMergeAsDockersDashC) {
  auto c = cluster::LoadCompose({"st",
                                 {R"(services:
  web:
    image: web:1
    environment: [A=1, B=2]
    ports: ["80:8080"]
    cap_add: [NET_ADMIN]
    command: [serve, --slow]
    deploy: {labels: {tier: front}}
)",
                                  R"(services:
  web:
    image: web:2
    environment: {B: "3", C: "4"}
    ports: ["80:9090", "443:8443"]
    cap_add: [SYS_TIME]
    command: [serve]
  worker: {image: worker:1}
)"},
                                 {},
                                 {},
                                 ""});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->services.size(), 2u);
  const pb::ServiceSpec& web = c->services[0];
  EXPECT_EQ(web.image(), "web:2");
  EXPECT_EQ(web.env().at("A"), "1");
  EXPECT_EQ(web.env().at("B"), "3");
  EXPECT_EQ(web.env().at("C"), "4");
  ASSERT_EQ(web.ports_size(), 2) << "ports merge by published port";
  EXPECT_EQ(web.ports(0).target(), 9090u);
  EXPECT_THAT(List(web.cap_add()), ElementsAre("CAP_NET_ADMIN", "CAP_SYS_TIME")) << "appended";
  EXPECT_THAT(List(web.command()), ElementsAre("serve")) << "replaced";
  EXPECT_EQ(web.labels().at("tier"), "front");
  auto mismatch = cluster::LoadCompose(
      {.stack = "st",
       .files = {"version: '3.1'\nservices: {a: {image: x}}", "version: '3.4'\nservices: {}"}});
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("version mismatched"));
}

TEST(ComposeTest, VolumesBecomeMountsNamedAndLabelledAsDockersStack) {
  auto c = Load(R"(services:
  db:
    image: postgres:15
    volumes:
      - data:/var/lib/postgresql/data
      - ./conf:/etc/conf:ro
      - ~/cache:/cache:rw,rshared
      - /scratch
      - type: tmpfs
        target: /run/tmp
        tmpfs: {size: 10485760}
      - type: volume
        source: shared
        target: /shared
        read_only: true
        volume: {nocopy: true}
volumes:
  data:
    driver: local
    driver_opts: {type: none}
    labels: {backup: daily}
  shared:
    external: true
    name: team_shared
)",
                {{"HOME", "/home/op"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& m = c->services[0].mounts();
  ASSERT_EQ(m.size(), 6);
  EXPECT_EQ(m[0].type(), "volume");
  EXPECT_EQ(m[0].source(), "st_data") << "STACK_KEY, as docker names it";
  EXPECT_EQ(m[0].volume_labels().at("com.docker.stack.namespace"), "st");
  EXPECT_EQ(m[0].volume_labels().at("backup"), "daily");
  EXPECT_EQ(m[0].volume_driver(), "local");
  EXPECT_EQ(m[0].volume_driver_options().at("type"), "none");
  EXPECT_EQ(m[1].type(), "bind");
  EXPECT_EQ(m[1].source(), "/srv/app/conf") << "relative to the compose file's directory";
  EXPECT_TRUE(m[1].read_only());
  EXPECT_EQ(m[2].source(), "/home/op/cache");
  EXPECT_EQ(m[2].bind_propagation(), "rshared");
  EXPECT_EQ(m[3].type(), "volume");
  EXPECT_EQ(m[3].source(), "") << "anonymous";
  EXPECT_EQ(m[4].type(), "tmpfs");
  EXPECT_EQ(m[4].tmpfs_size_bytes(), 10 << 20);
  EXPECT_EQ(m[5].source(), "team_shared") << "external: its own name, no labels";
  EXPECT_TRUE(m[5].volume_labels().empty());
  EXPECT_TRUE(m[5].volume_nocopy());
  // And on to the Engine's spec.
  auto spec = cluster::ToEngineSpec(c->services[0], false, "st");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& mounts = spec->task_template.container_spec.mounts;
  EXPECT_EQ(mounts[0].volume_options->driver_config->name, "local");
  EXPECT_EQ(mounts[2].bind_options->propagation, "rshared");
  EXPECT_EQ(mounts[4].tmpfs_options->size_bytes, 10 << 20);
}

TEST(ComposeTest, PortsAsDockersParserReadsThem) {
  auto c = Load(R"(services:
  dns:
    image: dns:1
    ports:
      - "53:53/udp"
      - "53:53"
      - "0.0.0.0:80:8000"
      - "127.0.0.1:8001:8001"
      - "3000"
      - "9090-9091:8080-8081"
      - {target: 5353, published: 5353, protocol: udp, mode: host}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<std::string> ports;
  for (const auto& p : c->services[0].ports())
    ports.push_back(absl::StrCat(p.published(), ":", p.target(), "/", p.protocol(), "/",
                                 p.publish_mode()));
  EXPECT_THAT(ports, ElementsAre("53:53/udp/ingress", "53:53/tcp/ingress", "80:8000/tcp/ingress",
                                 "8001:8001/tcp/ingress", "0:3000/tcp/ingress",
                                 "9090:8080/tcp/ingress", "9091:8081/tcp/ingress",
                                 "5353:5353/udp/host"));
  EXPECT_THAT(c->warnings, testing::Contains(HasSubstr("ignoring IP-address (127.0.0.1:8001:8001)")));
  auto spec = cluster::ToEngineSpec(c->services[0], false, "st");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->endpoint_spec->ports[0].published_port, 0u) << "sorted by published port";
  EXPECT_EQ(spec->endpoint_spec->ports.back().published_port, 9091u);
}

TEST(ComposeTest, NetworksCarryTheServicesShortNameAsAnAlias) {
  auto c = Load(R"(services:
  web:
    image: web:1
    networks:
      front: {aliases: [www]}
      back:
  db: {image: db:1, networks: [back]}
  loner: {image: x:1}
networks:
  front: {external: true, name: edge_net}
  back:
    driver_opts: {encrypted: ""}
    attachable: true
    labels: [team=judge]
    ipam: {config: [{subnet: 10.77.0.0/24}]}
  unused: {}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  const pb::ServiceSpec& web = c->services[0];  // the file's order
  ASSERT_EQ(web.name(), "st_web");
  EXPECT_THAT(List(web.networks()), ElementsAre("st_back", "edge_net"));  // by key
  EXPECT_THAT(List(web.network_aliases().at("edge_net").aliases()), ElementsAre("www", "web"));
  EXPECT_THAT(List(web.network_aliases().at("st_back").aliases()), ElementsAre("web"));
  EXPECT_THAT(List(c->services[2].networks()), ElementsAre("st_default")) << "no networks: default";
  std::vector<std::string> made;
  for (const auto& n : c->networks) made.push_back(n.name + (n.external ? " (external)" : ""));
  EXPECT_THAT(made, ElementsAre("edge_net (external)", "st_back", "st_default"))
      << "only the networks services use";
  const cluster::ComposeNetwork& back = c->networks[1];
  EXPECT_TRUE(back.attachable);
  EXPECT_EQ(back.driver_opts.at("encrypted"), "");
  EXPECT_EQ(back.labels.at("team"), "judge");
  EXPECT_EQ(back.labels.at("com.docker.stack.namespace"), "st");
  EXPECT_THAT(back.subnets, ElementsAre("10.77.0.0/24"));
}

TEST(ComposeTest, ContainerKeysConvertAsDockersConverter) {
  auto c = Load(R"(services:
  oj:
    image: oj:1
    hostname: judge-host
    user: "1000:1000"
    working_dir: /app
    read_only: true
    tty: true
    stdin_open: true
    init: true
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    cap_add: [sys_admin, CAP_NET_ADMIN]
    cap_drop: [ALL]
    labels: {role: judge}
    sysctls: [net.core.somaxconn=1024]
    ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}
    extra_hosts: ["db.local:10.0.0.5", "v6:[::1]"]
    dns: 10.0.0.2
    dns_search: [svc.local]
    env_file: [./common.env]
    environment: {B: from-env}
    logging: {driver: json-file, options: {max-size: 10m}}
    healthcheck: {test: curl -f http://localhost, interval: 10s, start_period: 30s, retries: 3}
    restart: on-failure:3
    expose: ["8000"]
    container_name: oj
    build: .
    depends_on: [db]
    deploy:
      endpoint_mode: dnsrr
      placement:
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 512M, pids: 100}
      update_config: {failure_action: rollback, max_failure_ratio: 0.2}
)",
                {}, {{"./common.env", "# shared\nA=1\nB=2\n"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const pb::ServiceSpec& s = c->services[0];
  EXPECT_EQ(s.hostname(), "judge-host");
  EXPECT_EQ(s.user(), "1000:1000");
  EXPECT_EQ(s.working_dir(), "/app");
  EXPECT_TRUE(s.read_only() && s.tty() && s.stdin_open() && s.init());
  EXPECT_EQ(s.stop_signal(), "SIGINT");
  EXPECT_EQ(s.stop_grace_period_ms(), 90000u);
  EXPECT_THAT(List(s.cap_add()), ElementsAre("CAP_NET_ADMIN", "CAP_SYS_ADMIN"));
  EXPECT_THAT(List(s.cap_drop()), ElementsAre("ALL"));
  EXPECT_EQ(s.container_labels().at("role"), "judge");
  EXPECT_EQ(s.sysctls().at("net.core.somaxconn"), "1024");
  ASSERT_EQ(s.ulimits_size(), 2);
  EXPECT_EQ(s.ulimits(0).name(), "nofile") << "sorted by name";
  EXPECT_EQ(s.ulimits(0).hard(), 40000);
  EXPECT_EQ(s.ulimits(1).soft(), 65535);
  EXPECT_THAT(List(s.hosts()), ElementsAre("10.0.0.5 db.local", "::1 v6"));
  EXPECT_THAT(List(s.dns().nameservers()), ElementsAre("10.0.0.2"));
  EXPECT_EQ(s.env().at("A"), "1");
  EXPECT_EQ(s.env().at("B"), "from-env") << "environment wins over env_file";
  EXPECT_EQ(s.log_driver().options().at("max-size"), "10m");
  EXPECT_THAT(List(s.healthcheck().test()), ElementsAre("CMD-SHELL", "curl -f http://localhost"));
  EXPECT_EQ(s.healthcheck().start_period_ms(), 30000u);
  EXPECT_EQ(s.restart_policy().condition(), "on-failure");
  EXPECT_EQ(s.restart_policy().max_attempts(), 3u);
  EXPECT_FALSE(s.restart_policy().has_delay_ms()) << "the swarm's default, as docker's";
  EXPECT_EQ(s.endpoint_mode(), "dnsrr");
  EXPECT_THAT(List(s.placement_preferences()), ElementsAre("spread=node.labels.zone"));
  EXPECT_EQ(s.max_replicas_per_node(), 2u);
  EXPECT_EQ(s.resources().pids(), 100);
  EXPECT_EQ(s.resources().memory_bytes(), 512 << 20);
  EXPECT_EQ(s.update_policy().parallelism(), 1u) << "docker's default when the section is there";
  EXPECT_EQ(s.update_policy().failure_action(), "rollback");
  EXPECT_FALSE(s.has_rollback_policy()) << "none given: none written";
  EXPECT_THAT(c->warnings, testing::Contains("Ignoring unsupported options: build, restart"));
  EXPECT_THAT(c->warnings, testing::Contains(HasSubstr("Ignoring deprecated options: expose")));
  // Round trip through the Engine's spec and back.
  auto spec = cluster::ToEngineSpec(s, false, "st");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->task_template.container_spec.labels.at("com.docker.stack.namespace"), "st");
  EXPECT_EQ(spec->task_template.container_spec.stop_grace_period, absl::Seconds(90));
  EXPECT_EQ(*spec->task_template.container_spec.init, true);
  pb::ServiceSpec back = cluster::FromEngineSpec(*spec, nullptr);
  EXPECT_EQ(back.hostname(), s.hostname());
  EXPECT_EQ(back.ulimits_size(), 2);
  EXPECT_EQ(back.restart_policy().max_attempts(), 3u);
  EXPECT_EQ(back.healthcheck().start_period_ms(), 30000u);
  EXPECT_EQ(back.container_labels().count("com.docker.stack.namespace"), 0u);
}

TEST(ComposeTest, SecretsAndConfigsFromFilesAreTheStacksOwn) {
  auto c = Load(R"(services:
  web:
    image: web:1
    secrets: [token, {source: ext, target: api_key, mode: 0400}]
    configs: [site, {source: nginx, target: /etc/nginx/nginx.conf, uid: "101"}]
secrets:
  token: {file: ./token.txt, labels: {kind: api}}
  ext: {external: true, name: shared_key}
configs:
  site: {file: ./site.conf}
  nginx: {file: ./nginx.conf, name: nginx_v2}
)",
                {}, {{"./token.txt", "s3cret"}, {"./site.conf", "a"}, {"./nginx.conf", "b"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const pb::ServiceSpec& s = c->services[0];
  EXPECT_EQ(s.secrets(0).secret(), "st_token");
  EXPECT_EQ(s.secrets(0).target(), "token") << "docker's default: the source's key";
  EXPECT_EQ(s.secrets(1).secret(), "shared_key");
  EXPECT_EQ(s.secrets(1).target(), "api_key");
  EXPECT_EQ(s.secrets(1).mode(), 0400u) << "YAML's leading-zero octal, as Go reads it";
  EXPECT_EQ(s.configs(0).config(), "st_site");
  EXPECT_EQ(s.configs(0).target(), "site") << "docker's default target: the source's key";
  EXPECT_EQ(s.configs(1).config(), "nginx_v2");
  EXPECT_EQ(s.configs(1).uid(), "101");
  auto spec = cluster::ToEngineSpec(s, false, "st");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->task_template.container_spec.secrets[0].secret_name, "shared_key")
      << "sorted by name, as docker's";
  ASSERT_EQ(c->secrets.size(), 2u);
  const cluster::ComposeData& token = c->secrets[1];
  EXPECT_EQ(token.name, "st_token");
  EXPECT_EQ(token.data, "s3cret");
  EXPECT_EQ(token.labels.at("com.docker.stack.namespace"), "st");
  EXPECT_TRUE(c->secrets[0].external);
  ASSERT_EQ(c->configs.size(), 2u);
}

TEST(ComposeTest, RefusesWhatDockerRefusesNamingTheKey) {
  for (const auto& [yaml, field] : std::vector<std::pair<std::string, std::string>>{
           {"version: '2'\nservices: {a: {image: x}}", "unsupported Compose file version: 2"},
           {"services: {a: {build: .}}", "services.a.image"},
           {"services: {a: {image: x, ports: ['80:x']}}", "services.a.ports"},
           {"services: {a: {image: x, ports: ['80:81/icmp']}}", "invalid proto"},
           {"services: {a: {image: x, deploy: {update_config: {delay: soon}}}}",
            "update_config.delay"},
           {"services: [1, 2]", "services"},
           {"services: {a: {image: x, pull_policy: build}}", "services.a: spec.pull"},
           {"{{{", "not valid YAML"},
           {"services: {a: {image: x, mem_limit: 1g}}", "mem_limit: Set resource limits"},
           {"services: {a: {image: x, extends: b}}", "unsupported options: extends"},
           {"services: {a: {image: x, frobnicate: 1}}", "services.a.frobnicate"},
           {"services: {a: {image: x, volumes: ['data:/d']}}", "undefined volume \"data\""},
           {"services: {a: {image: x, networks: [n]}}", "undefined network \"n\""},
           {"services: {a: {image: x, configs: [c]}}", "undefined config \"c\""},
           {"services: {a: {image: x, volumes: ['/a::ro']}}", "empty section between colons"},
           {"services: {a: {image: x, volumes: [{type: bind, target: /t}]}}", "source cannot be empty"},
           {"services: {a: {image: x, volumes: ['./rel:/t']}}\n", "needs the compose file's directory"},
           {"services: {a: {image: x, healthcheck: {test: [CMD, t], disable: true}}}",
            "test and disable can't be set at the same time"},
           {"services: {a: {image: x, restart: sometimes}}", "unknown policy 'sometimes'"},
           {"services: {a: {image: x}}\nvolumes: {v: {external: true, driver: local}}",
            "conflicting parameters"},
           {"services: {a: {image: x}}\nnetworks: {n: {driver: bridge}}\nx-use: 1", ""},
           {"name: st\nservices: {a: {image: x}}", "name: not allowed"},
           {"services: {a: {image: x, deploy: {mode: global, replicas: 2}}}",
            "replicas can only be used with replicated mode"},
           {"services: {a: {image: '${NOPE:?set NOPE}'}}", "required variable NOPE"},
           {"services: {a: {image: x, command: \"sh -c 'echo\"}}", "unterminated"}}) {
    auto c = field == "needs the compose file's directory"
                 ? cluster::LoadCompose({"st", {yaml}, {}, {}, ""})
                 : Load(yaml);
    if (field.empty()) {  // an unused network is not checked (docker does not make it)
      EXPECT_TRUE(c.ok()) << yaml << ": " << c.status();
      continue;
    }
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(field)) << yaml;
  }
}

TEST(ComposeTest, LoadsTheShippedJudgeStack) {
  std::ifstream in("docker/compose.yml");
  std::string text{std::istreambuf_iterator<char>(in), {}};
  auto c = cluster::LoadCompose({.stack = "judge", .files = {text}});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->services.size(), 1u);
  const auto& s = c->services[0];
  EXPECT_EQ(s.name(), "judge_server");
  EXPECT_EQ(s.image(), "judge_server:1.0");
  EXPECT_EQ(s.replicas(), 3u);
  EXPECT_EQ(s.ports(0).published(), 8091u);
  EXPECT_EQ(s.networks(0), "judge_judge_net");
  EXPECT_DOUBLE_EQ(s.resources().cpus(), 1.0);
  EXPECT_EQ(s.resources().memory_bytes(), 1 << 30);
  EXPECT_EQ(s.update_policy().delay_ms(), 2000u);
  EXPECT_EQ(s.constraints(0), "node.platform.os == linux");
  ASSERT_EQ(s.secrets_size(), 1);
  EXPECT_EQ(s.secrets(0).secret(), "judge_token") << "external: its own name";
  EXPECT_EQ(s.env().at("JUDGE_TOKEN_FILE"), "/run/secrets/judge_token");
}

}  // namespace
}  // namespace musketeer
