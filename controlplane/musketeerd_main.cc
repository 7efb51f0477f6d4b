// musketeerd: the control plane daemon. Serves the musketeer.v1 gRPC API over TLS
// (certificate from the built-in CA), keeps state in STATE_DIR/state.db, and drives
// nodes through the local, remote and ssh drivers.
//
// On first start it creates the CA, a client certificate for the engines, a server
// certificate for the API, and an admin token written to STATE_DIR/admin.token (0600).
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/cluster/http_probe.h"
#include "controlplane/gateway/gateway.h"
#include "controlplane/nodes/local_driver.h"
#include "controlplane/nodes/remote_driver.h"
#include "controlplane/nodes/ssh_driver.h"
#include "controlplane/pki/pki.h"
#include "controlplane/server/api.h"
#include "controlplane/server/call_metrics.h"
#include "controlplane/server/watch_api.h"
#include "controlplane/telemetry/log.h"
#include "controlplane/telemetry/metrics.h"

namespace {
using namespace musketeer;

struct Flags {
  std::string state_dir = "/var/lib/musketeer";
  std::string run_dir = "/run/musketeer";
  std::string listen = "127.0.0.1:7443";
  std::string node_subnet = "10.213.0.0/24";
  std::string bridge = "musk0";
  std::string ipvs = "auto";  // auto, yes, no
  std::string edge_image = "musketeer/edge:1";
  std::string view = "on";  // serve reads from the live view
  std::string view_resync = "1s";
  std::string http_listen;  // the HTTP/JSON gateway and the page (gateway.h); "": none
  std::string http_tls = "on";
  std::string ssh_config;  // ssh -F for the ssh driver; empty: the user's ~/.ssh/config
  std::string log_level = "info";
  telemetry::LogLevel level = telemetry::LogLevel::kInfo;
};

void Usage() {
  std::cerr << "usage: musketeerd [--config FILE] [--state-dir DIR] [--run-dir DIR] [--listen HOST:PORT] "
               "[--node-subnet CIDR]\n"
               "                  [--bridge NAME] [--ipvs auto|yes|no] [--edge-image IMAGE]\n"
               "                  [--view on|off] [--view-resync DURATION] [--ssh-config FILE]\n"
               "                  [--http-listen HOST:PORT [--http-tls on|off]]\n"
               "                  [--log-level debug|info|warning|error] | --version\n"
               "defaults: --state-dir /var/lib/musketeer --run-dir /run/musketeer --listen "
               "127.0.0.1:7443\n"
               "          --node-subnet 10.213.0.0/24 --bridge musk0 --ipvs auto --edge-image "
               "musketeer/edge:1\n"
               "          --view on --view-resync 1s (reads come from a view of the cluster kept "
               "fresh by\n"
               "          the engines' events and read again every DURATION: its staleness "
               "bound)\n"
               "          --http-listen: the page and the API as JSON over HTTPS with this "
               "daemon's certificate\n"
               "          (--http-tls off: plain HTTP, only on a loopback address)\n"
               "          --ssh-config FILE: the ssh config the ssh driver's ssh reads (default: "
               "the user's ~/.ssh/config)\n"
               "          --config FILE: flags from FILE, one `name = value` per line (a flag's "
               "name without\n"
               "          its dashes, # comments); the command line wins over it\n"
               "          --log-level info: lines below it are dropped (stderr; under systemd "
               "each line carries\n"
               "          its priority for the journal)\n";
}

// One flag: false (after saying why) when it is not one of musketeerd's.
bool SetFlag(std::map<std::string, std::string*>& known, const std::string& name,
             const std::string& value, const std::string& where) {
  auto it = known.find(name);
  if (it == known.end()) {
    std::cerr << "musketeerd: " << where << "unknown flag " << name << " (--help lists them)\n";
    return false;
  }
  *it->second = value;
  return true;
}

// The config file: `name = value` per line (a flag's name without its dashes), `#` comments.
bool ReadConfigFile(const std::string& path, std::map<std::string, std::string*>& known) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "musketeerd: cannot read the config file " << path << "\n";
    return false;
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = absl::StrCat(path, ":", number, ": ");
    std::string text(absl::StripAsciiWhitespace(line.substr(0, line.find('#'))));
    if (text.empty()) continue;
    const size_t eq = text.find('=');
    if (eq == std::string::npos) {
      std::cerr << "musketeerd: " << where << "expected name = value, e.g. listen = 127.0.0.1:7443\n";
      return false;
    }
    const std::string name(absl::StripAsciiWhitespace(text.substr(0, eq)));
    const std::string value(absl::StripAsciiWhitespace(text.substr(eq + 1)));
    if (name == "config") {
      std::cerr << "musketeerd: " << where << "a config file cannot name another\n";
      return false;
    }
    if (!SetFlag(known, "--" + name, value, where)) return false;
  }
  return true;
}

