// The cluster-wide watch: the revisioned log (WatchLog) alone, and Cluster::Watch over the
// live view of a fake swarm (state first, then changes, resumable from any revision).
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/watch_log.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "gtest/gtest.h"
#include "tests/controlplane/fake_cluster.h"

namespace musketeer::cluster {
namespace {
namespace fs = std::filesystem;

pb::WatchEvent NodeObject(const std::string& name, const std::string& availability) {
  pb::WatchEvent e;
  e.set_kind("node");
  e.set_name(name);
  e.mutable_node()->set_name(name);
  e.mutable_node()->set_availability(availability);
  (*e.mutable_node()->mutable_labels())["a"] = "1";
  (*e.mutable_node()->mutable_labels())["b"] = "2";
  return e;
}

std::string Render(const std::vector<std::shared_ptr<const pb::WatchEvent>>& events) {
  std::string out;
  for (const auto& e : events)
    absl::StrAppend(&out, pb::WatchEvent::Type_Name(e->type()), " ", e->kind(), "/", e->name(),
                    " ", e->node().availability(), "\n");
  return out;
}

TEST(WatchLogTest, ChangesGetRevisionsAndClientsResumeFromAnyKeptOne) {
  WatchLog log(1000, /*history=*/3);
  log.Update({"node"}, {NodeObject("m1", "active"), NodeObject("w1", "active")}, "t1");
  EXPECT_EQ(log.revision(), 1002u);
  log.Update({"node"}, {NodeObject("m1", "active"), NodeObject("w1", "active")}, "t2");
  EXPECT_EQ(log.revision(), 1002u) << "an unchanged state makes no change";
  log.Update({"service"}, {}, "t3");
  EXPECT_EQ(log.revision(), 1002u) << "another kind's state leaves the nodes alone";
  log.Update({"node"}, {NodeObject("m1", "active"), NodeObject("w1", "drain")}, "t4");
  log.Update({"node"}, {NodeObject("w1", "drain")}, "t5");
  EXPECT_EQ(log.revision(), 1004u);

  auto c = log.Since(1002);
  EXPECT_FALSE(c.reset);
  EXPECT_EQ(c.revision, 1004u);
  EXPECT_EQ(Render(c.events), "PUT node/w1 drain\nDELETE node/m1 active\n");
  EXPECT_EQ(c.events[0]->revision(), 1003u);
  EXPECT_EQ(c.events[0]->observed_at(), "t4");
  EXPECT_TRUE(log.Since(1004).events.empty()) << "up to date";

  c = log.Since(0);
  EXPECT_FALSE(c.reset);
  EXPECT_EQ(Render(c.events), "PUT node/w1 drain\n");
  EXPECT_EQ(c.events[0]->revision(), 1003u) << "the revision that made it what it is";

  // Not resumable: older than the history kept (3 changes: 1002..1004), from before this
  // log (an earlier run), or ahead of it.
  EXPECT_FALSE(log.Since(1001).reset);
  for (uint64_t since : {1000u, 999u, 5u, 1005u, 99999u}) {
    c = log.Since(since);
    EXPECT_TRUE(c.reset) << since;
    EXPECT_EQ(Render(c.events), "PUT node/w1 drain\n") << since;
    EXPECT_EQ(c.revision, 1004u);
  }
}

TEST(WatchLogTest, WaitNewerWakesOnAChangeAndTimesOutWithoutOne) {
  WatchLog log(0);
  EXPECT_FALSE(log.WaitNewer(0, absl::Now() + absl::Milliseconds(20)));
  std::thread t([&] { log.Update({"node"}, {NodeObject("m1", "active")}, "t"); });
  EXPECT_TRUE(log.WaitNewer(0, absl::Now() + absl::Seconds(10)));
  t.join();
}

using Driver = ::musketeer::testing::InstantNodeDriver;

class ClusterWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(fs::temp_directory_path().string(), "/mk-watch-", getpid());
    fs::create_directories(dir_);
    store_ = std::move(*state::StateStore::Open(dir_ + "/state.db"));
    swarm_ = std::make_shared<engine::FakeSwarm>();
    auto options = musketeer::testing::FastViewOptions(absl::Milliseconds(50));
    options.probe_requests = 1;
    options.probe_patience = absl::Milliseconds(1);
    cluster_ = musketeer::testing::NewFakeCluster(driver_, swarm_, *store_, options);
    ASSERT_TRUE(musketeer::testing::MakeTutorialCluster(*cluster_, *swarm_, {"judge_server:1.0"},
                                                        /*network=*/false)
                    .ok());
  }
  void TearDown() override {
    StopWatch();
    cluster_.reset();
    fs::remove_all(dir_);
  }

