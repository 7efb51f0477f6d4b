// The API a client service builds on (issue 12, "Missing"): full service updates with a field
// mask and optimistic concurrency, paged and filtered lists, GetNetwork, image removal and
// pruning, log lines that name their task and node, tokens with expiry and last use. Against
// the fake engine, first through the Cluster, then through a real gRPC server in process.
#include <google/protobuf/util/field_mask_util.h>
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "controlplane/server/api.h"
#include "controlplane/server/lists.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "musketeer/v1/musketeer.grpc.pb.h"
#include "tests/controlplane/fake_cluster.h"

namespace musketeer::cluster {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

class ApiMoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(fs::temp_directory_path().string(), "/mk-apimore-", getpid());
    fs::create_directories(dir_);
    store_ = std::move(*state::StateStore::Open(dir_ + "/state.db"));
    swarm_ = std::make_shared<engine::FakeSwarm>();
    cluster_ = musketeer::testing::NewFakeCluster(driver_, swarm_, *store_,
                                                  musketeer::testing::FastOptions());
    ASSERT_TRUE(musketeer::testing::MakeTutorialCluster(*cluster_, *swarm_).ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    fs::remove_all(dir_);
  }

  // judge_swarm: 3 replicas on 8090, env A=1 B=2, label team=judge, memory limit 256 MB.
  absl::StatusOr<pb::Service> CreateJudge(const std::string& name = "judge_swarm",
                                          bool ports = true) {
    pb::CreateServiceRequest req;
    auto* s = req.mutable_spec();
    s->set_name(name);
    s->set_image("judge_server:1.0");
    s->set_replicas(3);
    if (ports) {
      auto* p = s->add_ports();
      p->set_published(8090);
      p->set_target(8090);
    }
    s->add_networks("swarm_test");
    (*s->mutable_env())["A"] = "1";
    (*s->mutable_env())["B"] = "2";
    (*s->mutable_labels())["team"] = "judge";
    s->mutable_resources()->set_memory_bytes(256 << 20);
    req.set_wait(true);
    return cluster_->CreateService(req, absl::Now() + absl::Seconds(10));
  }
  absl::StatusOr<pb::Service> Update(pb::UpdateServiceRequest req) {
    if (req.name().empty()) req.set_name("judge_swarm");
    return cluster_->UpdateService(req, absl::Now() + absl::Seconds(10));
  }
  static google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
    google::protobuf::FieldMask m;
    for (const char* p : paths) m.add_paths(p);
    return m;
  }
  // The environment of the edge container `name` on every node: one answer when all three
  // run the same one, "(not found)" when none has it, else what differs.
  std::string EdgeEnv(const std::string& name) {
    std::set<std::string> seen;
    for (const char* host : {"manager1", "worker1", "worker2"}) {
      auto c = swarm_->Container(host, name);
      seen.insert(!c ? "(not found)" : !c->running ? "(stopped)" : absl::StrJoin(c->request.env, ";"));
    }
    return seen.size() == 1 ? *seen.begin() : "(differs: " + absl::StrJoin(seen, " | ") + ")";
  }

  // A gRPC server over the same cluster, and an admin and a viewer token.
  void Serve() {
    admin_ = *store_->CreateToken("root", state::Role::kAdmin);
    viewer_ = *store_->CreateToken("watcher", state::Role::kViewer);
    services_ = server::NewApiServices(*cluster_, *store_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  }
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return ctx;
  }

  std::string dir_;
  musketeer::testing::InstantNodeDriver driver_;
  std::unique_ptr<state::StateStore> store_;
  std::shared_ptr<engine::FakeSwarm> swarm_;
  std::unique_ptr<Cluster> cluster_;
  std::string admin_, viewer_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// ---------------------------------------------------------------- update with a field mask

TEST_F(ApiMoreTest, AMaskChangesTheNamedFieldsOnlyAndKeepsTheRest) {
  ASSERT_TRUE(CreateJudge().ok());
  pb::UpdateServiceRequest req;
  auto* spec = req.mutable_spec();
  (*spec->mutable_env())["C"] = "3";  // env.C set, env.B removed (not in spec), A kept
  (*spec->mutable_labels())["tier"] = "gold";
  spec->mutable_resources()->set_cpus(0.5);  // the memory limit stays
  spec->add_constraints("node.role==worker");
  spec->mutable_update_policy()->set_parallelism(2);
  spec->add_command("--slots");
  spec->add_command("2");
  spec->mutable_healthcheck()->add_test("CMD");
  spec->mutable_healthcheck()->add_test("true");
  spec->mutable_healthcheck()->set_interval_ms(1000);
  *req.mutable_update_mask() =
      Mask({"env.C", "env.B", "labels.tier", "resources.cpus", "constraints",
            "update_policy.parallelism", "command", "healthcheck"});
  req.set_wait(true);
  auto updated = Update(req);
  ASSERT_TRUE(updated.ok()) << updated.status();
  auto got = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(got.ok());
  const pb::ServiceSpec& s = got->spec();
  EXPECT_EQ(s.env().size(), 2);
  EXPECT_EQ(s.env().at("A"), "1");
  EXPECT_EQ(s.env().at("C"), "3");
  EXPECT_EQ(s.labels().at("team"), "judge");
  EXPECT_EQ(s.labels().at("tier"), "gold");
  EXPECT_DOUBLE_EQ(s.resources().cpus(), 0.5);
  EXPECT_EQ(s.resources().memory_bytes(), 256 << 20);
  ASSERT_EQ(s.constraints_size(), 1);
  EXPECT_EQ(s.constraints(0), "node.role==worker");
  EXPECT_EQ(s.update_policy().parallelism(), 2u);
  EXPECT_EQ(s.update_policy().failure_action(), "");  // unset stays unset: the swarm's pause, as docker's
  EXPECT_EQ(s.command_size(), 2);
  EXPECT_EQ(s.entrypoint_size(), 0);
  EXPECT_EQ(s.healthcheck().test_size(), 2);
  EXPECT_EQ(s.healthcheck().interval_ms(), 1000u);
  EXPECT_EQ(s.replicas(), 3u);
  EXPECT_EQ(s.image(), "judge_server:1.0");
  ASSERT_EQ(s.ports_size(), 1);  // ports untouched, the edge too
  EXPECT_THAT(EdgeEnv("judge_swarm-edge"), HasSubstr("EDGE_PORTS=8090:8090"));
  // What the engine was sent: the whole spec as read with the changes, pins kept.
  const std::string update = swarm_->CallsMatching("UpdateService");
  EXPECT_THAT(update, HasSubstr("\"NanoCPUs\":500000000"));
  EXPECT_THAT(update, HasSubstr("\"MemoryBytes\":268435456"));
  EXPECT_THAT(update, HasSubstr("com.musketeer.image.pinned"));
}

