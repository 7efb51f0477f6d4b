// Node drivers against the real thing: network namespaces, veths, dockerd processes and
// mutual TLS. Each test uses its own bridge, subnet and state directory, and removes every
// node it made even when an assertion fails.
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controlplane/nodes/local_driver.h"
#include "controlplane/nodes/remote_driver.h"
#include "gtest/gtest.h"

namespace musketeer::nodes {
namespace {
namespace fs = std::filesystem;

bool LinkExists(const std::string& name) { return fs::exists("/sys/class/net/" + name); }
bool NetnsExists(const std::string& name) { return fs::exists("/var/run/netns/" + name); }

class LocalDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the local driver needs root";
    root_ = fs::temp_directory_path() / absl::StrCat("mk-nodes-", getpid());
    auto ca = pki::Authority::OpenOrCreate(root_ + "/pki/ca", "test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::move(*ca);
    auto client = ca_->IssueClient(root_ + "/pki/client", "musketeerd");
    ASSERT_TRUE(client.ok());
    config_.state_dir = root_ + "/state";
    config_.run_dir = "/run/mkt" + std::to_string(getpid() % 10000);
    config_.bridge = "mkt" + std::to_string(getpid() % 10000);
    config_.subnet = "10.213.200.0/24";
    MakeDriver(*client);
  }
  void MakeDriver(const pki::Bundle& client) {
    auto d = LocalDriver::Create(config_, *ca_, client);
    ASSERT_TRUE(d.ok()) << d.status();
    driver_ = std::move(*d);
  }
  void TearDown() override {
    if (driver_) {
      for (const auto& n : driver_->List()) EXPECT_TRUE(driver_->Remove(n.name).ok());
      EXPECT_FALSE(LinkExists(config_.bridge)) << "the bridge outlived the last node";
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
    fs::remove_all(config_.run_dir, ec);
  }
  // What must not exist once a node is gone.
  void ExpectNothingLeft(const std::string& name) {
    EXPECT_FALSE(NetnsExists(driver_->NetnsName(name)));
    EXPECT_FALSE(LinkExists(driver_->VethName(name)));
    EXPECT_FALSE(fs::exists(driver_->NodeDir(name)));
    EXPECT_FALSE(fs::exists(driver_->RunDir(name)));
    EXPECT_FALSE(fs::exists(driver_->CgroupDir(name))) << "processes or cgroup left";
  }

  std::string root_;
  LocalDriverConfig config_;
  std::unique_ptr<pki::Authority> ca_;
  std::unique_ptr<LocalDriver> driver_;
};

TEST_F(LocalDriverTest, CreatesThreeNodesInParallelEachAnsweringOverTlsWithItsOwnName) {
  const std::vector<std::string> names = {"manager1", "worker1", "worker2"};
  std::vector<absl::StatusOr<Node>> created(names.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < names.size(); ++i) {
    threads.emplace_back([&, i] { created[i] = driver_->Create(names[i], nullptr); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> ips;
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(created[i].ok()) << created[i].status();
    const Node& n = *created[i];
    EXPECT_EQ(n.state, NodeState::kRunning);
    ips.insert(n.ip);
    engine::EngineClient client(n.endpoint);
    auto info = client.Info();
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->at("Name").as_string(), names[i]) << "each node has its own hostname";
    EXPECT_TRUE(NetnsExists(driver_->NetnsName(names[i])));
    struct stat st {};
    ASSERT_EQ(stat((driver_->NodeDir(names[i]) + "/certs/key.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "private keys are 0600";
  }
  EXPECT_EQ(ips.size(), 3u) << "every node has its own address";
  EXPECT_EQ(driver_->List().size(), 3u);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(LinkExists(driver_->VethName(names[i])));
    ASSERT_TRUE(driver_->Remove(names[i]).ok());
    ExpectNothingLeft(names[i]);
  }
}

TEST_F(LocalDriverTest, StopStartKillAndReadoptionAfterRestart) {
  auto n = driver_->Create("node1", nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  engine::EngineClient client(n->endpoint, std::chrono::seconds(2));
  ASSERT_TRUE(driver_->Stop("node1").ok());
  EXPECT_EQ(driver_->Inspect("node1")->state, NodeState::kStopped);
  EXPECT_FALSE(client.Ping().ok());
  absl::Status started = driver_->Start("node1");
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_TRUE(client.Ping().ok());
  const int pid = driver_->Inspect("node1")->pid;
  ASSERT_TRUE(driver_->Kill("node1").ok());
  EXPECT_EQ(driver_->Inspect("node1")->state, NodeState::kStopped);
  EXPECT_NE(kill(pid, 0), 0) << "dockerd survived kill";
  started = driver_->Start("node1");
  ASSERT_TRUE(started.ok()) << started;
  // A new driver (a restarted control plane) finds the running node and can stop it.
  const pki::Bundle client_bundle{root_ + "/pki/client"};
  MakeDriver(client_bundle);
  auto adopted = driver_->Inspect("node1");
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(adopted->state, NodeState::kRunning);
  EXPECT_TRUE(driver_->Stop("node1").ok());
  EXPECT_EQ(driver_->Inspect("node1")->state, NodeState::kStopped);
}

TEST_F(LocalDriverTest, FailedCreateLeavesNothingBehindAndTouchesNoOtherDriversNode) {
  // A healthy node of another driver (its own bridge and subnet, same address index).
  LocalDriverConfig other_config = config_;
  other_config.bridge += "o";
  other_config.subnet = "10.213.202.0/24";
  other_config.run_dir += "o";
  other_config.state_dir += "-other";
  auto other = LocalDriver::Create(other_config, *ca_, pki::Bundle{root_ + "/pki/client"});
  ASSERT_TRUE(other.ok());
  auto keeper = (*other)->Create("broken", nullptr);  // same name, same .2, other driver
  ASSERT_TRUE(keeper.ok()) << keeper.status();

  config_.dockerd = "/bin/false";  // dies at once: the last step fails
  MakeDriver(pki::Bundle{root_ + "/pki/client"});
  auto n = driver_->Create("broken", nullptr);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("everything it made was removed"), std::string::npos)
      << n.status();
  ExpectNothingLeft("broken");
  EXPECT_FALSE(LinkExists(config_.bridge));
  EXPECT_TRUE(engine::EngineClient(keeper->endpoint, std::chrono::seconds(5)).Ping().ok())
      << "the failed create broke another driver's node";
  EXPECT_TRUE((*other)->Remove("broken").ok());
  std::error_code ec;
  fs::remove_all(other_config.run_dir, ec);
}

TEST_F(LocalDriverTest, CreateReclaimsADeadNamespaceACrashLeftButNotALiveOne) {
  // What a control plane killed mid-create leaves: a namespace and a veth, no record.
  const std::string ns = driver_->NetnsName("crashed"), veth = driver_->VethName("crashed");
  const std::string busy = driver_->NetnsName("busy");
  // What this test makes by hand goes, whatever assertion fails (the node goes in TearDown).
  struct Leftovers {
    std::string ns, veth, busy, node_dir;
    ~Leftovers() {
      std::system(("ip netns pids " + busy + " 2>/dev/null | xargs -r kill -9; ip netns del " +
                   busy + " 2>/dev/null")
                      .c_str());
      if (fs::exists(node_dir))
        return;  // created: the node (with its namespace and veth) goes in TearDown
      std::system(
          ("ip netns del " + ns + " 2>/dev/null; ip link del " + veth + " 2>/dev/null").c_str());
    }
  } leftovers{ns, veth, busy, driver_->NodeDir("crashed")};
  ASSERT_EQ(std::system(("ip netns add " + ns).c_str()), 0);
  ASSERT_EQ(std::system(("ip link add " + veth + " type veth peer name " + veth + "p").c_str()), 0);
  auto n = driver_->Create("crashed", nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(engine::EngineClient(n->endpoint, std::chrono::seconds(5)).Ping().ok());

  // A namespace someone still uses is refused and left as it was.
  ASSERT_EQ(std::system(("ip netns add " + busy).c_str()), 0);
  ASSERT_EQ(std::system(("ip netns exec " + busy + " sleep 60 >/dev/null 2>&1 &").c_str()), 0);
  for (int i = 0;
       i < 100 && std::system(("test -n \"$(ip netns pids " + busy + ")\"").c_str()) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto refused = driver_->Create("busy", nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("--bridge"), std::string::npos) << refused.status();
  EXPECT_TRUE(NetnsExists(busy)) << "a namespace in use was removed";
  EXPECT_FALSE(fs::exists(driver_->NodeDir("busy")));
}

TEST_F(LocalDriverTest, BadNamesDuplicatesAndAnExhaustedSubnetGiveClearErrors) {
  for (const std::string& bad :
       std::vector<std::string>{"", "Manager", "-x", "x-", "a_b", "a/b", std::string(31, 'a')}) {
    auto n = driver_->Create(bad, nullptr);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  config_.subnet = "10.213.201.0/30";  // room for exactly one node (.2)
  MakeDriver(pki::Bundle{root_ + "/pki/client"});
  ASSERT_TRUE(driver_->Create("only", nullptr).ok());
  EXPECT_EQ(driver_->Create("only", nullptr).status().code(), absl::StatusCode::kAlreadyExists);
  auto full = driver_->Create("second", nullptr);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("10.213.201.0/30"), std::string::npos);
  EXPECT_FALSE(fs::exists(driver_->NodeDir("second")));
  EXPECT_EQ(driver_->Remove("nosuch").code(), absl::StatusCode::kNotFound);
}

TEST_F(LocalDriverTest, WrongCertificateIsRefusedAndRegeneratedCertificatesWork) {
  auto n = driver_->Create("tlsnode", nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  // A client certificate from another CA.
  auto other = pki::Authority::OpenOrCreate(root_ + "/other-ca", "other CA");
  ASSERT_TRUE(other.ok());
  auto stranger = (*other)->IssueClient(root_ + "/stranger", "stranger");
  ASSERT_TRUE(stranger.ok());
  engine::Endpoint wrong = n->endpoint;
  wrong.tls = engine::TlsFiles{stranger->ca(), stranger->cert(), stranger->key()};
  auto refused = engine::EngineClient(wrong, std::chrono::seconds(3)).Ping();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.message().find("PRIVATE KEY"), std::string::npos)
      << "no key material in errors";
  // Our CA but no client certificate the engine trusts: the engine refuses us.
  wrong.tls = engine::TlsFiles{n->endpoint.tls->ca, stranger->cert(), stranger->key()};
  EXPECT_FALSE(engine::EngineClient(wrong, std::chrono::seconds(3)).Ping().ok());
  ASSERT_TRUE(driver_->RegenerateCerts("tlsnode").ok());
  EXPECT_TRUE(engine::EngineClient(n->endpoint).Ping().ok());
}

TEST_F(LocalDriverTest, RemoteDriverAdoptsALocalNodesTlsEndpointAndRefusesBadOnes) {
  auto n = driver_->Create("host1", nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  RemoteDriver remote(root_ + "/state");
  RemoteSpec spec{n->endpoint.ToString(), n->endpoint.tls->ca, n->endpoint.tls->cert,
                  n->endpoint.tls->key};
  auto adopted = remote.Create("adopted", &spec);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->state, NodeState::kRunning);
  EXPECT_EQ(remote.List().size(), 1u);
  EXPECT_EQ(remote.Stop("adopted").code(), absl::StatusCode::kFailedPrecondition);
  RemoteSpec plain{n->endpoint.ToString(), "", "", ""};
  EXPECT_EQ(remote.Create("plain", &plain).status().code(), absl::StatusCode::kInvalidArgument);
  RemoteSpec unreachable{"tcp://10.213.200.250:2376", spec.ca, spec.cert, spec.key};
  auto bad = remote.Create("gone", &unreachable);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not usable"), std::string::npos) << bad.status();
  EXPECT_EQ(remote.List().size(), 1u) << "a failed adoption keeps nothing";
  EXPECT_TRUE(remote.Remove("adopted").ok());
}

}  // namespace
}  // namespace musketeer::nodes
