// The Engine API client against the host's real dockerd (started by scripts/test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "controlplane/engine/docker_engine.h"
#include "controlplane/engine/engine_client.h"

namespace musketeer::engine {
namespace {

EngineClient& Docker() {
  static EngineClient* client = new EngineClient(*Endpoint::Parse("unix:///var/run/docker.sock"));
  return *client;
}

TEST(RealEngineTest, NegotiatesAndReadsInfo) {
  auto version = Docker().ApiVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_FALSE(VersionLess(EngineClient::kMaxApiVersion, *version));
  auto info = Docker().Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->as_object().at("ID").as_string().empty());
  EXPECT_TRUE(info->as_object().contains("Swarm"));
}

TEST(RealEngineTest, StreamsTheEventsOfANetworkItMadeAndRemoved) {
  auto engine = NewHttpDockerEngine(*Endpoint::Parse("unix:///var/run/docker.sock"));
  const int64_t since = time(nullptr) - 1;
  const std::string name = absl::StrCat("mk-events-", getpid());
  NetworkCreateRequest request;
  request.name = name;
  request.driver = "bridge";
  auto id = engine->CreateNetwork(request);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(engine->RemoveNetwork(*id).ok());
  std::vector<std::string> actions;
  EventFilters filters{{"type", {"network"}}, {"network", {*id}}};
  absl::Status s = engine->Events(since, time(nullptr) + 1, filters,
                                  [&](const Event& e) {
                                    actions.push_back(e.action);
                                    return true;
                                  },
                                  {});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(actions, ::testing::ElementsAre("create", "destroy"));
}

TEST(RealEngineTest, TheHostEnginesAnswersReadIntoTheTypedModel) {
  auto engine = NewHttpDockerEngine(*Endpoint::Parse("unix:///var/run/docker.sock"));
  auto info = engine->Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->id.empty());
  EXPECT_FALSE(info->name.empty());
  EXPECT_GT(info->ncpu, 0);
  EXPECT_FALSE(info->swarm.local_node_state.empty());
  auto version = engine->Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->os, "linux");
  EXPECT_FALSE(VersionLess(version->api_version, "1.41")) << version->api_version;
  auto networks = engine->ListNetworks();
  ASSERT_TRUE(networks.ok()) << networks.status();
  auto bridge = std::find_if(networks->begin(), networks->end(),
                             [](const Network& n) { return n.name == "bridge"; });
  ASSERT_NE(bridge, networks->end());
  EXPECT_EQ(bridge->driver, "bridge");
  EXPECT_EQ(bridge->scope, "local");
  ASSERT_FALSE(bridge->ipam.config.empty());
  EXPECT_FALSE(bridge->ipam.config[0].subnet.empty());
  auto images = engine->ListImages();
  ASSERT_TRUE(images.ok()) << images.status();
  for (const auto& i : *images) EXPECT_EQ(i.id.rfind("sha256:", 0), 0u) << i.id;
  if (!images->empty()) {
    auto inspected = engine->InspectImage(images->front().id);
    ASSERT_TRUE(inspected.ok()) << inspected.status();
    EXPECT_EQ(inspected->id, images->front().id);
  }
  EXPECT_TRUE(engine->ListContainers().ok());
}

TEST(RealEngineTest, MissingImagesContainersAndNodesAreNotFoundOrPreconditions) {
  auto engine = NewHttpDockerEngine(*Endpoint::Parse("unix:///var/run/docker.sock"));
  EXPECT_EQ(engine->RemoveImage("musketeer/nosuch:0", false).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine->InspectContainer("musketeer-nosuch").status().code(),
            absl::StatusCode::kNotFound);
  // The host engine is not a swarm manager: 503 "This node is not a swarm manager".
  EXPECT_FALSE(engine->InspectNode("nosuch").ok());
}

TEST(RealEngineTest, ListsImagesIncludingTheJudgeBase) {
  auto images = Docker().ListImages();
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_TRUE(images->is_array());
}

TEST(RealEngineTest, UnknownObjectsAreNotFoundWithTheDaemonsMessage) {
  auto r = Docker().Call("GET", "/containers/musketeer-no-such-container/json");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("No such container"));
}

TEST(RealEngineTest, SwarmCallsOnANonManagerAreRefusedWithACode) {
  auto info = Docker().Info();
  ASSERT_TRUE(info.ok());
  if (info->as_object().at("Swarm").as_object().at("LocalNodeState") == "active") {
    GTEST_SKIP() << "the host engine is in a swarm";
  }
  auto r = Docker().Call("GET", "/services");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("swarm"));
}

TEST(RealEngineTest, ManyCallsReuseOneConnection) {
  for (int i = 0; i < 50; ++i) {
    absl::Status s = Docker().Ping();
    ASSERT_TRUE(s.ok()) << s;
  }
}

}  // namespace
}  // namespace musketeer::engine