bool ParseFlags(int argc, char** argv, Flags& f) {
  std::map<std::string, std::string*> known = {
      {"--state-dir", &f.state_dir},     {"--run-dir", &f.run_dir},
      {"--listen", &f.listen},           {"--node-subnet", &f.node_subnet},
      {"--bridge", &f.bridge},           {"--ipvs", &f.ipvs},
      {"--edge-image", &f.edge_image},   {"--view", &f.view},
      {"--view-resync", &f.view_resync}, {"--http-listen", &f.http_listen},
      {"--http-tls", &f.http_tls},       {"--ssh-config", &f.ssh_config},
      {"--log-level", &f.log_level}};
  std::vector<std::pair<std::string, std::string>> given;
  std::string config;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (arg == "--help" || arg == "-h") return false;
    auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--config") {
      config = value;
    } else {
      given.push_back({arg, value});
    }
  }
  // The file first, so that the command line wins.
  if (!config.empty() && !ReadConfigFile(config, known)) return false;
  for (const auto& [name, value] : given) {
    if (!SetFlag(known, name, value, "")) return false;
  }
  if (f.ipvs != "auto" && f.ipvs != "yes" && f.ipvs != "no") {
    std::cerr << "musketeerd: --ipvs must be auto, yes or no\n";
    return false;
  }
  if (!telemetry::ParseLogLevel(f.log_level, &f.level)) {
    std::cerr << "musketeerd: --log-level must be debug, info, warning or error\n";
    return false;
  }
  if (f.view != "on" && f.view != "off") {
    std::cerr << "musketeerd: --view must be on or off\n";
    return false;
  }
  if (f.http_tls != "on" && f.http_tls != "off") {
    std::cerr << "musketeerd: --http-tls must be on or off\n";
    return false;
  }
  absl::Duration resync;
  if (!absl::ParseDuration(f.view_resync, &resync) || resync < absl::Milliseconds(100)) {
    std::cerr << "musketeerd: --view-resync takes a duration of at least 100ms, e.g. 1s\n";
    return false;
  }
  return true;
}

