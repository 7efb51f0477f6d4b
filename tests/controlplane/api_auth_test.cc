// The API's credentials check, through a real gRPC server and client over TLS (as
// musketeerd serves it) in one process: every call is judged by its own token, also when
// calls share a connection or run concurrently.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "controlplane/pki/pki.h"
#include "controlplane/server/api.h"
#include "gtest/gtest.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::server {
namespace {
namespace fs = std::filesystem;
namespace pb = ::musketeer::v1;

class ApiAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(fs::temp_directory_path().string(), "/mk-auth-", getpid());
    fs::create_directories(dir_);
    store_ = std::move(*state::StateStore::Open(dir_ + "/state.db"));
    admin_ = *store_->CreateToken("root", state::Role::kAdmin);
    viewer_ = *store_->CreateToken("watcher", state::Role::kViewer);
    auto swarm = std::make_shared<engine::FakeSwarm>();
    cluster_ = std::make_unique<cluster::Cluster>(
        std::map<std::string, nodes::NodeDriver*>{},
        [swarm](const nodes::Node& n) {
          return std::make_unique<engine::FakeDockerEngine>(swarm, n.name, n.ip);
        },
        *store_, [](const std::string&, uint16_t) -> absl::StatusOr<std::string> { return "{}"; },
        cluster::ClusterOptions{});
    services_ = NewApiServices(*cluster_, *store_);
    auto ca = pki::Authority::OpenOrCreate(dir_ + "/ca", "test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    auto cert = (*ca)->IssueServer(dir_ + "/server", "musketeerd", {"127.0.0.1"}, {"localhost"});
    ASSERT_TRUE(cert.ok()) << cert.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*pki::ReadFile(cert->key()), *pki::ReadFile(cert->cert())});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    // One channel: every call below shares one connection.
    grpc::SslCredentialsOptions client;
    client.pem_root_certs = *pki::ReadFile(cert->ca());
    stub_ = pb::Access::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(client)));
  }
  void TearDown() override {
    server_->Shutdown();
    fs::remove_all(dir_);
  }
  // ListTokens needs the admin role.
  grpc::StatusCode ListTokens(const std::string& authorization) {
    grpc::ClientContext ctx;
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    pb::ListTokensResponse out;
    last_ = stub_->ListTokens(&ctx, {}, &out);
    return last_.error_code();
  }

  std::string dir_, admin_, viewer_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Access::Stub> stub_;
  grpc::Status last_;
};

TEST_F(ApiAuthTest, EachCallIsJudgedByItsOwnTokenOnASharedConnection) {
  EXPECT_EQ(ListTokens("Bearer " + admin_), grpc::StatusCode::OK);
  // The same connection, no token: the admin of the call before must not carry over.
  EXPECT_EQ(ListTokens(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(last_.error_message().find("needs a token"), std::string::npos)
      << last_.error_message();
  EXPECT_EQ(ListTokens("Bearer " + viewer_), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(last_.error_message().find("needs the admin role; token 'watcher' has viewer"),
            std::string::npos)
      << last_.error_message();
  EXPECT_EQ(ListTokens("Bearer mk_wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(last_.error_message().find("mk_wrong"), std::string::npos)
      << "a token in an error message";
  EXPECT_EQ(ListTokens("Basic " + admin_), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListTokens("Bearer " + admin_), grpc::StatusCode::OK);
}

TEST_F(ApiAuthTest, ConcurrentCallsWithDifferentTokensOnOneConnectionStayApart) {
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const int kind = (t + i) % 3;
        grpc::ClientContext ctx;
        if (kind == 0) ctx.AddMetadata("authorization", "Bearer " + admin_);
        if (kind == 1) ctx.AddMetadata("authorization", "Bearer " + viewer_);
        pb::ListTokensResponse out;
        const grpc::StatusCode got = stub_->ListTokens(&ctx, {}, &out).error_code();
        const grpc::StatusCode want = kind == 0   ? grpc::StatusCode::OK
                                      : kind == 1 ? grpc::StatusCode::PERMISSION_DENIED
                                                  : grpc::StatusCode::UNAUTHENTICATED;
        if (got != want) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  // Denials are audited as such.
  bool denied = false;
  for (const auto& a : store_->ListAudit(500)) denied = denied || a.who == "(denied)";
  EXPECT_TRUE(denied);
}

}  // namespace
}  // namespace musketeer::server
