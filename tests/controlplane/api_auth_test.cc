// The API's credentials check, through a real gRPC server and client over TLS (as
// musketeerd serves it) in one process: every call is judged by its own token, also when
// calls share a connection or run concurrently.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "controlplane/pki/pki.h"
#include "controlplane/server/api.h"
#include "controlplane/server/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::server {
namespace {
using ::testing::HasSubstr;
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
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    MarkServing(*server_);
    // One channel: every call below shares one connection.
    grpc::SslCredentialsOptions client;
    client.pem_root_certs = *pki::ReadFile(cert->ca());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(client));
    stub_ = pb::Access::NewStub(channel_);
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
  std::shared_ptr<grpc::Channel> channel_;
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

// Tokens that authenticated are remembered (a call then costs no SQL): a deleted token, or
// one whose expiry passes while it is remembered, must still stop working at once.
TEST_F(ApiAuthTest, ARememberedTokenStopsWorkingWhenDeletedOrExpired) {
  auto doomed = store_->CreateToken("doomed", state::Role::kAdmin);
  ASSERT_TRUE(doomed.ok()) << doomed.status();
  EXPECT_EQ(ListTokens("Bearer " + *doomed), grpc::StatusCode::OK);
  EXPECT_EQ(ListTokens("Bearer " + *doomed), grpc::StatusCode::OK);
  ASSERT_TRUE(store_->DeleteToken("doomed").ok());
  EXPECT_EQ(ListTokens("Bearer " + *doomed), grpc::StatusCode::UNAUTHENTICATED);
  // The same name again is a new token: the old secret stays dead.
  auto again = store_->CreateToken("doomed", state::Role::kAdmin);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ListTokens("Bearer " + *doomed), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListTokens("Bearer " + *again), grpc::StatusCode::OK);

  auto brief = store_->CreateToken("brief", state::Role::kAdmin, absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(brief.ok()) << brief.status();
  EXPECT_EQ(ListTokens("Bearer " + *brief), grpc::StatusCode::OK);
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_EQ(ListTokens("Bearer " + *brief), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(last_.error_message().find("token 'brief' expired at "), std::string::npos)
      << last_.error_message();
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

// grpc.health.v1.Health/Check for `service`, by hand (no health stubs in C++): the status
// enum of the answer (1 SERVING), or -1 with the call's status in *err.
int HealthCheck(grpc::Channel& channel, const std::string& service, grpc::Status* err) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  std::string request = "\x0a" + std::string(1, static_cast<char>(service.size())) + service;
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::ClientContext ctx;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &in, &out,
                 [&](grpc::Status s) { done.set_value(s); });
  *err = done.get_future().get();
  if (!err->ok()) return -1;
  std::vector<grpc::Slice> slices;
  (void)out.Dump(&slices);
  std::string answer;
  for (const auto& s : slices) answer.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return answer.size() == 2 && answer[0] == 0x08 ? answer[1] : 0;
}

TEST_F(ApiAuthTest, HealthAnswersForEveryApiServiceByName) {
  const auto names = ApiServiceNames();
  for (const char* want : {"musketeer.v1.Nodes", "musketeer.v1.Services", "musketeer.v1.Access",
                           "musketeer.v1.Operations", "musketeer.v1.Secrets"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  grpc::Status err;
  for (const std::string& name : names) EXPECT_EQ(HealthCheck(*channel_, name, &err), 1) << name;
  EXPECT_EQ(HealthCheck(*channel_, "", &err), 1);
  EXPECT_EQ(HealthCheck(*channel_, "musketeer.v1.NoSuch", &err), -1);
  EXPECT_EQ(err.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ApiAuthTest, AnOperationIsFoundByItsRequestIdWithTheErrorItsCallAnswered) {
  auto ops = pb::Operations::NewStub(channel_);
  auto id = store_->BeginOperation("req-7", "create_service", "web", "f");
  ASSERT_TRUE(id.ok());
  store_->FinishOperation(*id, absl::InternalError("POST /services/create on tcp://10.9.9.9:2376: "
                                                   "network x not found (HTTP 500)"));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + viewer_);
  pb::GetOperationRequest req;
  req.set_request_id("req-7");
  pb::Operation op;
  ASSERT_TRUE(ops->GetOperation(&ctx, req, &op).ok());
  EXPECT_EQ(op.kind(), "create_service");
  EXPECT_EQ(op.target(), "web");
  EXPECT_EQ(op.state(), "failed");
  EXPECT_EQ(op.error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(op.error_message(), "the engine: network x not found");
  EXPECT_FALSE(op.finished_at().empty());
  grpc::ClientContext ctx2;
  ctx2.AddMetadata("authorization", "Bearer " + viewer_);
  req.set_request_id(std::string(5000, 'q'));
  const grpc::Status missing = ops->GetOperation(&ctx2, req, &op);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(missing.error_message().size(), 200u);
}

TEST(ErrorsTest, ClientsGetTheEnginesReasonWithoutAddressesAndUserMistakesByTheirCode) {
  struct Case {
    absl::Status in;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {absl::InternalError("POST /services/create on tcp://10.213.0.3:2376: network nosuch not "
                           "found (HTTP 500)"),
       absl::StatusCode::kNotFound, "the engine: network nosuch not found"},
      {absl::InternalError("POST /networks/create on unix:///run/x.sock: Pool overlaps with "
                           "other one on this address space (HTTP 500)"),
       absl::StatusCode::kFailedPrecondition,
       "the engine: Pool overlaps with other one on this address space"},
      {absl::UnavailableError("building x on tcp://10.0.0.2:2376: connection refused"),
       absl::StatusCode::kUnavailable, "building x on the node's engine: connection refused"},
      // The control plane's own internal errors stay internal.
      {absl::InternalError("state database: disk I/O error, invalid page"),
       absl::StatusCode::kInternal, "state database: disk I/O error, invalid page"},
      {absl::InvalidArgumentError("spec.name: bad"), absl::StatusCode::kInvalidArgument,
       "spec.name: bad"},
  };
  for (const auto& c : cases) {
    const absl::Status out = ForClient(c.in);
    EXPECT_EQ(out.code(), c.code) << c.in;
    EXPECT_EQ(out.message(), c.message) << c.in;
  }
  const absl::Status huge = ForClient(absl::InternalError(std::string(100000, 'x')));
  EXPECT_LT(huge.message().size(), 1100u);
  // Cut in the middle: what failed (the front) and why (the end) both stay.
  const absl::Status cause = ForClient(absl::UnavailableError(
      "starting dockerd on node4: " + std::string(5000, 'l') + " msg=\"storage driver failed\""));
  EXPECT_LE(cause.message().size(), 1024u);
  EXPECT_THAT(std::string(cause.message()), HasSubstr("starting dockerd on node4: "));
  EXPECT_THAT(std::string(cause.message()), HasSubstr("msg=\"storage driver failed\""));
  EXPECT_THAT(std::string(cause.message()), HasSubstr("[... cut ...]"));
  EXPECT_TRUE(ForClient(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace musketeer::server