TEST_F(ApiMoreTest, AMaskAddsAndRemovesSecretsByName) {
  ASSERT_TRUE(CreateJudge().ok());
  pb::CreateSecretRequest create;
  create.set_name("judge_token");
  create.set_data("s3cret");
  ASSERT_TRUE(cluster_->CreateSecret(create).ok());
  pb::UpdateServiceRequest req;
  auto* ref = req.mutable_spec()->add_secrets();
  ref->set_secret("judge_token");
  ref->set_target("token");
  *req.mutable_update_mask() = Mask({"secrets"});
  auto updated = Update(req);
  ASSERT_TRUE(updated.ok()) << updated.status();
  auto got = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->spec().secrets_size(), 1);
  EXPECT_EQ(got->spec().secrets(0).secret(), "judge_token");
  EXPECT_EQ(got->spec().secrets(0).target(), "token");
  EXPECT_THAT(swarm_->CallsMatching("UpdateService"), HasSubstr("\"SecretID\""));
  EXPECT_THAT(swarm_->CallsMatching("UpdateService"), Not(HasSubstr("s3cret")));

  pb::UpdateServiceRequest missing;
  missing.mutable_spec()->add_secrets()->set_secret("nosuch");
  *missing.mutable_update_mask() = Mask({"secrets"});
  EXPECT_EQ(Update(missing).status().code(), absl::StatusCode::kNotFound);

  pb::UpdateServiceRequest none;  // secrets in the mask, none in the spec: all removed
  *none.mutable_update_mask() = Mask({"secrets"});
  ASSERT_TRUE(Update(none).ok());
  EXPECT_EQ(cluster_->GetService("judge_swarm")->spec().secrets_size(), 0);
}

TEST_F(ApiMoreTest, AMaskCanScaleToZeroAndSetTheImageAndEnvJoinsTheMask) {
  ASSERT_TRUE(CreateJudge().ok());
  swarm_->AddImage("manager1", "judge_server:2.0");
  pb::UpdateServiceRequest req;
  req.mutable_spec()->set_replicas(0);
  req.mutable_spec()->set_image("judge_server:2.0");
  *req.mutable_update_mask() = Mask({"replicas", "image"});
  (*req.mutable_set_env())["D"] = "4";
  ASSERT_TRUE(Update(req).ok());
  auto got = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->spec().replicas(), 0u);
  EXPECT_EQ(got->spec().image(), "judge_server:2.0");
  EXPECT_EQ(got->spec().env().at("D"), "4");
  EXPECT_EQ(got->spec().env().at("A"), "1");
  // judge_server:2.0 was copied to the nodes that lacked it, as a plain --image update does.
  EXPECT_TRUE(swarm_->HasImage("worker2", "judge_server:2.0"));
}