  // Watches in the background from `since`; events land in events_.
  void StartWatch(uint64_t since, std::vector<std::string> kinds = {}) {
    StopWatch();
    stop_ = false;
    {
      std::lock_guard lock(mu_);
      events_.clear();
    }
    watcher_ = std::thread([this, since, kinds] {
      pb::WatchRequest req;
      req.set_since_revision(since);
      for (const auto& k : kinds) req.add_kinds(k);
      status_ = cluster_->Watch(
          req,
          [this](const pb::WatchEvent& e) {
            std::lock_guard lock(mu_);
            events_.push_back(e);
            return true;
          },
          [this] { return stop_.load(); });
    });
  }
  void StopWatch() {
    stop_ = true;
    if (watcher_.joinable()) watcher_.join();
  }
  std::vector<pb::WatchEvent> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Waits until `done` holds for the events seen so far (10 s at most).
  bool Until(const std::function<bool(const std::vector<pb::WatchEvent>&)>& done) {
    for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;
         absl::SleepFor(absl::Milliseconds(5)))
      if (done(Events())) return true;
    return done(Events());
  }
  // The events up to the first SYNCED (empty before it): later ones may follow at any time
  // (a node's event stream coming up, say).
  static std::vector<pb::WatchEvent> UpToSynced(const std::vector<pb::WatchEvent>& events) {
    for (size_t i = 0; i < events.size(); ++i)
      if (events[i].type() == pb::WatchEvent::SYNCED)
        return std::vector<pb::WatchEvent>(events.begin(), events.begin() + i + 1);
    return {};
  }
  // The state the events so far describe: kind/name -> the last PUT (deleted ones removed).
  static std::map<std::string, pb::WatchEvent> Fold(const std::vector<pb::WatchEvent>& events) {
    std::map<std::string, pb::WatchEvent> state;
    for (const auto& e : events) {
      if (e.type() == pb::WatchEvent::RESET) state.clear();
      if (e.type() == pb::WatchEvent::PUT) state[e.kind() + "/" + e.name()] = e;
      if (e.type() == pb::WatchEvent::DELETE) state.erase(e.kind() + "/" + e.name());
    }
    return state;
  }
  static int RunningTasks(const std::map<std::string, pb::WatchEvent>& state,
                          const std::string& node = "") {
    int n = 0;
    for (const auto& [key, e] : state)
      if (e.has_task() && e.task().state() == "running" && e.task().desired_state() == "running" &&
          (node.empty() || e.task().node() == node))
        ++n;
    return n;
  }

  std::string dir_;
  Driver driver_;
  std::unique_ptr<state::StateStore> store_;
  std::shared_ptr<engine::FakeSwarm> swarm_;
  std::unique_ptr<Cluster> cluster_;
  std::thread watcher_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<pb::WatchEvent> events_;
  absl::Status status_;
};

