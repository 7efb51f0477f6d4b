// The HTTP/JSON gateway through curl, as a user would call it: musketeerd's gRPC services
// (the API and the watch) over a fake swarm with a live view, the gateway over TLS with a
// certificate from the built-in CA, and every method group called with curl: nodes,
// swarm, networks, images (a stream), services (a stream), stacks, access, session and the
// cluster watch (a stream, resumed with Last-Event-ID); auth and errors as gRPC's.
#include "controlplane/gateway/gateway.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "controlplane/pki/pki.h"
#include "controlplane/server/api.h"
#include "controlplane/server/call_metrics.h"
#include "controlplane/server/watch_api.h"
#include "musketeer/v1/musketeer.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/controlplane/fake_cluster.h"

namespace musketeer::gateway {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

using Driver = ::musketeer::testing::InstantNodeDriver;

struct Answer {
  int status = 0;
  std::string headers, body;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(fs::temp_directory_path().string(), "/mk-gateway-", getpid());
    fs::create_directories(dir_);
    store_ = std::move(*state::StateStore::Open(dir_ + "/state.db"));
    admin_ = *store_->CreateToken("root", state::Role::kAdmin);
    operator_ = *store_->CreateToken("deployer", state::Role::kOperator);
    viewer_ = *store_->CreateToken("watcher", state::Role::kViewer);
    swarm_ = std::make_shared<engine::FakeSwarm>();
    auto options = musketeer::testing::FastViewOptions();
    options.probe_requests = 1;
    options.probe_patience = absl::Milliseconds(1);
    options.metrics = &metrics_;
    cluster_ = musketeer::testing::NewFakeCluster(driver_, swarm_, *store_, options);
    services_ = server::NewApiServices(*cluster_, *store_);
    for (auto& s : server::NewWatchServices(*cluster_, *store_, &metrics_))
      services_.push_back(std::move(s));
    grpc::ServerBuilder builder;  // no port: the gateway calls it in process only
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> calls;
    calls.push_back(server::NewCallMetrics(metrics_));
    builder.experimental().SetInterceptorCreators(std::move(calls));
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);

    auto ca = pki::Authority::OpenOrCreate(dir_ + "/ca", "test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    auto cert = (*ca)->IssueServer(dir_ + "/http", "musketeerd", {"127.0.0.1"}, {"localhost"});
    ASSERT_TRUE(cert.ok()) << cert.status();
    ca_ = cert->ca();
    GatewayOptions web;
    web.listen = "127.0.0.1:0";
    web.cert_pem = *pki::ReadFile(cert->cert());
    web.key_pem = *pki::ReadFile(cert->key());
    auto gw = Gateway::Start(web, server_->InProcessChannel(grpc::ChannelArguments()));
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = std::move(*gw);
    base_ = absl::StrCat("https://127.0.0.1:", gateway_->port());
  }
  void TearDown() override {
    gateway_->Stop();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    cluster_.reset();
    fs::remove_all(dir_);
  }