TEST_F(ApiMoreTest, AMaskedReplicasTheSpecLeavesUnsetIsTheDefaultOneNotZero) {
  ASSERT_TRUE(CreateJudge().ok());
  pb::UpdateServiceRequest req;
  req.mutable_spec()->set_image("judge_server:1.0");
  *req.mutable_update_mask() = Mask({"replicas"});  // spec.replicas unset: "Unset: 1"
  auto r = Update(req);
  ASSERT_TRUE(r.ok()) << r.status();
  auto got = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->spec().replicas(), 1u) << "an unset replicas is 1, as at create";
  // A global service takes no count, at create as at update (docker refuses one too).
  pb::CreateServiceRequest global;
  global.mutable_spec()->set_name("everywhere");
  global.mutable_spec()->set_image("judge_server:1.0");
  global.mutable_spec()->set_mode("global");
  global.mutable_spec()->set_replicas(3);
  auto g = cluster_->CreateService(global, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << g.status();
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("spec.replicas"));
  global.mutable_spec()->clear_replicas();
  ASSERT_TRUE(cluster_->CreateService(global, absl::Now() + absl::Seconds(10)).ok());
  pb::UpdateServiceRequest count;
  count.set_name("everywhere");
  count.mutable_spec()->set_replicas(2);
  *count.mutable_update_mask() = Mask({"replicas"});
  EXPECT_EQ(Update(count).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ApiMoreTest, BadMasksAreInvalidArgumentsNamingThePath) {
  ASSERT_TRUE(CreateJudge().ok());
  struct Case {
    std::vector<std::string> paths;
    absl::StatusCode code;
    std::string says;
  } cases[] = {
      {{"nosuch"}, absl::StatusCode::kInvalidArgument, "'nosuch' is not an updatable"},
      {{"resources.nosuch"}, absl::StatusCode::kInvalidArgument, "names no field"},
      {{"ports.published"}, absl::StatusCode::kInvalidArgument, "replaced whole"},
      {{"name"}, absl::StatusCode::kInvalidArgument, "name cannot change"},
      {{"mode"}, absl::StatusCode::kInvalidArgument, "mode cannot change"},
      {{std::string(5000, 'x')}, absl::StatusCode::kInvalidArgument, std::string(64, 'x') + "..."},
  };
  for (const auto& c : cases) {
    pb::UpdateServiceRequest req;
    req.mutable_spec()->set_name("other");
    req.mutable_spec()->set_mode("global");
    for (const auto& p : c.paths) req.mutable_update_mask()->add_paths(p);
    auto r = Update(req);
    EXPECT_EQ(r.status().code(), c.code) << c.paths[0].substr(0, 20) << ": " << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.says));
    EXPECT_LT(r.status().message().size(), 1000u);  // under the 1 KiB cut of every message
  }
  pb::UpdateServiceRequest both;
  both.set_image("judge_server:1.0");
  both.mutable_spec()->set_image("judge_server:1.0");
  *both.mutable_update_mask() = Mask({"image"});
  EXPECT_EQ(Update(both).status().code(), absl::StatusCode::kInvalidArgument);
  pb::UpdateServiceRequest empty_mask;
  empty_mask.mutable_spec()->set_replicas(2);
  EXPECT_THAT(std::string(Update(empty_mask).status().message()), HasSubstr("update_mask: empty"));
  pb::UpdateServiceRequest invalid;  // the merged spec is validated as a create's would be
  invalid.mutable_spec()->add_ports()->set_published(70000);
  *invalid.mutable_update_mask() = Mask({"ports"});
  EXPECT_THAT(std::string(Update(invalid).status().message()), HasSubstr("spec.ports"));
  // Nothing of it reached the engine.
  EXPECT_EQ(swarm_->CallsMatching("UpdateService"), "");
}

TEST_F(ApiMoreTest, AnUpdateBasedOnAnOlderVersionIsAbortedAndChangesNothing) {
  ASSERT_TRUE(CreateJudge().ok());
  auto read = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(read.ok());
  const uint64_t v = read->version();
  pb::UpdateServiceRequest first;
  first.set_replicas(4);
  first.set_version(v);
  ASSERT_TRUE(Update(first).ok());  // the version matched
  pb::UpdateServiceRequest stale;   // a second writer that read the same version
  stale.set_version(v);
  stale.mutable_spec()->mutable_resources()->set_cpus(1);
  *stale.mutable_update_mask() = Mask({"resources.cpus"});
  auto r = Update(stale);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(absl::StrCat("changed since version ", v, " (it is at version ")));
  auto now = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->spec().resources().cpus(), 0);
  EXPECT_EQ(now->spec().replicas(), 4u);
  stale.set_version(now->version());  // read again, retry: it applies
  EXPECT_TRUE(Update(stale).ok());
  // The same when another writer slips in between the read and the write inside the call.
  pb::UpdateServiceRequest racing;
  racing.set_version(now->version() + 1);
  racing.set_replicas(2);
  swarm_->FailNext("UpdateService", absl::UnknownError("update out of sequence"));
  EXPECT_EQ(Update(racing).status().code(), absl::StatusCode::kAborted);
}