TEST_F(ClusterWatchTest, StreamsTheStateThenEveryChangeAndResumesFromARevision) {
  StartWatch(0);
  ASSERT_TRUE(Until([](const auto& ev) { return !UpToSynced(ev).empty(); }));
  auto state = Fold(UpToSynced(Events()));
  ASSERT_EQ(state.count("node/worker2"), 1u);
  EXPECT_EQ(state["node/worker2"].node().swarm_role(), "worker");
  EXPECT_EQ(state["node/manager1"].node().swarm_role(), "manager");
  EXPECT_EQ(state["node/worker1"].node().availability(), "active");
  EXPECT_TRUE(state["node/worker1"].node().observed_at().empty()) << "it would change each read";
  EXPECT_FALSE(state["node/worker1"].observed_at().empty());
  const uint64_t synced_at = UpToSynced(Events()).back().revision();

  pb::CreateServiceRequest create;
  create.mutable_spec()->set_name("judge_swarm");
  create.mutable_spec()->set_image("judge_server:1.0");
  create.mutable_spec()->set_replicas(3);
  ASSERT_TRUE(cluster_->CreateService(create, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_TRUE(Until([](const auto& ev) {
    auto s = Fold(ev);
    return s["service/judge_swarm"].service().running() == 3 && RunningTasks(s) == 3;
  })) << "the new service and its tasks arrive without asking";
  state = Fold(Events());
  EXPECT_EQ(state["service/judge_swarm"].service().desired(), 3u);
  EXPECT_EQ(state["service/judge_swarm"].service().spec().image(), "judge_server:1.0");

  pb::UpdateServiceRequest scale;
  scale.set_name("judge_swarm");
  scale.set_replicas(5);
  ASSERT_TRUE(cluster_->UpdateService(scale, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_TRUE(Until([](const auto& ev) {
    auto s = Fold(ev);
    return s["service/judge_swarm"].service().running() == 5 && RunningTasks(s) == 5;
  }));
  pb::UpdateNodeRequest drain;
  drain.set_name("worker2");
  drain.set_availability("drain");
  ASSERT_TRUE(cluster_->UpdateNode(drain).ok());
  EXPECT_TRUE(Until(
      [](const auto& ev) { return Fold(ev)["node/worker2"].node().availability() == "drain"; }));
  const auto all = Events();
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].type() == pb::WatchEvent::SYNCED) continue;
    EXPECT_GT(all[i].revision(), all[i - 1].revision()) << "revisions grow one change at a time";
  }
  StopWatch();
  EXPECT_TRUE(status_.ok()) << status_;

  // A client that saw up to `synced_at` resumes there: the same state, from the changes.
  StartWatch(synced_at);
  ASSERT_TRUE(Until([](const auto& ev) { return !UpToSynced(ev).empty(); }));
  auto resumed = UpToSynced(Events());
  EXPECT_NE(resumed.front().type(), pb::WatchEvent::RESET);
  EXPECT_GT(resumed.front().revision(), synced_at);
  auto from_start = Fold(all);
  for (const auto& [key, e] : Fold(resumed))
    EXPECT_TRUE(from_start.count(key)) << key << " was not in the first watch's state";
  EXPECT_EQ(RunningTasks(Fold(resumed)), 5);

  // A revision this run never made: RESET, then the whole state; only the kinds asked for.
  StartWatch(5, {"node"});
  ASSERT_TRUE(Until([](const auto& ev) { return !UpToSynced(ev).empty(); }));
  auto reset = UpToSynced(Events());
  EXPECT_EQ(reset.front().type(), pb::WatchEvent::RESET);
  EXPECT_EQ(reset.size(), 5u) << "RESET, 3 nodes, SYNCED";
  EXPECT_EQ(Fold(reset)["node/worker2"].node().availability(), "drain");
}

TEST_F(ClusterWatchTest, RefusesUnknownKinds) {
  pb::WatchRequest req;
  req.add_kinds("volume");
  auto s = cluster_->Watch(
      req, [](const pb::WatchEvent&) { return true; }, [] { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'volume' is not one of node, service, task"), std::string::npos);
}

}  // namespace
}  // namespace musketeer::cluster