int Fail(const absl::Status& s) {
  telemetry::LogError(s.message());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << "musketeerd " << MUSKETEER_VERSION << "\n";
    return 0;
  }
  // Debian's Abseil is built with its debug lock-order checks on: every absl::Mutex lock (gRPC
  // takes several per call) records a stack trace in a lock graph. Nothing of ours needs it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the shutdown signals before any thread exists (gRPC starts many), so that only
  // the sigwait thread below ever receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    Usage();
    return 2;
  }
  telemetry::SetLogLevel(flags.level);
  if (geteuid() != 0) {
    std::cerr << "musketeerd: must run as root (it creates network namespaces and runs dockerd for "
                 "local nodes)\n";
    return 1;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(flags.state_dir, ec);
  chmod(flags.state_dir.c_str(), 0700);
  auto ca = pki::Authority::OpenOrCreate(flags.state_dir + "/pki/ca", "musketeer CA");
  if (!ca.ok()) return Fail(ca.status());
  const pki::Bundle client{flags.state_dir + "/pki/client"};
  if (!fs::exists(client.key())) {
    if (auto c = (*ca)->IssueClient(client.dir, "musketeerd"); !c.ok()) return Fail(c.status());
  }
  const std::string host = flags.listen.substr(0, flags.listen.rfind(':'));
  auto server_bundle = (*ca)->IssueServer(flags.state_dir + "/pki/api", "musketeerd",
                                          host == "0.0.0.0" || host == "localhost"
                                              ? std::vector<std::string>{"127.0.0.1"}
                                              : std::vector<std::string>{host, "127.0.0.1"},
                                          {"localhost"});
  if (!server_bundle.ok()) return Fail(server_bundle.status());

  auto store = state::StateStore::Open(flags.state_dir + "/state.db");
  if (!store.ok()) return Fail(store.status());
  if ((*store)->ListTokens().empty()) {
    auto secret = (*store)->CreateToken("admin", state::Role::kAdmin);
    if (!secret.ok()) return Fail(secret.status());
    if (auto s = pki::WriteFileAtomic(flags.state_dir + "/admin.token", *secret + "\n", 0600);
        !s.ok())
      return Fail(s);
    telemetry::LogInfo(absl::StrCat("created the admin token in ", flags.state_dir, "/admin.token"));
  }

  nodes::LocalDriverConfig local_config;
  local_config.state_dir = flags.state_dir;
  local_config.run_dir = flags.run_dir;
  local_config.bridge = flags.bridge;
  local_config.subnet = flags.node_subnet;
  // Without what local nodes need, musketeerd still serves ssh and remote nodes.
  std::unique_ptr<nodes::NodeDriver> local;
  if (auto made = nodes::LocalDriver::Create(local_config, **ca, client); made.ok()) {
    local = std::move(*made);
  } else if (made.status().code() == absl::StatusCode::kFailedPrecondition) {
    telemetry::LogWarning(absl::StrCat("the local driver is off: ", made.status().message()));
    local = std::make_unique<nodes::UnavailableDriver>("local", made.status());
  } else {
    return Fail(made.status());
  }
  nodes::RemoteDriver remote(flags.state_dir);
  nodes::SshDriverConfig ssh_config;
  ssh_config.state_dir = flags.state_dir;
  ssh_config.ssh_config = flags.ssh_config;
  nodes::SshDriver ssh(ssh_config, **ca, client, **store);

  telemetry::Metrics metrics;
  metrics.DescribeGauge("musketeer_build_info", "musketeerd's version (always 1)");
  metrics.Set("musketeer_build_info", {{"version", MUSKETEER_VERSION}}, 1);
  metrics.DescribeCounter("musketeer_engine_calls_total",
                          "Engine API exchanges by node and outcome (ok, error: the engine "
                          "answered 4xx/5xx, unreachable: no answer)");
  metrics.DescribeHistogram("musketeer_engine_call_seconds", "Engine API exchanges by node");
  cluster::ClusterOptions options;
  options.ipvs =
      flags.ipvs == "yes" ||
      (flags.ipvs == "auto" && (fs::exists("/proc/net/ip_vs") || fs::exists("/sys/module/ip_vs")));
  options.edge_image = flags.edge_image;
  options.live_view = flags.view == "on";
  options.metrics = &metrics;
  absl::ParseDuration(flags.view_resync, &options.view.resync);
  cluster::Cluster cluster(
      {{"local", local.get()}, {"remote", &remote}, {"ssh", &ssh}},
      [&metrics](const nodes::Node& n) {
        return engine::NewHttpDockerEngine(
            n.endpoint, [&metrics, node = n.name](const char* outcome, double seconds) {
              metrics.Add("musketeer_engine_calls_total", {{"node", node}, {"outcome", outcome}});
              metrics.Observe("musketeer_engine_call_seconds", {{"node", node}}, seconds);
            });
      },
      **store,
      [](const std::string& ip, uint16_t port) {
        return cluster::HttpGet(ip, port, "/ping", std::chrono::seconds(2));
      },
      options);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back(
      {*pki::ReadFile(server_bundle->key()), *pki::ReadFile(server_bundle->cert())});
  auto credentials = grpc::SslServerCredentials(ssl);
  grpc::ServerBuilder builder;
  // A second musketeerd on the same port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The sync server makes a thread whenever every poller is busy and ends it again once more
  // than MAX_POLLERS idle: under concurrent callers that churn (clone, stacks, malloc arenas)
  // cost more CPU than the calls. Keep up to 64 threads polling instead.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  int port = 0;
  builder.AddListeningPort(flags.listen, credentials, &port);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(server::NewCallMetrics(metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  auto services = server::NewApiServices(cluster, **store);
  for (auto& s : server::NewWatchServices(cluster, **store, &metrics))
    services.push_back(std::move(s));
  for (auto& s : services) builder.RegisterService(s.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    telemetry::LogError(absl::StrCat("cannot listen on ", flags.listen, " (in use?)"));
    return 1;
  }
  // grpc.health.v1: "" and every API service by name (a client checks the one it uses).
  server::MarkServing(*server);
  telemetry::LogInfo(absl::StrCat(
      "listening on ", host, ":", port, " (TLS; CA ", (*ca)->ca_path(), "), ipvs ",
      options.ipvs ? "yes: ingress routing mesh" : "no: edge proxy for published ports"));
  std::unique_ptr<gateway::Gateway> web;
  if (!flags.http_listen.empty()) {
    gateway::GatewayOptions web_options;
    web_options.listen = flags.http_listen;
    web_options.tls = flags.http_tls == "on";
    if (web_options.tls) {
      // Its own certificate from the same CA, naming the gateway's address.
      const std::string web_host = flags.http_listen.substr(0, flags.http_listen.rfind(':'));
      auto bundle = (*ca)->IssueServer(
          flags.state_dir + "/pki/http", "musketeerd",
          web_host == "0.0.0.0" || web_host == "localhost" || web_host == "127.0.0.1"
              ? std::vector<std::string>{"127.0.0.1"}
              : std::vector<std::string>{web_host, "127.0.0.1"},
          {"localhost"});
      if (!bundle.ok()) return Fail(bundle.status());
      web_options.cert_pem = *pki::ReadFile(bundle->cert());
      web_options.key_pem = *pki::ReadFile(bundle->key());
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    auto started = gateway::Gateway::Start(web_options, server->InProcessChannel(args));
    if (!started.ok()) {
      server->Shutdown();
      return Fail(started.status());
    }
    web = std::move(*started);
    const std::string web_host = flags.http_listen.substr(0, flags.http_listen.rfind(':'));
    telemetry::LogInfo(absl::StrCat(
        "the page, the JSON API and /metrics on ", web_options.tls ? "https" : "http", "://",
        web_host, ":", web->port(), "/",
        web_options.tls ? absl::StrCat(" (CA ", (*ca)->ca_path(), ")") : ""));
  }
  // Finish what a crash interrupted, without holding up the API.
  std::thread([&cluster] { cluster.Reconcile(); }).detach();
  // Edge proxies (no IPVS) kept on every node: a node back up, one whose proxy stopped.
  if (!options.ipvs) cluster.StartEdgeKeeper(absl::Seconds(5));
  // Autoscale policies: a look every 2 s (a backlog is answered within seconds).
  cluster.StartAutoscaler(absl::Seconds(2));

  std::thread shutdown([&] {
    int sig = 0;
    sigwait(&set, &sig);
    telemetry::LogInfo("shutting down (nodes keep running)");
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });
  server->Wait();
  shutdown.join();
  if (web) web->Stop();
  return 0;
}