TEST_F(ApiMoreTest, ThePortsOfAnUpdateMoveTheEdgeProxyAndTheLastOneRemovesIt) {
  ASSERT_TRUE(CreateJudge().ok());
  pb::UpdateServiceRequest req;
  auto* p = req.mutable_spec()->add_ports();
  p->set_published(8091);
  p->set_target(8090);
  *req.mutable_update_mask() = Mask({"ports"});
  ASSERT_TRUE(Update(req).ok());
  EXPECT_THAT(EdgeEnv("judge_swarm-edge"), HasSubstr("EDGE_PORTS=8091:8090"));
  auto routing = store_->GetRouting("judge_swarm");
  ASSERT_TRUE(routing.has_value());
  EXPECT_EQ(routing->Ports().at(0).published, 8091u);
  auto got = cluster_->GetService("judge_swarm");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->spec().ports_size(), 1);
  EXPECT_EQ(got->spec().ports(0).published(), 8091u);

  req.mutable_spec()->clear_ports();  // no port left: no edge
  ASSERT_TRUE(Update(req).ok());
  EXPECT_THAT(EdgeEnv("judge_swarm-edge"), HasSubstr("not found"));
  EXPECT_FALSE(store_->GetRouting("judge_swarm").has_value());
  EXPECT_EQ(cluster_->GetService("judge_swarm")->spec().ports_size(), 0);

  auto* again = req.mutable_spec()->add_ports();  // the first port again: the edge is made again
  again->set_published(8091);
  again->set_target(8090);
  ASSERT_TRUE(Update(req).ok());
  EXPECT_THAT(EdgeEnv("judge_swarm-edge"), HasSubstr("EDGE_PORTS=8091:8090"));
  EXPECT_EQ(store_->GetRouting("judge_swarm")->mode, "edge-proxy");
  // A service without networks gets the edge network with its first port.
  ASSERT_TRUE(CreateJudge("plain", /*ports=*/false).ok());
  pb::UpdateServiceRequest plain = req;
  plain.set_name("plain");
  plain.mutable_spec()->mutable_ports(0)->set_published(8092);
  plain.mutable_spec()->clear_networks();
  *plain.mutable_update_mask() = Mask({"ports", "networks"});
  auto plain_updated = Update(plain);
  ASSERT_TRUE(plain_updated.ok()) << plain_updated.status();
  EXPECT_THAT(std::string(cluster_->GetService("plain")->spec().networks(0)),
              HasSubstr("musketeer-edge"));
  EXPECT_THAT(EdgeEnv("plain-edge"), HasSubstr("EDGE_PORTS=8092:8090"));
}

TEST_F(ApiMoreTest, AnUpdateIsCheckedAsACreateIsForTakenPortsAndMissingNetworks) {
  ASSERT_TRUE(CreateJudge().ok());  // publishes 8090
  ASSERT_TRUE(CreateJudge("other", /*ports=*/false).ok());
  pb::UpdateServiceRequest taken;
  taken.set_name("other");
  auto* p = taken.mutable_spec()->add_ports();
  p->set_published(8090);
  p->set_target(8090);
  *taken.mutable_update_mask() = Mask({"ports"});
  auto r = Update(taken);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("published by service 'judge_swarm'"));
  EXPECT_EQ(cluster_->GetService("other")->spec().ports_size(), 0) << "nothing changed";
  EXPECT_THAT(EdgeEnv("other-edge"), HasSubstr("not found"));
  pb::UpdateServiceRequest missing;
  missing.set_name("other");
  missing.mutable_spec()->add_networks("nosuch");
  *missing.mutable_update_mask() = Mask({"networks"});
  r = Update(missing);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("spec.networks: network 'nosuch'"));
  // Its own port (and its own edge proxy's) is no conflict: 8090 kept, 8091 added.
  pb::UpdateServiceRequest own;
  for (uint32_t port : {8090u, 8091u}) {
    auto* q = own.mutable_spec()->add_ports();
    q->set_published(port);
    q->set_target(8090);
  }
  *own.mutable_update_mask() = Mask({"ports"});
  auto updated = Update(own);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT(EdgeEnv("judge_swarm-edge"), HasSubstr("EDGE_PORTS=8090:8090,8091:8090"));
}

// ---------------------------------------------------------------- reads

TEST_F(ApiMoreTest, ListServicesCarriesVersionTimesAndNoEdgeService) {
  ASSERT_TRUE(CreateJudge().ok());
  auto list = cluster_->ListServices("");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u) << "the edges are containers, not services";
  const pb::Service& judge = (*list)[0];
  EXPECT_EQ(judge.spec().name(), "judge_swarm");
  EXPECT_GT(judge.version(), 0u);
  EXPECT_EQ(judge.version(), cluster_->GetService("judge_swarm")->version());
  EXPECT_FALSE(judge.internal());
  EXPECT_EQ(cluster_->GetService("judge_swarm")->routing().edge_service(), "judge_swarm-edge");
}

TEST_F(ApiMoreTest, GetNetworkByNameIdOrIdPrefix) {
  auto by_name = cluster_->GetNetwork("swarm_test");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->driver(), "overlay");
  auto by_id = cluster_->GetNetwork(by_name->id());
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->name(), "swarm_test");
  EXPECT_EQ(cluster_->GetNetwork("nosuch").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cluster_->GetNetwork("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ApiMoreTest, LogLinesNameTheirTaskSlotNodeAndTime) {
  ASSERT_TRUE(CreateJudge().ok());
  std::vector<pb::LogChunk> chunks;
  ASSERT_TRUE(cluster_
                  ->ServiceLogs("judge_swarm", false, -1,
                                [&](const pb::LogChunk& c) {
                                  chunks.push_back(c);
                                  return true;
                                })
                  .ok());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].data(), "listening on 0.0.0.0:8090\n");
  EXPECT_EQ(chunks[0].timestamp(), "2026-11-25T00:00:01.123456789Z");
  EXPECT_EQ(chunks[0].slot(), 1u);
  EXPECT_EQ(chunks[0].node(), "manager1");
  EXPECT_THAT(chunks[0].task_id(), HasSubstr(".1.1"));
  LogLine line;  // docker escapes details as URL query values; a message may hold spaces
  ASSERT_TRUE(
      ParseLogLine("2026-11-26T12:00:00Z a%3Db=c+d,com.docker.swarm.task.id=t1 x y", &line));
  EXPECT_EQ(line.details["a=b"], "c d");
  EXPECT_EQ(line.details["com.docker.swarm.task.id"], "t1");
  EXPECT_EQ(line.message, "x y");
  ASSERT_TRUE(ParseLogLine("2026-11-26T12:00:00.5Z  no details", &line));
  EXPECT_TRUE(line.details.empty());
  EXPECT_EQ(line.message, "no details");
  EXPECT_FALSE(ParseLogLine("plain output without a timestamp", &line));
}

