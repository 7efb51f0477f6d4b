// Fast tests of the control plane's pure pieces: spec conversion and validation, the
// compose parser, the state store (a real SQLite file), the tar writer and the pki.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/compose.h"
#include "controlplane/cluster/tar_stream.h"
#include "controlplane/pki/pki.h"
#include "controlplane/state/state_store.h"
#include "gtest/gtest.h"

namespace musketeer {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace pb = ::musketeer::v1;

std::string TempDir(const std::string& name) {
  std::string dir =
      absl::StrCat(fs::temp_directory_path().string(), "/mk-unit-", name, "-", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

pb::ServiceSpec JudgeSpec() {
  pb::ServiceSpec s;
  s.set_name("judge_swarm");
  s.set_image("judge_server:1.0");
  s.set_replicas(3);
  auto* p = s.add_ports();
  p->set_published(8090);
  p->set_target(8090);
  s.add_networks("swarm_test");
  (*s.mutable_env())["JUDGE_TOKEN"] = "t";
  return s;
}

TEST(ServiceSpecTest, IngressSpecPublishesThePortsThroughTheMesh) {
  auto spec = cluster::ToEngineSpec(JudgeSpec(), /*edge_routed=*/false, "");
  ASSERT_TRUE(spec.ok()) << spec.status();
  json::value v = json::value_from(*spec);
  EXPECT_EQ(v.at("Mode").at("Replicated").at("Replicas").to_number<int>(), 3);
  EXPECT_FALSE(v.at("EndpointSpec").as_object().contains("Mode")) << "the swarm's vip, as docker's";
  EXPECT_EQ(v.at("EndpointSpec").at("Ports").at(0).at("PublishedPort").to_number<int>(), 8090);
  EXPECT_EQ(v.at("EndpointSpec").at("Ports").at(0).at("PublishMode"), "ingress");
  EXPECT_EQ(v.at("TaskTemplate").at("Networks").at(0).at("Target"), "swarm_test");
  EXPECT_EQ(v.at("TaskTemplate").at("ContainerSpec").at("Env").at(0), "JUDGE_TOKEN=t");
  // No policy given: none written, as docker's stack deploy (the swarm's defaults are docker's).
  EXPECT_FALSE(v.as_object().contains("UpdateConfig"));
  EXPECT_FALSE(v.at("TaskTemplate").as_object().contains("RestartPolicy"));
}

TEST(ServiceSpecTest, EdgeRoutedSpecIsDnsrrWithoutPublishedPorts) {
  auto spec = cluster::ToEngineSpec(JudgeSpec(), /*edge_routed=*/true, "judge");
  ASSERT_TRUE(spec.ok());
  json::value v = json::value_from(*spec);
  EXPECT_EQ(v.at("EndpointSpec").at("Mode"), "dnsrr");
  EXPECT_FALSE(v.at("EndpointSpec").as_object().contains("Ports"));
  EXPECT_EQ(v.at("Labels").at("com.docker.stack.namespace"), "judge");
}

// As docker: the words after the image (compose's `command`) are the entrypoint's arguments
// (Swarm's Args), so the image's ENTRYPOINT stays; `entrypoint` replaces it (Command).
TEST(ServiceSpecTest, CommandIsTheEntrypointsArgumentsAndEntrypointReplacesIt) {
  pb::ServiceSpec in = JudgeSpec();
  in.add_command("--slots");
  in.add_command("4");
  auto spec = cluster::ToEngineSpec(in, /*edge_routed=*/false, "");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->task_template.container_spec.args, (std::vector<std::string>{"--slots", "4"}));
  EXPECT_TRUE(spec->task_template.container_spec.command.empty()) << "the image's ENTRYPOINT";
  EXPECT_EQ(cluster::FromEngineSpec(*spec, nullptr).command(0), "--slots");

  auto c = cluster::LoadCompose(
      {.stack = "st",
       .files = {"services: {oj: {image: x, entrypoint: python3 /oj.py, command: [--port, '8000']}}"}});
  ASSERT_TRUE(c.ok()) << c.status();
  auto oj = cluster::ToEngineSpec(c->services[0], /*edge_routed=*/false, "");
  ASSERT_TRUE(oj.ok()) << oj.status();
  EXPECT_EQ(oj->task_template.container_spec.command,
            (std::vector<std::string>{"python3", "/oj.py"}));
  EXPECT_EQ(oj->task_template.container_spec.args, (std::vector<std::string>{"--port", "8000"}));
  pb::ServiceSpec back = cluster::FromEngineSpec(*oj, nullptr);
  EXPECT_EQ(back.entrypoint_size(), 2);
  EXPECT_EQ(back.command(1), "8000");
}

TEST(ServiceSpecTest, BadSpecsNameTheField) {
  struct Case {
    std::function<void(pb::ServiceSpec&)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto& s) { s.set_name(""); }, "spec.name"},
      {[](auto& s) { s.set_name("bad name"); }, "spec.name"},
      {[](auto& s) { s.set_image(""); }, "spec.image"},
      {[](auto& s) { s.set_mode("sometimes"); }, "spec.mode"},
      {[](auto& s) { s.set_replicas(5000); }, "spec.replicas"},
      {[](auto& s) { s.mutable_ports(0)->set_published(70000); }, "spec.ports"},
      {[](auto& s) { s.mutable_ports(0)->set_protocol("icmp"); }, "spec.ports.protocol"},
      {[](auto& s) { s.mutable_ports(0)->set_publish_mode("everywhere"); }, "publish_mode"},
      {[](auto& s) { s.mutable_restart_policy()->set_condition("often"); }, "restart_policy"},
      {[](auto& s) { s.set_endpoint_mode("magic"); }, "spec.endpoint_mode"},
      {[](auto& s) { s.add_placement_preferences("zone"); }, "placement_preferences"},
      {[](auto& s) { (*s.mutable_network_aliases())["elsewhere"].add_aliases("a"); },
       "spec.network_aliases"},
      {[](auto& s) { s.add_mounts()->set_target("relative"); }, "spec.mounts"},
      {[](auto& s) {
         auto* m = s.add_mounts();
         m->set_type("bind");
         m->set_target("/data");
       }, "source must be an absolute path"},
      {[](auto& s) {
         auto* m = s.add_mounts();
         m->set_type("tmpfs");
         m->set_target("/t");
         m->set_volume_nocopy(true);
       }, "volume options are for volume mounts"},
      {[](auto& s) { s.add_configs()->set_config("bad name"); }, "spec.configs.config"},
      {[](auto& s) { s.mutable_update_policy()->set_failure_action("explode"); }, "failure_action"},
      {[](auto& s) { s.set_pull("sometimes"); }, "spec.pull"},
      {[](auto& s) { (*s.mutable_labels())["com.musketeer.image"] = "x"; }, "spec.labels"},
  };
  for (const auto& c : cases) {
    pb::ServiceSpec s = JudgeSpec();
    c.edit(s);
    absl::Status st = cluster::ValidateServiceSpec(s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(st.message().find(c.field), std::string::npos) << st.message();
  }
}

TEST(ServiceSpecTest, UpdateParallelismZeroIsAllAtOnceAsDockers) {
  pb::ServiceSpec s = JudgeSpec();
  s.mutable_update_policy();  // present, parallelism unset
  auto unset = cluster::ToEngineSpec(s, false, "");
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->update_config->parallelism, 1u) << "unset: one at a time";
  s.mutable_update_policy()->set_parallelism(0);
  auto zero = cluster::ToEngineSpec(s, false, "");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->update_config->parallelism, 0u) << "docker's --update-parallelism 0";
  auto c = cluster::LoadCompose(
      {.stack = "st", .files = {"services: {a: {image: x, deploy: {update_config: {parallelism: 0}}}}"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->services[0].update_policy().has_parallelism());
}

TEST(ServiceSpecTest, AGlobalServiceTakesNoReplicaCount) {
  pb::ServiceSpec s = JudgeSpec();
  s.set_mode("global");
  auto st = cluster::ValidateServiceSpec(s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("spec.replicas"), std::string::npos) << st;
  s.clear_replicas();
  EXPECT_TRUE(cluster::ValidateServiceSpec(s).ok());
}

TEST(ImageReferenceTest, AcceptsDockersGrammarAndSplitsTheTag) {
  for (const std::string& ok :
       std::vector<std::string>{"judge_server:1.0", "judge_server", "musketeer/base:bookworm",
                                "localhost:5000/a/b:v1.2-rc_3", "registry.example.com/team/app",
                                "a__b:x", "nginx@sha256:" + std::string(64, 'a')}) {
    EXPECT_TRUE(cluster::ValidateImageReference("image", ok).ok()) << ok;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "Bad Tag", "Judge:1.0", "x:", ":1.0", "a//b", "a:b:c", "-a",
                                "a:-1", "a@sha256:zz"}) {
    auto s = cluster::ValidateImageReference("image", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(std::string(s.message()).rfind("image:", 0), 0u) << "names the field: " << s;
  }
  EXPECT_EQ(cluster::SplitImageReference("judge_server:1.0"),
            std::make_pair(std::string("judge_server"), std::string("1.0")));
  EXPECT_EQ(cluster::SplitImageReference("localhost:5000/app"),
            std::make_pair(std::string("localhost:5000/app"), std::string("latest")));
  EXPECT_EQ(cluster::SplitImageReference("localhost:5000/app:2"),
            std::make_pair(std::string("localhost:5000/app"), std::string("2")));
}

TEST(ImageReferenceTest, ImmutableReferencesAreIdsAndDigests) {
  const std::string hex(64, 'a');
  EXPECT_TRUE(cluster::IsImmutableImageReference("sha256:" + hex));
  EXPECT_TRUE(cluster::IsImmutableImageReference("nginx@sha256:" + hex));
  EXPECT_TRUE(cluster::IsImmutableImageReference("host:5000/a/b:1@sha256:" + hex));
  EXPECT_FALSE(cluster::IsImmutableImageReference("judge_server:1.0"));
  EXPECT_FALSE(cluster::IsImmutableImageReference("sha256:abc"));
  EXPECT_FALSE(cluster::IsImmutableImageReference("nginx@sha256:" + std::string(64, 'z')));
}

TEST(ImageReferenceTest, ShowsTheUsersReferenceOnlyWhileThePinRuns) {
  const std::string id = "sha256:" + std::string(64, 'b');
  engine::ServiceSpec spec;
  cluster::ApplyPinnedImage({"judge_server:1.0", id, {}, {}}, cluster::PullPolicy::kNever, spec);
  const engine::ContainerSpec& container = spec.task_template.container_spec;
  EXPECT_EQ(container.image, id);
  EXPECT_EQ(cluster::ShownImage(container), "judge_server:1.0");
  EXPECT_EQ(cluster::ShownPullPolicy(spec), "never");
  // Changed behind the control plane's back (docker service update --image): the truth.
  engine::ContainerSpec changed = container;
  changed.image = "other:2";
  EXPECT_EQ(cluster::ShownImage(changed), "other:2");
  EXPECT_EQ(cluster::ShownPullPolicy(engine::ServiceSpec{}), "missing");
}

TEST(StateStoreTest, TokensAreHashedAndRolesChecked) {
  const std::string dir = TempDir("state");
  auto store = state::StateStore::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto secret = (*store)->CreateToken("ops", state::Role::kOperator);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ((*store)->CreateToken("ops", state::Role::kAdmin).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto who = (*store)->Authenticate(*secret);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->name, "ops");
  EXPECT_EQ(who->role, state::Role::kOperator);
  EXPECT_EQ((*store)->Authenticate("mk_nope").status().code(), absl::StatusCode::kUnauthenticated);
  // The secret itself is nowhere in the database file.
  std::ifstream db(dir + "/state.db", std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(db), {}};
  std::ifstream wal(dir + "/state.db-wal", std::ios::binary);
  bytes += std::string{std::istreambuf_iterator<char>(wal), {}};
  EXPECT_EQ(bytes.find(*secret), std::string::npos);
  EXPECT_EQ(fs::status(dir + "/state.db").permissions() & fs::perms::others_read, fs::perms::none);
  fs::remove_all(dir);
}

TEST(StateStoreTest, RequestIdsAndInterruptedOperationsSurviveAReopen) {
  const std::string dir = TempDir("ops");
  {
    auto store = state::StateStore::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
    auto done = (*store)->BeginOperation("req-1", "create_service", "web");
    ASSERT_TRUE(done.ok());
    (*store)->FinishOperation(*done, absl::OkStatus());
    EXPECT_EQ((*store)->BeginOperation("req-1", "create_service", "web").status().code(),
              absl::StatusCode::kAlreadyExists);
    ASSERT_TRUE((*store)->BeginOperation("", "create_service", "crashed").ok());  // never finished
    (*store)->Audit("admin", "CreateService", "web", absl::OkStatus());
    ASSERT_TRUE(
        (*store)->PutRouting({"web", "edge-proxy", "web-edge", "[[8090,8090,\"tcp\"]]"}).ok());
    ASSERT_TRUE((*store)->PutAutoscale("web", std::string("\x08\x03\0x", 4)).ok());
    ASSERT_TRUE((*store)->PutAutoscale("gone", "y").ok());
    (*store)->DeleteAutoscale("gone");
    EXPECT_EQ((*store)->GetAutoscale("web"), std::string("\x08\x03\0x", 4)) << "kept in memory";
    EXPECT_EQ((*store)->GetAutoscale("gone"), std::nullopt);
  }
  auto store = state::StateStore::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok());
  auto op = (*store)->FindOperation("req-1");
  ASSERT_TRUE(op.has_value());
  EXPECT_EQ(op->state, "done");
  auto interrupted = (*store)->InterruptedOperations();
  ASSERT_EQ(interrupted.size(), 1u);
  EXPECT_EQ(interrupted[0].target, "crashed");
  EXPECT_TRUE((*store)->InterruptedOperations().empty()) << "marked once";
  EXPECT_EQ((*store)->ListAudit(10).at(0).who, "admin");
  EXPECT_EQ((*store)->GetRouting("web")->edge_service, "web-edge");
  EXPECT_EQ((*store)->GetAutoscale("web"), std::string("\x08\x03\0x", 4)) << "read back on open";
  EXPECT_EQ((*store)->ListAutoscale().size(), 1u);
  fs::remove_all(dir);
}

