// The real gateway and gRPC services over a fake swarm (3 nodes, judge_swarm with 3
// replicas on 8090 behind the edge proxy), for the page's browser test without a real
// cluster (web_browser_test.sh). Usage: web_fake_cluster DIR; writes DIR/admin.token,
// DIR/viewer.token, DIR/cert.pem, DIR/ca.pem, DIR/grpc_port and DIR/url (last, when serving);
// serves until stdin closes.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "controlplane/gateway/gateway.h"
#include "controlplane/pki/pki.h"
#include "controlplane/server/api.h"
#include "controlplane/server/watch_api.h"
#include "tests/controlplane/fake_cluster.h"

using namespace musketeer;
namespace pb = ::musketeer::v1;

namespace {
int Fail(const std::string& what, const absl::Status& s) {
  std::cerr << "web_fake_cluster: " << what << ": " << s << "\n";
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: web_fake_cluster DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  auto store = state::StateStore::Open(dir + "/state.db");
  if (!store.ok()) return Fail("state", store.status());
  auto admin = (*store)->CreateToken("admin", state::Role::kAdmin);
  auto viewer = (*store)->CreateToken("viewer", state::Role::kViewer);
  if (!admin.ok() || !viewer.ok()) return Fail("tokens", admin.status());
  std::ofstream(dir + "/admin.token") << *admin;
  std::ofstream(dir + "/viewer.token") << *viewer;

  auto swarm = std::make_shared<engine::FakeSwarm>();
  testing::InstantNodeDriver driver;
  cluster::ClusterOptions options = testing::FastOptions();
  options.live_view = true;  // refreshed as musketeerd's, but every 500 ms
  options.view.resync = absl::Milliseconds(500);
  options.poll_interval = absl::Milliseconds(20);
  options.probe_patience = absl::Milliseconds(100);
  std::atomic<int> probes{0};
  auto owned = testing::NewFakeCluster(
      driver, swarm, **store, options,
      [&probes](const std::string&, uint16_t) -> absl::StatusOr<std::string> {
        return absl::StrCat("{\"hostname\":\"replica", probes++ % 3, "\"}");
      });
  cluster::Cluster& cluster = *owned;
  if (auto s = testing::MakeTutorialCluster(cluster, *swarm); !s.ok()) return Fail("cluster", s);
  pb::CreateServiceRequest svc;
  svc.mutable_spec()->set_name("judge_swarm");
  svc.mutable_spec()->set_image("judge_server:1.0");
  svc.mutable_spec()->set_replicas(3);
  auto* port = svc.mutable_spec()->add_ports();
  port->set_published(8090);
  port->set_target(8090);
  svc.mutable_spec()->add_networks("swarm_test");
  svc.set_wait(true);
  if (auto s = cluster.CreateService(svc, absl::Now() + absl::Seconds(30)); !s.ok())
    return Fail("service", s.status());

  auto services = server::NewApiServices(cluster, **store);
  for (auto& s : server::NewWatchServices(cluster, **store)) services.push_back(std::move(s));
  auto ca = pki::Authority::OpenOrCreate(dir + "/ca", "test CA");
  if (!ca.ok()) return Fail("CA", ca.status());
  auto cert = (*ca)->IssueServer(dir + "/http", "musketeerd", {"127.0.0.1"}, {"localhost"});
  if (!cert.ok()) return Fail("certificate", cert.status());
  std::filesystem::copy_file(cert->cert(), dir + "/cert.pem",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(cert->ca(), dir + "/ca.pem",
                             std::filesystem::copy_options::overwrite_existing);
  // gRPC over TLS too (DIR/grpc_port), for clients of the API itself (the Python watch).
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*pki::ReadFile(cert->key()), *pki::ReadFile(cert->cert())});
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &grpc_port);
  for (auto& s : services) builder.RegisterService(s.get());
  auto server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) return Fail("gRPC", absl::UnavailableError("no port"));
  std::ofstream(dir + "/grpc_port") << grpc_port;
  gateway::GatewayOptions web;
  web.cert_pem = *pki::ReadFile(cert->cert());
  web.key_pem = *pki::ReadFile(cert->key());
  auto gw = gateway::Gateway::Start(web, server->InProcessChannel(grpc::ChannelArguments()));
  if (!gw.ok()) return Fail("gateway", gw.status());
  std::ofstream(dir + "/url.tmp") << "https://127.0.0.1:" << (*gw)->port() << "/";
  std::filesystem::rename(dir + "/url.tmp", dir + "/url");
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  (*gw)->Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