// ---------------------------------------------------------------- images

TEST_F(ApiMoreTest, AnImageAServiceUsesIsNotRemovedAnOtherGoesFromEveryNode) {
  ASSERT_TRUE(CreateJudge().ok());
  pb::DeleteImageRequest req;
  req.set_image("judge_server:1.0");
  auto refused = cluster_->DeleteImage(req);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("used by service 'judge_swarm' (it runs it)"));
  // By ID too.
  req.set_image(engine::FakeSwarm::ImageId("judge_server:1.0"));
  EXPECT_EQ(cluster_->DeleteImage(req).status().code(), absl::StatusCode::kFailedPrecondition);
  // After an update the old image is the rollback's: still refused.
  swarm_->AddImage("manager1", "judge_server:2.0");
  pb::UpdateServiceRequest up;
  up.set_image("judge_server:2.0");
  ASSERT_TRUE(Update(up).ok());
  req.set_image("judge_server:1.0");
  EXPECT_THAT(std::string(cluster_->DeleteImage(req).status().message()),
              HasSubstr("a rollback returns to it"));

  for (const char* n : {"manager1", "worker2"}) swarm_->AddImage(n, "old:1");
  req.set_image("old:1");
  auto removed = cluster_->DeleteImage(req);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_EQ(removed->removed_size(), 2);
  EXPECT_EQ(removed->removed(0).node(), "manager1");
  EXPECT_EQ(removed->removed(1).node(), "worker2");
  EXPECT_FALSE(swarm_->HasImage("manager1", "old:1"));
  EXPECT_EQ(cluster_->DeleteImage(req).status().code(), absl::StatusCode::kNotFound);
  req.set_image("Not A Reference");
  EXPECT_EQ(cluster_->DeleteImage(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ApiMoreTest, PruneRemovesDanglingThenUnusedImagesAndKeepsWhatServicesNeed) {
  ASSERT_TRUE(CreateJudge().ok());
  const std::string dangling = "sha256:" + std::string(64, 'a');
  swarm_->AddImage("worker1", dangling);
  swarm_->AddImage("worker1", "old:1");
  pb::PruneImagesRequest req;
  req.set_dry_run(true);
  auto dry = cluster_->PruneImages(req);
  ASSERT_TRUE(dry.ok());
  ASSERT_EQ(dry->removed_size(), 1);
  EXPECT_TRUE(swarm_->HasImage("worker1", dangling));  // a dry run removes nothing
  req.set_dry_run(false);
  auto pruned = cluster_->PruneImages(req);
  ASSERT_TRUE(pruned.ok());
  ASSERT_EQ(pruned->removed_size(), 1);
  EXPECT_EQ(pruned->removed(0).id(), dangling);
  EXPECT_EQ(pruned->removed(0).node(), "worker1");
  EXPECT_EQ(pruned->reclaimed_bytes(), 1000);
  EXPECT_FALSE(swarm_->HasImage("worker1", dangling));
  EXPECT_TRUE(swarm_->HasImage("worker1", "old:1"));  // tagged: only with all
  req.set_all(true);
  pruned = cluster_->PruneImages(req);
  ASSERT_TRUE(pruned.ok());
  ASSERT_EQ(pruned->removed_size(), 1);
  EXPECT_EQ(pruned->removed(0).tags(0), "old:1");
  // The service's image and the edge proxy's stay on every node.
  for (const char* n : {"manager1", "worker1", "worker2"}) {
    EXPECT_TRUE(swarm_->HasImage(n, "judge_server:1.0")) << n;
    EXPECT_TRUE(swarm_->HasImage(n, "musketeer/edge:1")) << n;
  }
  EXPECT_TRUE(pruned->errors().empty());
}

// ---------------------------------------------------------------- tokens

TEST_F(ApiMoreTest, AnExpiredTokenIsRefusedSayingSoAndLastUseIsWrittenSparingly) {
  auto secret = store_->CreateToken("old", state::Role::kAdmin, absl::Now() - absl::Seconds(1));
  ASSERT_TRUE(secret.ok());
  auto r = store_->Authenticate(*secret);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("token 'old' expired at "));
  auto fresh = store_->CreateToken("fresh", state::Role::kViewer);
  ASSERT_TRUE(fresh.ok());
  // What the database holds, read beside the store's own connection.
  auto stored_last_use = [&] {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir_ + "/state.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT last_used_at FROM tokens WHERE name = 'fresh'", -1, &st,
                       nullptr);
    std::string out = sqlite3_step(st) == SQLITE_ROW
                          ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                          : "(none)";
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  };
  EXPECT_EQ(stored_last_use(), "");
  ASSERT_TRUE(store_->Authenticate(*fresh).ok());
  const std::string first = stored_last_use();
  EXPECT_FALSE(first.empty());
  // A storm of calls within the write interval: no further write, yet ListTokens is current.
  std::string listed;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(store_->Authenticate(*fresh).ok());
  EXPECT_EQ(stored_last_use(), first);
  for (const auto& t : store_->ListTokens())
    if (t.name == "fresh") listed = t.last_used_at;
  EXPECT_GE(listed, first);
}

