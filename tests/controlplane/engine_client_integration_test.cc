// The Engine API client against the host's real dockerd (started by scripts/test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

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
  auto id = engine->CreateNetwork(json::object{{"Name", name}, {"Driver", "bridge"}});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(engine->RemoveNetwork(*id).ok());
  std::vector<std::string> actions;
  json::object filters{{"type", json::array{json::value("network")}},
                       {"network", json::array{json::value(*id)}}};
  absl::Status s = engine->Events(since, time(nullptr) + 1, filters, [&](const json::object& e) {
    actions.push_back(std::string(e.at("Action").as_string()));
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(actions, ::testing::ElementsAre("create", "destroy"));
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