  // curl ARGS... against the gateway (TLS verified against the test CA); `token` as a
  // bearer header unless empty.
  Answer Curl(const std::string& token, const std::string& args) {
    const std::string headers = dir_ + "/headers", body = dir_ + "/body";
    std::string cmd = absl::StrCat("curl -sS --max-time 20 --cacert ", ca_, " -D ", headers, " -o ",
                                   body, " -w '%{http_code}' ");
    if (!token.empty()) absl::StrAppend(&cmd, "-H 'Authorization: Bearer ", token, "' ");
    absl::StrAppend(&cmd, args, " 2>&1");
    Answer a;
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[256];
      while (fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    a.status = std::atoi(out.substr(out.size() > 3 ? out.size() - 3 : 0).c_str());
    a.headers = Read(headers);
    a.body = Read(body);
    return a;
  }
  Answer Post(const std::string& token, const std::string& method, const std::string& json) {
    std::ofstream(dir_ + "/request.json") << json;
    return Curl(token, absl::StrCat("-H 'Content-Type: application/json' --data-binary @", dir_,
                                    "/request.json ", base_, "/v1/", method));
  }
  Answer Get(const std::string& token, const std::string& path, const std::string& extra = "") {
    return Curl(token, absl::StrCat(extra, " '", base_, path, "'"));
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::vector<std::string> DataLines(const std::string& sse) {
    std::vector<std::string> out;
    for (absl::string_view line : absl::StrSplit(sse, '\n'))
      if (absl::StartsWith(line, "data: ")) out.emplace_back(line.substr(6));
    return out;
  }

  void Tutorial() {
    for (const char* n : {"manager1", "worker1", "worker2"}) {
      ASSERT_EQ(Post(admin_, "Nodes/CreateNode", absl::StrCat("{\"name\":\"", n, "\"}")).status,
                200);
      swarm_->AddImage(n, "judge_server:1.0");
    }
    auto init = Post(admin_, "SwarmApi/InitSwarm", R"({"node":"manager1"})");
    ASSERT_EQ(init.status, 200) << init.body;
    for (const char* n : {"worker1", "worker2"})
      ASSERT_EQ(Post(admin_, "SwarmApi/JoinSwarm", absl::StrCat("{\"node\":\"", n, "\"}")).status,
                200);
  }

  std::string dir_, admin_, operator_, viewer_, ca_, base_;
  telemetry::Metrics metrics_;  // before the cluster and the server, which count into it
  Driver driver_;
  std::unique_ptr<state::StateStore> store_;
  std::shared_ptr<engine::FakeSwarm> swarm_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayTest, ServesThePageWithItsSecurityHeadersAndNoInlineScript) {
  auto page = Get("", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.headers, HasSubstr("Content-Security-Policy: default-src 'none'; "
                                      "script-src 'self'"));
  EXPECT_THAT(page.headers, HasSubstr("X-Content-Type-Options: nosniff"));
  EXPECT_THAT(page.headers, Not(HasSubstr("Set-Cookie")));
  EXPECT_THAT(page.body, HasSubstr("<script src=\"/app.js\" defer></script>"));
  EXPECT_THAT(page.body, Not(HasSubstr("<script>"))) << "no inline script";
  EXPECT_THAT(page.body, Not(HasSubstr("http://"))) << "nothing from elsewhere";
  auto js = Get("", "/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_THAT(js.headers, HasSubstr("Content-Type: text/javascript"));
  EXPECT_THAT(js.body, Not(HasSubstr("innerHTML")));
  EXPECT_EQ(Get("", "/app.css").status, 200);
  auto head = Curl("", absl::StrCat("-I ", base_, "/app.js"));
  EXPECT_EQ(head.status, 200);
  EXPECT_THAT(head.body, Not(HasSubstr("use strict"))) << "HEAD has no body";
  EXPECT_THAT(head.headers, HasSubstr(absl::StrCat("Content-Length: ", js.body.size())));
  EXPECT_EQ(Get("", "/nosuch.html").status, 404);
  EXPECT_EQ(Curl("", absl::StrCat("-X POST ", base_, "/")).status, 405);
  auto garbage = Curl("", absl::StrCat("-X 'BAD METHOD' ", base_, "/"));
  EXPECT_EQ(garbage.status, 400) << garbage.body;
}

TEST_F(GatewayTest, EveryMethodGroupAnswersJsonWithGrpcsAuthAndErrors) {
  // Auth as gRPC's: no token 401, a weaker role 403 (and audited), a wrong token 401.
  auto none = Get("", "/v1/nodes");
  EXPECT_EQ(none.status, 401);
  EXPECT_THAT(none.body, HasSubstr(R"("status":"UNAUTHENTICATED")"));
  EXPECT_THAT(none.headers, HasSubstr("WWW-Authenticate: Bearer"));
  EXPECT_EQ(Get("mk_wrong", "/v1/nodes").status, 401);
  auto who = Get(viewer_, "/v1/whoami");
  EXPECT_EQ(who.status, 200);
  EXPECT_THAT(who.body, HasSubstr(R"("name":"watcher","role":"viewer")"));
  EXPECT_THAT(Post(operator_, "Session/WhoAmI", "").body, HasSubstr(R"("role":"operator")"));

  // Nodes and swarm.
  Tutorial();
  auto nodes = Get(viewer_, "/v1/nodes");
  EXPECT_EQ(nodes.status, 200);
  EXPECT_THAT(nodes.body, HasSubstr(R"("name":"worker2")"));
  EXPECT_THAT(nodes.body, HasSubstr(R"("swarmRole":"manager")")) << "lowerCamelCase JSON";
  auto node = Get(viewer_, "/v1/nodes/worker1");
  EXPECT_THAT(node.body, HasSubstr(R"("availability":"active")"));
  // The same answer, but for when the view it was read from was taken (a resync may fall
  // between the two reads).
  const auto unobserved = [](const std::string& body) {
    return std::regex_replace(body, std::regex(R"("observedAt":"[^"]*",?)"), "");
  };
  EXPECT_EQ(unobserved(Get(viewer_, "/v1/Nodes/GetNode?name=worker1").body), unobserved(node.body))
      << "the alias and the method path are one call";
  EXPECT_EQ(Get(viewer_, "/v1/nodes/nosuch").status, 404);
  auto denied = Post(viewer_, "Nodes/UpdateNode", R"({"name":"worker2","availability":"drain"})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, HasSubstr("needs the operator role; token 'watcher' has viewer"));
  auto promote = Post(operator_, "Nodes/UpdateNode", R"({"name":"worker2","role":"manager"})");
  EXPECT_EQ(promote.status, 403) << "roles are an admin's";
  EXPECT_THAT(promote.body, HasSubstr("needs the admin role"));
  auto drain = Post(operator_, "Nodes/UpdateNode", R"({"name":"worker2","availability":"drain"})");
  EXPECT_EQ(drain.status, 200) << drain.body;
  EXPECT_THAT(drain.body, HasSubstr(R"("availability":"drain")"));
  auto swarm = Get(viewer_, "/v1/swarm");
  EXPECT_EQ(swarm.status, 200);
  EXPECT_THAT(swarm.body, HasSubstr(R"("managers":["manager1"])"));
  EXPECT_EQ(Get(viewer_, "/v1/swarm?show_tokens=true").status, 403)
      << "query fields reach the request";

  // Networks: created, listed, a duplicate is 409.
  EXPECT_EQ(Post(operator_, "Networks/CreateNetwork", R"({"name":"swarm_test"})").status, 200);
  EXPECT_THAT(Get(viewer_, "/v1/networks").body, HasSubstr(R"("name":"swarm_test")"));
  auto dup = Post(operator_, "Networks/CreateNetwork", R"({"name":"swarm_test"})");
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_THAT(dup.body, HasSubstr(R"("status":"ALREADY_EXISTS")"));

  // Images: a server stream as Server-Sent Events, ending with its status.
  std::ofstream(dir_ + "/rootfs.tar") << std::string(1024, '\0');
  auto import = Post(operator_, "Images/ImportImage",
                     absl::StrCat(R"({"rootfsTar":")", dir_, R"(/rootfs.tar","tag":"base:1"})"));
  EXPECT_EQ(import.status, 200) << import.body;
  EXPECT_THAT(import.headers, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_GE(DataLines(import.body).size(), 2u) << import.body;  // progress, then the end
  EXPECT_THAT(import.body, HasSubstr("event: end\ndata: {\"code\":0,\"status\":\"OK\""));
  auto bad_import = Post(operator_, "Images/ImportImage", R"({"rootfsTar":"/nosuch","tag":"b:1"})");
  EXPECT_EQ(bad_import.status, 400) << "an error before any message is an HTTP status";
  EXPECT_THAT(bad_import.body, HasSubstr("rootfs_tar: '/nosuch' cannot be read"));
  EXPECT_EQ(Get(viewer_, "/v1/images?node=manager1").status, 200);

  // Services: create and wait, read three ways, scale, a stream of progress.
  auto created = Post(operator_, "Services/CreateService",
                      R"({"spec":{"name":"judge_swarm","image":"judge_server:1.0","replicas":3,
                          "labels":{"x":"<img src=x onerror=alert(1)>"}},"wait":true})");
  EXPECT_EQ(created.status, 200) << created.body;
  EXPECT_THAT(created.body, HasSubstr(R"("running":3)"));
  EXPECT_THAT(created.body, HasSubstr(R"("x":"\u003cimg src=x onerror=alert(1)\u003e")"))
      << "JSON escapes what HTML would read";
  EXPECT_THAT(Get(viewer_, "/v1/services").body, HasSubstr(R"("name":"judge_swarm")"));
  EXPECT_THAT(Get(viewer_, "/v1/services/judge_swarm").body, HasSubstr(R"("desired":3)"));
  auto tasks = Get(viewer_, "/v1/services/judge_swarm/tasks");
  EXPECT_EQ(tasks.status, 200);
  size_t slots = 0;
  for (size_t at = tasks.body.find("\"slot\":"); at != std::string::npos;
       at = tasks.body.find("\"slot\":", at + 1))
    ++slots;
  EXPECT_EQ(slots, 3u) << tasks.body;
  auto scaled = Post(operator_, "Services/UpdateService",
                     R"({"name":"judge_swarm","replicas":5,"wait":true})");
  EXPECT_EQ(scaled.status, 200) << scaled.body;
  EXPECT_THAT(scaled.body, HasSubstr(R"("running":5)"));
  auto progress = Post(viewer_, "Services/WatchService", R"({"name":"judge_swarm"})");
  EXPECT_EQ(progress.status, 200);
  ASSERT_FALSE(DataLines(progress.body).empty()) << progress.body;
  EXPECT_THAT(progress.body, HasSubstr(R"("state":"converged")"));
  EXPECT_THAT(progress.body, HasSubstr("event: end"));
  auto logs = Get(viewer_, "/v1/services/judge_swarm/logs?tail=5");
  EXPECT_EQ(logs.status, 200);
  EXPECT_THAT(logs.body, HasSubstr(R"(data: {"data":"listening on 0.0.0.0:8090\n")"));
  EXPECT_THAT(logs.body, HasSubstr("event: end"));
  EXPECT_EQ(
      Post(viewer_, "Services/UpdateService", R"({"name":"judge_swarm","replicas":1})").status, 403)
      << "a viewer's forged call";
  auto bad_field =
      Post(operator_, "Services/UpdateService", R"({"name":"judge_swarm","replica":1})");
  EXPECT_EQ(bad_field.status, 400);
  EXPECT_THAT(bad_field.body, HasSubstr("replica"));
  auto bad_value = Post(operator_, "Services/CreateService", R"({"spec":{"name":"Bad Name"}})");
  EXPECT_EQ(bad_value.status, 400) << bad_value.body;
  EXPECT_THAT(bad_value.body, HasSubstr(R"("status":"INVALID_ARGUMENT")"));
  EXPECT_EQ(Get(operator_, "/v1/Services/UpdateService?name=judge_swarm").status, 405)
      << "a GET changes nothing";
  EXPECT_EQ(Post(viewer_, "Services/NoSuchMethod", "{}").status, 404);
  EXPECT_EQ(Get(viewer_, "/v1/services/nosuch").status, 404);

  // Stacks and access.
  EXPECT_EQ(Get(viewer_, "/v1/stacks").status, 200);
  auto token = Post(admin_, "Access/CreateToken", R"({"name":"dash","role":"viewer"})");
  EXPECT_EQ(token.status, 200);
  EXPECT_THAT(token.body, HasSubstr(R"("secret":"mk_)"));
  EXPECT_EQ(Get(operator_, "/v1/tokens").status, 403);
  auto audit = Get(viewer_, "/v1/audit?limit=200");
  EXPECT_THAT(audit.body, HasSubstr(R"("who":"deployer","method":"CreateService")"));
  EXPECT_THAT(audit.body, HasSubstr(R"j("who":"(denied)","method":"UpdateService")j"));

  // The index lists every method of every service.
  auto index = Get("", "/v1");
  EXPECT_EQ(index.status, 200);
  for (const char* m : {"/v1/Nodes/CreateNode", "/v1/SwarmApi/InitSwarm", "/v1/Networks/",
                        "/v1/Images/BuildImage", "/v1/Services/ServiceLogs", "/v1/Stacks/",
                        "/v1/Access/ListAudit", "/v1/ClusterWatch/Watch", "/v1/Session/WhoAmI"})
    EXPECT_THAT(index.body, HasSubstr(m));
}

TEST_F(GatewayTest, TheWatchStreamsStateAndChangesAndResumesFromLastEventId) {
  Tutorial();
  // The first watch: the state, SYNCED, then (within its 3 s) nothing else.
  auto first = Get(viewer_, "/v1/watch?kinds=node", "-N --max-time 3");
  EXPECT_THAT(first.headers, HasSubstr("200"));
  auto data = DataLines(first.body);
  // Up to SYNCED (a node's event stream coming up may change it right after).
  for (size_t i = 0; i < data.size(); ++i)
    if (absl::StrContains(data[i], "SYNCED")) data.resize(i + 1);
  ASSERT_EQ(data.size(), 4u) << first.body;  // 3 nodes, SYNCED
  EXPECT_THAT(data[3], HasSubstr(R"("type":"SYNCED")"));
  EXPECT_THAT(first.body, HasSubstr("id: "));
  const std::string synced = data[3].substr(data[3].find("\"revision\":\"") + 12);
  const std::string revision = synced.substr(0, synced.find('"'));
  // A change, then a resumed watch from the revision seen: only the change, then SYNCED.
  ASSERT_EQ(Post(admin_, "Nodes/UpdateNode", R"({"name":"worker1","availability":"pause"})").status,
            200);
  Answer resumed;
  for (int i = 0; i < 50; ++i) {  // the view notes the write at once; allow for its read
    resumed = Get(viewer_, "/v1/watch?kinds=node",
                  absl::StrCat("-N --max-time 2 -H 'Last-Event-ID: ", revision, "'"));
    if (absl::StrContains(resumed.body, "pause")) break;
  }
  data = DataLines(resumed.body);
  ASSERT_GE(data.size(), 2u) << resumed.body;
  EXPECT_THAT(data[0], HasSubstr(R"("type":"PUT")"));
  EXPECT_THAT(data[0], HasSubstr(R"("availability":"pause")"));
  EXPECT_THAT(resumed.body, Not(HasSubstr("\"name\":\"worker2\""))) << "only what changed";
  EXPECT_THAT(resumed.body, Not(HasSubstr("RESET")));
  // A revision from another run: RESET, then the whole state.
  auto reset = Get(viewer_, "/v1/watch?kinds=node&since_revision=7", "-N --max-time 2");
  EXPECT_THAT(DataLines(reset.body).at(0), HasSubstr(R"("type":"RESET")"));
  EXPECT_EQ(Get(viewer_, "/v1/watch?kinds=volume").status, 400);
  EXPECT_EQ(Get("", "/v1/watch").status, 401);
}

TEST(GatewayStartTest, RefusesPlainHttpOffLoopbackAndUnusableAddresses) {
  GatewayOptions plain;
  plain.tls = false;
  plain.listen = "0.0.0.0:0";
  auto gw = Gateway::Start(plain, nullptr);
  EXPECT_EQ(gw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(gw.status().message(), HasSubstr("only offered on a loopback address"));
  plain.listen = "nohost";
  EXPECT_EQ(Gateway::Start(plain, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  plain.listen = "127.0.0.1:0";
  auto ok = Gateway::Start(plain, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_GT((*ok)->port(), 0);
  EXPECT_EQ(HttpStatusOf(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusOf(grpc::StatusCode::FAILED_PRECONDITION), 400);
  EXPECT_EQ(HttpStatusOf(grpc::StatusCode::UNAVAILABLE), 503);
}

}  // namespace
}  // namespace musketeer::gateway

namespace musketeer::gateway {
namespace {

// One sample of a scrape: name{labels} value.
struct Sample {
  std::string name, labels;
  double value = 0;
};

// Parses Prometheus' text format strictly enough to catch a malformed line: every sample
// belongs to a family whose TYPE came first, names and values are well-formed.
std::vector<Sample> ParseScrape(const std::string& text) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$)");
  static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  std::set<std::string> typed;
  std::vector<Sample> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::string l(line);
    std::smatch m;
    if (std::regex_match(l, m, kType)) {
      typed.insert(m[1]);
      continue;
    }
    if (absl::StartsWith(l, "# HELP ")) continue;
    EXPECT_TRUE(std::regex_match(l, m, kSample)) << "not a sample: " << l;
    if (m.empty()) continue;
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!typed.count(family) && absl::EndsWith(family, suffix))
        family = family.substr(0, family.size() - strlen(suffix));
    EXPECT_TRUE(typed.count(family)) << "no TYPE before " << l;
    double v = 0;
    EXPECT_TRUE(m[3] == "+Inf" || absl::SimpleAtod(std::string(m[3]), &v)) << l;
    out.push_back({m[1], m[2], v});
  }
  return out;
}

double ValueOf(const std::vector<Sample>& samples, const std::string& name,
               const std::string& labels) {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels) return s.value;
  return -1;
}

TEST_F(GatewayTest, EveryAnswerOfTheServerIsMarkedAsItsOwnForTheCliExitCodes) {
  auto stub = ::musketeer::v1::Session::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  for (const std::string& token : {viewer_, std::string("not-a-token")}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    ::musketeer::v1::Version out;
    const grpc::Status s = stub->GetVersion(&ctx, {}, &out);
    EXPECT_EQ(s.ok(), token == viewer_);
    EXPECT_EQ(ctx.GetServerTrailingMetadata().count("musketeer-answered"), 1u) << token;
  }
}

TEST_F(GatewayTest, MetricsAreServedInPrometheusFormatToTokenHolders) {
  Tutorial();
  ASSERT_EQ(Get(viewer_, "/v1/nodes").status, 200);
  ASSERT_EQ(Get("not-a-token", "/v1/nodes").status, 401);
  EXPECT_EQ(Get("", "/metrics").status, 401);
  EXPECT_EQ(Get("not-a-token", "/metrics").status, 401);
  EXPECT_EQ(Curl(viewer_, absl::StrCat("-X POST ", base_, "/metrics")).status, 405);

  const Answer a = Get(viewer_, "/metrics");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_THAT(a.headers, HasSubstr("text/plain; version=0.0.4"));
  const auto samples = ParseScrape(a.body);
  EXPECT_GE(ValueOf(samples, "musketeer_grpc_calls_total",
                    R"({method="/musketeer.v1.Nodes/ListNodes",code="OK"})"), 1);
  EXPECT_GE(ValueOf(samples, "musketeer_grpc_calls_total",
                    R"({method="/musketeer.v1.Nodes/ListNodes",code="Unauthenticated"})"), 1);
  EXPECT_GE(ValueOf(samples, "musketeer_grpc_calls_total",
                    R"({method="/musketeer.v1.SwarmApi/InitSwarm",code="OK"})"), 1);
  // Latency: the +Inf bucket holds every call of the method, as _count says.
  const double count = ValueOf(samples, "musketeer_grpc_call_seconds_count",
                               R"({method="/musketeer.v1.Nodes/ListNodes"})");
  EXPECT_GE(count, 2);
  EXPECT_EQ(ValueOf(samples, "musketeer_grpc_call_seconds_bucket",
                    R"({method="/musketeer.v1.Nodes/ListNodes",le="+Inf"})"), count);
  // This scrape is itself a call in flight.
  EXPECT_EQ(ValueOf(samples, "musketeer_grpc_calls_in_flight",
                    R"({method="/musketeer.v1.Session/GetMetrics"})"), 1);
  // The live view: its resyncs, its age, the cluster's counts.
  EXPECT_GE(ValueOf(samples, "musketeer_live_view_resync_seconds_count", ""), 1);
  EXPECT_GE(ValueOf(samples, "musketeer_live_view_age_seconds", ""), 0);
  EXPECT_EQ(ValueOf(samples, "musketeer_manager_reachable", ""), 1);
  EXPECT_EQ(ValueOf(samples, "musketeer_managers", R"({reachability="reachable"})"), 1);
  EXPECT_EQ(ValueOf(samples, "musketeer_services", ""), 0);
}

}  // namespace
}  // namespace musketeer::gateway