TEST(TarStreamTest, StreamsAContextThatTarReadsBackWithModes) {
  const std::string dir = TempDir("tar");
  fs::create_directories(dir + "/ctx/sub");
  std::ofstream(dir + "/ctx/Dockerfile") << "FROM scratch\n";
  std::ofstream(dir + "/ctx/sub/run.sh") << "#!/bin/sh\necho hi\n";
  fs::permissions(dir + "/ctx/sub/run.sh",
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  auto source = cluster::TarDirectory(dir + "/ctx");
  ASSERT_TRUE(source.ok()) << source.status();
  std::string tar;
  char buf[777];  // an odd size crosses header and file boundaries
  for (;;) {
    auto n = (*source)(buf, sizeof buf);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    tar.append(buf, *n);
  }
  EXPECT_EQ(tar.size() % 512, 0u);
  std::ofstream(dir + "/ctx.tar", std::ios::binary) << tar;
  fs::create_directories(dir + "/out");
  ASSERT_EQ(system(("tar -xf " + dir + "/ctx.tar -C " + dir + "/out").c_str()), 0);
  EXPECT_TRUE(fs::exists(dir + "/out/Dockerfile"));
  EXPECT_NE(fs::status(dir + "/out/sub/run.sh").permissions() & fs::perms::owner_exec,
            fs::perms::none);
  EXPECT_EQ(cluster::TarDirectory(dir + "/out/sub").status().code(),
            absl::StatusCode::kInvalidArgument)
      << "no Dockerfile";
  fs::remove_all(dir);
}

TEST(PkiTest, IssuesCertificatesAndKeepsKeysPrivate) {
  const std::string dir = TempDir("pki");
  auto ca = pki::Authority::OpenOrCreate(dir + "/ca", "test");
  ASSERT_TRUE(ca.ok());
  auto server = (*ca)->IssueServer(dir + "/server", "node1", {"10.213.0.2"}, {"node1"});
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(
      fs::status(server->key()).permissions() & (fs::perms::group_all | fs::perms::others_all),
      fs::perms::none);
  EXPECT_EQ(
      system(("openssl verify -CAfile " + dir + "/ca/ca.pem " + server->cert() + " >/dev/null")
                 .c_str()),
      0);
  EXPECT_EQ(system(("openssl x509 -in " + server->cert() +
                    " -noout -ext subjectAltName | grep -q 'IP Address:10.213.0.2'")
                       .c_str()),
            0);
  // Reopening loads the same CA instead of making a new one.
  auto again = pki::Authority::OpenOrCreate(dir + "/ca", "test");
  ASSERT_TRUE(again.ok());
  auto client = (*again)->IssueClient(dir + "/client", "c");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(
      system(("openssl verify -CAfile " + dir + "/ca/ca.pem " + client->cert() + " >/dev/null")
                 .c_str()),
      0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace musketeer