// ---------------------------------------------------------------- through gRPC

TEST_F(ApiMoreTest, ListsPageInAStableOrderAndRefuseForeignTokens) {
  ASSERT_TRUE(CreateJudge().ok());
  ASSERT_TRUE(CreateJudge("zeta", false).ok());
  ASSERT_TRUE(CreateJudge("alpha", false).ok());
  Serve();
  auto nodes_stub = pb::Nodes::NewStub(channel_);
  pb::ListNodesRequest nreq;
  nreq.set_page_size(2);
  pb::ListNodesResponse page1, page2;
  ASSERT_TRUE(nodes_stub->ListNodes(Ctx(viewer_).get(), nreq, &page1).ok());
  ASSERT_EQ(page1.nodes_size(), 2);
  EXPECT_EQ(page1.nodes(0).name(), "manager1");
  EXPECT_EQ(page1.nodes(1).name(), "worker1");
  ASSERT_FALSE(page1.next_page_token().empty());
  nreq.set_page_token(page1.next_page_token());
  ASSERT_TRUE(nodes_stub->ListNodes(Ctx(viewer_).get(), nreq, &page2).ok());
  ASSERT_EQ(page2.nodes_size(), 1);
  EXPECT_EQ(page2.nodes(0).name(), "worker2");
  EXPECT_TRUE(page2.next_page_token().empty());
  // Another filter with this token, a made-up token, a negative size: INVALID_ARGUMENT.
  nreq.set_role("worker");
  pb::ListNodesResponse bad;
  grpc::Status s = nodes_stub->ListNodes(Ctx(viewer_).get(), nreq, &bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("filters differ"));
  nreq.set_page_token("not-a-token");
  EXPECT_EQ(nodes_stub->ListNodes(Ctx(viewer_).get(), nreq, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  nreq.clear_page_token();
  nreq.set_page_size(-1);
  EXPECT_EQ(nodes_stub->ListNodes(Ctx(viewer_).get(), nreq, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  nreq.set_page_size(0);
  pb::ListNodesResponse workers;
  ASSERT_TRUE(nodes_stub->ListNodes(Ctx(viewer_).get(), nreq, &workers).ok());
  EXPECT_EQ(workers.nodes_size(), 2);

  auto services = pb::Services::NewStub(channel_);
  pb::ListServicesRequest sreq;
  pb::ListServicesResponse all;
  ASSERT_TRUE(services->ListServices(Ctx(viewer_).get(), sreq, &all).ok());
  std::vector<std::string> names;
  for (const auto& svc : all.services()) names.push_back(svc.spec().name());
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "judge_swarm", "zeta"}));  // no edge
  sreq.set_include_internal(true);
  sreq.set_page_size(2);
  names.clear();
  std::string token;
  int pages = 0;
  do {  // page through; a service made between pages appears once, in its place
    sreq.set_page_token(token);
    pb::ListServicesResponse page;
    ASSERT_TRUE(services->ListServices(Ctx(viewer_).get(), sreq, &page).ok());
    for (const auto& svc : page.services()) names.push_back(svc.spec().name());
    if (++pages == 1) {
      ASSERT_TRUE(CreateJudge("middle", false).ok());
    }
    token = page.next_page_token();
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "judge_swarm", "middle", "zeta"}));
  sreq.Clear();
  (*sreq.mutable_labels())["team"] = "judge";
  pb::ListServicesResponse labelled;
  ASSERT_TRUE(services->ListServices(Ctx(viewer_).get(), sreq, &labelled).ok());
  EXPECT_EQ(labelled.services_size(), 4);  // not the edge: it has no such label

  // Tasks: every service's, or by node and desired state, paged.
  pb::ListTasksRequest treq;
  treq.set_node("worker1");
  treq.set_desired_state("running");
  pb::ListTasksResponse tasks;
  ASSERT_TRUE(services->ListTasks(Ctx(viewer_).get(), treq, &tasks).ok());
  ASSERT_GT(tasks.tasks_size(), 0);
  std::set<std::string> seen_services;
  for (const auto& t : tasks.tasks()) {
    EXPECT_EQ(t.node(), "worker1");
    EXPECT_EQ(t.desired_state(), "running");
    seen_services.insert(t.service());
  }
  EXPECT_GT(seen_services.size(), 1u);
  treq.set_page_size(1);
  pb::ListTasksResponse one, two;
  ASSERT_TRUE(services->ListTasks(Ctx(viewer_).get(), treq, &one).ok());
  treq.set_page_token(one.next_page_token());
  ASSERT_TRUE(services->ListTasks(Ctx(viewer_).get(), treq, &two).ok());
  ASSERT_EQ(one.tasks_size(), 1);
  ASSERT_EQ(two.tasks_size(), 1);
  EXPECT_EQ(one.tasks(0).id(), tasks.tasks(0).id());
  EXPECT_EQ(two.tasks(0).id(), tasks.tasks(1).id());
  treq.set_page_token(page1.next_page_token());  // a nodes token on the tasks list
  EXPECT_EQ(services->ListTasks(Ctx(viewer_).get(), treq, &two).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  treq.clear_page_token();
  treq.set_desired_state("dancing");
  EXPECT_EQ(services->ListTasks(Ctx(viewer_).get(), treq, &two).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ApiMoreTest, TheAuditLogPagesNewestFirstAndFilters) {
  Serve();
  for (int i = 0; i < 5; ++i)
    store_->Audit(i % 2 ? "root" : "ci", "UpdateService", absl::StrCat("svc", i), absl::OkStatus());
  auto access = pb::Access::NewStub(channel_);
  pb::ListAuditRequest req;
  req.set_page_size(2);
  req.set_who("ci");
  std::vector<std::string> targets;
  std::string token;
  do {
    req.set_page_token(token);
    pb::ListAuditResponse page;
    ASSERT_TRUE(access->ListAudit(Ctx(viewer_).get(), req, &page).ok());
    for (const auto& e : page.entries()) targets.push_back(e.target());
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(targets, (std::vector<std::string>{"svc4", "svc2", "svc0"}));
  req.set_page_token("bWtwMR9hdWRpdB94eHg");  // looks like one, is not
  pb::ListAuditResponse page;
  EXPECT_EQ(access->ListAudit(Ctx(viewer_).get(), req, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ApiMoreTest, AnEmptyNameIsAnInvalidArgumentNotAMissingObject) {
  Serve();
  auto services = pb::Services::NewStub(channel_);
  pb::Service svc;
  pb::Empty empty;
  std::vector<std::pair<std::string, grpc::Status>> answers;
  answers.emplace_back("GetService", services->GetService(Ctx(viewer_).get(), {}, &svc));
  answers.emplace_back("UpdateService", services->UpdateService(Ctx(admin_).get(), {}, &svc));
  answers.emplace_back("RollbackService", services->RollbackService(Ctx(admin_).get(), {}, &svc));
  answers.emplace_back("DeleteService", services->DeleteService(Ctx(admin_).get(), {}, &empty));
  answers.emplace_back("DeleteNetwork", pb::Networks::NewStub(channel_)->DeleteNetwork(
                                            Ctx(admin_).get(), {}, &empty));
  answers.emplace_back("DeleteStack",
                       pb::Stacks::NewStub(channel_)->DeleteStack(Ctx(admin_).get(), {}, &empty));
  answers.emplace_back("DeleteToken",
                       pb::Access::NewStub(channel_)->DeleteToken(Ctx(admin_).get(), {}, &empty));
  auto watch_ctx = Ctx(viewer_);
  auto watch = services->WatchService(watch_ctx.get(), {});
  pb::ServiceProgress progress;
  while (watch->Read(&progress)) {
  }
  answers.emplace_back("WatchService", watch->Finish());
  auto logs_ctx = Ctx(viewer_);
  auto logs = services->ServiceLogs(logs_ctx.get(), {});
  pb::LogChunk chunk;
  while (logs->Read(&chunk)) {
  }
  answers.emplace_back("ServiceLogs", logs->Finish());
  for (const auto& [method, s] : answers) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("name: required")) << method;
  }
}

TEST_F(ApiMoreTest, TokensWithExpiryAndLastUseThroughTheApi) {
  Serve();
  auto access = pb::Access::NewStub(channel_);
  pb::CreateTokenRequest req;
  req.set_name("ci");
  req.set_role("viewer");
  req.set_ttl_seconds(3600);
  pb::Token ci;
  ASSERT_TRUE(access->CreateToken(Ctx(admin_).get(), req, &ci).ok());
  EXPECT_FALSE(ci.expires_at().empty());
  req.set_name("bad");
  req.set_expires_at("2001-01-01T00:00:00Z");
  pb::Token unused;
  grpc::Status s = access->CreateToken(Ctx(admin_).get(), req, &unused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // both given
  req.set_ttl_seconds(0);
  s = access->CreateToken(Ctx(admin_).get(), req, &unused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("in the past"));
  ASSERT_TRUE(
      store_->CreateToken("gone", state::Role::kAdmin, absl::Now() - absl::Seconds(1)).ok());

  auto nodes = pb::Nodes::NewStub(channel_);
  pb::ListNodesResponse out;
  ASSERT_TRUE(nodes->ListNodes(Ctx(ci.secret()).get(), {}, &out).ok());
  pb::ListTokensResponse tokens;
  ASSERT_TRUE(access->ListTokens(Ctx(admin_).get(), {}, &tokens).ok());
  std::map<std::string, pb::Token> by_name;
  for (const auto& t : tokens.tokens()) by_name[t.name()] = t;
  EXPECT_FALSE(by_name["ci"].last_used_at().empty());
  EXPECT_EQ(by_name["ci"].expires_at(), ci.expires_at());
  EXPECT_FALSE(ci.created_at().empty()) << "CreateToken answers the token as ListTokens shows it";
  EXPECT_EQ(by_name["ci"].created_at(), ci.created_at());
  EXPECT_FALSE(by_name["ci"].expired());
  EXPECT_TRUE(by_name["gone"].expired());
  EXPECT_TRUE(by_name["watcher"].last_used_at().empty());  // never used
  EXPECT_TRUE(by_name["watcher"].expires_at().empty());
}

TEST_F(ApiMoreTest, UpdateNetworkImagesAndLogsThroughTheApi) {
  ASSERT_TRUE(CreateJudge().ok());
  Serve();
  auto services = pb::Services::NewStub(channel_);
  pb::Service read;
  pb::GetServiceRequest get;
  get.set_name("judge_swarm");
  ASSERT_TRUE(services->GetService(Ctx(viewer_).get(), get, &read).ok());
  pb::UpdateServiceRequest up;
  up.set_name("judge_swarm");
  up.set_version(read.version());
  (*up.mutable_spec()->mutable_labels())["tier"] = "gold";
  *up.mutable_update_mask() = Mask({"labels.tier"});
  pb::Service updated;
  ASSERT_TRUE(services->UpdateService(Ctx(admin_).get(), up, &updated).ok());
  EXPECT_EQ(updated.spec().labels().at("tier"), "gold");
  grpc::Status s = services->UpdateService(Ctx(admin_).get(), up, &updated);  // stale now
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(services->UpdateService(Ctx(viewer_).get(), up, &updated).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  pb::ServiceLogsRequest logs;
  logs.set_name("judge_swarm");
  auto logs_ctx = Ctx(viewer_);  // lives as long as the stream
  auto reader = services->ServiceLogs(logs_ctx.get(), logs);
  pb::LogChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.node(), "manager1");
  EXPECT_EQ(chunk.slot(), 1u);
  EXPECT_FALSE(chunk.timestamp().empty());
  while (reader->Read(&chunk)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_THAT(swarm_->CallsMatching("ServiceLogs"), HasSubstr("tail=all")) << "unset: all";
  // tail 0 is docker's --tail 0: no history (with follow, only what comes); negative refused.
  logs.set_tail(0);
  auto none_ctx = Ctx(viewer_);
  auto none = services->ServiceLogs(none_ctx.get(), logs);
  EXPECT_FALSE(none->Read(&chunk)) << "a line of history: " << chunk.data();
  EXPECT_TRUE(none->Finish().ok());
  EXPECT_THAT(swarm_->CallsMatching("ServiceLogs"), HasSubstr("tail=0"));
  logs.set_tail(-2);
  auto negative_ctx = Ctx(viewer_);
  auto negative = services->ServiceLogs(negative_ctx.get(), logs);
  EXPECT_FALSE(negative->Read(&chunk));
  grpc::Status refused = negative->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("tail:"));

  auto networks = pb::Networks::NewStub(channel_);
  pb::GetNetworkRequest nreq;
  nreq.set_name("swarm_test");
  pb::Network net;
  ASSERT_TRUE(networks->GetNetwork(Ctx(viewer_).get(), nreq, &net).ok());
  EXPECT_EQ(net.name(), "swarm_test");
  nreq.set_name("nosuch");
  EXPECT_EQ(networks->GetNetwork(Ctx(viewer_).get(), nreq, &net).error_code(),
            grpc::StatusCode::NOT_FOUND);

  auto images = pb::Images::NewStub(channel_);
  pb::DeleteImageRequest del;
  del.set_image("judge_server:1.0");
  pb::DeleteImageResponse removed;
  EXPECT_EQ(images->DeleteImage(Ctx(viewer_).get(), del, &removed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  s = images->DeleteImage(Ctx(admin_).get(), del, &removed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("judge_swarm"));
  pb::PruneImagesRequest prune;
  prune.set_all(true);
  pb::PruneImagesResponse pruned;
  ASSERT_TRUE(images->PruneImages(Ctx(admin_).get(), prune, &pruned).ok());
  EXPECT_EQ(pruned.removed_size(), 0);  // everything here is needed
}

// The list answers are assembled from each item's shared bytes: they must be what the
// response message itself serializes to, page and token included.
TEST(SerializedPageTest, IsTheResponseMessagesOwnWireForm) {
  const cluster::SharedList<pb::Node> nodes([] {
    std::vector<pb::Node> list(3);
    for (int i = 0; i < 3; ++i) {
      list[i].set_name(absl::StrCat("n", i));
      (*list[i].mutable_labels())["zone"] = i == 1 ? "b" : "a";
    }
    return list;
  }());
  pb::ListNodesRequest req;
  req.set_page_size(1);
  (*req.mutable_labels())["zone"] = "a";
  auto page = server::PageNodes(req, nodes.items);
  ASSERT_TRUE(page.ok()) << page.status();
  pb::ListNodesResponse want;
  *want.add_nodes() = nodes.items[0];
  want.set_next_page_token(page->next_page_token);
  EXPECT_FALSE(want.next_page_token().empty());
  EXPECT_EQ(server::SerializePage(*page, nodes.wire, pb::ListNodesResponse::kNodesFieldNumber,
                                  pb::ListNodesResponse::kNextPageTokenFieldNumber),
            want.SerializeAsString());
  req.set_page_token(page->next_page_token);  // the second page: n2 (n1 is in zone b), the end
  page = server::PageNodes(req, nodes.items);
  ASSERT_TRUE(page.ok()) << page.status();
  want.Clear();
  *want.add_nodes() = nodes.items[2];
  EXPECT_EQ(server::SerializePage(*page, nodes.wire, pb::ListNodesResponse::kNodesFieldNumber,
                                  pb::ListNodesResponse::kNextPageTokenFieldNumber),
            want.SerializeAsString());
}

}  // namespace
}  // namespace musketeer::cluster
